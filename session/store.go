package session

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// ReplicationStorePath is a plan's one replication store: beside the plan
// file and named after it (plan.yaml -> plan.replication.db), whatever the
// state file is called, so every command given the plan finds the same
// replication history.
func ReplicationStorePath(plan string) string {
	return strings.TrimSuffix(plan, filepath.Ext(plan)) + ".replication.db"
}

// ErrStoreOwned is wrapped by the error returned when the plan's replication
// store belongs to another state file.
var ErrStoreOwned = errors.New("the plan's replication store belongs to another state file")

// StoreFiles are the files a replication store is placed by and bound to:
// the plan file the state belongs to ("" when the state knows no plan) and
// the state file ("" for a state kept in memory).
type StoreFiles struct {
	Plan  string
	State string
}

// Path is where the store lives: the plan's store when the state knows its
// plan; beside the state file otherwise (a state without a plan, as the
// benchmarks use); "" for an in-memory state.
func (f StoreFiles) Path() string {
	switch {
	case f.State == "":
		return ""
	case f.Plan != "":
		return ReplicationStorePath(f.Plan)
	}
	return f.State + ".replication.db"
}

// stateAbs is the state file as a store records its owner.
func (f StoreFiles) stateAbs() string {
	abs, err := filepath.Abs(f.State)
	if err != nil {
		return f.State
	}
	return abs
}

// checkOwner refuses a store at path bound to another state file than f's.
func (f StoreFiles) checkOwner(path, owner string) error {
	if owner == "" || owner == f.stateAbs() {
		return nil
	}
	return fmt.Errorf("%w: plan %s keeps its replication history in %s with state file %s, not %s; "+
		"one plan has one replication history: use --state %s (or, to start this plan over, move both files aside)",
		ErrStoreOwned, f.Plan, path, owner, f.stateAbs(), owner)
}

// damaged adds to a store's ErrStoreDamaged what to do (err as it is
// otherwise).
func damaged(path string, err error) error {
	if !errors.Is(err, replication.ErrStoreDamaged) {
		return err
	}
	return fmt.Errorf("%w; nothing was changed. To go on, move it aside (mv %s %s.damaged) and run ferry run again: "+
		"the replication step then runs again, keeping the replica disks, comparing them with their sources and sending what differs (about all their data)", err, path, path)
}

// Store is one process's sender-side replication store for a plan: opened
// once (bbolt locks it), checked to belong to the state file, and bound to
// the state file once that exists. The zero Store is closed.
type Store struct {
	mu    sync.Mutex
	st    *replication.StateStore
	bound bool   // the store's owner is the state file
	tmp   string // the temporary directory of an in-memory state's store
}

// CheckStore says, without opening the store for writing or waiting for a
// process that holds it, whether the plan's replication store belongs to
// another state file than f's (ferry plan's check: it changes nothing).
func CheckStore(f StoreFiles) error {
	path := f.Path()
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil // no replication yet
	}
	owner, err := replication.ReadOwner(path, 200*time.Millisecond)
	if errors.Is(err, replication.ErrStoreBusy) {
		return nil // its holder runs this plan and checked it when it opened it
	}
	if err != nil {
		return damaged(path, err)
	}
	return f.checkOwner(path, owner)
}

// Read is the plan's store for a reader that must neither change it nor
// wait for its holder (ferry plan, ferry status): s's store when it is
// open, else a read-only view; nil while the plan has no store. done
// releases it.
func (s *Store) Read(f StoreFiles) (st *replication.StateStore, done func(), err error) {
	done = func() {}
	s.mu.Lock()
	own := s.st
	s.mu.Unlock()
	if own != nil {
		return own, done, nil
	}
	path := f.Path()
	if path == "" {
		return nil, done, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, done, nil
	}
	st, err = replication.OpenStateReadOnly(path, 300*time.Millisecond)
	if err != nil {
		return nil, done, damaged(path, err)
	}
	owner, err := st.Owner()
	if err == nil {
		err = f.checkOwner(path, owner)
	}
	if err != nil {
		st.Close()
		return nil, done, err
	}
	return st, func() { st.Close() }, nil
}

// Open opens the plan's replication store for writing on first use (one
// in a temporary directory for an in-memory state), checks that it belongs
// to f's state file and, once the state file exists, binds it to it. A
// store ferry kept beside the state file before one store per plan is
// moved beside the plan (and logged to log).
func (s *Store) Open(f StoreFiles, log *slog.Logger) (*replication.StateStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		st, tmp, err := open(f, log)
		if err != nil {
			return nil, err
		}
		s.st, s.tmp = st, tmp
	}
	if err := s.bind(f); err != nil {
		return nil, err
	}
	return s.st, nil
}

// open opens f's store; tmp is the temporary directory it made for an
// in-memory state's store ("" otherwise), which Close removes.
func open(f StoreFiles, log *slog.Logger) (st *replication.StateStore, tmp string, err error) {
	path := f.Path()
	if path == "" {
		if tmp, err = os.MkdirTemp("", "ferry-replication-"); err != nil {
			return nil, "", err
		}
		path = filepath.Join(tmp, "replication.db")
	} else if legacy := f.State + ".replication.db"; legacy != path {
		// ferry before one-store-per-plan kept it beside the state file:
		// adopt that history rather than start a second one.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(legacy); err == nil {
				if err := os.Rename(legacy, path); err != nil {
					return nil, "", fmt.Errorf("move replication store %s to %s: %w", legacy, path, err)
				}
				log.Info("replication store moved beside the plan", "from", legacy, "to", path)
			}
		}
	}
	fail := func(err error) (*replication.StateStore, string, error) {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, "", err
	}
	st, err = replication.OpenState(path)
	if err != nil {
		if !errors.Is(err, replication.ErrStoreDamaged) { // (that one names the file)
			err = fmt.Errorf("replication state %s: %w", path, err)
		}
		return fail(damaged(path, err))
	}
	owner, err := st.Owner()
	if err == nil && f.State != "" {
		err = f.checkOwner(path, owner)
	}
	if err != nil {
		st.Close()
		return fail(err)
	}
	return st, tmp, nil
}

// bind records the state file as the store's owner once the state file
// exists (ferry status, which writes nothing, never binds a new one).
func (s *Store) bind(f StoreFiles) error {
	if s.bound || f.State == "" {
		return nil
	}
	if _, err := os.Stat(f.State); err != nil {
		return nil
	}
	owner, err := s.st.Owner()
	if err != nil {
		return err
	}
	if owner == "" {
		if err := s.st.SetOwner(f.stateAbs()); err != nil {
			return err
		}
	}
	s.bound = true
	return nil
}

// Close closes the store if it is open (an in-memory state's store is
// removed with its temporary directory); the next Open opens it again.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil {
		_ = s.st.Close()
		s.st, s.bound = nil, false
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
		s.tmp = ""
	}
}
