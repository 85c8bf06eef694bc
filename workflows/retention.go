package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// Retention (RAPPORT_RETENTION_MESSAGES, RAPPORT_RETENTION_EVENTS) runs
// daily from a Temporal Schedule: a small workflow whose activity removes
// the content of old messages and the data of old events (and deletes
// the old fan-outs of events posted without a customer), in batches.
const (
	RetentionWorkflowName   = "ApplyRetention"
	ScrubOldContentActivity = "ScrubOldContent"

	// RetentionScheduleID is the schedule that starts the retention
	// workflow every day; its runs' workflow ids start with it.
	RetentionScheduleID = "rapport-retention"

	// ErrBadRetention is the error type of a retention that cannot be
	// read: retrying cannot mend it.
	ErrBadRetention = "BadRetention"

	// MinRetention is the shortest retention accepted: anything shorter
	// would remove what journeys under way still read.
	MinRetention = 24 * time.Hour
)

// What ScrubRequest.Kind names.
const (
	ScrubMessages = "messages"
	ScrubEvents   = "events"
)

// RetentionInput is how long message content and event data are kept, in
// journey durations ("400d"); "" keeps them forever.
type RetentionInput struct {
	Messages string `json:"messages,omitempty"`
	Events   string `json:"events,omitempty"`
}

// Enabled reports whether anything is ever removed.
func (in RetentionInput) Enabled() bool { return in.Messages != "" || in.Events != "" }

// String describes the retention, for summaries and logs.
func (in RetentionInput) String() string {
	keep := func(s string) string {
		if s == "" {
			return "forever"
		}
		return s
	}
	return fmt.Sprintf("message content kept %s, event data kept %s", keep(in.Messages), keep(in.Events))
}

// ParseRetention reads a retention period: "" (keep forever, 0) or a
// journey duration of at least a day, such as 400d or 13w.
func ParseRetention(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := journey.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < MinRetention {
		return 0, fmt.Errorf("%q is shorter than a day; keep data at least 1d (leave it unset to keep it forever)", s)
	}
	return d, nil
}

// ScrubRequest asks for the content of messages created, or the data of
// events that occurred, before Before to be removed, Batch rows at a time.
type ScrubRequest struct {
	Kind   string    `json:"kind"`
	Before time.Time `json:"before"`
	Batch  int       `json:"batch,omitempty"`
}

// ScrubResult counts what was removed: Rows messages or events, and, with
// the events, Fanouts fan-outs (events posted without a customer) deleted.
type ScrubResult struct {
	Rows    int64 `json:"rows"`
	Fanouts int64 `json:"fanouts,omitempty"`
	Batches int   `json:"batches"`
}

// RetentionResult is what a retention run removed, and the cutoffs it
// used (nil: that kind is kept forever).
type RetentionResult struct {
	MessagesBefore *time.Time `json:"messages_before,omitempty"`
	Messages       int64      `json:"messages"`
	EventsBefore   *time.Time `json:"events_before,omitempty"`
	Events         int64      `json:"events"`
	// Fanouts counts the fan-outs done before EventsBefore, deleted.
	Fanouts int64 `json:"fanouts,omitempty"`
}

// RetentionWorkflow removes the content of messages older than the
// message retention and the data of events older than the event
// retention, with the fan-outs done before then. The cutoffs are taken from the workflow's clock once, so a
// retried activity works to the same ones. The activity heartbeats between
// batches; database outages are retried, for up to 20 hours, so a run ends
// before the next day's starts.
func RetentionWorkflow(ctx workflow.Context, in RetentionInput) (RetentionResult, error) {
	var res RetentionResult
	msgs, err := ParseRetention(in.Messages)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError("message retention: "+err.Error(), ErrBadRetention, nil)
	}
	events, err := ParseRetention(in.Events)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError("event retention: "+err.Error(), ErrBadRetention, nil)
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout:    time.Hour,
		ScheduleToCloseTimeout: 20 * time.Hour,
		HeartbeatTimeout:       2 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
	}
	now := workflow.Now(ctx)
	for _, kind := range []struct {
		name   string
		keep   time.Duration
		before **time.Time
		rows   *int64
	}{
		{ScrubMessages, msgs, &res.MessagesBefore, &res.Messages},
		{ScrubEvents, events, &res.EventsBefore, &res.Events},
	} {
		if kind.keep == 0 {
			continue
		}
		cutoff := now.Add(-kind.keep)
		*kind.before = &cutoff
		opts.Summary = fmt.Sprintf("remove the content of %s older than %s", kind.name, journey.FormatDuration(kind.keep))
		actx := workflow.WithActivityOptions(ctx, opts)
		var out ScrubResult
		if err := workflow.ExecuteActivity(actx, ScrubOldContentActivity, ScrubRequest{Kind: kind.name, Before: cutoff}).Get(ctx, &out); err != nil {
			return res, fmt.Errorf("remove old %s: %w", kind.name, err)
		}
		*kind.rows = out.Rows
		if kind.name == ScrubEvents {
			res.Fanouts = out.Fanouts
		}
	}
	return res, nil
}
