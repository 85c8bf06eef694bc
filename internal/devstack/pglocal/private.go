package pglocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"
)

// PrivateDatabase creates a fresh database, named prefix plus a random
// suffix, on the PostgreSQL server rapport dev would use (a private
// cluster under stateDir if there is none), for a run of its own (rapport
// simulate, rapport bench). cleanup drops it unless keep is set, and stops
// a private cluster.
func PrivateDatabase(ctx context.Context, stateDir, prefix string) (url string, cleanup func(keep bool), err error) {
	srv, err := Find(ctx, Options{DataDir: filepath.Join(stateDir, "postgres")})
	if err != nil {
		return "", nil, err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := prefix + "_" + hex.EncodeToString(suffix)
	if err := EnsureDatabase(ctx, srv.URL, name); err != nil {
		srv.Stop()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	url, err = WithDatabase(srv.URL, name)
	if err != nil {
		srv.Stop()
		return "", nil, err
	}
	return url, func(keep bool) {
		if !keep {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = DropDatabase(ctx, srv.URL, name)
		}
		srv.Stop()
	}, nil
}
