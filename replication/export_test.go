package replication

// WaitsOutside exports waitsOutside to the external tests: whether the
// scheduler waits a failed pass out (tries again soon) instead of pausing
// the job.
var WaitsOutside = waitsOutside

// RaceEnabled exports raceEnabled: the tests run under the race detector.
const RaceEnabled = raceEnabled
