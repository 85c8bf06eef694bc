package lanes_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
)

// TestKey is the whole mapping: purpose and priority, started by an
// event or in bulk.
func TestKey(t *testing.T) {
	for _, c := range []struct {
		purpose  journey.Purpose
		priority journey.Priority
		event    int
		bulk     int
	}{
		{journey.Transactional, "", 1, 2},
		{journey.Marketing, journey.PriorityHigh, 2, 2}, // the journey said it matters
		{journey.Marketing, "", 3, 4},                   // normal is implicit in a plan
		{journey.Marketing, journey.PriorityNormal, 3, 4},
		{journey.Marketing, journey.PriorityLow, 4, 5},
		{"", "", 3, 4}, // a plan from before purposes: marketing
	} {
		name := fmt.Sprintf("%s/%s", c.purpose, c.priority)
		assert.Equal(t, c.event, lanes.Key(c.purpose, c.priority, lanes.Event), name+" by an event")
		assert.Equal(t, c.bulk, lanes.Key(c.purpose, c.priority, lanes.Bulk), name+" in bulk")
	}
}

// TestEveryKeyIsALevel: no purpose, priority and origin gives a key
// outside 1..Levels, which the server would treat as its last level.
func TestEveryKeyIsALevel(t *testing.T) {
	for _, purpose := range []journey.Purpose{journey.Marketing, journey.Transactional} {
		for _, priority := range append(journey.Priorities, "") {
			for _, o := range []lanes.Origin{lanes.Event, lanes.Bulk} {
				k := lanes.Key(purpose, priority, o)
				assert.True(t, k >= 1 && k <= lanes.Levels, "%s %s %s: %d", purpose, priority, o, k)
			}
		}
	}
}

// TestRunsScansAndMaintenance: runs are fair by journey; scans share one
// key at the level of the runs they enter; housekeeping comes last.
func TestRunsScansAndMaintenance(t *testing.T) {
	winback := &journey.Plan{Journey: "lapse-winback", Purpose: journey.Marketing}
	thanks := &journey.Plan{Journey: "thank-you", Purpose: journey.Transactional}
	assert.Equal(t, temporal.Priority{PriorityKey: 4, FairnessKey: "lapse-winback"}, lanes.Run(winback, lanes.Bulk))
	assert.Equal(t, temporal.Priority{PriorityKey: 3, FairnessKey: "lapse-winback"}, lanes.Run(winback, lanes.Event))
	assert.Equal(t, temporal.Priority{PriorityKey: 1, FairnessKey: "thank-you"}, lanes.Run(thanks, lanes.Event))
	assert.Equal(t, temporal.Priority{PriorityKey: 4, FairnessKey: lanes.ScanKey}, lanes.Scan(winback))
	assert.Equal(t, temporal.Priority{PriorityKey: 5, FairnessKey: lanes.MaintenanceKey}, lanes.Maintenance())
	// Journey names are lowercase letters, digits and dashes: the keys
	// that are not journeys never name one.
	c, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	for _, k := range []string{lanes.ScanKey, lanes.MaintenanceKey} {
		_, diags := c.Compile("x.yaml", []byte(fmt.Sprintf("journey: %q\n", k)))
		assert.Contains(t, diags.Error(), fmt.Sprintf("journey name %q is not allowed", k))
	}
}
