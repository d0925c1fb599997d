//go:build !unix

package steps

// Lock is a no-op where flock(2) does not exist; ferry's supported
// platforms are unix.
func (s *State) Lock() (release func(), err error) { return func() {}, nil }

// LockState is a no-op where flock(2) does not exist.
func LockState(statePath string) (release func(), err error) { return func() {}, nil }

// StateLock is a no-op where flock(2) does not exist.
type StateLock struct{}

// LockStateFile is a no-op where flock(2) does not exist.
func LockStateFile(statePath string) (*StateLock, error) { return nil, nil }

// Release does nothing.
func (l *StateLock) Release() {}

// Discard does nothing.
func (l *StateLock) Discard() {}

// StateHolder cannot be told where flock(2) does not exist.
func StateHolder(statePath string) int { return 0 }
