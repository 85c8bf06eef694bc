package chaos

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expectClean makes TestShortProfile require a clean run: 0 lost, 0
// duplicated, 0 failed runs, 0 unsettled. It was off while the defects
// the suite exposed (duplicates after 5xx-after-accept, in-doubt sends
// never settled) were not fixed; RAPPORT_CHAOS_EXPECT_CLEAN=0 turns it off
// to study a regression without failing.
const expectClean = true

var summaryRe = regexp.MustCompile(`(?m)^chaos: (\d+) customers, (\d+) sends: (\d+) lost, (\d+) duplicated, (\d+) failed runs, (\d+) unsettled$`)

// TestShortProfile runs `rapport chaos --profile short` end to end with
// real processes: it builds the rapport binary, runs the profile, and
// checks the report's arithmetic and its last line.
func TestShortProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the chaos suite's short profile: a few minutes")
	}
	// The short profile, with longer to settle: the runs must end, but a
	// busy machine may take longer than the profile's four minutes to end
	// them (settling stops as soon as they have).
	p := Profiles["short"]
	p.Settle = 10 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "rapport")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rapporthq/rapport/cmd/rapport")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build rapport: %s", out)

	var progress bytes.Buffer
	rep, err := Run(ctx, Options{Binary: bin, Profile: p, Out: &progress})
	require.NoError(t, err, progress.String())
	var printed bytes.Buffer
	rep.Print(&printed)
	t.Logf("%s%s", progress.String(), printed.String())

	require.Equal(t, p.Customers, rep.Customers)
	for _, ch := range Channels {
		c := rep.PerChannel[ch]
		require.NotNil(t, c, ch)
		perCustomer := 0
		for _, s := range sendsOf(p) {
			if s.channel == ch {
				perCustomer++
			}
		}
		assert.Equal(t, p.Customers*perCustomer, c.Expected, "%s: every customer is expected its sends", ch)
		assert.Equal(t, c.Expected, c.Sent+c.Lost, "%s: expected = sent + lost", ch)
		assert.GreaterOrEqual(t, c.Duplicated, 0)
		assert.GreaterOrEqual(t, c.Unsettled, 0)
		assert.GreaterOrEqual(t, c.Settled, 0)
	}
	assert.Equal(t, p.Customers*len(p.Journeys), rep.Completed+rep.Exited+rep.Failed+rep.Running+rep.NotStarted, "every customer's run is counted once")
	assert.GreaterOrEqual(t, rep.Kills, 2, "the workers were killed")
	assert.Equal(t, 1, rep.Outages, "PostgreSQL was stopped")
	assert.Positive(t, rep.Proxy.AfterAccept+rep.Proxy.Hung+rep.Proxy.Throttled, "the providers misbehaved")
	assert.Positive(t, rep.Proxy.Passed, "and also answered")

	// The last line says the same as the report, and is the last line.
	m := summaryRe.FindAllStringSubmatch(printed.String(), -1)
	require.Len(t, m, 1, printed.String())
	assert.Regexp(t, `chaos: [^\n]*unsettled\n$`, printed.String(), "the summary is the last line")
	sends, lost, dup, unsettled := rep.Totals()
	for i, want := range []int{p.Customers, sends, lost, dup, rep.FailedRuns(), unsettled} {
		got, _ := strconv.Atoi(m[0][i+1])
		assert.Equal(t, want, got, "summary field %d", i+1)
	}
	assert.True(t, rep.TransactionalFirst, "no SendGrid outage in this profile")
	assert.Equal(t, lost == 0 && dup == 0 && unsettled == 0 && rep.FailedRuns() == 0, rep.Clean())

	if expectClean && os.Getenv("RAPPORT_CHAOS_EXPECT_CLEAN") != "0" {
		assert.True(t, rep.Clean(), "the chaos run must end clean: %s", rep.Summary())
	}
}

// TestReportArithmetic checks the summary and the exit decision on a
// report made by hand.
func TestReportArithmetic(t *testing.T) {
	rep := &Report{Customers: 2, PerChannel: map[string]*ChannelCount{
		"email": {Expected: 4, Sent: 4, Duplicated: 1},
		"sms":   {Expected: 2, Sent: 1, Lost: 1, Unsettled: 1, Settled: 3},
		"mail":  {Expected: 2, Sent: 2},
	}, Completed: 1, Failed: 1, TransactionalFirst: true}
	assert.Equal(t, "chaos: 2 customers, 8 sends: 1 lost, 1 duplicated, 1 failed runs, 1 unsettled", rep.Summary())
	assert.False(t, rep.Clean())
	var b bytes.Buffer
	rep.Print(&b)
	assert.Regexp(t, `(?m)^email\s+4\s+4\s+0\s+1\s+0\s+0$`, b.String())
	assert.Regexp(t, `(?m)^sms\s+2\s+1\s+1\s+0\s+1\s+3$`, b.String())

	clean := &Report{Customers: 1, PerChannel: map[string]*ChannelCount{"email": {Expected: 2, Sent: 2}, "sms": {Expected: 1, Sent: 1}, "mail": {Expected: 1, Sent: 1}}, Completed: 1, TransactionalFirst: true}
	assert.True(t, clean.Clean())
	clean.TransactionalFirst = false
	assert.False(t, clean.Clean(), "a marketing email of a SendGrid outage went before a transactional one")
	clean.TransactionalFirst = true
	clean.Running = 1
	assert.False(t, clean.Clean(), "a run that never ended is a failed run")
}
