package devstack

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/dynamicconfig"
)

// TestLaneSettingsAreTheDeployedOnes: the embedded server (rapport dev,
// the chaos topology's Temporal process, the bench, the tests) runs with
// the lane settings an operator deploys, and no others.
func TestLaneSettingsAreTheDeployedOnes(t *testing.T) {
	b, err := os.ReadFile("../../deploy/temporal/dynamicconfig.yaml")
	require.NoError(t, err)
	l := dynamicconfig.LoadYamlFile(b)
	require.NoError(t, l.Err())
	deployed := map[dynamicconfig.Key]any{}
	for k, cvs := range l.Map {
		require.Len(t, cvs, 1, k)
		deployed[k] = cvs[0].Value
	}
	assert.Equal(t, deployed, LaneSettings())
}
