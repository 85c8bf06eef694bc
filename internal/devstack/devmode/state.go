package devmode

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/store"
)

// What the state folder keeps besides Temporal's database and a private
// PostgreSQL cluster.
const (
	// lockFile is the file a running stack holds locked (with its process
	// id inside), so a second one on the same folder is refused before it
	// shares Temporal's SQLite file with the first.
	lockFile      = "dev.lock"
	secretFile    = "secret"
	secretEnvName = "RAPPORT_SECRET"
)

// LockStateDir takes the state folder for this process. The lock is the
// operating system's (flock): it goes when the process ends, however it
// ends, so a crashed rapport dev leaves nothing to clean up.
func LockStateDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockFile)
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

// APIKey returns an admin key for /v1: the one an earlier start left in
// the state folder if the database still knows it, else a new one, written
// there (readable by this user only) for the CLI to find.
func APIKey(ctx context.Context, s *store.Store, stateDir string) (string, error) {
	path := filepath.Join(stateDir, apikey.DevKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		token := strings.TrimSpace(string(b))
		if p, err := s.Authenticate(ctx, token); err == nil && apikey.Allows(p.Scopes, apikey.Admin) {
			return token, os.Chmod(path, 0o600)
		}
	}
	_, token, err := s.CreateAPIKey(ctx, "dev-admin", []apikey.Scope{apikey.Admin})
	if errors.Is(err, store.ErrKeyNameTaken) {
		// The key of an earlier dev database whose file is gone: make another.
		_, token, err = s.CreateAPIKey(ctx, fmt.Sprintf("dev-admin-%d", time.Now().Unix()), []apikey.Scope{apikey.Admin})
	}
	if err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	return token, os.Chmod(path, 0o600) // WriteFile keeps an existing file's mode
}

// Signer signs links with the dev secret.
func (s *Stack) Signer() (*links.Signer, error) {
	secret, err := s.Secret()
	if err != nil {
		return nil, err
	}
	return links.NewSigner(secret)
}

// Secret is RAPPORT_SECRET, or a secret kept in the state folder (made on
// first use), so links in dev messages keep working across restarts and
// erased addresses stay recognisable.
func (s *Stack) Secret() ([]byte, error) {
	if v := os.Getenv(secretEnvName); v != "" {
		return []byte(v), nil
	}
	path := filepath.Join(s.Opts.StateDir, secretFile)
	secret, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		secret = []byte(hex.EncodeToString(b))
		if err := os.WriteFile(path, secret, 0o600); err != nil {
			return nil, fmt.Errorf("keep the dev link secret: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	return secret, nil
}

// startPostgres finds the database: the URL given, DATABASE_URL,
// 127.0.0.1:5432 (with a "rapport" database), or a private cluster.
func (s *Stack) startPostgres(ctx context.Context) (string, error) {
	if s.Opts.DatabaseURL != "" {
		s.PostgresSource = "given database"
		return s.Opts.DatabaseURL, nil
	}
	srv, err := pglocal.Find(ctx, pglocal.Options{
		DataDir: filepath.Join(s.Opts.StateDir, "postgres"),
		Log:     func(f string, a ...any) { s.Log.Info(fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		return "", err
	}
	s.pg = srv
	if srv.Source == "DATABASE_URL" {
		s.PostgresSource = "DATABASE_URL"
		return srv.URL, nil
	}
	if err := pglocal.EnsureDatabase(ctx, srv.URL, "rapport"); err != nil {
		return "", fmt.Errorf("create the rapport database: %w", err)
	}
	s.PostgresSource = srv.Source + ", database rapport"
	return pglocal.WithDatabase(srv.URL, "rapport")
}

// devCodec is dev mode's encryption: keys and token kept in the state
// folder (made on first use) unless the environment gives them.
func devCodec(stateDir string, keys *codec.KeyRing) (*codec.KeyRing, string, error) {
	if keys == nil {
		path := filepath.Join(stateDir, "codec-keys")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			secret := make([]byte, codec.KeySize)
			if _, err := rand.Read(secret); err != nil {
				return nil, "", err
			}
			line := "# rapport dev --encrypt: id:key, newest last\ndev-1:" + base64.StdEncoding.EncodeToString(secret) + "\n"
			if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
				return nil, "", fmt.Errorf("keep the dev codec key: %w", err)
			}
		}
		var err error
		if keys, err = codec.LoadKeysFile(path); err != nil {
			return nil, "", err
		}
	}
	token := os.Getenv("RAPPORT_CODEC_TOKEN")
	if token == "" {
		path := filepath.Join(stateDir, "codec-token")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			raw := make([]byte, 24)
			if _, err := rand.Read(raw); err != nil {
				return nil, "", err
			}
			b = []byte(hex.EncodeToString(raw))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				return nil, "", fmt.Errorf("keep the dev codec token: %w", err)
			}
		} else if err != nil {
			return nil, "", err
		}
		token = strings.TrimSpace(string(b))
	}
	return keys, token, nil
}
