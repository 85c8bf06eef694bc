package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// TestReplayRecordedHistories replays histories recorded from real runs on
// the embedded server (cmd/rapport's integration tests write them when
// RAPPORT_RECORD_HISTORIES=1). A change to the interpreter that would alter
// the commands of a run already in flight fails here: key such changes on
// a new CurrentRevision (or guard them with workflow.GetVersion), and keep
// the old histories. Files without a suffix were recorded at revision 0,
// -r1 at revision 1 (stamped in the input, no marker), -r2 with the
// interpreter-revision marker at revision 2.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories in testdata")
	env, err := journey.NewEnv()
	require.NoError(t, err)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(NewInterpreter(env).JourneyWorkflow, workflow.RegisterOptions{Name: JourneyWorkflowName})
			r.RegisterWorkflowWithOptions(AudienceWorkflow, workflow.RegisterOptions{Name: AudienceWorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
