package printmail_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/fakes"
)

func setup(t *testing.T) (*fakes.Fakes, *printmail.Client) {
	f := fakes.New(fakes.Config{LobAPIKey: "test_key"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := printmail.New(printmail.Config{APIKey: "test_key", BaseURL: srv.URL})
	require.NoError(t, err)
	return f, c
}

var from = channels.PostalAddress{Name: "Teapot & Co", Line1: "185 Berry St", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"}

func postcard(key string) channels.Mail {
	return channels.Mail{
		Kind: channels.Postcard, Description: "winback-postcard for c_1",
		To:    channels.PostalAddress{Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"},
		From:  from,
		Front: "<h1>We miss you</h1>", Back: "<p>Come back, Ada &amp; friends</p>", Marketing: true,
		MergeVariables: map[string]any{"first_name": "Ada"},
		Metadata:       map[string]string{"journey": "lapse-winback", "step": "postcard", "customer_id": "c_1", "message_id": "m1"},
		IdempotencyKey: key,
	}
}

func TestPostcardAndLetter(t *testing.T) {
	f, c := setup(t)
	r, err := c.SendMail(context.Background(), postcard("k1"))
	require.NoError(t, err)
	assert.Regexp(t, `^psc_`, r.MessageID)
	letter := postcard("k2")
	letter.Kind, letter.HTML = channels.Letter, "<p>Dear Ada</p>"
	letter.To = channels.PostalAddress{Name: "Grace Hopper", Line1: "1 Navy Way", City: "Arlington", State: "VA", PostalCode: "22202", Country: "US"}
	r2, err := c.SendMail(context.Background(), letter)
	require.NoError(t, err)
	assert.Regexp(t, `^ltr_`, r2.MessageID)

	msgs := f.Recorder.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, "mail", msgs[1].Channel)
	assert.Equal(t, "c_1", msgs[1].CustomerID)
	assert.Equal(t, "lapse-winback", msgs[1].Journey)
	assert.Contains(t, msgs[1].HTML, "We miss you")
	assert.Contains(t, msgs[1].Text, "Come back, Ada & friends")
	assert.Contains(t, msgs[1].To, "London")
}

func TestIdempotencyKeyCreatesOnePiece(t *testing.T) {
	f, c := setup(t)
	a, err := c.SendMail(context.Background(), postcard("same-key"))
	require.NoError(t, err)
	b, err := c.SendMail(context.Background(), postcard("same-key"))
	require.NoError(t, err)
	assert.Equal(t, a.MessageID, b.MessageID, "the retry gets the first postcard back")
	assert.Equal(t, 1, f.Lob.Created())
	assert.Len(t, f.Recorder.Messages(), 1)
}

func TestLostAnswerRetriedWithTheKey(t *testing.T) {
	f, c := setup(t)
	f.Lob.LoseAnswers(1)
	_, err := c.SendMail(context.Background(), postcard("k"))
	assert.Equal(t, channels.InDoubt, channels.KindOf(err), "a 502 after the piece was created is in doubt; the Idempotency-Key makes asking again safe")
	r, err := c.SendMail(context.Background(), postcard("k"))
	require.NoError(t, err)
	assert.Regexp(t, `^psc_`, r.MessageID)
	assert.Equal(t, 1, f.Lob.Created(), "one postcard despite two requests")
}

func TestMailFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status int
		kind   channels.Kind
	}{{429, channels.NotTaken}, {500, channels.InDoubt}, {503, channels.InDoubt}, {422, channels.Permanent}} {
		f, c := setup(t)
		f.Lob.Failures.Add(tc.status, 1)
		_, err := c.SendMail(ctx, postcard("k"))
		var pe *channels.Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, tc.kind, pe.Kind, "status %d", tc.status)
		assert.Equal(t, tc.status, pe.Status)
	}
	_, c := setup(t)
	bad := postcard("k")
	bad.To.Line1 = "1 UNDELIVERABLE Road"
	_, err := c.SendMail(ctx, bad)
	var pe *channels.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "failed_deliverability_strictness", pe.Code)
	assert.Equal(t, channels.Permanent, pe.Kind)

	incomplete := postcard("k2")
	incomplete.To = channels.PostalAddress{Name: "Ada", Line1: "1 Road", City: "Springfield", Country: "US"}
	_, err = c.SendMail(ctx, incomplete)
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, pe.Message, "address_state")

	wrong, _ := printmail.New(printmail.Config{APIKey: "nope", BaseURL: func() string {
		f := fakes.New(fakes.Config{LobAPIKey: "test_key"})
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return srv.URL
	}()})
	_, err = wrong.SendMail(ctx, postcard("k"))
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 401, pe.Status)
}

// A name or address line with a line break (stored before the API refused
// them) reaches Lob as one line each.
func TestAddressLinesAreOneLineEach(t *testing.T) {
	f, c := setup(t)
	m := postcard("k3")
	m.To = channels.PostalAddress{Name: "Bob\r\nX-Injected: 1", Line1: "12 St James's\r\nSquare", City: "Lon\ndon", PostalCode: "SW1Y 4LB", Country: "GB"}
	_, err := c.SendMail(context.Background(), m)
	require.NoError(t, err)
	msgs := f.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "Bob X-Injected: 1, 12 St James's Square, Lon don, SW1Y 4LB, GB", msgs[0].To)
}
