package report

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Method names how the report compares arms, for people and for --json.
const Method = "Bayesian Beta-Binomial: each arm's conversion rate has a uniform Beta(1,1) prior; " +
	"intervals are 95% equal-tailed credible intervals; the lift's interval and the probability that " +
	"treatment is better come from 40,000 paired draws of the two posteriors (a fixed seed, so the same data give the same report)"

// Credibility is the interval's probability mass.
const Credibility = 0.95

// Estimate is a figure and its 95% interval.
type Estimate struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// RateEstimate is an arm's conversion rate: conversions/entrants, with the
// equal-tailed 95% credible interval of the Beta(1+conversions,
// 1+entrants-conversions) posterior. With no entrants the interval is
// the prior's (0.025 to 0.975): nothing is known.
func RateEstimate(conversions, entrants int) Estimate {
	post := posterior(conversions, entrants)
	e := Estimate{Low: post.Quantile((1 - Credibility) / 2), High: post.Quantile(1 - (1-Credibility)/2)}
	if entrants > 0 {
		e.Value = float64(conversions) / float64(entrants)
	}
	return e
}

func posterior(conversions, entrants int) distuv.Beta {
	return distuv.Beta{Alpha: 1 + float64(conversions), Beta: 1 + float64(entrants-conversions)}
}

// draws is how many paired posterior draws a comparison takes: the
// Monte Carlo error of a probability is then at most 0.0025 (one
// standard error), of an interval's end a few hundredths of its width.
const draws = 40000

// Comparison is how a treated arm did against a control arm.
type Comparison struct {
	// Absolute is the lift in conversion rate (treatment minus control),
	// in rate units (0.04 is four percentage points).
	Absolute Estimate `json:"absolute"`
	// Relative is the lift as a share of the control's rate (0.5 is 50%
	// more conversions); absent when the control converted nobody.
	Relative *Estimate `json:"relative,omitempty"`
	// ProbabilityBetter is the posterior probability that treatment
	// converts more than control.
	ProbabilityBetter float64 `json:"probability_better"`
	// Conclusive is true when the lift's interval excludes zero and both
	// arms have at least MinEntrants entrants.
	Conclusive bool `json:"conclusive"`
	// MoreEntrants estimates how many more entrants (both arms, at the
	// journey's split) the lift's interval needs to exclude zero, if the
	// rates stay as observed (or, when they are about equal, to tell a
	// lift of a fifth of the control's rate): 0 when conclusive, or when
	// an arm has no entrants yet (there is nothing to go on).
	MoreEntrants int `json:"more_entrants"`
	// Verdict says it in a sentence.
	Verdict string `json:"verdict"`
}

// MinEntrants is the fewest entrants per arm before the report draws a
// conclusion, however wide apart the rates: below it a couple of
// conversions move the rates by whole points.
const MinEntrants = 30

// Compare compares a treated arm (tConv of tN converted) with a control
// (cConv of cN), by paired draws of their posteriors from a fixed seed:
// the same counts always give the same comparison.
func Compare(tConv, tN, cConv, cN int) Comparison {
	rng := rand.New(rand.NewPCG(0x5eed, uint64(tConv)<<48^uint64(tN)<<32^uint64(cConv)<<16^uint64(cN)))
	tPost, cPost := posterior(tConv, tN), posterior(cConv, cN)
	tPost.Src, cPost.Src = rng, rng
	diffs := make([]float64, draws)
	rels := make([]float64, draws)
	better := 0
	for i := range draws {
		t, c := tPost.Rand(), cPost.Rand()
		diffs[i] = t - c
		rels[i] = (t - c) / c
		if t > c {
			better++
		}
	}
	slices.Sort(diffs)
	slices.Sort(rels)
	out := Comparison{ProbabilityBetter: float64(better) / draws}
	tRate, cRate := rate(tConv, tN), rate(cConv, cN)
	out.Absolute = Estimate{Value: tRate - cRate, Low: quantile(diffs, (1-Credibility)/2), High: quantile(diffs, 1-(1-Credibility)/2)}
	if cConv > 0 {
		out.Relative = &Estimate{Value: (tRate - cRate) / cRate, Low: quantile(rels, (1-Credibility)/2), High: quantile(rels, 1-(1-Credibility)/2)}
	}
	excludesZero := out.Absolute.Low > 0 || out.Absolute.High < 0
	out.Conclusive = excludesZero && tN >= MinEntrants && cN >= MinEntrants
	if !out.Conclusive && tN > 0 && cN > 0 {
		out.MoreEntrants = moreEntrants(tRate, tN, cRate, cN)
	}
	out.Verdict = verdict(out, tN, cN)
	return out
}

func rate(conversions, entrants int) float64 {
	if entrants == 0 {
		return 0
	}
	return float64(conversions) / float64(entrants)
}

// quantile reads the q-quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// moreEntrants estimates the extra entrants (both arms together, split as
// now) for a 95% interval of the difference to exclude zero with 80%
// power, by the normal approximation: N = (z.975 + z.8)^2 (pt qt / (1-h)
// + pc qc / h) / lift^2, where h is the control's share. A lift smaller
// than a fifth of the control's rate (or than half a point) is taken as
// that, the smallest lift worth finding.
func moreEntrants(tRate float64, tN int, cRate float64, cN int) int {
	n := tN + cN
	h := 0.5
	if n > 0 && tN > 0 && cN > 0 {
		h = float64(cN) / float64(n)
	}
	pt, pc := tRate, cRate
	if tN == 0 || cN == 0 || (pt == 0 && pc == 0) {
		pt, pc = 0.05, 0.05 // nothing seen yet: a rate typical of marketing goals
	}
	lift := math.Abs(pt - pc)
	if floor := math.Max(pc/5, 0.005); lift < floor {
		lift = floor
		pt = pc + floor
	}
	const z = 1.959964 + 0.841621
	needed := z * z * (pt*(1-pt)/(1-h) + pc*(1-pc)/h) / (lift * lift)
	needed = math.Max(needed, float64(MinEntrants)/math.Min(h, 1-h))
	return max(0, int(math.Ceil(needed))-n)
}

func verdict(c Comparison, tN, cN int) string {
	switch {
	case tN == 0 || cN == 0:
		return "no comparison yet: an arm has no entrants"
	case c.Conclusive && c.Absolute.Low > 0:
		return "treatment converts better than control"
	case c.Conclusive:
		return "treatment converts worse than control"
	case tN < MinEntrants || cN < MinEntrants:
		return "too few entrants to tell"
	default:
		return "not enough data to tell the arms apart"
	}
}
