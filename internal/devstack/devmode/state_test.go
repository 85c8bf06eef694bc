package devmode

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStateFolderLock: the state folder's lock is held until released, and
// then free for the next rapport dev.
func TestStateFolderLock(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockStateDir(dir)
	require.NoError(t, err)
	_, err = LockStateDir(dir)
	require.ErrorContains(t, err, fmt.Sprintf("another rapport dev (process %d)", os.Getpid()))
	require.ErrorContains(t, err, "--state")
	unlock()
	again, err := LockStateDir(dir)
	require.NoError(t, err, "free once released")
	again()
}
