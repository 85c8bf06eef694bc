package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
)

// The sunset example (docs/examples/email-sunset.yaml): a customer
// emailed for 200 days whose only opens are a machine's is in its
// audience; one who clicked 20 days ago is not, nor one emailed for a
// month. The database decides the whole audience.
func TestSunsetCountsOnlyAPersonsOpensAndClicks(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	src, err := os.ReadFile("../../docs/examples/email-sunset.yaml")
	require.NoError(t, err)
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("email-sunset.yaml", src)
	require.False(t, diags.HasErrors(), "%v", diags)
	cat, err := journey.NewCatalog(plan)
	require.NoError(t, err)
	rt := &router.Router{Store: s.st, Temporal: s.temporal, Catalog: cat, Env: comp.Env()}

	ref := time.Now().Truncate(time.Second)
	at := func(d time.Duration) int64 { return ref.Add(-d).Unix() }
	var events []map[string]any
	for _, c := range []struct {
		id    string
		since time.Duration // first emailed
	}{{"c_machine", 200 * day}, {"c_clicker", 200 * day}, {"c_new", 30 * day}} {
		s.customer(fmt.Sprintf(`{"id": %q, "email": "%s@example.com"}`, c.id, c.id))
		m := s.message(c.id, "email", "offers", c.id+"@example.com", store.MessageSent)
		events = append(events,
			map[string]any{"sg_event_id": "p-" + c.id, "event": "processed", "message_id": m, "timestamp": at(c.since)},
			map[string]any{"sg_event_id": "d-" + c.id, "event": "delivered", "message_id": m, "timestamp": at(c.since)})
		for i := range 3 { // Apple Mail fetches the images of every email
			events = append(events, map[string]any{"sg_event_id": fmt.Sprintf("m%d-%s", i, c.id), "event": "open",
				"sg_machine_open": true, "message_id": m, "timestamp": at(time.Duration(i+1) * day)})
		}
		if c.id == "c_clicker" {
			events = append(events, map[string]any{"sg_event_id": "k-" + c.id, "event": "click", "message_id": m, "timestamp": at(20 * day)})
		}
	}
	require.Equal(t, http.StatusOK, s.postSendGrid(s.sendgrid, now(), events).Code)

	p, err := rt.PreviewAudience(context.Background(), plan, ref, 10)
	require.NoError(t, err)
	assert.Empty(t, p.CEL, "the database decides the whole audience")
	require.Equal(t, int64(1), p.Matched, "%+v", p)
	assert.Equal(t, "c_machine", p.Sample[0].ID)
	assert.Equal(t, int64(3), p.Sample[0].Engagement.Email.MachineOpens30d)
	assert.Equal(t, int64(-1), p.Sample[0].Engagement.Email.DaysSinceEngaged)

	// The journey's branch after its wait reads the same facts: the
	// machine's opens never make them a reader again.
	facts, err := s.st.CustomerFacts(context.Background(), "c_machine", ref)
	require.NoError(t, err)
	back, err := comp.Env().Eval(`customer.engagement.email.days_since_engaged >= 0 && customer.engagement.email.days_since_engaged <= 14`,
		journey.Vars{Customer: facts, Now: ref})
	require.NoError(t, err)
	assert.False(t, back)
}
