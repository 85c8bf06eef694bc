package failfast_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/failfast"
	"github.com/rapporthq/rapport/internal/failfast/failfasttest"
)

// Once Temporal has gone away, a call under WithContext ends at its first
// attempt, with ErrUnreachable as the cause, though its deadline is an
// hour away; without WithContext the SDK retries until the deadline.
func TestACallGivesUpWhenTemporalCannotBeReached(t *testing.T) {
	c := failfasttest.GoneAway(t)

	parent, cancelParent := context.WithTimeout(context.Background(), time.Hour)
	defer cancelParent()
	ctx, cancel := failfast.WithContext(parent)
	defer cancel()
	start := time.Now()
	err := c.SignalWorkflow(ctx, "wf", "", "signal", nil)
	t.Logf("gave up after %s: %v", time.Since(start), err)
	require.Error(t, err)
	assert.True(t, failfast.Unreachable(ctx), "the call ended because Temporal could not be reached: %v", context.Cause(ctx))
	assert.ErrorIs(t, context.Cause(ctx), failfast.ErrUnreachable)
	assert.NoError(t, parent.Err(), "the caller's own context goes on")

	// The same call without it: retried until its deadline.
	short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelShort()
	err = c.SignalWorkflow(short, "wf", "", "signal", nil)
	require.Error(t, err)
	assert.ErrorIs(t, short.Err(), context.DeadlineExceeded, "the SDK waited out the deadline: %v", err)
}

// A context no call has ended is not unreachable, and cancelling it says
// nothing of Temporal.
func TestACancelledContextIsNotUnreachable(t *testing.T) {
	ctx, cancel := failfast.WithContext(context.Background())
	assert.False(t, failfast.Unreachable(ctx))
	cancel()
	assert.False(t, failfast.Unreachable(ctx))
	assert.True(t, errors.Is(ctx.Err(), context.Canceled))
}
