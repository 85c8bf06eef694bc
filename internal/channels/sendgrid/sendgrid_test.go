package sendgrid_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/fakes"
)

func email() channels.Email {
	return channels.Email{
		To: "ada@example.com", ToName: "Ada", From: "hello@shop.example", FromName: "The Shop",
		Subject: "Thank you", Text: "Hi Ada", HTML: "<p>Hi Ada</p>",
		Headers:    map[string]string{"X-Rapport-Journey": "thank-you"},
		Categories: []string{"thank-you"},
		CustomArgs: map[string]string{"journey": "thank-you", "step": "thanks", "customer_id": "c_1", "message_id": "m1"},
	}
}

func setup(t *testing.T) (*fakes.Fakes, *sendgrid.Client) {
	f := fakes.New(fakes.Config{SendGridAPIKey: "SG.test"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: srv.URL})
}

func TestSendEmailThroughTheFake(t *testing.T) {
	f, c := setup(t)
	receipt, err := c.SendEmail(context.Background(), email())
	require.NoError(t, err)
	assert.Equal(t, "sendgrid", receipt.Provider)
	assert.NotEmpty(t, receipt.MessageID)

	msgs := f.Recorder.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "email", m.Channel)
	assert.Equal(t, "ada@example.com", m.To)
	assert.Equal(t, "Thank you", m.Subject)
	assert.Equal(t, "Hi Ada", m.Text)
	assert.Equal(t, "<p>Hi Ada</p>", m.HTML)
	assert.Equal(t, "c_1", m.CustomerID)
	assert.Equal(t, "thank-you", m.Journey)
	assert.Equal(t, "thanks", m.Step)
	assert.Equal(t, "m1", m.MessageID)
	assert.Equal(t, receipt.MessageID, m.ProviderMessageID)
	assert.Equal(t, "thank-you", m.Headers["X-Rapport-Journey"])
}

func TestSendEmailClassifiesFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status int
		kind   channels.Kind
	}{
		{429, channels.NotTaken}, {408, channels.NotTaken},
		{500, channels.InDoubt}, {502, channels.InDoubt}, {503, channels.InDoubt}, {504, channels.InDoubt},
		{400, channels.Permanent}, {401, channels.Permanent}, {403, channels.Permanent}, {413, channels.Permanent},
	} {
		f, c := setup(t)
		f.SendGrid.Failures.Add(tc.status, 1)
		_, err := c.SendEmail(ctx, email())
		var pe *channels.Error
		require.ErrorAs(t, err, &pe, "status %d", tc.status)
		assert.Equal(t, tc.kind, pe.Kind, "status %d", tc.status)
		assert.Equal(t, tc.status, pe.Status)
		assert.Contains(t, pe.Message, "forced failure")
		if tc.status == 429 {
			assert.Greater(t, pe.RetryAfter, time.Duration(0), "the rate limit reset becomes a retry delay")
		}
		assert.Empty(t, f.Recorder.Messages())
	}
}

func TestSendEmailRejectedByValidation(t *testing.T) {
	f, c := setup(t)
	e := email()
	e.From = "not an address"
	e.Subject = ""
	_, err := c.SendEmail(context.Background(), e)
	var pe *channels.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, channels.Permanent, pe.Kind)
	assert.Equal(t, 400, pe.Status)
	assert.Contains(t, pe.Message, "The from email does not contain a valid address. (from.email)")
	assert.Contains(t, pe.Message, "The subject is required.")
	assert.Empty(t, f.Recorder.Messages())

	wrongKey := sendgrid.New(sendgrid.Config{APIKey: "SG.wrong", BaseURL: func() string {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return srv.URL
	}()})
	_, err = wrongKey.SendEmail(context.Background(), email())
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 401, pe.Status)
	assert.Equal(t, channels.Permanent, pe.Kind)
}

func TestSendEmailTransportFailures(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more: connection refused
	c := sendgrid.New(sendgrid.Config{APIKey: "k", BaseURL: url})
	_, err := c.SendEmail(context.Background(), email())
	assert.Equal(t, channels.Retryable, channels.KindOf(err), "a refused connection never reached SendGrid: %v", err)

	// The server takes the request and never answers; the client's
	// timeout, long enough for a busy machine to send the request, ends
	// the wait.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // read, so the server notices when the client goes
		<-r.Context().Done()
	}))
	defer slow.Close()
	c = sendgrid.New(sendgrid.Config{APIKey: "k", BaseURL: slow.URL, HTTPClient: &http.Client{Timeout: time.Second}})
	_, err = c.SendEmail(context.Background(), email())
	assert.Equal(t, channels.InDoubt, channels.KindOf(err), "a timeout after sending may have been accepted: %v", err)
}

// forwardThen504 forwards each request to the fake, then answers 504 as a
// gateway does when the provider's answer comes too late.
func forwardThen504(t *testing.T, f *fakes.Fakes) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "<html>504 Gateway Time-out</html>", http.StatusGatewayTimeout)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestGateway504AfterForwardingIsInDoubt(t *testing.T) {
	f := fakes.New(fakes.Config{SendGridAPIKey: "SG.test"})
	c := sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: forwardThen504(t, f)})
	_, err := c.SendEmail(context.Background(), email())
	var pe *channels.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, channels.InDoubt, pe.Kind, "the provider took it: not safe to send again")
	assert.Equal(t, 504, pe.Status)
	assert.Len(t, f.Recorder.Messages(), 1)
}

func TestProviderHangingPastTheTimeoutIsInDoubt(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: time.Second}}) // long enough to send on a busy machine
	_, err := c.SendEmail(context.Background(), email())
	assert.Equal(t, channels.InDoubt, channels.KindOf(err), "%v", err)

	refused := httptest.NewServer(http.NotFoundHandler())
	url := refused.URL
	refused.Close()
	c = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: url})
	_, err = c.SendEmail(context.Background(), email())
	assert.Equal(t, channels.NotTaken, channels.KindOf(err), "a refused connection never reached SendGrid: %v", err)
}

func TestDefaultTimeoutIsWellBelowTheSendActivity(t *testing.T) {
	const sendStartToClose = 30 * time.Second // workflows.sendStartToClose
	assert.LessOrEqual(t, channels.DefaultTimeout, sendStartToClose/2)
}

// Names, the subject and header values reach SendGrid as one line each,
// whatever they held.
func TestHeadersAreOneLineEach(t *testing.T) {
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	c := sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: srv.URL})
	e := email()
	e.ToName, e.FromName, e.Subject = "Bob\r\nBcc: evil@example.com", "The\nShop", "Offer\r\nX-Injected: 1"
	e.Headers = map[string]string{"List-Unsubscribe": "<https://shop.example/u>\r\nX-Injected: 1"}
	_, err := c.SendEmail(context.Background(), e)
	require.NoError(t, err)
	require.NotNil(t, body)
	p := body["personalizations"].([]any)[0].(map[string]any)
	assert.Equal(t, "Bob Bcc: evil@example.com", p["to"].([]any)[0].(map[string]any)["name"])
	assert.Equal(t, "The Shop", body["from"].(map[string]any)["name"])
	assert.Equal(t, "Offer X-Injected: 1", body["subject"])
	assert.Equal(t, "<https://shop.example/u> X-Injected: 1", body["headers"].(map[string]any)["List-Unsubscribe"])
}
