package steps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// recoveredKey is the cutover step's output that says how an engine rolled
// back vm's interrupted cutover by itself (RecoverInterruptedCutovers), for
// `ferry status`; a new cutover of vm clears it.
func recoveredKey(vm string) string { return "auto_rollback." + vm }

// DroppedCutovers says, for each VM the plan no longer lists whose cutover
// the state records as left unfinished (interrupted before or after
// power-on of the target was requested), what is wrong and what to do.
// Nothing run from this plan would roll such a cutover back or finish it
// (RecoverInterruptedCutovers and the cutover step take the plan's VMs),
// and its source may be down: the commands that change things refuse the
// plan (CheckDroppedCutovers), ferry status says so.
func (e *Env) DroppedCutovers() []string {
	in := map[string]bool{}
	for _, vm := range e.Plan().VMs {
		in[vm.Name] = true
	}
	var out []string
	for k, v := range e.State.Get("cutover").Outputs {
		vm, ok := strings.CutPrefix(k, cutoverKey(""))
		if !ok || in[vm] || (v != cutoverRunning && v != cutoverPowerOnRequested) {
			continue
		}
		since := ""
		if off := e.interruptedShutdown(vm); !off.IsZero() {
			since = fmt.Sprintf(", after it shut the source down at %s UTC (the source may still be off)", off.UTC().Format("2006-01-02 15:04:05"))
		}
		what, then := "before", "the next run rolls it back by itself if its source is off, or decide with `--confirm-cutover="+vm+" --rollback`"
		if v == cutoverPowerOnRequested {
			what, then = "after", "then decide with `--confirm-cutover="+vm+" --finish` or `--rollback`"
		}
		out = append(out, fmt.Sprintf("%s is no longer in the plan, but its cutover was interrupted %s power-on of the target was requested%s: put %s back under vms: in the plan file; %s",
			vm, what, since, vm, then))
	}
	slices.Sort(out)
	return out
}

// CheckDroppedCutovers refuses a plan that no longer lists a VM whose
// cutover was left unfinished (DroppedCutovers), before anything runs.
func (e *Env) CheckDroppedCutovers() error {
	d := e.DroppedCutovers()
	if len(d) == 0 {
		return nil
	}
	return fmt.Errorf("the plan leaves an unfinished cutover behind, which nothing run from it would end: %s", strings.Join(d, "; "))
}

// The words that start, after the VM's name, the warning that ends
// RecoverInterruptedCutovers' rollback of a VM: done, or failed.
const (
	autoRolledBack     = "ROLLED BACK AUTOMATICALLY"
	autoRollbackFailed = "AUTOMATIC ROLLBACK FAILED"
	autoRollbackKept   = "LEFT TO GO ON, AS DECIDED"
)

// AutoRollback is how RecoverInterruptedCutovers ended for one VM, as its
// warning said it (AutoRollbacks).
type AutoRollback struct {
	VM string
	// Failed: the rollback failed; the VM's cutover is left interrupted
	// (its state and its hold on the replica as they were).
	Failed bool
	// Kept: the operator decided to go on with the VM's cutover; nothing
	// was rolled back (its source, if still off, stays off).
	Kept bool
	// Message is the warning: the VM, when the source was shut down and
	// powered on again, the downtime, what was done, and what to do next
	// (or why it failed).
	Message string
}

// AutoRollbacks picks out of the events RecoverInterruptedCutovers emitted
// each VM's outcome (its closing warning), for a front end that shows
// them after they were emitted: the wizard, whose screen opens after it.
func AutoRollbacks(events []Event) []AutoRollback {
	var out []AutoRollback
	for _, ev := range events {
		if ev.Kind != EventWarning {
			continue
		}
		vm, rest, ok := strings.Cut(ev.Message, ": ")
		switch {
		case !ok:
		case strings.HasPrefix(rest, autoRolledBack):
			out = append(out, AutoRollback{VM: vm, Message: ev.Message})
		case strings.HasPrefix(rest, autoRollbackFailed):
			out = append(out, AutoRollback{VM: vm, Failed: true, Message: ev.Message})
		case strings.HasPrefix(rest, autoRollbackKept):
			out = append(out, AutoRollback{VM: vm, Kept: true, Message: ev.Message})
		}
	}
	return out
}

// RecoveredNote says how vm's last cutover, interrupted, was rolled back
// automatically ("" if it was not, or vm was cut over since).
func (e *Env) RecoveredNote(vm string) string {
	return e.State.Get("cutover").Outputs[recoveredKey(vm)]
}

// RecoverInterruptedCutovers rolls back, by itself, every cutover a
// previous ferry process left interrupted before power-on of the target
// was requested (state running: killed, or its machine lost) after it had
// shut the source down, while that source is still powered off: the
// service has been down since, and nothing of the cutover can serve (no
// power-on was requested). It is the rollback `ferry run
// --confirm-cutover=VM --rollback` does: what the cutover left at the
// provider removed, the replica disks kept and given back to replication
// (its hold released), the source powered on again, the state rolled back.
// Each one is a loud warning (emit, and the log) naming the VM, when its
// source was shut down and how long it was down; `ferry status` says so
// until the VM's next cutover.
//
// Left alone: a VM this run confirms again (Env.CutoverVMs: its retry
// begins with the same cleanup), a cutover whose power-on was requested
// (two copies must never run: the operator decides), a source found
// running (no outage to end: its cutover, run again or rolled back as
// decided, cleans up) and a cold migration's source that was off before
// its cutover (no service was up). A rollback that fails leaves the state
// and the hold as they are, and its error is returned (the others go on).
//
// keep are VMs the operator decided to go on with (the wizard asks before
// its screen opens): each is left as it is, said by a warning
// (AutoRollback.Kept), for its cutover to go on from the source left off.
func (e *Env) RecoverInterruptedCutovers(ctx context.Context, emit Emit, keep ...string) error {
	emit = e.recoveryEmit(emit)
	var errs []error
	var recovered []string
	defer func() {
		switch {
		case len(recovered) > 0 && len(errs) == 0:
			e.pendAfterRecovery(recovered)
		case len(recovered) == 0:
			e.SettleEndedCutoverStep()
		}
	}()
	for _, in := range e.InterruptedShutdowns() {
		vm, off := in.plan, in.Off
		if slices.Contains(keep, vm.Name) {
			emit(Warning(fmt.Sprintf("%s: "+autoRollbackKept+": the cutover a previous ferry process left interrupted before power-on of the target was requested shut the source down at %s UTC; "+
				"ferry leaves it as it is (a source still off stays off, its service down) for the cutover to go on from there; cut over again with `ferry run --confirm-cutover=%s`, or roll it back with `--confirm-cutover=%s --rollback`",
				vm.Name, off.UTC().Format("2006-01-02 15:04:05"), vm.Name, vm.Name)))
			continue
		}
		recovered = append(recovered, vm.Name)
		if err := e.recoverInterrupted(ctx, vm, off, emit); err != nil {
			emit(Warning(fmt.Sprintf("%s: "+autoRollbackFailed+" of the cutover a previous ferry process left interrupted before power-on of the target was requested (it shut the source down at %s UTC): %v; "+
				"its state and its hold on the replica stay as they were; roll it back with `ferry run --confirm-cutover=%s --rollback`, or cut over again with `--confirm-cutover=%s`",
				vm.Name, off.UTC().Format("2006-01-02 15:04:05"), err, vm.Name, vm.Name)))
			errs = append(errs, fmt.Errorf("%s: automatic rollback of its interrupted cutover: %w", vm.Name, err))
		}
	}
	return errors.Join(errs...)
}

// SettleEndedCutoverStep puts the cutover step, left running by a ferry
// process stopped in it after its VMs' cutovers had ended (QA: a
// --rollback killed while the source came back read "interrupted ... runs
// it again" for ever), back to pending: nothing of it is left to end. A
// step with a VM's cutover unfinished, or not running, is left as it is.
// It changes the state only, and says whether it did.
func (e *Env) SettleEndedCutoverStep() bool {
	if e.State.Status("cutover") != StatusRunning {
		return false
	}
	e.pendIfNothingUnfinished("a ferry process stopped in this step after its VMs' cutovers ended (their outages go into the next downtime report); waiting for --confirm-cutover")
	return e.State.Status("cutover") != StatusRunning
}

// pendAfterRecovery puts the cutover step back to pending, saying which
// VMs were rolled back automatically, once no VM's cutover is left
// unfinished: the step's row said what the killed run left (running, read
// as interrupted, or failed).
func (e *Env) pendAfterRecovery(vms []string) {
	if st := e.State.Status("cutover"); st != StatusRunning && st != StatusFailed {
		return
	}
	e.pendIfNothingUnfinished(strings.Join(vms, ", ") + ": rolled back automatically after a cutover a killed ferry left unfinished; waiting for --confirm-cutover")
}

// pendIfNothingUnfinished puts the cutover step to pending with summary,
// unless a VM's cutover is left unfinished (its state says so then).
func (e *Env) pendIfNothingUnfinished(summary string) {
	for _, vm := range e.Plan().VMs {
		switch e.State.Get("cutover").Outputs[cutoverKey(vm.Name)] {
		case cutoverRunning, cutoverPowerOnRequested:
			return
		}
	}
	_ = e.State.Pend("cutover", summary)
}

// InterruptedShutdown is a VM whose cutover a previous ferry process left
// interrupted before power-on of the target was requested, after it had
// shut the source down at Off (RecoverInterruptedCutovers rolls it back
// if that source is still off).
type InterruptedShutdown struct {
	VM   string
	Off  time.Time
	plan VMPlan
}

// InterruptedShutdowns are the VMs RecoverInterruptedCutovers would roll
// back if their sources are still off, read from the state alone (nothing
// asks vCenter): the plan's VMs in order, but those this run confirms
// again (Env.CutoverVMs: their retry begins with the same cleanup) and a
// cold migration's source that was off before its cutover.
func (e *Env) InterruptedShutdowns() []InterruptedShutdown {
	var out []InterruptedShutdown
	for _, vm := range e.Plan().VMs {
		if e.State.Get("cutover").Outputs[cutoverKey(vm.Name)] != cutoverRunning || slices.Contains(e.CutoverVMs, vm.Name) {
			continue
		}
		off := e.interruptedShutdown(vm.Name)
		if off.IsZero() || e.coldSourceWasOff(vm.Name) {
			continue
		}
		out = append(out, InterruptedShutdown{VM: vm.Name, Off: off, plan: vm})
	}
	return out
}

// recoverInterrupted is RecoverInterruptedCutovers for one VM, whose
// interrupted cutover shut its source down at off.
func (e *Env) recoverInterrupted(ctx context.Context, vm VMPlan, off time.Time, emit Emit) error {
	// The outages earlier interrupted attempts left, kept until a saved
	// report holds them: this rollback's is added to them (QA: it wrote
	// over them, and the report lost each automatic rollback's but the last).
	c := &vmCutover{env: e, emit: emit, plan: vm, rep: VMReport{VM: vm.Name, TargetVApp: vm.TargetVApp, EarlierOutages: e.keptEarlierOutages(vm.Name)}}
	if err := c.connect(ctx, false); err != nil {
		return err
	}
	src, err := c.onprem.VMByName(ctx, vm.Name)
	if err != nil {
		return err
	}
	if src, err = c.settleInterruptedShutdown(ctx, src, off); err != nil {
		return err
	}
	if src.PoweredOn() {
		return nil
	}
	c.src = src
	emit(Warning(fmt.Sprintf("%s: a cutover a previous ferry process left interrupted before power-on of the target was requested shut the source down at %s UTC and it is still off: rolling back (replica disks kept)",
		vm.Name, off.UTC().Format("2006-01-02 15:04:05"))))
	if err := c.undoInterrupted(ctx); err != nil {
		return err
	}
	now := time.Now()
	if o := c.endedOutage; o != nil {
		now = o.End
	}
	note := fmt.Sprintf("its cutover, interrupted before power-on of the target was requested, was ROLLED BACK AUTOMATICALLY at %s UTC: the source was down from %s UTC (%s of downtime); the replica disks are kept",
		now.UTC().Format("2006-01-02 15:04:05"), off.UTC().Format("2006-01-02 15:04:05"), now.Sub(off).Round(time.Second))
	if err := e.State.SetOutput("cutover", recoveredKey(vm.Name), note); err != nil {
		return err
	}
	emit(Warning(fmt.Sprintf("%s: "+autoRolledBack+": the cutover a previous ferry process left interrupted had shut the source down at %s UTC; ferry removed what it left at the provider (replica disks kept), powered the source on again at %s UTC after %s of downtime, and replication resumes; cut over again with `ferry run --confirm-cutover=%s`",
		vm.Name, off.UTC().Format("2006-01-02 15:04:05"), now.UTC().Format("15:04:05"), now.Sub(off).Round(time.Second), vm.Name)))
	return nil
}

// recoveryEmit stamps the recovery's events as the cutover step's,
// numbered as the runner numbers the step's own (QA: unnumbered, they
// printed as "[cutover] warning: ..." among "[8/8] cutover: ..." lines, and
// --json gave them index 0), and writes them to the Env's log too (the
// runner does so for a step's).
func (e *Env) recoveryEmit(emit Emit) Emit {
	idx := NewItinerary().Number("cutover")
	return func(ev Event) {
		ev.Step, ev.Index = "cutover", idx
		if ev.Time.IsZero() {
			ev.Time = time.Now().UTC()
		}
		if e.Log != nil {
			level := slog.LevelInfo
			if ev.Kind == EventWarning {
				level = slog.LevelWarn
			}
			e.Log.LogAttrs(context.Background(), level, ev.Message, slog.String("step", ev.Step), slog.String("kind", string(ev.Kind)))
		}
		if emit != nil {
			emit(ev)
		}
	}
}
