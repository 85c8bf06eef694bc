package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// AudienceWorkflowName is the workflow that enters a journey's audience;
// a Temporal Schedule per audience journey starts it.
const (
	AudienceWorkflowName  = "AudienceWorkflow"
	EnterAudienceActivity = "EnterAudience"
)

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
// details, continuing as new every StretchesPerRun stretches.
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
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{ErrNoSuchJourney}},
		Summary:             "enter " + in.Journey + " audience",
	})
	describeAudience(ctx, in, false)
	for range perRun {
		var st AudienceStretch
		req := AudienceStretchRequest{Journey: in.Journey, EntryKey: in.EntryKey, AsOf: in.AsOf, Cursor: in.Cursor, MaxRows: in.RowsPerStretch}
		if err := workflow.ExecuteActivity(ctx, EnterAudienceActivity, req).Get(ctx, &st); err != nil {
			return AudienceResult{Journey: in.Journey, EntryKey: in.EntryKey, Counts: in.Counts}, fmt.Errorf("enter %s audience after %q: %w", in.Journey, in.Cursor, err)
		}
		in.Counts.add(st.AudienceCounts)
		in.Cursor = st.Cursor
		describeAudience(ctx, in, st.Done)
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

func describeAudience(ctx workflow.Context, in AudienceInput, done bool) {
	var b strings.Builder
	state := "running"
	if done {
		state = "done"
	}
	fmt.Fprintf(&b, "**%s** audience run `%s` (as of %s UTC): **%s**\n\n", in.Journey, in.EntryKey, in.AsOf.Format("2006-01-02 15:04"), state)
	c := in.Counts
	fmt.Fprintf(&b, "| scanned | matched | started | skipped |\n|---|---|---|---|\n| %d | %d | %d | %d |\n\n", c.Scanned, c.Matched, c.Started, c.Skipped)
	if !done && in.Cursor != "" {
		fmt.Fprintf(&b, "Next: customers after `%s`.\n", in.Cursor)
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
