//go:build race

package replication

// raceEnabled: the tests run under the race detector (make test runs this
// package only so), where the tests that start vcsim labs do not run in
// parallel (labParallel).
const raceEnabled = true
