package steps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/internal/atomicfile"
)

// Status of one step in the state file.
type Status string

const (
	StatusPending Status = "pending"
	StatusRunning Status = "running" // found on load: the process died mid-step; the step runs again
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

// StepState is the persisted record of one step.
type StepState struct {
	Status   Status     `json:"status"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	Summary  string     `json:"summary,omitempty"` // "no changes", "2 changes", skip reason
	Error    string     `json:"error,omitempty"`
	// PID is the process that runs the step (Begin) while it is recorded
	// running: a ferry process that holds the state later (a wizard
	// started after a kill) and is another one does not run it (ferry
	// status says it is interrupted). 0: not running, or recorded by an
	// older ferry.
	PID int `json:"pid,omitempty"`
	// Resources are the objects the step created or owns (names, morefs, URNs).
	Resources []Resource `json:"resources,omitempty"`
	// Outputs are non-secret values later steps need (a network id, a
	// tunnel id). Secrets such as the peer code are read again from the API.
	Outputs map[string]string `json:"outputs,omitempty"`
	// Answers are the step's answers (its fields' values, defaults
	// filled) as it was last done with them: a plan changed since says so
	// (Env.AnswersChanged). Fields are plan answers, never secrets.
	Answers map[string]string `json:"answers,omitempty"`
}

// stateVersion is bumped when the file format changes incompatibly.
const stateVersion = 1

// State is the persisted progress of one migration: which steps are done and
// what they created, so a dropped session resumes instead of starting over.
// It is written (mode 0600, temp file + rename) after every change.
type State struct {
	Version int                   `json:"version"`
	Plan    string                `json:"plan,omitempty"` // the plan file it belongs to
	Updated time.Time             `json:"updated"`
	Steps   map[string]*StepState `json:"steps"`

	mu   sync.Mutex
	path string
	now  func() time.Time
}

// ErrStateLocked is wrapped by the error Lock returns when another process
// holds the state.
var ErrStateLocked = errors.New("state file is locked")

// ErrCorruptState is wrapped by the error LoadState returns for a file it
// cannot read as a state file.
var ErrCorruptState = errors.New("state file is corrupt")

// LoadState reads the state file at path; a missing file is a fresh state
// (nothing is written until the first change). A corrupt file is an error
// that names the file and how to recover; LoadState never modifies it.
func LoadState(path string) (*State, error) {
	s := NewState(path)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("%w: %s: %s; ferry changed nothing. To start over, move it aside (mv %s %s.bad) and run again: steps find what already exists, so nothing is created twice; take VMs already cut over out of the plan first (ferry refuses to write replica disks a migrated VM uses)", ErrCorruptState, path, why, path, path)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, corrupt(err.Error())
	}
	if s.Version > stateVersion {
		// Not damaged: written by a newer ferry. Moving it aside would
		// throw a good record away.
		return nil, fmt.Errorf("state file %s is version %d, written by a newer ferry; this ferry reads version %d: ferry changed nothing; run it with the ferry that wrote it (or a newer one)", path, s.Version, stateVersion)
	}
	if s.Version != stateVersion {
		return nil, corrupt(fmt.Sprintf("version %d, this ferry reads version %d", s.Version, stateVersion))
	}
	if s.Steps == nil {
		s.Steps = map[string]*StepState{}
	}
	for id, st := range s.Steps {
		if st == nil {
			return nil, corrupt(fmt.Sprintf("step %q has no record", id))
		}
		switch st.Status {
		case StatusPending, StatusRunning, StatusDone, StatusFailed, StatusSkipped:
		default:
			return nil, corrupt(fmt.Sprintf("step %q has unknown status %q", id, st.Status))
		}
	}
	s.path = path
	return s, nil
}

// NewState returns an empty state saved to path on the first change ("":
// in memory only).
func NewState(path string) *State {
	return &State{Version: stateVersion, Steps: map[string]*StepState{}, path: path, now: time.Now}
}

// BindPlan ties the state to the plan file it belongs to (recorded on the
// first change), and refuses a state file that belongs to another plan.
func (s *State) BindPlan(plan string) error {
	abs, err := filepath.Abs(plan)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.Plan == "":
		s.Plan = abs
	case s.Plan != abs:
		return fmt.Errorf("state file %s belongs to plan %s, not %s: pass --state for a new one", s.path, s.Plan, abs)
	}
	return nil
}

// Path is the file the state is saved to ("" keeps it in memory only).
func (s *State) Path() string { return s.path }

// BoundPlan is the absolute path of the plan file the state belongs to
// (BindPlan), "" before one is bound.
func (s *State) BoundPlan() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Plan
}

// Get returns a copy of a step's record (pending when the step never ran).
func (s *State) Get(id string) StepState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.Steps[id]
	if !ok {
		return StepState{Status: StatusPending}
	}
	c := *st
	c.Resources = append([]Resource(nil), st.Resources...)
	c.Outputs = maps.Clone(st.Outputs)
	return c
}

// Status is the step's status.
func (s *State) Status(id string) Status { return s.Get(id).Status }

// Interrupted says that the step is recorded running by another process
// than this one (or by an older ferry that recorded none), which stopped
// midway: this process holds the state (Lock), so nothing runs it now. A
// ferry serve's sessions share its process: a step one of them runs is not
// interrupted for the others.
func (s *State) Interrupted(id string) bool {
	st := s.Get(id)
	return st.Status == StatusRunning && st.PID != os.Getpid()
}

// update changes one step's record and saves.
func (s *State) update(id string, f func(st *StepState, now time.Time)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.Steps[id]
	if !ok {
		st = &StepState{Status: StatusPending}
		s.Steps[id] = st
	}
	now := s.now().UTC()
	f(st, now)
	if st.Status != StatusRunning {
		st.PID = 0
	}
	s.Updated = now
	return s.saveLocked()
}

// Begin marks a step running.
func (s *State) Begin(id string) error {
	return s.update(id, func(st *StepState, now time.Time) {
		st.Status, st.Started, st.Finished, st.Error, st.Summary = StatusRunning, &now, nil, "", ""
		st.PID = os.Getpid()
	})
}

// Record adds (or updates, by kind and name) a resource the step created.
func (s *State) Record(id string, r Resource) error {
	return s.update(id, func(st *StepState, _ time.Time) { st.Resources = addResource(st.Resources, r) })
}

// SetOutput stores a non-secret value for later steps.
func (s *State) SetOutput(id, key, value string) error {
	return s.SetOutputs(id, map[string]string{key: value})
}

// SetOutputs stores non-secret values for later steps, in one write.
func (s *State) SetOutputs(id string, kv map[string]string) error {
	return s.update(id, func(st *StepState, _ time.Time) {
		if st.Outputs == nil {
			st.Outputs = map[string]string{}
		}
		maps.Copy(st.Outputs, kv)
	})
}

// Finish marks a step done with its result.
func (s *State) Finish(id string, r Result) error { return s.FinishWith(id, r, nil) }

// FinishWith marks a step done with its result and the answers it was done
// with (nil: leaves those recorded before).
func (s *State) FinishWith(id string, r Result, answers map[string]string) error {
	return s.update(id, func(st *StepState, now time.Time) {
		st.Status, st.Finished, st.Summary, st.Error = StatusDone, &now, r.Summary(), ""
		if answers != nil {
			st.Answers = answers
		}
		for _, res := range r.Resources {
			st.Resources = addResource(st.Resources, res)
		}
	})
}

// Fail marks a step failed.
func (s *State) Fail(id string, err error) error {
	return s.update(id, func(st *StepState, now time.Time) {
		st.Status, st.Finished, st.Error = StatusFailed, &now, err.Error()
	})
}

// Pend puts a step back to pending with a summary: it did part of its work
// and waits for the operator (a cutover of some of the plan's VMs).
func (s *State) Pend(id, summary string) error {
	return s.update(id, func(st *StepState, now time.Time) {
		st.Status, st.Finished, st.Summary, st.Error = StatusPending, &now, summary, ""
	})
}

// Skip marks a step skipped with the reason.
func (s *State) Skip(id, reason string) error {
	return s.update(id, func(st *StepState, now time.Time) {
		st.Status, st.Finished, st.Summary, st.Error = StatusSkipped, &now, reason, ""
	})
}

func addResource(rs []Resource, r Resource) []Resource {
	for i := range rs {
		if rs[i].Kind == r.Kind && rs[i].Name == r.Name {
			// Found again later, it is still what ferry created.
			r.Created = r.Created || rs[i].Created
			rs[i] = r
			return rs
		}
	}
	return append(rs, r)
}

// Save writes the state file now.
func (s *State) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

func (s *State) saveLocked() error {
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save state file: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, so a crash leaves either the old or the new file, never half
// of one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A process killed in the middle of a write left its temporary file;
	// only the lock holder writes, so any found now is such a leftover.
	if stale, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(path)+".tmp-*")); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	return placeFile(path, ".tmp-*", data, mode, os.Rename)
}

// writeFileNew writes path whole or not at all, as writeFileAtomic, but
// never over an existing file: it fails with an error wrapping
// fs.ErrExist instead (the file is linked into place, which refuses a
// name that exists, where a rename replaces it). Writers of different
// processes may share the directory: no leftover is cleaned up by name.
func writeFileNew(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return placeFile(path, ".new-*", data, mode, func(tmp, path string) error {
		err := os.Link(tmp, path)
		if err == nil || errors.Is(err, fs.ErrExist) {
			return err
		}
		// A file system without hard links: a rename, after a look.
		if _, serr := os.Lstat(path); serr == nil {
			return &fs.PathError{Op: "write", Path: path, Err: fs.ErrExist}
		}
		return os.Rename(tmp, path)
	})
}

// placeFile writes data to a temporary file beside path (named after it
// with suffix), durably, then put moves or links it to path.
func placeFile(path, suffix string, data []byte, mode os.FileMode, put func(tmp, path string) error) error {
	return atomicfile.Place(path, suffix, data, mode, put)
}
