package activities

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// harness is the send activity wired to a real database and the real
// sendgrid-go client talking to the SendGrid fake over HTTP.
type harness struct {
	acts  *Activities
	store *store.Store
	// dbURL is the test database's, for rows no store method reaches.
	dbURL string
	fakes *fakes.Fakes
	env   *testsuite.TestActivityEnvironment
	// fakesURL is where the fakes answer directly.
	fakesURL string
}

func newHarness(t *testing.T, opts ...store.Option) *harness {
	t.Helper()
	s, dbURL := storetest.New(t, opts...)
	f := fakes.New(fakes.Config{SendGridAPIKey: "SG.test", TwilioAccountSID: twilioSID, TwilioAuthToken: "token", LobAPIKey: "lob_key"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	tmpl, err := templates.Load(os.DirFS("../journeys/templates"), "journeys/templates")
	require.NoError(t, err)
	h := &harness{store: s, dbURL: dbURL, fakes: f, fakesURL: srv.URL}
	sms, err := twilio.New(twilio.Config{AccountSID: twilioSID, AuthToken: "token", BaseURL: srv.URL, From: "+15005550006"})
	require.NoError(t, err)
	mail, err := printmail.New(printmail.Config{APIKey: "lob_key", BaseURL: srv.URL})
	require.NoError(t, err)
	signer, err := links.NewSigner([]byte(strings.Repeat("s", 32)))
	require.NoError(t, err)
	h.acts = &Activities{
		Store: s, Templates: tmpl,
		Email:         sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: srv.URL}),
		SMS:           sms,
		Mail:          mail,
		Sender:        Sender{EmailFrom: "hello@shop.example", EmailFromName: "Shop", Shop: templates.Shop{Name: "Teapot & Co", SupportEmail: "care@shop.example"}},
		ReturnAddress: channels.PostalAddress{Name: "Teapot & Co", Line1: "185 Berry St", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"},
		Links:         signer, PublicURL: "https://rapport.example", DefaultCurrency: "USD", Rules: policy.DefaultRules(),
		Metrics: metrics.New(),
	}
	t.Cleanup(func() { _ = h.acts.Metrics.Close() })
	var ts testsuite.WorkflowTestSuite
	h.env = ts.NewTestActivityEnvironment()
	h.acts.Register(h.env)
	ctx := context.Background()
	_, err = s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "ada@example.com", Phone: "07911 123456", Name: "Ada Lovelace", Locale: "en-GB",
		Address: store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"}})
	require.NoError(t, err)
	_, _, err = s.RecordEvent(ctx, store.Event{ID: "e1", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Now()},
		&store.Order{ID: "o1", CustomerID: "c_1", Total: money.MustParse("8.5"), Currency: "GBP", Items: []store.Item{{ProductID: "p", Name: "Earl Grey", Quantity: 2, Price: money.MustParse("4.25")}}})
	require.NoError(t, err)
	return h
}

const twilioSID = "AC00000000000000000000000000000001"

func request() workflows.SendRequest {
	return workflows.SendRequest{WorkflowID: "rapport/thank-you/c_1/e1", Journey: "thank-you", StepID: "thank_you", CustomerID: "c_1",
		Channel: journey.Email, Template: "thank-you", Purpose: journey.Transactional, Topic: "orders", OrderID: "o1"}
}

func (h *harness) send(req workflows.SendRequest) (workflows.SendResult, error) {
	v, err := h.env.ExecuteActivity(workflows.SendMessageActivity, req)
	if err != nil {
		return workflows.SendResult{}, err
	}
	var res workflows.SendResult
	return res, v.Get(&res)
}

func TestSendEmailRecordsAndSendsOnce(t *testing.T) {
	h := newHarness(t)
	res, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	assert.Equal(t, "sendgrid", res.Provider)

	msgs := h.fakes.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "Thank you for your order, Ada", msgs[0].Subject, "British copy for an en-GB customer")
	assert.Contains(t, msgs[0].Text, "Earl Grey")
	assert.Equal(t, res.MessageID, msgs[0].MessageID, "custom_args carry the outbox id")
	assert.Equal(t, "thank-you", msgs[0].Journey)
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "sent"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "sendgrid", "operation", "send", "outcome", "ok"))

	again, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, res, again, "a retry reports the recorded outcome")
	assert.Len(t, h.fakes.Recorder.Messages(), 1, "and sends nothing")
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "sent"), "nor counts it again")
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "sendgrid", "operation", "send", "outcome", "ok"))

	rows, err := h.store.MessagesFor(context.Background(), "c_1")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, store.MessageSent, rows[0].Status)
	assert.Equal(t, "ada@example.com", rows[0].Recipient)
	assert.Equal(t, res.ProviderMessageID, rows[0].ProviderMessageID)
}

func TestSendEmailRetryableFailureThenSuccess(t *testing.T) {
	h := newHarness(t)
	h.fakes.SendGrid.Failures.Add(429, 1)
	_, err := h.send(request())
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.False(t, appErr.NonRetryable(), "a rate limit is retried")
	assert.Greater(t, appErr.NextRetryDelay(), time.Duration(0), "after the provider's reset time")

	res, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	assert.Len(t, h.fakes.Recorder.Messages(), 1)
	rows, _ := h.store.MessagesFor(context.Background(), "c_1")
	assert.Equal(t, 2, rows[0].Attempts)
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "sendgrid", "operation", "send", "outcome", "retryable"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "sendgrid", "operation", "send", "outcome", "ok"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "sent"), "the retryable failure is not an outcome")
}

func TestSendEmailPermanentFailureIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.fakes.SendGrid.Failures.Add(400, 1)
	res, err := h.send(request())
	require.NoError(t, err, "a permanent failure is a result, so the workflow can fall back")
	assert.Equal(t, workflows.SendFailed, res.Status)
	assert.Contains(t, res.Reason, "sendgrid answered 400")

	res, err = h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendFailed, res.Status, "not tried again")
	assert.Empty(t, h.fakes.Recorder.Messages())
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "failed"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "sendgrid", "operation", "send", "outcome", "permanent"))
}

// acceptThenLose sends through the real client, then loses the answer, as
// when a connection drops after the provider took the message.
type acceptThenLose struct{ channels.EmailSender }

func (a acceptThenLose) SendEmail(ctx context.Context, e channels.Email) (channels.Receipt, error) {
	if _, err := a.EmailSender.SendEmail(ctx, e); err != nil {
		return channels.Receipt{}, err
	}
	return channels.Receipt{}, errors.New("read tcp: connection reset by peer")
}

func TestSendEmailInDoubtIsNotSentAgain(t *testing.T) {
	h := newHarness(t)
	h.acts.Email = acceptThenLose{h.acts.Email}
	res, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendUnknown, res.Status)
	assert.Contains(t, res.Reason, "not sent again")
	res, err = h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendUnknown, res.Status)
	assert.Len(t, h.fakes.Recorder.Messages(), 1, "exactly one email went out")
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "unknown"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "sendgrid", "operation", "send", "outcome", "in_doubt"))
}

func TestSendEmailSkipsCustomersWithoutAddress(t *testing.T) {
	h := newHarness(t)
	_, err := h.store.UpsertCustomer(context.Background(), store.Customer{ID: "c_2", Name: "No Mail"})
	require.NoError(t, err)
	req := request()
	req.CustomerID, req.WorkflowID = "c_2", "rapport/thank-you/c_2/e2"
	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Equal(t, "no email address", res.Reason)

	req.CustomerID, req.WorkflowID = "c_gone", "rapport/thank-you/c_gone/e3"
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Equal(t, "the customer no longer exists", res.Reason)
	assert.Empty(t, h.fakes.Recorder.Messages())
	assert.Equal(t, 2.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "skipped"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_held_total", "channel", "email", "reason", "no_address"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_held_total", "channel", "email", "reason", "no_customer"))
}

func TestCustomerFactsNotFound(t *testing.T) {
	h := newHarness(t)
	_, err := h.env.ExecuteActivity(workflows.CustomerFactsActivity, "c_nobody")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, workflows.ErrCustomerNotFound, appErr.Type())
	v, err := h.env.ExecuteActivity(workflows.CustomerFactsActivity, "c_1")
	require.NoError(t, err)
	var facts journey.Customer
	require.NoError(t, v.Get(&facts))
	assert.True(t, facts.HasEmail)
	assert.Equal(t, int64(1), facts.OrdersCount)
}
