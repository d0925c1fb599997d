package replication

import "time"

// EventKind classifies events.
type EventKind string

const (
	EventPhase      EventKind = "phase"       // a pass entered a phase
	EventProgress   EventKind = "progress"    // byte counters moved (throttled)
	EventPassDone   EventKind = "pass-done"   // a pass committed
	EventRPOWarning EventKind = "rpo-warning" // pass longer than RPO/2, or RPO missed (Health says which)
	EventError      EventKind = "error"       // a pass failed (Err)
	EventPaused     EventKind = "paused"      // job paused (by request, after an error: Err, or held by ferry: Hold, Msg says why)
	EventResumed    EventKind = "resumed"     // Msg says why when ferry ended a hold a previous process left
	EventVerified   EventKind = "verified"    // final verify: replica equals source
	EventCompared   EventKind = "compared"    // a full compare ended (Compare says what it found)
	EventRepaired   EventKind = "repaired"    // a pass re-sent blocks the receiver read back differently (Msg)
	EventWarning    EventKind = "warning"     // something works, but worse than it should (Msg), e.g. reads through vCenter's proxy
	EventScheduled  EventKind = "scheduled"   // the scheduler set when the job's next pass is due (NextPass), or it is due and waits for a pass slot (Queued)
)

// Phase of a pass.
type Phase string

const (
	PhaseSnapshot Phase = "snapshot"
	PhasePlan     Phase = "plan"
	PhaseCompare  Phase = "compare"
	PhaseTransfer Phase = "transfer"
	PhaseCommit   Phase = "commit"
	PhaseRelease  Phase = "release"
	PhaseVerify   Phase = "verify"
	PhaseIdle     Phase = "idle" // between passes
)

// Counters of one pass, in bytes.
type Counters struct {
	Planned     int64 // disk bytes this pass has to cover (changed extents, or whole disk for full-compare)
	Read        int64 // bytes read from the source
	Sent        int64 // wire bytes written (headers + payloads, after compression)
	Payload     int64 // uncompressed bytes carried by data frames
	ZeroSkipped int64 // zero bytes sent as zero-run frames instead of data
	Matched     int64 // full-compare: bytes already equal at the receiver, not sent
	Acked       int64 // planned bytes the receiver acknowledged as durable (data + zero + matched)
	// Resumed is what an earlier attempt of this pass (killed, stopped,
	// or retried) made durable: the pass's bytes below the durable
	// watermark it resumed from; or what an earlier pass that did not
	// commit (paused, failed) made durable and the source did not change
	// since (DiskState.Carry). They are not in Planned and are not sent
	// again; the pass's progress is (Resumed+Acked) of (Resumed+Planned).
	Resumed int64
	// Checked counts blocks (HashBlock) whose digest the receiver read back
	// after writing and the sender compared with the source's; Resent the
	// blocks sent again because they differed.
	Checked int64
	Resent  int64
}

// Event is what the engine and the scheduler report to the TUI or the
// headless printer.
type Event struct {
	Time  time.Time
	VM    string
	Kind  EventKind
	Phase Phase
	Pass  PassKind
	// Number is the VM's pass number an EventPassDone reports: the count
	// of its complete passes in its record (VMState.PassCount), which goes on
	// across ferry processes.
	Number int
	// Took is how long the pass an EventPassDone reports took.
	Took time.Duration
	Disk string
	Counters
	Compression float64       // Payload / data wire bytes (1 = incompressible)
	Rate        float64       // wire bytes per second over the pass so far
	AckRate     float64       // acknowledged (planned) bytes per second over the pass so far
	ETA         time.Duration // remaining planned bytes at AckRate
	LastPassAge time.Duration // time since the snapshot of the last complete pass
	Err         error
	Msg         string
	Compare     *CompareResult // EventCompared
	// Health is the job's RPO health an EventRPOWarning reports
	// (HealthLagging or HealthMissed).
	Health Health
	// Hold is what ferry holds the job for (an EventPaused of a hold; ""
	// for an operator's pause or a failure).
	Hold Hold
	// NextPass is when the scheduler has the job's next pass due (its
	// lead before last pass + RPO included; zero: the event does not say):
	// an EventScheduled's, and an EventResumed's or EventError's after
	// which the scheduler tries again.
	NextPass time.Time
	// Queued: an EventScheduled's pass is due and waits for a free pass
	// slot (every concurrent pass runs another job's); it starts when one
	// ends (JobStatus.Queued).
	Queued bool
	// Transient: an EventWarning's news is a wait within the pass (another
	// task holds the VM), over once the pass moves on.
	Transient bool
}
