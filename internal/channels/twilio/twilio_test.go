package twilio_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/fakes"
)

const sid = "AC00000000000000000000000000000001"

func setup(t *testing.T) (*fakes.Fakes, *twilio.Client) {
	f := fakes.New(fakes.Config{TwilioAccountSID: sid, TwilioAuthToken: "token"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: "token", BaseURL: srv.URL, From: "+15005550006"})
	require.NoError(t, err)
	return f, c
}

func TestSendSMSThroughTheFake(t *testing.T) {
	f, c := setup(t)
	r, err := c.SendSMS(context.Background(), channels.SMS{To: "+447911123456", Body: "Hi Ada", StatusCallback: "https://rapport.example/webhooks/twilio/status?message_id=m1"})
	require.NoError(t, err)
	assert.Equal(t, "twilio", r.Provider)
	assert.Regexp(t, `^SM[0-9a-f]{32}$`, r.MessageID)
	msgs := f.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "sms", msgs[0].Channel)
	assert.Equal(t, "+447911123456", msgs[0].To)
	assert.Equal(t, "Hi Ada", msgs[0].Text)
	assert.Equal(t, "m1", msgs[0].MessageID)
}

func TestSendSMSClassifiesTwilioErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		to       string
		code     string
		kind     channels.Kind
		suppress bool
	}{
		{"+15005550004", "21610", channels.Permanent, true},
		{"+15005550001", "21211", channels.Permanent, false},
		{"+15005550009", "21614", channels.Permanent, false},
		{"+15005550003", "21408", channels.Permanent, false},
	} {
		_, c := setup(t)
		_, err := c.SendSMS(ctx, channels.SMS{To: tc.to, Body: "x"})
		var pe *channels.Error
		require.ErrorAs(t, err, &pe, tc.to)
		assert.Equal(t, tc.code, pe.Code, tc.to)
		assert.Equal(t, tc.kind, pe.Kind, tc.to)
		assert.Equal(t, tc.suppress, pe.Suppress, tc.to)
	}
	for status, kind := range map[int]channels.Kind{429: channels.NotTaken, 500: channels.InDoubt, 502: channels.InDoubt, 503: channels.InDoubt, 504: channels.InDoubt} {
		f, c := setup(t)
		f.Twilio.Failures.Add(status, 1)
		_, err := c.SendSMS(ctx, channels.SMS{To: "+447911123456", Body: "x"})
		assert.Equal(t, kind, channels.KindOf(err), "status %d: %v", status, err)
	}
	f, c := setup(t)
	f.Twilio.Stop("+447911123456")
	_, err := c.SendSMS(ctx, channels.SMS{To: "+447911123456", Body: "x"})
	var pe *channels.Error
	require.ErrorAs(t, err, &pe)
	assert.True(t, pe.Suppress)
}

func TestSendSMSBadCredentialsAndProxyErrors(t *testing.T) {
	f := fakes.New(fakes.Config{TwilioAccountSID: sid, TwilioAuthToken: "token"})
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: "wrong", BaseURL: srv.URL, MessagingServiceSID: "MG00000000000000000000000000000001"})
	require.NoError(t, err)
	_, err = c.SendSMS(context.Background(), channels.SMS{To: "+447911123456", Body: "x"})
	assert.Equal(t, channels.Permanent, channels.KindOf(err))

	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer proxy.Close()
	c, _ = twilio.New(twilio.Config{AccountSID: sid, AuthToken: "token", BaseURL: proxy.URL, From: "+15005550006"})
	_, err = c.SendSMS(context.Background(), channels.SMS{To: "+447911123456", Body: "x"})
	assert.Equal(t, channels.InDoubt, channels.KindOf(err), "a gateway's 502 may follow a forwarded request: %v", err)

	_, err = twilio.New(twilio.Config{AccountSID: sid, AuthToken: "t"})
	assert.ErrorContains(t, err, "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM")
	_, err = twilio.New(twilio.Config{AccountSID: sid, AuthToken: "my-token", From: "+15005550006"})
	assert.ErrorContains(t, err, "only letters and digits")
}

// A gateway's 504 after Twilio took the message leaves it in doubt; the
// lookup by To and DateSent finds it, so it is settled as sent. A request
// Twilio never processed is proven not sent, and resending it sends one.
func TestFindSentSettlesInDoubtSMS(t *testing.T) {
	ctx := context.Background()
	f := fakes.New(fakes.Config{TwilioAccountSID: sid, TwilioAuthToken: "token"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "<html>504 Gateway Time-out</html>", http.StatusGatewayTimeout)
	}))
	t.Cleanup(gateway.Close)
	viaGateway, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: "token", BaseURL: gateway.URL, From: "+15005550006"})
	require.NoError(t, err)
	direct, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: "token", BaseURL: srv.URL, From: "+15005550006"})
	require.NoError(t, err)

	since := time.Now()
	_, err = direct.SendSMS(ctx, channels.SMS{To: "+447911123456", Body: "an earlier text"})
	require.NoError(t, err)
	_, err = viaGateway.SendSMS(ctx, channels.SMS{To: "+447911123456", Body: "your order shipped"})
	require.Equal(t, channels.InDoubt, channels.KindOf(err), "%v", err)
	got, found, err := direct.FindSent(ctx, "+447911123456", channels.Digest("your order shipped"), since)
	require.NoError(t, err)
	assert.True(t, found, "Twilio has it: settled as sent")
	assert.Equal(t, f.Recorder.Messages()[0].ProviderMessageID, got)

	f.Twilio.Failures.Add(500, 1) // not processed, but the client cannot know
	_, err = direct.SendSMS(ctx, channels.SMS{To: "+447911123457", Body: "your parcel is here"})
	require.Equal(t, channels.InDoubt, channels.KindOf(err))
	_, found, err = direct.FindSent(ctx, "+447911123457", channels.Digest("your parcel is here"), since)
	require.NoError(t, err)
	assert.False(t, found, "proven not sent")
	_, err = direct.SendSMS(ctx, channels.SMS{To: "+447911123457", Body: "your parcel is here"})
	require.NoError(t, err)
	n := 0
	for _, m := range f.Recorder.Messages() {
		if m.To == "+447911123457" {
			n++
		}
	}
	assert.Equal(t, 1, n, "resent exactly once")
	_, found, err = direct.FindSent(ctx, "+447911123456", channels.Digest("your order shipped"), since.Add(48*time.Hour))
	require.NoError(t, err)
	assert.False(t, found, "DateSent filters out earlier days")
}

func TestTwilioFakeListsPerTheSpec(t *testing.T) {
	f, c := setup(t)
	for i := range 5 {
		_, err := c.SendSMS(context.Background(), channels.SMS{To: "+447911123456", Body: "n" + string(rune('0'+i))})
		require.NoError(t, err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/2010-04-01/Accounts/"+sid+"/Messages.json?To=%2B447911123456&PageSize=2", nil)
	req.SetBasicAuth(sid, "token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var page struct {
		Messages []struct {
			Body     string `json:"body"`
			DateSent string `json:"date_sent"`
		} `json:"messages"`
		NextPageURI *string `json:"next_page_uri"`
		PageSize    int     `json:"page_size"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	require.Len(t, page.Messages, 2)
	assert.Equal(t, "n4", page.Messages[0].Body, "newest first")
	assert.NotEmpty(t, page.Messages[0].DateSent)
	require.NotNil(t, page.NextPageURI)
	assert.Contains(t, *page.NextPageURI, "Page=1")
	req.SetBasicAuth(sid, "wrong")
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp2.StatusCode)
}
