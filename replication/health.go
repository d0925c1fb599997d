package replication

import (
	"fmt"
	"time"
)

// Health is how a job's replica keeps its RPO. It is derived in one place
// (JobStatus, from Scheduler.Status or StoredStatus); EventRPOWarning
// carries it too.
type Health string

const (
	HealthUnknown Health = "unknown" // no complete pass yet
	HealthOK      Health = "ok"      // the replica is younger than the RPO
	// HealthLagging: a pass has run longer than RPO/2; the RPO is at risk.
	HealthLagging Health = "lagging"
	// HealthMissed: the last complete pass is older than the RPO.
	HealthMissed Health = "missed"
	// HealthNone: the job has no RPO to keep (a cold migration: one pass in
	// its cutover window, none every RPO; a VM cut over: replication
	// ended).
	HealthNone Health = "none"
)

// JobPhase is where a replication job is in its life.
type JobPhase string

const (
	JobReplicating JobPhase = "replicating"  // an initial sync or a pass per RPO
	JobPaused      JobPhase = "paused"       // paused by request: Resume
	JobHeld        JobPhase = "held"         // ferry holds it for its own work (Held says what for, Reason why) and resumes it itself
	JobFailed      JobPhase = "failed"       // paused by a failed pass or a failed final verify (Reason): Resume retries
	JobCuttingOver JobPhase = "cutting over" // the cutover owns the job (final pass)
	JobCutOver     JobPhase = "cut over"     // the final pass and its verify succeeded: nothing replicates it any more
	// JobStopped: no ferry process replicates it now (ferry status, with
	// no engine and no run or wizard holding the plan); the next ferry
	// serve, wizard or ferry run goes on with it.
	JobStopped JobPhase = "stopped"
)

// jobPhase derives a job's phase.
func jobPhase(paused, failed bool, held Hold, final, cutOver bool) JobPhase {
	switch {
	case cutOver:
		return JobCutOver
	case final:
		return JobCuttingOver
	case paused && failed:
		return JobFailed
	case paused && held != "":
		return JobHeld
	case paused:
		return JobPaused
	}
	return JobReplicating
}

// assess derives the RPO health from the status's ages: missed once the
// last complete pass is older than the RPO, lagging while a pass (the
// initial sync too) has run longer than RPO/2, unknown before the first
// complete pass (a cut-over job keeps no RPO).
func (st JobStatus) assess() Health {
	rpo := st.RPO.Duration()
	switch {
	case st.Phase == JobCutOver:
		// Replication ended with the cutover: no RPO to keep (QA h8:
		// ferry status said "unknown", which its help says is "no
		// complete pass yet").
		return HealthNone
	case rpo <= 0:
		return HealthUnknown
	case !st.LastPass.IsZero() && st.LastPassAge > rpo:
		return HealthMissed
	case st.PassAge > rpo/2: // an initial sync too
		return HealthLagging
	case st.LastPass.IsZero():
		return HealthUnknown
	}
	return HealthOK
}

// HealthText says the RPO health in words, with the ages that decide it:
// "ok", "RPO missed: last complete pass 7m ago, RPO 5m", "pass running for
// 3m, longer than RPO/2 (2m30s)", "no complete pass yet".
func (st JobStatus) HealthText() string {
	switch st.Health {
	case HealthMissed:
		return fmt.Sprintf("RPO missed: last complete pass %s ago, RPO %s", st.LastPassAge.Round(time.Second), st.RPO)
	case HealthLagging:
		return fmt.Sprintf("pass running for %s, longer than RPO/2 (%s)", st.PassAge.Round(time.Second), st.RPO.Duration()/2)
	case HealthOK:
		return "ok"
	case HealthNone:
		if st.Phase == JobCutOver {
			return "cut over: replication ended, no RPO to keep"
		}
		return "no pass every RPO, no RPO to keep"
	}
	return "no complete pass yet"
}

// StoredStatus is the status of vm's job as its persisted record vs says
// at now, for a reader that runs no scheduler (`ferry status`): no pass
// runs, and nothing is due.
func StoredStatus(vm string, rpo RPO, vs VMState, now time.Time) JobStatus {
	st := JobStatus{VM: vm, RPO: rpo, Paused: vs.Paused, Reason: vs.PausedReason, Waiting: vs.Waiting, LastPass: vs.LastPass, Passes: vs.PassCount, LastCompare: vs.LastCompare, CompareDue: vs.CompareNeeded, Differs: vs.CompareNeeded}
	if vs.Paused && !vs.Failed {
		st.Held = vs.Held
	}
	if !vs.LastPass.IsZero() {
		st.LastPassAge = now.Sub(vs.LastPass)
	}
	st.Phase = jobPhase(vs.Paused, vs.Failed, st.Held, false, false)
	st.Health = st.assess()
	return st
}

// WithPhase is st in phase p, its health derived again (a job cut over
// keeps no RPO): for a reader that knows more of the job's life than its
// record says, as the cutover's own record of a VM cut over.
func (st JobStatus) WithPhase(p JobPhase) JobStatus {
	st.Phase = p
	st.Health = st.assess()
	return st
}
