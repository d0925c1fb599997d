package cbt

// SetMaxEpochs lowers the epoch limit for a test; the returned func restores it.
func SetMaxEpochs(n int) func() {
	saved := maxEpochs
	maxEpochs = n
	return func() { maxEpochs = saved }
}
