//go:build unix

package steps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock takes an exclusive advisory lock on the state (a .lock file next to
// it) so that two ferry processes never run the same itinerary at once: an
// SSH session that dropped may have left the first one running. The lock
// goes away with the process; release frees it earlier.
func (s *State) Lock() (release func(), err error) { return LockState(s.path) }

// LockState takes the lock of the state file at statePath before anything
// reads it, so that a process that loses the race never acts on a state the
// winner is changing ("" locks nothing).
func LockState(statePath string) (release func(), err error) {
	if statePath == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return nil, fmt.Errorf("lock state file: %w", err)
	}
	path := statePath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another ferry process"
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				who = fmt.Sprintf("ferry process %d", pid)
			}
			return nil, fmt.Errorf("%w: state file %s is in use by %s; wait for it to finish or stop it", ErrStateLocked, statePath, who)
		}
		return nil, fmt.Errorf("lock state file: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// StateHolder is the pid of the process that holds the state file's lock
// (0 when none does or it cannot be told); it takes nothing.
func StateHolder(statePath string) int {
	if statePath == "" {
		return 0
	}
	f, err := os.Open(statePath + ".lock")
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0 // nobody holds it
	}
	b, _ := os.ReadFile(statePath + ".lock")
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
