package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// AudienceWorkflowName is the workflow that enters a journey's audience;
// a Temporal Schedule per audience journey starts it.
const (
	AudienceWorkflowName  = "AudienceWorkflow"
	EnterAudienceActivity = "EnterAudience"
)

// AudienceStretchBudget is how long one stretch of an audience run (an
// EnterAudience activity, its retries included) may take. A stretch whose
// activity keeps failing (the database down, a bug) gives up when it is
// spent and the run fails, saying so, instead of retrying for ever while
// its schedule's later runs wait: long enough to outlast a database
// restart or failover, short enough that a daily run's failure shows the
// same day, and shorter than journey.CatchUp, so the scan of journeys
// entered at customers' own times that follows enters those the failed
// one missed.
const AudienceStretchBudget = 2 * time.Hour

// audienceRetryInterval is the longest wait between two attempts of a
// stretch.
const audienceRetryInterval = time.Minute

// audienceMaxAttempts bounds a stretch's attempts by what its budget
// allows, one a minute at most: the budget is what ends a stretch, and a
// count says so to Temporal's test suite too, which caps "unlimited" at
// ten attempts.
const audienceMaxAttempts = int32(AudienceStretchBudget/audienceRetryInterval) + 10

// AudienceInput starts (or, after continue-as-new, resumes) an audience
// run.
type AudienceInput struct {
	Journey string `json:"journey"`
	// EntryKey keys the run's entries; empty: derived from the scheduled
	// time (or, started by hand, the start time), such as
	// audience-20261122T0900Z.
	EntryKey string `json:"entry_key,omitempty"`
	// AsOf is when the audience is evaluated; zero: as EntryKey.
	AsOf time.Time `json:"as_of,omitzero"`
	// Cursor is the last customer id scanned; Counts what is done so far.
	Cursor string         `json:"cursor,omitempty"`
	Counts AudienceCounts `json:"counts"`
	// StretchesPerRun is how many activity stretches run before the
	// workflow continues as new (default 20), which keeps its history
	// short over a million customers.
	StretchesPerRun int `json:"stretches_per_run,omitempty"`
	// RowsPerStretch bounds the customers one activity scans (default
	// 50,000).
	RowsPerStretch int `json:"rows_per_stretch,omitempty"`
}

// AudienceCounts is an audience run's progress.
type AudienceCounts struct {
	Scanned int64 `json:"scanned"`
	Matched int64 `json:"matched"`
	Started int64 `json:"started"`
	// Skipped counts matching customers not entered: already entered under
	// this key, or refused by the entry rules (max_active, reentry, once).
	Skipped    int64 `json:"skipped"`
	ScanMillis int64 `json:"scan_ms"`
}

func (c *AudienceCounts) add(d AudienceCounts) {
	c.Scanned += d.Scanned
	c.Matched += d.Matched
	c.Started += d.Started
	c.Skipped += d.Skipped
	c.ScanMillis += d.ScanMillis
}

// AudienceStretchRequest asks the activity to enter the audience among
// the customers after Cursor.
type AudienceStretchRequest struct {
	Journey  string    `json:"journey"`
	EntryKey string    `json:"entry_key"`
	AsOf     time.Time `json:"as_of"`
	Cursor   string    `json:"cursor"`
	MaxRows  int       `json:"max_rows"`
}

// AudienceStretch is what one stretch did: its counts, where it stopped,
// and whether every customer has been scanned. It is also the activity's
// heartbeat, so a retried stretch resumes where the last one stopped.
type AudienceStretch struct {
	AudienceCounts
	Cursor string `json:"cursor"`
	Done   bool   `json:"done"`
}

// AudienceResult is the audience workflow's result.
type AudienceResult struct {
	Journey  string         `json:"journey"`
	EntryKey string         `json:"entry_key"`
	Counts   AudienceCounts `json:"counts"`
}

// scheduledStartAttr is set by Temporal on workflows a schedule starts.
var scheduledStartAttr = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// AudienceWorkflow enters every customer who matches a journey's audience:
// activities walk the customers in stretches (keyset pagination, SQL for
// the common predicates, CEL for the rest, bounded concurrent starts with
// deterministic ids) and the workflow keeps the count in its current
// details, continuing as new every StretchesPerRun stretches. A stretch
// whose activity keeps failing past AudienceStretchBudget ends the run,
// failed, with the reason in its error and its current details.
func AudienceWorkflow(ctx workflow.Context, in AudienceInput) (AudienceResult, error) {
	if in.EntryKey == "" {
		at := workflow.Now(ctx)
		if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartAttr); ok {
			at = t
		}
		in.AsOf = at.UTC()
		in.EntryKey = AudienceEntryKey(at)
	}
	if in.AsOf.IsZero() {
		in.AsOf = workflow.Now(ctx).UTC()
	}
	perRun := in.StretchesPerRun
	if perRun <= 0 {
		perRun = 20
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: AudienceStretchBudget,
		StartToCloseTimeout:    30 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			MaximumInterval: audienceRetryInterval, MaximumAttempts: audienceMaxAttempts,
			NonRetryableErrorTypes: []string{ErrNoSuchJourney},
		},
		Summary: "enter " + in.Journey + " audience",
	})
	describeAudience(ctx, in, false, "")
	for range perRun {
		var st AudienceStretch
		begun := workflow.Now(ctx)
		req := AudienceStretchRequest{Journey: in.Journey, EntryKey: in.EntryKey, AsOf: in.AsOf, Cursor: in.Cursor, MaxRows: in.RowsPerStretch}
		if err := workflow.ExecuteActivity(ctx, EnterAudienceActivity, req).Get(ctx, &st); err != nil {
			res := AudienceResult{Journey: in.Journey, EntryKey: in.EntryKey, Counts: in.Counts}
			// Its budget spent: the last attempt failed with no time left for
			// another, or timed out schedule-to-close (the server says retry
			// state timeout; the test suite does not, hence the clock).
			var actErr *temporal.ActivityError
			spent := errors.As(err, &actErr) && actErr.RetryState() == enumspb.RETRY_STATE_TIMEOUT
			if spent || workflow.Now(ctx).Sub(begun) >= AudienceStretchBudget-audienceRetryInterval {
				describeAudience(ctx, in, false, "gave up: the stretch after `"+in.Cursor+"` kept failing for "+AudienceStretchBudget.String())
				return res, fmt.Errorf("the %s audience run %s gave up after customer %q: its stretch kept failing for %s (AudienceStretchBudget); the customers after it were not scanned by this run, and the schedule's next run scans them all again: %w",
					in.Journey, in.EntryKey, in.Cursor, AudienceStretchBudget, err)
			}
			return res, fmt.Errorf("enter %s audience after %q: %w", in.Journey, in.Cursor, err)
		}
		in.Counts.add(st.AudienceCounts)
		in.Cursor = st.Cursor
		describeAudience(ctx, in, st.Done, "")
		if st.Done {
			return AudienceResult{Journey: in.Journey, EntryKey: in.EntryKey, Counts: in.Counts}, nil
		}
	}
	return AudienceResult{}, workflow.NewContinueAsNewError(ctx, AudienceWorkflowName, in)
}

// ErrNoSuchJourney is the error type of an audience run for a journey the
// worker does not have (or that has no audience).
const ErrNoSuchJourney = "NoSuchJourney"

// AudienceEntryKey is the entry key of an audience run at t.
func AudienceEntryKey(t time.Time) string {
	return "audience-" + t.UTC().Format("20060102T1504Z")
}

// AudienceWorkflowID is the id of an audience run started by hand: the
// journey, then what tells the run apart.
func AudienceWorkflowID(journeyName, run string) string {
	return "rapport-audience/" + journeyName + "/" + run
}

// describeAudience sets the run's current details: its counts, and its
// state (running, done, or failed, which says why).
func describeAudience(ctx workflow.Context, in AudienceInput, done bool, failed string) {
	var b strings.Builder
	state := "running"
	switch {
	case failed != "":
		state = failed
	case done:
		state = "done"
	}
	fmt.Fprintf(&b, "**%s** audience run `%s` (as of %s UTC): **%s**\n\n", in.Journey, in.EntryKey, in.AsOf.Format("2006-01-02 15:04"), state)
	c := in.Counts
	fmt.Fprintf(&b, "| scanned | matched | started | skipped |\n|---|---|---|---|\n| %d | %d | %d | %d |\n\n", c.Scanned, c.Matched, c.Started, c.Skipped)
	if !done && failed == "" && in.Cursor != "" {
		fmt.Fprintf(&b, "Next: customers after `%s`.\n", in.Cursor)
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
