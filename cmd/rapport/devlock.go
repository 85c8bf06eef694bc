//go:build !production

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// devLockFile is the file in the state folder a running rapport dev holds
// locked (with its process id inside), so a second one on the same folder
// is refused before it shares Temporal's SQLite file with the first.
const devLockFile = "dev.lock"

// lockStateDir takes the state folder for this process. The lock is the
// operating system's (flock): it goes when the process ends, however it
// ends, so a crashed rapport dev leaves nothing to clean up.
func lockStateDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, devLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the state folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil && strings.TrimSpace(string(b)) != "" {
				holder = "process " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("another rapport dev (%s) is using the state folder %s; stop it first, or give this one its own folder with --state (and other ports)", holder, dir)
		}
		return nil, fmt.Errorf("lock the state folder %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
