package report

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
)

// TestLiftIntervalIsCalibrated: 20 seeded crowds of 3,000 entrants go
// through the real control-group assignment (journey.HeldOut, 20%) with a
// known effect: treatment converts at 12%, control at 8%, a true lift of
// four points. The lift's 95% interval must contain it in at least 18 of
// the 20 (90%), and so must each arm's rate interval; the probability
// that treatment is better must favour it in most.
func TestLiftIntervalIsCalibrated(t *testing.T) {
	const (
		runs     = 20
		entrants = 3000
		pT, pC   = 0.12, 0.08
		trueLift = pT - pC
	)
	covered, ratesCovered, favoured := 0, 0, 0
	for seed := uint64(1); seed <= runs; seed++ {
		rng := rand.New(rand.NewPCG(seed, 2024))
		name := fmt.Sprintf("calibrate-%d", seed)
		var tN, tConv, cN, cConv int
		for i := range entrants {
			id := fmt.Sprintf("c-%d-%d", seed, i)
			if journey.HeldOut(name, id, 20) {
				cN++
				if rng.Float64() < pC {
					cConv++
				}
			} else {
				tN++
				if rng.Float64() < pT {
					tConv++
				}
			}
		}
		c := Compare(tConv, tN, cConv, cN)
		in := c.Absolute.Low <= trueLift && trueLift <= c.Absolute.High
		t.Logf("seed %d: treatment %d/%d, control %d/%d: lift %.4f [%.4f, %.4f] P(better) %.3f covered %v",
			seed, tConv, tN, cConv, cN, c.Absolute.Value, c.Absolute.Low, c.Absolute.High, c.ProbabilityBetter, in)
		if in {
			covered++
		}
		rt, rc := RateEstimate(tConv, tN), RateEstimate(cConv, cN)
		if rt.Low <= pT && pT <= rt.High && rc.Low <= pC && pC <= rc.High {
			ratesCovered++
		}
		if c.ProbabilityBetter > 0.5 {
			favoured++
		}
		require.InDelta(t, 600, cN, 100, "about a fifth held out")
	}
	assert.GreaterOrEqual(t, covered, 18, "the lift's 95%% interval held the true lift in %d of %d runs", covered, runs)
	assert.GreaterOrEqual(t, ratesCovered, 16, "both rate intervals held the true rates in %d of %d runs", ratesCovered, runs)
	assert.GreaterOrEqual(t, favoured, 18, "treatment was favoured in %d of %d runs", favoured, runs)
}

func TestCompareIsDeterministicAndSaysWhenDataIsThin(t *testing.T) {
	a := Compare(12, 100, 8, 100)
	assert.Equal(t, a, Compare(12, 100, 8, 100), "the same counts give the same report")
	assert.False(t, a.Conclusive)
	assert.Positive(t, a.MoreEntrants)
	assert.Equal(t, "not enough data to tell the arms apart", a.Verdict)
	assert.InDelta(t, 0.04, a.Absolute.Value, 1e-9)
	require.NotNil(t, a.Relative)
	assert.InDelta(t, 0.5, a.Relative.Value, 1e-9)

	// Ten times more data at the rates where a.MoreEntrants says the
	// interval clears zero: the larger sample is conclusive.
	n := (200 + a.MoreEntrants) / 2
	b := Compare(n*12/100, n, n*8/100, n)
	assert.True(t, b.Conclusive, "%d entrants per arm: %+v", n, b)
	assert.Zero(t, b.MoreEntrants)
	assert.Equal(t, "treatment converts better than control", b.Verdict)
	assert.Greater(t, b.ProbabilityBetter, 0.975)

	small := Compare(3, 10, 0, 5)
	assert.Equal(t, "too few entrants to tell", small.Verdict)
	assert.Nil(t, small.Relative, "no relative lift over a control that converted nobody")
	assert.Equal(t, "no comparison yet: an arm has no entrants", Compare(0, 0, 0, 0).Verdict)
	empty := Compare(1, 2, 0, 0)
	assert.Zero(t, empty.MoreEntrants, "no estimate from an arm with nobody in it")
	assert.False(t, empty.Conclusive)

	worse := Compare(400, 5000, 600, 5000)
	assert.True(t, worse.Conclusive)
	assert.Equal(t, "treatment converts worse than control", worse.Verdict)
	assert.Less(t, worse.ProbabilityBetter, 0.01)
}

func TestRateEstimate(t *testing.T) {
	e := RateEstimate(8, 100)
	assert.InDelta(t, 0.08, e.Value, 1e-12)
	assert.Less(t, e.Low, 0.08)
	assert.Greater(t, e.High, 0.08)
	assert.InDelta(t, 0.04, e.Low, 0.01)
	assert.InDelta(t, 0.15, e.High, 0.01)
	none := RateEstimate(0, 0)
	assert.InDelta(t, 0.025, none.Low, 1e-9)
	assert.InDelta(t, 0.975, none.High, 1e-9)
}
