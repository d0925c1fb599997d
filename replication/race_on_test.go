//go:build race

package replication

// raceEnabled: the tests run under the race detector (make test's second
// run), where a few long tests of pass logic, not of concurrency, are left
// to the first run.
const raceEnabled = true
