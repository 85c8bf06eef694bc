package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
)

// What a customer types, and what a provider relays, is kept rather than
// refused, made storable: NUL and other control characters dropped,
// bytes that are not UTF-8 made U+FFFD, CR LF made "\n". Nothing answers
// 5xx, and a batch of SendGrid events is applied whole.
func TestFormsAndWebhooksKeepWhatWasMeantAndStoreIt(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	s.customer(`{"id": "c_1", "email": "ada@example.com", "name": "Ada Lovelace", "phone": "+44 7911 123456"}`)

	token, claims := s.surveyToken(s.links, "c_1", time.Now().Add(time.Hour))
	a := s.page("POST", "/survey/"+token, url.Values{"score": {"4"}, "comment": {"Good\x00 tea\r\nbut \xffcold\x07"}})
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	ans, err := s.st.GetSurveyAnswer(ctx, claims.SurveyID)
	require.NoError(t, err)
	assert.Equal(t, "Good tea\nbut \uFFFDcold", ans.Comment)
	ev := s.must(http.StatusOK, "GET", "/v1/events/survey-"+claims.SurveyID, "")
	assert.Equal(t, "Good tea\nbut \uFFFDcold", ev["data"].(map[string]any)["comment"])

	a = s.twilio("/webhooks/twilio/inbound", url.Values{"From": {"+447911123456"}, "Body": {"Is it\x00 safe?\r\nThanks \xfe"}, "MessageSid": {"SM7"}}, s.twilioToken, "")
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	ev = s.must(http.StatusOK, "GET", "/v1/events/sms-SM7-c_1", "")
	assert.Equal(t, "Is it safe?\nThanks \uFFFD", ev["data"].(map[string]any)["body"])

	sent := s.message("c_1", "email", "offers", "ada@example.com", store.MessageSent)
	a = s.postSendGrid(s.sendgrid, now(), []map[string]any{
		{"sg_event_id": "n1", "event": "bounce", "type": "bounce", "reason": "550 no\x00 such user", "email": "ada@example.com", "message_id": sent},
		{"sg_event_id": "n2\x00", "event": "delivered", "email": "ada@example.com", "message_id": sent},
	})
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	ok, why := s.suppressed("email", "ada@example.com")
	assert.True(t, ok)
	assert.Equal(t, "hard bounce: 550 no such user", why)
	assert.Equal(t, "delivered", s.outboxRow(sent).DeliveryStatus, "the second event applied too")
}
