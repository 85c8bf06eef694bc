// Package lanes decides where a journey run's tasks wait in Temporal's
// task queue when the workers are behind: their priority (transactional
// messages first, then a journey's high, normal and low priority; runs an
// audience, a date scan or a fan-out entered in bulk one level below
// those a customer's own event started) and their fairness key (the
// journey, so that one journey's thousands of runs share the queue with
// the other journeys instead of going first). Activities inherit their
// run's priority and fairness key from the server, so a run's sends,
// retries after an outage and resumptions after a hold keep its lane.
//
// Priority needs the server's matching.useNewMatcher (on by default in the
// Temporal Server Rapport embeds, 1.32), fairness its
// matching.enableFairness (off by default). A server without them
// dispatches in arrival order, as before (see "Lanes" in
// docs/operating.md).
package lanes

import (
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
)

// Levels is the number of priority levels Rapport uses, 1 (first) to 5:
// the server's matching.priorityLevels default. A server configured with
// fewer treats the keys above its last level as its last.
const Levels = 5

// Origin says what started a run.
type Origin int

// Origins.
const (
	// Event is a run a customer's event started (an order placed), or a
	// signal-with-start of one.
	Event Origin = iota
	// Bulk is a run an audience run, a date scan or a fan-out entered,
	// along with many others at once.
	Bulk
)

// String names the origin, for logs and tests.
func (o Origin) String() string {
	if o == Bulk {
		return "bulk"
	}
	return "event"
}

// Fairness keys that are not journeys. Journey names are lowercase
// letters, digits and dashes, so these never name one.
const (
	// ScanKey is the fairness key of every audience and date scan (the
	// audience workflow and its EnterAudience activities): a scan gets a
	// share of its level like one journey, however many runs the other
	// journeys have waiting, and is never stuck behind them.
	ScanKey = "(scans)"
	// MaintenanceKey is the fairness key of the retention workflow.
	MaintenanceKey = "(maintenance)"
)

// Key is the priority key of a run of a journey of this purpose and
// priority: transactional 1, high 2, normal 3, low 4; a run entered in
// bulk one level lower (a transactional one 2, normal 4, low 5), except
// that a high-priority journey's bulk runs stay at 2: the journey said it
// matters.
func Key(purpose journey.Purpose, priority journey.Priority, o Origin) int {
	key := 3
	switch {
	case purpose == journey.Transactional:
		key = 1
	case priority == journey.PriorityHigh:
		key = 2
	case priority == journey.PriorityLow:
		key = 4
	}
	if o == Bulk && (purpose == journey.Transactional || priority != journey.PriorityHigh) {
		key++
	}
	return min(key, Levels)
}

// Run is the priority a run of the plan starts with: its key (Key) and
// the journey as its fairness key.
func Run(plan *journey.Plan, o Origin) temporal.Priority {
	return temporal.Priority{PriorityKey: Key(plan.Purpose, plan.Priority, o), FairnessKey: plan.Journey}
}

// Scan is the priority of the plan's audience (or date) scan: the level of
// the runs it enters, so it is never held up by another journey's bulk
// runs of that level, with ScanKey as its fairness key, so it is not
// stuck behind them either; and below every run a customer's event
// started, so it never holds up their messages.
func Scan(plan *journey.Plan) temporal.Priority {
	return temporal.Priority{PriorityKey: Key(plan.Purpose, plan.Priority, Bulk), FairnessKey: ScanKey}
}

// Maintenance is the priority of housekeeping (the retention workflow):
// the last level, with a fairness key of its own.
func Maintenance() temporal.Priority {
	return temporal.Priority{PriorityKey: Levels, FairnessKey: MaintenanceKey}
}
