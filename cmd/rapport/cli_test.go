package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func run(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestValidateTheShippedJourneys(t *testing.T) {
	out, errOut, err := run("validate", "../../journeys")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "../../journeys/thank-you.yaml: ok (thank-you, plan ")
	assert.Empty(t, errOut)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	out, errOut, err := run("validate", "testdata/broken", "testdata/journeys/review-request.yaml")
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.code)
	assert.Contains(t, out, "testdata/journeys/review-request.yaml: ok (review-request")
	assert.Equal(t, `testdata/broken/winback.yaml:6:38: template "missing" has no email version; add testdata/broken/templates/missing/email.txt
testdata/broken/winback.yaml:7:17: for: "14 days" is not a duration; write a whole number followed by a unit, w, d, h, m or s, such as 14d, 36h, 15m or 2w
testdata/broken/winback.yaml:9:24: when: there is no field "orders_cnt"; did you mean "orders_count"? (journeys/README.md lists every field)
3 problems found; 1 journey valid
`, errOut)
}

func TestValidateMissingPath(t *testing.T) {
	_, errOut, err := run("validate", "testdata/nowhere")
	require.Error(t, err)
	assert.Contains(t, errOut, "testdata/nowhere: no such file or directory")
}

func TestGraph(t *testing.T) {
	out, _, err := run("graph", "testdata/journeys/review-request.yaml")
	require.NoError(t, err)
	assert.Contains(t, out, "flowchart TD\n")
	assert.Contains(t, out, `start(["on order.placed"])`)
	assert.Contains(t, out, `-->|"event.type == #quot;order.delivered#quot;"|`)

	_, errOut, err := run("graph", "testdata/broken/winback.yaml")
	require.Error(t, err)
	assert.Contains(t, errOut, "testdata/broken/winback.yaml:7:17:")
}
