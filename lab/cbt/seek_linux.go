package cbt

import (
	"errors"
	"os"
	"syscall"
)

// lseek whence values of Linux (unistd.h).
const (
	seekDataWhence = 3
	seekHoleWhence = 4
)

func seekData(f *os.File, off int64) (int64, error) { return seekTo(f, off, seekDataWhence) }
func seekHole(f *os.File, off int64) (int64, error) { return seekTo(f, off, seekHoleWhence) }

func seekTo(f *os.File, off int64, whence int) (int64, error) {
	n, err := f.Seek(off, whence)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
		return 0, errNoExtentMap
	}
	return n, err
}
