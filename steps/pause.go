package steps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/replication"
)

// ControlNames parses the VMs `ferry pause` and `ferry resume` are given
// (arguments, each one name or several separated by commas): names of the
// plan's VMs, each once, in the order given. verb is "pause" or "resume".
func ControlNames(pf *PlanFile, verb string, args []string) ([]string, error) {
	var all, out []string
	for _, vm := range pf.VMs {
		all = append(all, vm.Name)
	}
	for _, a := range args {
		for _, n := range strings.Split(a, ",") {
			if n = strings.TrimSpace(n); n == "" || slices.Contains(out, n) {
				continue
			}
			if !slices.Contains(all, n) {
				return nil, fmt.Errorf("%q is not a VM of the plan%s; its VMs: %s; nothing was changed", n, nearname.Hint(n, all), strings.Join(all, ", "))
			}
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("name the VMs whose replication to %s: ferry %s --plan FILE VM... (the plan's VMs: %s)", verb, verb, strings.Join(all, ", "))
	}
	return out, nil
}

// ControlRefused is why `ferry pause` or `ferry resume` refused a VM; the
// command is refused as a whole and changes nothing (bad input: exit 2).
type ControlRefused struct{ Errs []error }

func (c *ControlRefused) Error() string {
	var b strings.Builder
	for i, err := range c.Errs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(err.Error())
	}
	b.WriteString("\nnothing was changed")
	return b.String()
}

// PauseReplication pauses the replication of vms (ControlNames) for the
// operator by (`ferry pause`): through this process's scheduler when it runs
// a VM's job (ferry serve: the dashboards show the pause at once, and who
// did it), else in the job's record in the replication store, which the
// next scheduler to take the job keeps paused. Without a scheduler the
// caller holds the state file's lock (no ferry runs the plan meanwhile).
//
// Each VM is checked first; if any is refused (ferry holds its job, it is
// a cold migration, it has no replication job yet, its cutover awaits a
// decision), nothing is changed and the error is a *ControlRefused. A VM
// paused already, or cut over, is left as it is and said so. The lines
// say what became of each VM.
func (e *Env) PauseReplication(vms []string, by string) ([]string, error) {
	return e.controlReplication(true, vms, by)
}

// ResumeReplication resumes the replication of vms (`ferry resume`), as
// PauseReplication pauses it: a job paused by the operator or after a
// failed pass (its next pass retries), or because its replica differs from
// its source (its next pass is a full compare that repairs it). A job
// ferry holds for its own work (its cutover, a test migration) is refused:
// ferry ends the hold itself. A VM not paused is left as it is.
func (e *Env) ResumeReplication(vms []string) ([]string, error) {
	return e.controlReplication(false, vms, "")
}

func (e *Env) controlReplication(pause bool, vms []string, by string) ([]string, error) {
	jobs, err := e.ReplicationStatus(time.Now())
	if err != nil {
		return nil, err
	}
	byVM := map[string]VMStatus{}
	for _, j := range jobs {
		byVM[j.VM] = j
	}
	type act struct {
		vm   string
		st   VMStatus
		said string // said instead of acting ("": act)
	}
	var acts []act
	var refused []error
	for _, vm := range vms {
		st, ok := byVM[vm]
		if !ok {
			refused = append(refused, fmt.Errorf("%s: not a VM of the plan", vm))
			continue
		}
		said, err := e.controlCheck(pause, st)
		if err != nil {
			refused = append(refused, err)
			continue
		}
		acts = append(acts, act{vm: vm, st: st, said: said})
	}
	if len(refused) > 0 {
		return nil, &ControlRefused{Errs: refused}
	}
	var out []string
	for _, a := range acts {
		if a.said != "" {
			out = append(out, a.said)
			continue
		}
		line, err := e.controlOne(pause, a.st, by)
		if err != nil {
			return out, fmt.Errorf("%s: %w", a.vm, err)
		}
		out = append(out, line)
	}
	return out, nil
}

// controlCheck decides for one VM: an error refuses it; said, when not "",
// is what is said of it instead of acting (nothing to do).
func (e *Env) controlCheck(pause bool, st VMStatus) (said string, err error) {
	vm, verb := st.VM, "resume"
	if pause {
		verb = "pause"
	}
	switch {
	case st.Phase == replication.JobCutOver && pause:
		return vm + ": cut over: its replication ended with its cutover; nothing to pause, nothing changed", nil
	case st.Phase == replication.JobCutOver:
		return "", fmt.Errorf("%s is cut over: its replication ended with its cutover; nothing to resume", vm)
	case st.Phase == replication.JobCuttingOver:
		return "", fmt.Errorf("%s: its cutover stopped after power-on of the target was requested (DECISION NEEDED): ferry holds its replication until `ferry run --confirm-cutover=%s --finish` (or --rollback) decides; nothing to %s", vm, vm, verb)
	case e.isCold(vm) && st.Paused && st.Differs && !pause:
		return "", fmt.Errorf("%s is a cold migration, paused because its replica differs from its source: `ferry run --verify=%s` runs the full compare that repairs it (its cutover is refused until then); ferry resume has no passes to resume", vm, vm)
	case e.isCold(vm):
		return "", fmt.Errorf("%s is a cold migration: no passes every RPO to %s; its one pass is in its cutover window", vm, verb)
	case st.Held != "":
		why := st.Summary
		if pause {
			return "", fmt.Errorf("%s: ferry holds its replication for its %s (%s): no pass runs meanwhile, and ferry resumes it when its %s ends; pause it after that", vm, st.Held, why, st.Held)
		}
		return "", fmt.Errorf("%s: ferry holds its replication for its %s (%s): ferry resume does not release a hold of ferry's own; ferry resumes it when its %s ends", vm, st.Held, why, st.Held)
	case !e.hasReplicationJob(st):
		return "", fmt.Errorf("%s has no replication job yet: the replication step (6) starts it; nothing to %s", vm, verb)
	case pause && st.Paused:
		return vm + ": already paused (" + pausedWhy(st) + "); nothing changed", nil
	case !pause && !st.Paused:
		said = vm + ": not paused; nothing changed"
		if st.Waiting != "" {
			said += " (its passes wait: " + st.Waiting + ")"
		}
		return said, nil
	}
	return "", nil
}

// pausedWhy says why a paused job is paused, and what resuming it does.
func pausedWhy(st VMStatus) string {
	switch {
	case st.Differs:
		return "its replica differs from its source: " + st.Reason + "; `ferry resume " + st.VM + "` resumes it with a full compare that repairs it"
	case st.Phase == replication.JobFailed:
		return "after a failed pass: " + st.Reason + "; `ferry resume " + st.VM + "` retries it"
	case st.Reason != "":
		return st.Reason
	}
	return replication.PausedByRequest
}

// hasReplicationJob says whether vm has a replication job to pause or
// resume: this process's scheduler runs it, or step 6 recorded its replica,
// or its record has a pass (complete or in flight) or a pause.
func (e *Env) hasReplicationJob(st VMStatus) bool {
	return e.warm != nil && e.warmAdded(st.VM) || e.VMPhase(st.VM) == VMReplicating ||
		!st.LastPass.IsZero() || st.InFlight != nil || st.Paused
}

// controlOne pauses or resumes st's job (checked by controlCheck) and says
// what it did.
func (e *Env) controlOne(pause bool, st VMStatus, by string) (string, error) {
	vm := st.VM
	live := e.warm != nil && e.warmAdded(vm)
	var err error
	switch {
	case live && pause:
		err = e.warm.sched.PauseBy(vm, by)
	case live:
		err = e.warm.sched.Resume(vm)
	default:
		err = e.recordControl(pause, vm, by)
	}
	if err != nil {
		return "", err
	}
	if pause {
		line := vm + ": paused (" + replication.PausedBy(by) + ")"
		if live {
			return line + ": no pass runs until it is resumed (`ferry resume " + vm + "`, or u on the replication dashboard); a pass that was running stopped, and goes on from what the receiver holds durably when resumed", nil
		}
		return line + ": " + e.notLive(vm) + "; it stays paused there until it is resumed (`ferry resume " + vm + "`, or u on the replication dashboard)", nil
	}
	next, when := "its next pass", "now"
	if !live {
		next, when = e.notLive(vm)+"; its first pass there", "at once"
	}
	switch {
	case st.Differs:
		return vm + ": resumed: its replica differed from its source (" + st.Reason + "); " + next + ", " + when + ", is a full compare of the replica against its source, which repairs what differs; its cutover waits for that compare", nil
	case st.Phase == replication.JobFailed:
		return vm + ": resumed: it was paused after a failed pass (" + st.Reason + "); " + next + ", " + when + ", retries", nil
	}
	return vm + ": resumed: " + next + " runs " + when, nil
}

// notLive says that vm's job does not run in this process, and who takes
// up its record (no scheduler: the next ferry that replicates; ferry serve
// whose job for it did not start: the job when it starts).
func (e *Env) notLive(vm string) string {
	if e.warm != nil {
		return "its job did not start in this engine (" + errString(e.warmFailed(vm)) + "): recorded in its replication record, for when it starts"
	}
	return "no ferry replicates it now (no ferry serve, wizard or ferry run runs for this plan): recorded in its replication record, for the next one that does"
}

func errString(err error) string {
	if err == nil {
		return "not started"
	}
	return err.Error()
}

// recordControl pauses or resumes vm's job in its record: no scheduler of
// this process runs it. With warm replication (ferry serve), its lock is
// held so that the job is not added meanwhile with the record as it was.
func (e *Env) recordControl(pause bool, vm, by string) error {
	if e.warm != nil {
		e.warm.mu.Lock()
		defer e.warm.mu.Unlock()
		if e.warm.added[vm] {
			return errors.New("its replication job started meanwhile: run the command again")
		}
	}
	store, err := e.replicationStore()
	if err != nil {
		return err
	}
	if pause {
		_, err = store.Pause(vm, by)
	} else {
		_, err = store.Resume(vm)
	}
	return err
}
