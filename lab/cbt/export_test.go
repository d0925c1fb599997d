package cbt

// SetMaxEpochs lowers the epoch limit for a test; the returned func restores it.
func SetMaxEpochs(n int) func() {
	saved := maxEpochs
	maxEpochs = n
	return func() { maxEpochs = saved }
}

// SetMaxExtents lowers the extents of one QueryChangedDiskAreas answer for a
// test; the returned func restores it.
func SetMaxExtents(n int) func() {
	saved := maxExtents
	maxExtents = n
	return func() { maxExtents = saved }
}
