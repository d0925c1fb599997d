//go:build !linux

package cbt

import "os"

// Without a known SEEK_DATA, every area counts as allocated.
func seekData(*os.File, int64) (int64, error) { return 0, errNoExtentMap }
func seekHole(*os.File, int64) (int64, error) { return 0, errNoExtentMap }
