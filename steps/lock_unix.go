//go:build unix

package steps

import (
	"errors"
	"fmt"
	"io/fs"
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
	l, err := LockStateFile(statePath)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// StateLock is a state file's lock (LockStateFile): Release frees it;
// Discard frees it and takes back what taking it left on disk, for a
// command refused before it changed anything. Its methods do nothing on a
// nil StateLock.
type StateLock struct {
	f       *os.File
	path    string
	created bool     // the lock file did not exist before
	prev    []byte   // what it held before (another process's pid)
	dirs    []string // directories made for it, deepest first
}

// lockOpened, when set (tests), runs between a lock file's open and its
// flock: where another process may remove it (Discard).
var lockOpened func()

// LockStateFile is LockState with the lock's Discard.
//
// Discard removes a lock file this lock created, which a process that
// opened it just before may then lock (flock locks the file, not its
// name) while a third creates and locks a new one: two holders. So a lock
// taken counts only while the name still leads to the file locked; when
// it does not, the lock is taken again on the file the name leads to now.
func LockStateFile(statePath string) (*StateLock, error) {
	if statePath == "" {
		return nil, nil
	}
	l := &StateLock{path: statePath + ".lock"}
	dir := filepath.Dir(statePath)
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			break
		}
		l.dirs = append(l.dirs, d)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock state file: %w", err)
	}
	for range 100 {
		ok, err := l.take()
		if err != nil {
			l.removeDirs()
			return nil, err
		}
		if ok {
			return l, nil
		}
	}
	l.removeDirs()
	return nil, fmt.Errorf("lock state file %s: it keeps being removed and created again", l.path)
}

// take opens and locks the lock file; false: the file locked is no longer
// the one its name leads to (removed by a Discard meanwhile), take again.
func (l *StateLock) take() (bool, error) {
	l.created = false
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		l.created = true
	} else if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(l.path, os.O_RDWR, 0o600)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // removed meanwhile
		}
	}
	if err != nil {
		return false, fmt.Errorf("lock state file: %w", err)
	}
	if lockOpened != nil {
		lockOpened()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(l.path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another ferry process"
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				who = fmt.Sprintf("ferry process %d", pid)
			}
			return false, fmt.Errorf("%w: state file %s is in use by %s; wait for it to finish or stop it", ErrStateLocked, strings.TrimSuffix(l.path, ".lock"), who)
		}
		return false, fmt.Errorf("lock state file: %w", err)
	}
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("lock state file: %w", err)
	}
	if named, err := os.Stat(l.path); err != nil || !os.SameFile(held, named) {
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("lock state file: %w", err)
		}
		return false, nil
	}
	if !l.created {
		l.prev, _ = os.ReadFile(l.path)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	l.f = f
	return true, nil
}

// Release frees the lock; the lock file stays, naming this process.
func (l *StateLock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Discard frees the lock and leaves the disk as taking it found it: a lock
// file it created is removed (while still locked: a process that opened it
// meanwhile finds it gone and takes the lock again on a new one), one that
// existed gets its content back, and directories made for it go.
func (l *StateLock) Discard() {
	if l == nil || l.f == nil {
		return
	}
	if l.created {
		_ = os.Remove(l.path)
	} else {
		_ = l.f.Truncate(0)
		_, _ = l.f.WriteAt(l.prev, 0)
	}
	l.Release()
	if l.created {
		l.removeDirs()
	}
}

// removeDirs removes the directories made for the lock, when empty.
func (l *StateLock) removeDirs() {
	for _, d := range l.dirs {
		if os.Remove(d) != nil {
			return
		}
	}
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
