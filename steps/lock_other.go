//go:build !unix

package steps

// Lock is a no-op where flock(2) does not exist; ferry's supported
// platforms are unix.
func (s *State) Lock() (release func(), err error) { return func() {}, nil }

// LockState is a no-op where flock(2) does not exist.
func LockState(statePath string) (release func(), err error) { return func() {}, nil }

// StateHolder cannot be told where flock(2) does not exist.
func StateHolder(statePath string) int { return 0 }
