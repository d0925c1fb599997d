package vcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/internal/atomicfile"
)

// tokenSource gives a login its API token, and keeps the one Cloud
// Director replaces it with. A service account's token (Cloud Director
// 10.4+) is single-use: each grant answers a new refresh token and the
// old one is refused from then on. From a file (Config.APITokenFile), the
// replacement is written back, whole or not at all, under a lock of the
// file's directory, so that two ferry processes sharing the file (ferry
// serve, ferry status) never both spend one token. From a value
// (Config.APIToken), it is kept in this process's memory only.
type tokenSource struct {
	file string // "" for a value

	mu    sync.Mutex
	value string
}

// grant trades the current token with trade, which returns the token
// Cloud Director gave in its place ("" or the same: not replaced).
func (ts *tokenSource) grant(trade func(token string) (replaced string, err error)) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.file == "" {
		next, err := trade(ts.value)
		if next != "" {
			ts.value = next
		}
		return err
	}
	unlock, err := lockDir(filepath.Dir(ts.file))
	if err != nil {
		return fmt.Errorf("API token file %s: lock its directory: %w", ts.file, err)
	}
	defer unlock()
	tok, doc, err := readTokenFile(ts.file)
	if err != nil {
		return err
	}
	next, err := trade(tok)
	if next == "" || next == tok {
		return err
	}
	// Replaced, even if the login failed after the grant: the old token
	// is spent.
	if werr := writeTokenFile(ts.file, doc, next); werr != nil {
		return fmt.Errorf("%w: Cloud Director replaced the service account's token at this login (a token is single-use) and ferry could not write the new one to %s: %v; the old one no longer works: fix the file's directory, and ask the org administrator for a new token of the service account",
			errTokenNotSaved, ts.file, werr)
	}
	return nil
}

var errTokenNotSaved = errors.New("API token not saved")

// readTokenFile reads an API token file: a bare token, or go-vcloud-
// director's and terraform-provider-vcd's JSON ({"refresh_token": ...}),
// returned as doc to keep its other fields. A file others may read is
// refused, as ssh refuses such a key.
func readTokenFile(path string) (token string, doc map[string]any, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil, fmt.Errorf("API token file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", nil, fmt.Errorf("API token file %s may be read by others than its owner (mode %04o): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("API token file: %w", err)
	}
	text := strings.TrimSpace(string(b))
	if strings.HasPrefix(text, "{") {
		if err := json.Unmarshal(b, &doc); err != nil {
			return "", nil, fmt.Errorf("API token file %s is not JSON with a refresh_token, nor a bare token: %v", path, err)
		}
		token, _ = doc["refresh_token"].(string)
	} else {
		token, _, _ = strings.Cut(text, "\n")
		token = strings.TrimSpace(token)
	}
	if token == "" {
		return "", nil, fmt.Errorf("API token file %s holds no token: want the token alone, or JSON with a refresh_token (as terraform-provider-vcd writes)", path)
	}
	return token, doc, nil
}

// writeTokenFile replaces the token of the file at path, in its format
// (doc: its JSON; nil: a bare token), whole or not at all.
func writeTokenFile(path string, doc map[string]any, token string) error {
	data := []byte(token + "\n")
	if doc != nil {
		doc["refresh_token"] = token
		doc["updated_by"] = "ferry"
		doc["updated_on"] = time.Now().Format(time.RFC3339)
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		data = append(b, '\n')
	}
	return atomicfile.Place(path, ".tmp-*", data, 0o600, os.Rename)
}

// lockDir holds an exclusive lock of dir until the returned func is called.
func lockDir(dir string) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN); d.Close() }, nil
}
