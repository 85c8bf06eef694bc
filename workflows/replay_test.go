package workflows

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// continuedTestEvents is after how many events the worker of
// TestRunContinuesAsNewOnARealServer continues runs as new.
const continuedTestEvents = 5

// TestReplayRecordedHistories replays histories recorded from real runs on
// the embedded server (cmd/rapport's integration tests write them when
// RAPPORT_RECORD_HISTORIES=1). A change to the interpreter that would alter
// the commands of a run already in flight fails here: key such changes on
// a new CurrentRevision (or guard them with workflow.GetVersion), and keep
// the old histories. Files without a suffix were recorded at revision 0,
// -r1 at revision 1 (stamped in the input, no marker), -r2 with the
// interpreter-revision marker at revision 2. Files named continued-* come
// from TestRunContinuesAsNewOnARealServer, whose worker continues runs as
// new after continuedTestEvents events, and replay so set. Files named
// moved-* come from TestRunMovesOnARealServer: a run that took the
// move-plan update and continued on the new plan.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories in testdata")
	env, err := journey.NewEnv()
	require.NoError(t, err)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in := NewInterpreter(env)
			if strings.HasPrefix(filepath.Base(f), "continued-") {
				in.ContinueAfterEvents = continuedTestEvents
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(in.JourneyWorkflow, workflow.RegisterOptions{Name: JourneyWorkflowName})
			r.RegisterWorkflowWithOptions(AudienceWorkflow, workflow.RegisterOptions{Name: AudienceWorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}

// TestRecordedHistoriesCoverEveryRevision: histories of revision 2 carry
// the interpreter-revision marker, older ones do not, and each revision
// has histories for the test above to replay.
func TestRecordedHistoriesCoverEveryRevision(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	byRevision := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		name := filepath.Base(f)
		rev := "r0"
		if m := revisionSuffix.FindStringSubmatch(name); m != nil {
			rev = m[1]
		}
		byRevision[rev]++
		assert.Equal(t, rev != "r0" && rev != "r1", hasChange(t, b, RevisionChange), "%s: the marker is in histories from revision 2 on only", name)
		if n, _ := strconv.Atoi(strings.TrimPrefix(rev, "r")); n >= 7 {
			for _, ch := range changes() {
				assert.Equal(t, ch.id == RevisionChange, hasChange(t, b, ch.id), "%s: from revision 7 a run records the revision marker alone (%s)", name, ch.id)
			}
		}
	}
	for _, seed := range []string{"thank-you", "complementary-products-delivered", "satisfaction-care-task", "lapse-winback-completed"} {
		assert.FileExists(t, filepath.Join("testdata", seed+"-r7.json"), "each seed journey has a history of revision 7's shape")
	}
	for _, rev := range []string{"r0", "r1", "r2"} {
		assert.GreaterOrEqual(t, byRevision[rev], 4, "histories of %s", rev)
	}
	for rev := 3; rev <= CurrentRevision; rev++ {
		assert.GreaterOrEqual(t, byRevision[fmt.Sprintf("r%d", rev)], 1, "histories of r%d", rev)
	}
	// Every change id has a history that took it.
	for _, ch := range changes() {
		var took []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			if hasChange(t, b, ch.id) {
				took = append(took, filepath.Base(f))
			}
		}
		assert.NotEmpty(t, took, "no history in testdata holds the %s marker (%s)", ch.id, ch.changed)
	}
	for file, change := range map[string]string{
		"in-doubt-settled-r2.json":        settleChange,
		"continued-winback-first-r2.json": continueAsNewChange,
		"continued-winback-last-r2.json":  continueAsNewChange,
		"customer-gone-exits-r6.json":     customerGoneExitsChange,
		"send-waits-out-outages-r6.json":  sendWaitsOutOutagesChange,
		"satisfaction-care-task-r2.json":  taskConsentChange,
		"lapse-winback-completed-r2.json": taskConsentChange,
		"thank-you-r2.json":               RevisionChange,
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(t, err)
		assert.True(t, hasChange(t, b, change), "%s holds the %s marker", file, change)
	}
	moved, err := os.ReadFile(filepath.Join("testdata", "moved-winback-first-r3.json"))
	require.NoError(t, err)
	assert.Contains(t, string(moved), `"EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"`, "the move's history holds the accepted update")
	assert.Contains(t, string(moved), `"`+MovePlanUpdate+`"`)
	handover, err := os.ReadFile(filepath.Join("testdata", "task-handover-r6.json"))
	require.NoError(t, err)
	assert.Equal(t, 5, strings.Count(string(handover), `"EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"`), "four hand-overs and the completion")
	assert.Len(t, regexp.MustCompile(`"name":\s*"`+TaskHandoverUpdate+`"`).FindAll(handover, -1), 4, "the hand-overs' history holds the accepted updates")
}

var revisionSuffix = regexp.MustCompile(`-(r\d+)\.json$`)

// TestEveryChangeIsNamedOnce: the change ids are distinct, each says what
// it changed, and docs/development.md names each.
func TestEveryChangeIsNamedOnce(t *testing.T) {
	doc, err := os.ReadFile("../docs/development.md")
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, ch := range changes() {
		assert.False(t, seen[ch.id], "%s listed twice", ch.id)
		seen[ch.id] = true
		assert.NotEmpty(t, ch.changed, ch.id)
		assert.Contains(t, string(doc), "`"+ch.id+"`", "docs/development.md names the change")
	}
}

// TestARetiredRevisionIsRefused: a worker of a release whose oldest
// revision is past a run's refuses the run (its workflow task fails, to
// be retried by a worker that runs it) rather than run it without the
// branches it needs, whether the run recorded its revision or its
// starter stamped it; a worker that still runs the revision replays it.
func TestARetiredRevisionIsRefused(t *testing.T) {
	env, err := journey.NewEnv()
	require.NoError(t, err)
	replay := func(file string, oldest int) error {
		in := NewInterpreter(env)
		in.Oldest = oldest
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflowWithOptions(in.JourneyWorkflow, workflow.RegisterOptions{Name: JourneyWorkflowName})
		return r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", file))
	}
	require.NoError(t, replay("thank-you-r2.json", 2))
	require.NoError(t, replay("thank-you-r1.json", 1))
	assert.Error(t, replay("thank-you-r2.json", 3), "a run that recorded revision 2")
	assert.Error(t, replay("thank-you-r1.json", 2), "a run stamped revision 1, with no marker")
	assert.Error(t, replay("thank-you.json", 1), "a run from before revisions")
}

// hasChange reports whether a recorded history holds the version marker
// of a change.
func hasChange(t *testing.T, history []byte, changeID string) bool {
	var h struct {
		Events []struct {
			Marker *struct {
				Name    string `json:"markerName"`
				Details map[string]struct {
					Payloads []struct {
						Data []byte `json:"data"`
					} `json:"payloads"`
				} `json:"details"`
			} `json:"markerRecordedEventAttributes"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal(history, &h))
	for _, e := range h.Events {
		if e.Marker == nil || e.Marker.Name != "Version" {
			continue
		}
		for _, p := range e.Marker.Details["change-id"].Payloads {
			var id string
			if json.Unmarshal(p.Data, &id) == nil && id == changeID {
				return true
			}
		}
	}
	return false
}
