// Package report tells how a journey does: its funnel (who entered,
// reached each step, was sent, skipped or held, exited and why,
// completed, converted), and its arms (treatment and control group, the
// paths of each split) compared on the journey's goal with intervals
// that stay honest with small numbers (see Method).
package report
