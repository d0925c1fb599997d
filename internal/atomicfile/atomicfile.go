// Package atomicfile writes a file whole or not at all: the data goes to a
// temporary file beside it, durably (fsync), which is then moved or linked
// into place, and the directory is synced. A crash leaves the old file or
// the new one, never half of one.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Place writes data to a temporary file beside path (named "."+its base
// name+suffix, a pattern for os.CreateTemp) with mode, durably, then put
// moves or links it to path (os.Rename replaces path).
func Place(path, suffix string, data []byte, mode os.FileMode, put func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+suffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a rename; a link keeps the data
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := put(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make it durable where the platform allows
		d.Close()
	}
	return nil
}
