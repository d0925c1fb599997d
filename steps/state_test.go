package steps

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestStateSavedAtomically0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ferry.state.json")
	s, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("loading a missing state file created it")
	}
	if err := s.Begin("appliance"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino

	if err := s.Record("appliance", Resource{Kind: "port group", Name: "ferry-sink", ID: "dvportgroup-1"}); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if fi.Sys().(*syscall.Stat_t).Ino == ino {
		t.Error("state file was rewritten in place, not replaced by a rename")
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v after update, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	if err := s.Finish("appliance", Result{Changes: []Item{{Action: ActionCreate}}}); err != nil {
		t.Fatal(err)
	}
	back, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	st := back.Get("appliance")
	if st.Status != StatusDone || st.Summary != "1 change" || st.Started == nil || st.Finished == nil {
		t.Errorf("reloaded step state: %+v", st)
	}
	if len(st.Resources) != 1 || st.Resources[0].ID != "dvportgroup-1" {
		t.Errorf("reloaded resources: %+v", st.Resources)
	}
	if back.Status("rights") != StatusPending {
		t.Errorf("unknown step status %q, want pending", back.Status("rights"))
	}
}

func TestStateCorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":        "{not json",
		"truncated":      `{"version":1,"steps":{"rights":{"status":"do`,
		"unknown status": `{"version":1,"steps":{"rights":{"status":"maybe"}}}`,
		"version 0":      `{"version":0,"steps":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ferry.state.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadState(path)
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("LoadState: %v, want ErrCorruptState", err)
			}
			for _, want := range []string{path, "mv " + path, "changed nothing"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			b, _ := os.ReadFile(path)
			if !bytes.Equal(b, []byte(content)) {
				t.Error("LoadState modified the corrupt file")
			}
		})
	}
}

// A state file from a newer ferry is not called corrupt (moving it aside
// would throw a good record away): the error says which ferry reads it.
func TestStateFromANewerFerry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.state.json")
	content := []byte(`{"version":99,"steps":{}}`)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadState(path)
	if err == nil || errors.Is(err, ErrCorruptState) || strings.Contains(err.Error(), "mv ") ||
		!strings.Contains(err.Error(), "version 99, written by a newer ferry") || !strings.Contains(err.Error(), "changed nothing") {
		t.Errorf("LoadState of a newer ferry's state file: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
		t.Error("LoadState modified the file")
	}
}

func TestStateLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.state.json")
	a, _ := LoadState(path)
	b, _ := LoadState(path)
	release, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(); !errors.Is(err, ErrStateLocked) || !strings.Contains(err.Error(), "ferry process") {
		t.Errorf("second lock: %v, want ErrStateLocked naming the holder", err)
	}
	release()
	release2, err := b.Lock()
	if err != nil {
		t.Errorf("lock after release: %v", err)
	} else {
		release2()
	}
}

// TestStateLockDiscard: a lock discarded (a command refused before it
// changed anything) leaves the disk as it found it: the lock file it made
// is gone, a lock file that was there keeps what it held. A process that
// opened the lock file just before it was removed never holds the lock
// beside the one that takes it next.
func TestStateLockDiscard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "plan.state.json")
	l, err := LockStateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockStateFile(path); !errors.Is(err, ErrStateLocked) {
		t.Errorf("second lock: %v, want ErrStateLocked", err)
	}
	l.Discard()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the directory made for the lock is left: %v", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".lock", []byte("4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = LockStateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Discard()
	if b, err := os.ReadFile(path + ".lock"); err != nil || string(b) != "4242\n" {
		t.Errorf("a lock file that was there before holds %q (%v) after a discarded lock", b, err)
	}
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}

	// A takes the lock; B opens the lock file, then A discards its lock
	// and C takes it again before B's flock: B must not hold it beside C.
	a, err := LockStateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c *StateLock
	var cErr error
	lockOpened = func() {
		lockOpened = nil
		a.Discard()
		c, cErr = LockStateFile(path)
	}
	defer func() { lockOpened = nil }()
	b, bErr := LockStateFile(path)
	if cErr != nil {
		t.Fatalf("lock after a discard: %v", cErr)
	}
	defer c.Release()
	if !errors.Is(bErr, ErrStateLocked) {
		b.Release()
		t.Errorf("a lock file removed between open and flock: the lock was taken twice (%v)", bErr)
	}
}

// TestStateWriteCleansLeftovers: a process killed in the middle of a state
// write leaves its temporary file; the next write removes it.
func TestStateWriteCleansLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.state.json")
	left := filepath.Join(dir, ".plan.state.json.tmp-123456")
	if err := os.WriteFile(left, []byte(`{"version": 1, "st`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewState(path)
	if err := s.Begin("rights"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("leftover temporary file still there: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files beside the state: %v", entries)
	}
}
