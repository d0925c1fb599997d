package steps

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// VMStatus is one replication job's status, as `ferry status` shows it:
// the job's replication.JobStatus (from its persisted record; Phase says
// cut over, or cutting over while a decision is needed, from the cutover's
// state) and that status in words.
type VMStatus struct {
	replication.JobStatus
	// Summary says the status in words ("ok", "RPO missed: last complete
	// pass 7m0s ago, RPO 5m", "paused", "cut over", "DECISION NEEDED: ...");
	// JSON "health", as before the typed Phase and Health.
	Summary string `json:"health"`
	// InFlight is a pass started and not committed (nil: none): the one
	// running, or one interrupted (a stop, a crash), which the next pass
	// resumes in the same snapshot from its durable watermark.
	InFlight *PassInFlight `json:"in_flight,omitempty"`
	// CompareInFlight is a full compare in flight (nil: none): with no
	// ferry running the job, one a stopped or killed ferry left midway,
	// which the next pass goes on with (CompareDue is set), from where it
	// got to when its snapshot is still there.
	CompareInFlight *replication.InterruptedCompare `json:"compare_in_flight,omitempty"`
	// LastIncremental is the record's last incremental pass (zero At:
	// none recorded): what the wizard's dashboard shows of a VM's passes
	// before this process saw one of its own (not in ferry status's JSON).
	LastIncremental RecordedPass `json:"-"`
}

// RecordedPass is what a VM's replication record keeps of its last
// incremental pass: when its snapshot was taken, what it planned, and the
// wire rate of the last pass that had something to copy (0: none).
type RecordedPass struct {
	At      time.Time
	Planned int64
	Rate    float64
}

// HealthLine is the status in words as `ferry status` prints it: Summary,
// and why the job is paused when the VM still replicates. A VM cut over
// (or cutting over) keeps its job's paused record, but the reason is no
// longer its health: it reads "cut over", not "cut over: paused by request".
// A job ferry holds says why in its Summary.
func (st VMStatus) HealthLine() string {
	if st.Phase == replication.JobCutOver || st.Phase == replication.JobCuttingOver {
		return st.Summary
	}
	if !st.Paused && st.Waiting != "" {
		// Not paused, and yet no pass runs: why.
		return st.Summary + "; passes wait: " + st.Waiting
	}
	if !st.Paused || st.Reason == "" || st.Held != "" {
		return st.Summary
	}
	// A failed pass's error names the VM first ("WebApp3: pass: ..."),
	// which the line names already (QA: "WebApp3: paused: WebApp3: pass:").
	reason := strings.TrimPrefix(st.Reason, st.VM+": ")
	if rest, ok := strings.CutPrefix(st.Summary, "paused; "); ok {
		// Why it is paused right after "paused", then what else (a full
		// compare the pause stopped) (CI: "paused; full compare ...:
		// paused by request of ...").
		return "paused: " + reason + "; " + rest
	}
	return st.Summary + ": " + reason
}

// QueuedText says that a job's pass (what: "its pass", "its initial
// sync") is due and waits for one of slots pass slots
// (replication.JobStatus.Queued), and which plan setting sets them.
func QueuedText(what string, slots int) string {
	if slots <= 0 {
		return what + " waits for a free pass slot"
	}
	return fmt.Sprintf("%s waits for a free pass slot (%d at a time: concurrent_passes)", what, slots)
}

// PassInFlight is a pass in flight as the sender's store records it.
type PassInFlight struct {
	Kind replication.PassKind `json:"kind"`
	// Durable is what the pass in flight had acknowledged durable on the
	// receiver's disks, which a resumed pass does not send again, of Size,
	// all that the pass covers of them: the bytes its run counted
	// ("Durable of Size acknowledged", replication.DiskState.Durable). Of
	// a record of an older ferry, the disks' durable watermarks (offsets)
	// of their sizes.
	Durable int64 `json:"durable_bytes"`
	Size    int64 `json:"size_bytes"`
}

// ReplicationStatus reads every planned VM's replication record, read-only:
// it creates no store, changes nothing and does not wait for a ferry that
// holds the store (then the error wraps replication.ErrStoreBusy and names
// that process when the state lock says which it is).
func (e *Env) ReplicationStatus(now time.Time) ([]VMStatus, error) {
	store, done, err := e.readReplicationStore()
	if errors.Is(err, replication.ErrStoreBusy) {
		return nil, fmt.Errorf("%w; that process shows the live status (ferry serve and the wizard on their dashboards, a ferry run in its output)", err)
	}
	if err != nil {
		return nil, err
	}
	defer done()

	cut := e.State.Get("cutover").Outputs
	var out []VMStatus
	for _, vm := range e.Plan().VMs {
		var vs replication.VMState
		if store != nil {
			var err error
			if vs, err = store.VM(vm.Name); err != nil {
				return nil, err
			}
		}
		st := VMStatus{JobStatus: replication.StoredStatus(vm.Name, vm.RPO, vs, now),
			LastIncremental: RecordedPass{At: vs.LastIncremental, Planned: vs.LastPlanned, Rate: vs.LastRate}}
		if e.warm != nil && e.warmAdded(vm.Name) {
			// This process's scheduler (the wizard, ferry serve) knows
			// whether the job's pass waits for a free pass slot.
			if ws, ok := e.warmStatus(vm.Name); ok {
				st.Queued, st.Slots = ws.Queued, ws.Slots
			}
		}
		var committed int
		var committedSize int64
		if store != nil {
			var err error
			if st.InFlight, committed, committedSize, err = storedPass(store, vm.Name); err != nil {
				return nil, err
			}
			if st.CompareInFlight, err = store.InterruptedCompare(vm.Name); err != nil {
				return nil, err
			}
		}
		switch cut[cutoverKey(vm.Name)] {
		case cutoverDone:
			st.JobStatus = st.WithPhase(replication.JobCutOver)
			// Its job stays paused by its cutover for good; a monitor
			// that alerts on a paused job must not fire for it.
			st.Paused, st.Held, st.Reason = false, "", ""
		case cutoverPowerOnRequested:
			st.JobStatus = st.WithPhase(replication.JobCuttingOver)
		}
		switch {
		case st.Phase == replication.JobCutOver:
			st.Summary = "cut over"
		case st.Phase == replication.JobCuttingOver:
			// ferry status reads no vCenter nor Cloud Director: whether the
			// target runs is for the next run to find.
			st.Summary = "DECISION NEEDED: the cutover stopped after power-on of the target was requested; `ferry run --confirm-cutover=" + vm.Name + "` finishes it by itself if the target runs and answers its probes, otherwise " + decisionHint(vm.Name)
		case st.Paused && st.Differs:
			// A cold VM's too: its cutover is refused until then.
			st.Summary = "paused: the replica differs from its source; `ferry run --verify=" + vm.Name + "` (or resume on the dashboard) runs a full compare that repairs it"
		case st.Held != "":
			st.Summary = e.heldSummary(st.JobStatus)
		case e.isCold(vm.Name):
			// No pass every RPO: no RPO to keep.
			st.Health, st.Summary = replication.HealthNone, coldHealth(st.LastPass, now)
		case st.LastPass.IsZero() && e.passRunning(vm.Name):
			// This process runs it now (the wizard, ferry serve): not
			// stopped, whatever the store says of it so far.
			st.Summary = "no replica yet: the initial sync is running"
			if f := st.InFlight; f != nil && f.Size > 0 {
				st.Summary += fmt.Sprintf(", %d%% (%s of %s) durable on the receiver", 100*f.Durable/f.Size, Bytes(f.Durable), Bytes(f.Size))
			}
		case st.LastPass.IsZero() && st.Queued:
			// Its initial sync is due, and every pass slot runs another
			// job's (QA: it read "no replica yet (run the replication
			// step)" while the step ran).
			st.Summary = "no replica yet: " + QueuedText("its initial sync", st.Slots)
			if f := st.InFlight; f != nil && f.Size > 0 && f.Durable > 0 {
				// Rounded down: 99.6% is not all of it.
				st.Summary += fmt.Sprintf("; %d%% (%s of %s) of its initial sync is durable on the receiver, not sent again", 100*f.Durable/f.Size, Bytes(f.Durable), Bytes(f.Size))
			}
		case st.LastPass.IsZero() && st.InFlight != nil && st.InFlight.Size > 0 && st.InFlight.Durable >= st.InFlight.Size:
			// Killed between the receiver's last acknowledgement (or its
			// commit) and the sender recording the pass.
			st.Summary = fmt.Sprintf("no replica yet: all of the initial sync (%s) is durable on the receiver, but the pass was not recorded as ended; it ends, without sending the data again, when replication runs (the replication step, the wizard or ferry serve)",
				Bytes(st.InFlight.Size))
		case st.LastPass.IsZero() && st.InFlight != nil && st.InFlight.Durable <= 0:
			st.Summary = "no replica yet: the initial sync was stopped before any of it was durable on the receiver; it starts again from the beginning when replication runs (the replication step, the wizard or ferry serve)"
		case st.LastPass.IsZero() && st.InFlight != nil && st.InFlight.Size > 0:
			// Rounded down: 99.6% is not all of it.
			st.Summary = fmt.Sprintf("no replica yet: the initial sync has %d%% (%s of %s) durable on the receiver; stopped, it resumes from there (the replication step, the wizard or ferry serve)",
				100*st.InFlight.Durable/st.InFlight.Size, Bytes(st.InFlight.Durable), Bytes(st.InFlight.Size))
		case st.LastPass.IsZero() && st.InFlight == nil && committed > 0:
			// Killed between the commit of every disk's first pass and
			// recording the pass.
			st.Summary = fmt.Sprintf("no pass recorded yet: the initial sync of %s is committed on the receiver, but the pass was not recorded as ended; replication goes on from there without sending it again (the replication step, the wizard or ferry serve)",
				disksPhrase(committed, committedSize))
		case st.LastPass.IsZero():
			st.Summary = "no replica yet (run the replication step)"
		case st.Paused:
			st.Summary = "paused"
		default:
			st.Summary = st.HealthText()
		}
		if vs.CompareNeeded && !st.Paused && st.Phase != replication.JobCutOver && st.Phase != replication.JobCuttingOver {
			// Resumed for the full compare that repairs it, which has
			// not completed (a ferry stopped or killed midway).
			st.Summary = "the replica differs from its source (" + mismatchOf(vs) + "): the cutover waits until a full compare repairs it (`ferry run --verify=" + vm.Name + "`, or replication running); " + st.Summary
		}
		if err := e.warmFailed(vm.Name); err != nil && st.Phase != replication.JobCutOver && st.Phase != replication.JobCuttingOver {
			// Its record says how it was; nothing replicates it now.
			st.Summary = "NOT REPLICATING: its job did not start: " + err.Error() + "; it starts when the replication step runs again, or when ferry serve starts again (was: " + st.Summary + ")"
		}
		if note := cut[recoveredKey(vm.Name)]; note != "" && st.Phase != replication.JobCutOver && st.Phase != replication.JobCuttingOver {
			st.Summary += "; " + note
		}
		if cut[cutoverKey(vm.Name)] == cutoverRunning && st.Held == "" {
			// Not held (a retry killed after its cleanup gave the replica
			// back): replication goes on, and the cutover is still to end.
			st.Summary += "; " + e.CutoverNote(vm.Name)
		}
		if ic := st.CompareInFlight; ic != nil && st.Phase != replication.JobCutOver && st.Phase != replication.JobCuttingOver {
			// The next pass goes on with it, whatever the schedule.
			st.CompareDue = true
			st.Summary += "; " + e.compareInFlightText(vm.Name, ic, st.Paused)
		}
		out = append(out, st)
	}
	return out, nil
}

// compareInFlightText says how far vm's full compare in flight got: running
// in this process's scheduler, or else interrupted (a ferry stopped or was
// killed while it compared), and that the next pass goes on with it.
func (e *Env) compareInFlightText(vm string, ic *replication.InterruptedCompare, paused bool) string {
	got := fmt.Sprintf("%d of %d blocks compared", ic.Blocks, ic.Total)
	if ic.Total > 0 {
		got += fmt.Sprintf(" (%.0f%%)", 100*float64(ic.Blocks)/float64(ic.Total))
	}
	if ic.Differing > 0 || ic.Unreported > 0 {
		got += fmt.Sprintf(", %d differing found so far (%d repaired)", ic.Differing, ic.Repaired)
		if ic.Unreported > 0 {
			got += fmt.Sprintf(", %d unreported", ic.Unreported)
		}
	}
	if e.warm != nil && e.warmAdded(vm) {
		if paused {
			return "full compare stopped by the pause after " + got + "; it goes on from there when the job is resumed"
		}
		return "full compare in progress: " + got
	}
	when := "when replication runs again (the wizard, ferry serve, or ferry run)"
	if paused {
		when = "when the job is resumed and replication runs again"
	}
	return "full compare interrupted (its ferry stopped or was killed midway) after " + got + "; it resumes from there " + when + " (from block 0, keeping what it found, if its snapshot is gone)"
}

// heldSummary says why ferry holds a job and what becomes of the hold: a
// hold of this process's scheduler is live (its reason); any other was
// left by a ferry that stopped while it held the job (holdOutlook says
// whether it stays, and the next scheduler settles it so).
func (e *Env) heldSummary(st replication.JobStatus) string {
	if e.warm != nil && e.warmAdded(st.VM) {
		if st.Reason == "" {
			return "held for its " + string(st.Held)
		}
		return st.Reason
	}
	keep, why := e.holdOutlook(st.VM, st.Held)
	switch {
	case keep && why != "":
		return why
	case keep && st.Reason != "":
		return st.Reason
	case keep:
		return "held for its " + string(st.Held)
	}
	return "held: " + staleHoldText(st.Held, why) + ": replication resumes when the wizard or ferry serve next starts"
}

// disksPhrase is "1 disk (1.0 GiB)" or "3 disks (12 GiB)".
func disksPhrase(n int, size int64) string {
	if n == 1 {
		return "1 disk (" + Bytes(size) + ")"
	}
	return fmt.Sprintf("%d disks (%s)", n, Bytes(size))
}

// storedPass reads vm's disk records in the sender's store, once: its pass
// in flight (nil: none), or else the disks whose pass was committed (with
// no pass of the VM recorded, a ferry stopped between the commit of its
// first pass and recording it: the next pass goes on from there, an
// incremental one for these disks, so the data is not sent again), n of
// them, size their capacity.
func storedPass(store *replication.StateStore, vm string) (p *PassInFlight, n int, size int64, err error) {
	disks, err := store.DisksWithPrefix(vm + "/")
	if err != nil {
		return nil, 0, 0, err
	}
	for _, d := range disks {
		switch {
		case d.Pass != "":
			if p == nil {
				p = &PassInFlight{Kind: d.Kind}
			}
			durable, of := d.Durable()
			p.Durable += durable
			p.Size += of
		case d.Committed != "":
			n++
			size += d.Size
		}
	}
	if p != nil {
		return p, 0, 0, nil
	}
	return nil, n, size, nil
}
