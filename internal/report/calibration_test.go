package report_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestReportLiftIsCalibrated: 20 seeded crowds go through a journey with
// a goal and `holdout: 20%` as the router takes them (entries by the real
// entry rules and control-group assignment in the store, conversions
// recorded against the runs), with a known effect: treatment converts at
// 12%, control at 8%, a true lift of four points. The report built from
// the database must put the true lift inside its interval in at least 18
// of the 20 (90%), and its counts must be what was played.
func TestReportLiftIsCalibrated(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 entries into the database: .ci/test runs it in the long tier")
	}
	t.Parallel()
	const (
		runs     = 20
		entrants = 1000
		pT, pC   = 0.12, 0.08
		trueLift = pT - pC
	)
	s, _ := storetest.New(t)
	ctx := context.Background()
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	for i := range entrants {
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: fmt.Sprintf("c_%d", i)})
		require.NoError(t, err)
	}
	ten := money.MustParse("10.00")
	covered := 0
	for seed := uint64(1); seed <= runs; seed++ {
		rng := rand.New(rand.NewPCG(seed, 2026))
		name := fmt.Sprintf("calibrate-%d", seed)
		plan, diags := comp.Compile(name+".yaml", []byte(fmt.Sprintf(`
journey: %s
topic: offers
trigger: {event: order.delivered}
goal: {when: event.type == "order.placed", within: 14d}
holdout: 20%%
steps:
  - id: hello
    send: {channel: email, template: nudge}
`, name)))
		require.False(t, diags.HasErrors(), "%v", diags)
		var tN, tConv, cN, cConv int
		for i := range entrants {
			id := fmt.Sprintf("c_%d", i)
			wf := name + "/" + id
			got, err := s.EnterRun(ctx, store.Entry{Run: store.Run{WorkflowID: wf, Journey: name, CustomerID: id, PlanHash: plan.Hash, EntryKey: id, Goal: plan.Goal}, Holdout: plan.Holdout})
			require.NoError(t, err)
			p := pT
			if got.HeldOut {
				p = pC
				cN++
			} else {
				require.True(t, got.Start)
				tN++
			}
			if rng.Float64() >= p {
				continue
			}
			if got.HeldOut {
				cConv++
			} else {
				tConv++
			}
			require.NoError(t, s.RecordConversion(ctx, store.Conversion{WorkflowID: wf, Journey: name, CustomerID: id,
				EventID: fmt.Sprintf("evt-%d-%d", seed, i), EventType: "order.placed", ConvertedAt: time.Now(), Revenue: &ten, Currency: "EUR"}))
		}
		r, err := report.Build(ctx, s, plan, report.Options{})
		require.NoError(t, err)
		require.Len(t, r.Arms, 2)
		for _, a := range r.Arms {
			want := [2]int{tN, tConv}
			if a.Control {
				want = [2]int{cN, cConv}
			}
			require.Equal(t, want, [2]int{a.Entrants, a.Conversions}, "%s of %s", a.Name, name)
		}
		require.NotNil(t, r.Lift, name)
		l := r.Lift.Absolute
		in := l.Low <= trueLift && trueLift <= l.High
		t.Logf("seed %d: treatment %d/%d, control %d/%d: lift %.4f [%.4f, %.4f] covered %v", seed, tConv, tN, cConv, cN, l.Value, l.Low, l.High, in)
		if in {
			covered++
		}
	}
	assert.GreaterOrEqual(t, covered, 18, "the report's lift interval held the true lift in %d of %d runs", covered, runs)
}
