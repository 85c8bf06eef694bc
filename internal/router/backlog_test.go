package router

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBacklogStaysInsideThePayloadLimit: a start backlog larger than a
// run can carry keeps its newest events, up to maxBacklogBytes.
func TestBacklogStaysInsideThePayloadLimit(t *testing.T) {
	big := strings.Repeat("x", 32<<10)
	var events []journey.Event
	for i := range 100 {
		events = append(events, journey.Event{ID: fmt.Sprintf("e%d", i), Type: "page.viewed", Data: map[string]any{"blob": big}})
	}
	kept := boundBacklog(events)
	require.NotEmpty(t, kept)
	assert.Less(t, len(kept), len(events))
	assert.Equal(t, "e99", kept[len(kept)-1].ID, "the newest are kept")
	b, err := json.Marshal(kept)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), maxBacklogBytes+len(kept)+2)
	small := events[:3]
	assert.Len(t, boundBacklog(small), 3, "a backlog that fits is kept whole")
}
