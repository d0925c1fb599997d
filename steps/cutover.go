package steps

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Cutover is step 8, per VM: a last pass while the VM runs, guest shutdown
// (hard power-off after a timeout if the plan allows), the final pass with
// the VM off, a hash check of replica against source, a VM created at the
// provider over the replica disks (same MAC on the stretched network),
// imported into a vApp of the org VDC without copying disks, powered on,
// probes green. Any failure before power-on is requested rolls back: the
// replica disks are detached from the target, then the target is removed
// and the source powered on again, so replication goes on from the replica
// as it was. Once power-on was requested nothing is rolled back without the
// operator's decision (see cutoverPowerOnRequested). A downtime report
// (Markdown and JSON) is written beside the state file.
type Cutover struct{}

// ID implements Step.
func (*Cutover) ID() string { return "cutover" }

// Title implements Step.
func (*Cutover) Title() string { return "Cutover" }

// Fields implements Step.
func (*Cutover) Fields() []Field { return nil }

// A VM's cutover state (persisted in the cutover step's outputs).
// "running" covers every phase before power-on is requested: a re-run after a
// crash there cleans up and retries. "power-on requested" is written before
// the power-on request is sent: from then on the target may be serving, so
// nothing is ever rolled back automatically; a re-run finishes the cutover
// when the target runs and its probes answer, and otherwise stops and asks
// for a decision (CutoverFinish or CutoverRollback).
const (
	cutoverDone             = "done"
	cutoverRunning          = "running"
	cutoverPowerOnRequested = "power-on requested"
	cutoverRolledBack       = "rolled back"
)

// Decisions on a cutover interrupted after power-on was requested
// (Env.CutoverDecision; `ferry run --finish` / `--rollback`).
const (
	// CutoverFinish keeps the target: powers it on if it is off, waits for
	// its probes, and marks the cutover done.
	CutoverFinish = "finish"
	// CutoverRollback removes the target (its replica disks detached first
	// and kept) and powers the source on again; replication can continue.
	CutoverRollback = "rollback"
)

// ErrRolledBackAsDecided marks the outcome of a rollback the operator
// decided (`ferry run --rollback`, the wizard's ctrl+r): not a failure.
// A cutover step whose VMs were all rolled back as decided (or wait for
// their confirmation) stays pending, its VMs to be cut over anew, and
// ferry run exits 0.
var ErrRolledBackAsDecided = errors.New("rolled back as decided")

// decidedWait is the cutover step's outcome when nothing failed but VMs
// were rolled back as the operator decided (others perhaps waiting for
// their confirmation): ErrWaiting (the step stays pending, the run stops
// without failing) and ErrRolledBackAsDecided.
type decidedWait struct {
	decided error    // the rollbacks (decidedRollback, joined)
	names   []string // their VMs
	waiting []string // VMs not confirmed in this run
}

func (e decidedWait) Error() string {
	msg := strings.ReplaceAll(e.decided.Error(), "\n", "; ")
	msg += fmt.Sprintf("; %s not cut over (confirm with --confirm-cutover=%s)", strings.Join(e.names, ", "), strings.Join(e.names, ","))
	if len(e.waiting) > 0 {
		msg += fmt.Sprintf("; %s not cut over yet (confirm with --confirm-cutover=%s)", strings.Join(e.waiting, ", "), strings.Join(e.waiting, ","))
	}
	return msg
}

func (e decidedWait) Unwrap() []error { return []error{ErrWaiting, e.decided} }

// decidedRollback is a VM's rollback as decided: its message, and
// ErrRolledBackAsDecided to errors.Is.
type decidedRollback struct{ msg string }

func (e decidedRollback) Error() string        { return e.msg }
func (e decidedRollback) Is(target error) bool { return target == ErrRolledBackAsDecided }

// OnlyRolledBackAsDecided reports whether err says nothing but rollbacks
// as decided (every VM's of a wave), perhaps beside VMs waiting for their
// confirmation (ErrWaiting): nothing failed.
func OnlyRolledBackAsDecided(err error) bool {
	decided, other := decidedLeaves(err)
	return decided && !other
}

// decidedLeaves walks err's tree: whether it holds a rollback as decided,
// and whether it holds anything else than those and ErrWaiting.
func decidedLeaves(err error) (decided, other bool) {
	switch u := err.(type) {
	case nil:
		return false, false
	case decidedRollback:
		return true, false
	case interface{ Unwrap() []error }:
		errs := u.Unwrap()
		for _, e := range errs {
			d, o := decidedLeaves(e)
			decided, other = decided || d, other || o
		}
		return decided, other || len(errs) == 0
	case interface{ Unwrap() error }:
		return decidedLeaves(u.Unwrap())
	}
	switch err {
	case ErrRolledBackAsDecided:
		return true, false
	case ErrWaiting:
		return false, false
	}
	return false, true
}

// ErrDecisionNeeded says a cutover was interrupted after power-on was
// requested and ferry will not guess which copy of the VM should run.
var ErrDecisionNeeded = errors.New("a decision is needed")

// decisionHint tells the operator how to decide for vm.
func decisionHint(vm string) string {
	return fmt.Sprintf("decide with `ferry run --confirm-cutover=%s --finish` (keep the target in Cloud Director: power it on if needed and finish) "+
		"or `--rollback` (remove the target, keeping the replica disks, and power the source on again)", vm)
}

func cutoverKey(vm string) string { return "cutover." + vm }

// InterruptedWindow reports whether vm's last cutover was interrupted in
// its window (after it shut the source down, or after power-on of the
// target was requested): the next attempt has no window of its own to
// project.
func (e *Env) InterruptedWindow(vm string) bool {
	switch e.State.Get("cutover").Outputs[cutoverKey(vm)] {
	case cutoverPowerOnRequested:
		return true
	case cutoverRunning:
		return !e.interruptedShutdown(vm).IsZero()
	}
	return false
}

// targetKey is the state output of the provider vCenter reference of vm's
// cutover target, recorded when the cutover creates it.
func targetKey(vm string) string { return "target." + vm }

// targetNameTaken says why vm's target cannot be made when the provider
// datacenter's VM folder, where the cutover makes it, holds another VM of
// its name ("" when none does, or that VM is this cutover's own target):
// vCenter refuses a second VM of a name in a folder (DuplicateName), which
// the cutover would meet after the source's shutdown (QA: a VM an admin
// had made with the target's name).
func (e *Env) targetNameTaken(ctx context.Context, vm string) (string, error) {
	if e.State.Get("cutover").Outputs[cutoverKey(vm)] == cutoverRunning {
		// An interrupted cutover's retry removes what it left first (its
		// target, found by name if it was not recorded yet).
		return "", nil
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return "", err
	}
	dc := e.Plan().Provider.Datacenter
	ref, ok, err := provider.VMInRootFolder(ctx, dc, vm)
	if err != nil || !ok || ref.Value == e.State.Get("cutover").Outputs[targetKey(vm)] {
		return "", err
	}
	return fmt.Sprintf("a VM named %s (%s) is in the VM folder of provider datacenter %s already, which ferry did not make, and vCenter makes no second VM of a name in a folder: "+
		"the cutover would fail after the source's shutdown; rename or remove that VM first", vm, ref.Value, dc), nil
}

// findTarget finds vm's cutover target in the provider vCenter: by the
// reference its cutover recorded (Cloud Director may have renamed the VM it
// adopted), else by name (a target created before ferry recorded it). ok
// false when neither is there.
func (e *Env) findTarget(ctx context.Context, provider *vsphere.Client, vm string) (vsphere.Ref, bool, error) {
	if v := e.State.Get("cutover").Outputs[targetKey(vm)]; v != "" {
		ref := vsphere.Ref{Type: "VirtualMachine", Value: v}
		name, ok, err := provider.VMByRef(ctx, ref)
		if err != nil {
			return vsphere.Ref{}, false, err
		}
		if ok {
			if name != vm {
				e.Log.Info("cutover target found by its recorded reference", "vm", vm, "ref", v, "name", name)
			}
			return ref, true, nil
		}
	}
	return provider.FindVM(ctx, vm)
}

// CutoverNote says what confirming vm's cutover will do when an earlier
// cutover of it was interrupted ("" when none was): finish it, or clean up
// and retry.
func (e *Env) CutoverNote(vm string) string {
	return e.CutoverNoteWith(vm, "`ferry run --confirm-cutover="+vm+" --rollback` only rolls back", decisionHint(vm))
}

// CutoverNoteWith is CutoverNote saying how to decide otherwise where it is
// shown: rollbackOnly for a cutover interrupted before power-on of the
// target was requested, decide for one interrupted after.
func (e *Env) CutoverNoteWith(vm, rollbackOnly, decide string) string {
	since := ""
	if off := e.interruptedShutdown(vm); !off.IsZero() {
		since = fmt.Sprintf(" (it shut the source down at %s UTC)", off.UTC().Format("15:04:05"))
	}
	switch e.State.Get("cutover").Outputs[cutoverKey(vm)] {
	case cutoverPowerOnRequested:
		return "DECISION NEEDED: the last cutover stopped after power-on of the target was requested" + since + "; confirming finishes it if the target runs and answers its probes, otherwise " + decide
	case cutoverRunning:
		if since == "" {
			// No shutdown recorded: interrupted before it, most likely
			// (QA: the note promised to power on a source that ran).
			return "the last cutover was interrupted before power-on of the target was requested: confirming removes what it left at the provider, powers the source on again if it is off and cuts over anew (" + rollbackOnly + ")"
		}
		// A source still off is not booted only to be shut down again.
		return "the last cutover was interrupted before power-on of the target was requested" + since + ": confirming removes what it left at the provider and cuts over anew, from the source still off if it is (no new boot and shutdown; it is powered on again if that fails) (" + rollbackOnly + ")"
	}
	return ""
}

// CutoverDecisions are the decisions (CutoverFinish, CutoverRollback) that
// may be taken on vm's interrupted cutover instead of confirming it again:
// rollback for one interrupted before power-on of the target was requested,
// finish or rollback for one interrupted after; none for any other.
func (e *Env) CutoverDecisions(vm string) []string {
	switch e.State.Get("cutover").Outputs[cutoverKey(vm)] {
	case cutoverPowerOnRequested:
		return []string{CutoverFinish, CutoverRollback}
	case cutoverRunning:
		return []string{CutoverRollback}
	}
	return nil
}

// CheckDecision refuses, before anything runs, a decision (CutoverFinish,
// CutoverRollback) on a VM whose cutover it cannot decide on
// (CutoverDecisions): it names the VM, what its cutover is, and says to run
// without the flag. Nothing is recorded: a refused decision is bad input.
func (e *Env) CheckDecision(vms []string, decision string) error {
	if decision == "" {
		return nil
	}
	on := map[string]string{
		CutoverRollback: "an interrupted cutover (stopped before or after power-on of the target was requested)",
		CutoverFinish:   "a cutover interrupted after power-on of the target was requested",
	}[decision]
	for _, vm := range vms {
		if slices.Contains(e.CutoverDecisions(vm), decision) {
			continue
		}
		what := "has not started"
		switch st := e.State.Get("cutover").Outputs[cutoverKey(vm)]; st {
		case "":
		case cutoverDone:
			if decision == CutoverFinish {
				// QA h8: it said "ferry rolls back no finished cutover" to
				// a --finish, which asks for no rollback.
				return fmt.Errorf("--%s decides on %s; %s was cut over and runs in Cloud Director: its cutover is finished already, there is nothing to finish (ferry status shows it cut over)", decision, on, vm)
			}
			// QA: "run without --rollback" did nothing, as it should.
			return fmt.Errorf("--%s decides on %s; %s was cut over and runs in Cloud Director: ferry rolls back no finished cutover (its source stays off, its replica disks are the target's)", decision, on, vm)
		case cutoverRolledBack:
			what = "was rolled back"
		case cutoverRunning:
			what = "was interrupted before power-on of the target was requested: --rollback decides on it, or confirm it alone to clean up and cut over anew"
		default:
			what = fmt.Sprintf("is %q", st)
		}
		return fmt.Errorf("--%s decides on %s; the cutover of %s %s: run without --%s", decision, on, vm, what, decision)
	}
	return nil
}

// cutoverTimings reads the plan's cutover durations, or their defaults.
func cutoverTimings(cp CutoverPlan) (shutdownTimeout, probeInterval, greenTimeout time.Duration, err error) {
	if shutdownTimeout, err = durationOr(cp.ShutdownTimeout, 2*time.Minute); err != nil {
		return 0, 0, 0, &FieldError{"cutover.shutdown_timeout", err}
	}
	if probeInterval, err = durationOr(cp.ProbeInterval, 250*time.Millisecond); err != nil {
		return 0, 0, 0, &FieldError{"cutover.probe_interval", err}
	}
	if greenTimeout, err = durationOr(cp.GreenTimeout, 3*time.Minute); err != nil {
		return 0, 0, 0, &FieldError{"cutover.green_timeout", err}
	}
	return shutdownTimeout, probeInterval, greenTimeout, nil
}

// Plan implements Step. It checks the cutover's durations, so that a run's
// preflight refuses a bad one before step 1 changes anything.
func (s *Cutover) Plan(ctx context.Context, env *Env) (Plan, error) {
	p := Plan{Step: s.ID()}
	if _, _, _, err := cutoverTimings(env.Plan().Cutover); err != nil {
		return p, err
	}
	parallel, err := cutoverParallel(env.Plan().Cutover)
	if err != nil {
		return p, err
	}
	var projected []*DowntimeEstimate
	wave, lastCreate := 0, -1 // the VMs to cut over, the last one's item
	leftOff := 0              // of them, warm VMs whose targets stay off (no projection)
	prev := env.State.Get(s.ID())
	store, done, err := env.readReplicationStore()
	if err != nil {
		store, done = nil, func() {}
	}
	defer done()
	// Projected once for the plan's VMs, when one needs it.
	var projections map[string]*DowntimeEstimate
	project := func(vm string) *DowntimeEstimate {
		if projections == nil {
			var names []string
			for _, v := range env.Plan().VMs {
				names = append(names, v.Name)
			}
			projections, _ = env.ProjectDowntimes(names)
		}
		return projections[vm]
	}
	for _, vm := range env.Plan().VMs {
		if prev.Outputs[cutoverKey(vm.Name)] == cutoverDone {
			p.Items = append(p.Items, Item{Action: ActionExists, Kind: "VM", Name: vm.Name, Detail: "already cut over to vApp " + vm.TargetVApp})
			continue
		}
		decided := env.CutoverDecision != "" && (len(env.CutoverVMs) == 0 || slices.Contains(env.CutoverVMs, vm.Name))
		if prev.Outputs[cutoverKey(vm.Name)] == cutoverPowerOnRequested {
			detail := "cutover stopped after power-on of the target was requested: finished if the target runs and answers its probes, otherwise " + decisionHint(vm.Name)
			switch {
			case decided && env.CutoverDecision == CutoverRollback:
				detail = "cutover stopped after power-on of the target was requested: rolled back as decided (--rollback): the target removed, the replica disks kept, the source powered on again"
			case decided && env.CutoverDecision == CutoverFinish:
				detail = "cutover stopped after power-on of the target was requested: finished as decided (--finish): the target powered on if it is not, and kept"
			}
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "VM", Name: vm.Name, Detail: detail})
			continue
		}
		rollback := decided && env.CutoverDecision == CutoverRollback
		if prev.Outputs[cutoverKey(vm.Name)] == cutoverRunning && (rollback || !env.interruptedShutdown(vm.Name).IsZero()) {
			// Its source may be off because that cutover shut it down: not
			// a cold migration's.
			detail := env.CutoverNote(vm.Name)
			if rollback {
				detail = "rolled back as decided (--rollback): what the interrupted cutover left at the provider removed (replica disks kept), the source powered on again, replication resumed"
				if env.coldSourceWasOff(vm.Name) {
					// QA: a cold VM's rollback said it powers it on.
					detail = "rolled back as decided (--rollback): what the interrupted cutover left at the provider removed (replica disks kept), the source left powered off, as it was before the cutover"
				}
			}
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "VM", Name: vm.Name, Detail: detail})
			continue
		}
		if len(env.CutoverVMs) > 0 && !slices.Contains(env.CutoverVMs, vm.Name) {
			// Not confirmed in this run: it goes on replicating.
			p.Items = append(p.Items, Item{Action: ActionExists, Kind: "VM", Name: vm.Name,
				Detail: "not confirmed in this run: replication goes on; cut it over with --confirm-cutover=" + vm.Name})
			continue
		}
		if store != nil {
			if vs, err := store.VM(vm.Name); err == nil && vs.CompareNeeded {
				// Refused by Apply for this VM alone (the others of the
				// wave go on), so not a conflict of the whole step.
				p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "VM", Name: vm.Name, Detail: replicaMismatchError(vm.Name, mismatchOf(vs)).Error()})
				continue
			}
		}
		if taken, err := env.targetNameTaken(ctx, vm.Name); err != nil {
			return p, err
		} else if taken != "" {
			p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "VM", Name: vm.Name, Detail: taken})
			continue
		}
		on := "powered on"
		if vm.Power() == LeaveOff {
			on = "left powered off"
		}
		detail := fmt.Sprintf("cut over into vApp %s of %s on network %s, %s", vm.TargetVApp, env.Plan().VDC, vm.TargetNetwork, on)
		if mode, why, err := env.MigrationMode(ctx, vm.Name); err == nil && mode == ModeCold {
			if env.State.Status("replication") == StatusDone && env.Stale("replication") == "" && !env.isCold(vm.Name) {
				// Replicated warm, off now: someone powered it off (QA: the
				// plan said "cold" as if it always had been).
				why += "; it was running when step 6 replicated it, so it was powered off since, not by ferry: its service is down already, and its cutover compares its whole disk inside the window"
			}
			p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "VM", Name: vm.Name, Detail: detail + "; cold migration (" + why + ")"})
			wave, lastCreate = wave+1, len(p.Items)-1
			continue
		}
		if !vm.Power().ProjectsDowntime() {
			detail += "; down from its shutdown until someone powers it on (power_on: false)"
			leftOff++
		} else if est := project(vm.Name); est != nil {
			detail += "; projected downtime " + est.Short() + ": " + est.Text()
			projected = append(projected, est)
		}
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "VM", Name: vm.Name, Detail: detail})
		wave, lastCreate = wave+1, len(p.Items)-1
	}
	// The wave counts every VM it cuts over, cold ones too (QA: "the 3
	// VMs" of a wave of 5, two of them cold); its projection is the warm
	// VMs' (a cold VM's window is its shutdown and whole-disk pass).
	if wave > 1 {
		text := fmt.Sprintf(" Confirmed together, the %d VMs are one wave, cut over in parallel (%d at a time, cutover.parallel)", wave, min(parallel, wave))
		if len(projected) > 0 {
			w := projectWave(projected, parallel)
			text += ": projected wave downtime ~" + roundSecs(w.Downtime.Seconds())
			switch {
			case leftOff > 0 && len(projected)+leftOff < wave:
				text += fmt.Sprintf(" (of its %d warm VMs powered on; a cold VM's window, its shutdown and whole-disk pass, and a target left off, down until someone powers it on, are not projected)", len(projected))
			case leftOff > 0:
				text += fmt.Sprintf(" (of its %d VMs powered on; a target left off is down until someone powers it on)", len(projected))
			case len(projected) < wave:
				text += fmt.Sprintf(" (of its %d warm VMs; a cold VM's window, its shutdown and whole-disk pass, is not projected)", len(projected))
			}
			if w.Shared != "" {
				text += "; " + w.Shared
			}
		}
		p.Items[lastCreate].Detail += text + "."
	}
	// What the cutovers to run will ask of both vCenters: a privilege found
	// missing once the source is shut down would leave it down.
	var sources []vsphere.VM
	var onprem *vsphere.Client
	for _, it := range p.Items {
		if it.Action != ActionCreate || (len(env.CutoverVMs) > 0 && !slices.Contains(env.CutoverVMs, it.Name)) {
			continue
		}
		if onprem == nil {
			if onprem, err = env.OnPrem(ctx); err != nil {
				return p, err
			}
		}
		vm, err := onprem.VMByName(ctx, it.Name)
		if err != nil {
			return p, err
		}
		sources = append(sources, vm)
	}
	// A guest ping from a VM cut over runs in its target, through the
	// provider vCenter (Env.movedVM).
	var guestFrom []string
	for _, pr := range env.Plan().Probes {
		if pr.From != "" && !slices.Contains(guestFrom, pr.From) && slices.ContainsFunc(sources, func(v vsphere.VM) bool { return v.Name == pr.From }) {
			guestFrom = append(guestFrom, pr.From)
		}
	}
	conflicts, err := env.privilegeItems(ctx, sources, make([]bool, len(sources)), guestFrom...)
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, conflicts...)
	// The cutover judges its probes: a guest ping from a VM that runs
	// on-prem needs guest operations there (a refused one would stop a
	// healthy cutover for a decision).
	if conflicts, err = env.onpremGuestItems(ctx); err != nil {
		return p, err
	}
	p.Items = append(p.Items, conflicts...)
	// Room for the targets' swap files: without it they would not start,
	// after their sources were shut down.
	var names []string
	for _, vm := range env.Plan().VMs {
		if vm.Power() != LeaveOff && slices.ContainsFunc(sources, func(v vsphere.VM) bool { return v.Name == vm.Name }) {
			names = append(names, vm.Name)
		}
	}
	swap, ok, err := env.swapRoomItem(ctx, names, "the cutover would shut the sources down and then fail to power the targets on")
	if err != nil {
		return p, err
	}
	if ok {
		p.Items = append(p.Items, swap)
	}
	// Room in the org VDC's compute quota: Cloud Director refuses to
	// power the targets on past it, after their sources were shut down.
	quota, ok, err := env.computeRoomItem(ctx, names, "the cutover would shut the sources down and then fail to power the targets on")
	if err != nil {
		return p, err
	}
	if ok {
		p.Items = append(p.Items, quota)
	}
	// The networks the targets connect to, and the stretch that carries
	// the stretched one.
	var cutting []VMPlan
	for _, vm := range env.Plan().VMs {
		if slices.ContainsFunc(sources, func(v vsphere.VM) bool { return v.Name == vm.Name }) {
			cutting = append(cutting, vm)
		}
	}
	// Room in the storage policies' limits for the whole wave: each VM's
	// own check before its shutdown cannot see the others' imports.
	full, err := env.storageRoomItems(ctx, cutting, "the cutover would shut the sources down and then fail to import some of them")
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, full...)
	wire, err := env.wireItems(ctx, cutting)
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, wire...)
	// Someone else's snapshot (a backup job's) stops the cutover's passes;
	// said here, before the confirmation, not after it.
	for _, vm := range sources {
		if other := replication.ForeignSnapshots(vm.SnapshotNames); len(other) > 0 {
			for i, n := range other {
				other[i] = strconv.Quote(n)
			}
			p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "snapshot", Name: vm.Name, Detail: fmt.Sprintf(
				"%s has %s, which ferry did not take (e.g. a backup job's): while it exists the base disk ferry reads is not current, so its cutover would stop at the pre-cutover pass, before the shutdown. Remove it (or let the backup job finish), then confirm again",
				vm.Name, "snapshot "+strings.Join(other, ", "))})
		}
	}
	return p, nil
}

// Apply implements Step. The VMs confirmed together are one wave: they are
// cut over in parallel, at most cutover.parallel at a time, each with its
// own rollback (a failure of one never rolls back or holds up the others).
// Probes that depend on several VMs of the wave are judged once all of
// them are up. The report has one section per VM and the wave's total.
func (s *Cutover) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	var res Result
	shutdownTimeout, interval, greenTimeout, err := cutoverTimings(env.Plan().Cutover)
	if err != nil {
		return res, err
	}
	parallel, err := cutoverParallel(env.Plan().Cutover)
	if err != nil {
		return res, err
	}
	hard := env.Plan().Cutover.hardPowerOff()
	// A test's snapshot freezes every replica on the receiver appliance:
	// none can be detached for a target until it is removed. A decision
	// on an interrupted cutover detaches none (CheckTestLeft).
	if env.CutoverDecision == "" {
		if err := env.checkNoTestLeft("the cutover"); err != nil {
			return res, err
		}
	}

	targets, err := env.probeTargets(ctx)
	if err != nil {
		return res, err
	}
	mon := probe.NewMonitor(interval, targets...)
	// The probes outlive a cancelled ctx: a target powered on before the
	// cancellation is judged by them all the same (waitGreen).
	mctx, stopProbes := context.WithCancel(context.WithoutCancel(ctx))
	probesDone := make(chan struct{})
	go func() { defer close(probesDone); mon.Run(mctx) }()
	defer func() { stopProbes(); <-probesDone }()

	// The VMs of a wave report from several goroutines: one at a time to
	// the front end (each line names its VM).
	emit = serialEmit(emit)

	report := &CutoverReport{Job: env.Plan().Job, Plan: env.State.BoundPlan(), Started: time.Now(), Parallel: parallel}
	prev := env.State.Get(s.ID())
	selected := map[string]bool{}
	for _, n := range env.CutoverVMs {
		selected[n] = true
	}
	var waiting []string
	var wave []*vmCutover
	vappLocks := map[string]*sync.Mutex{}
	// VMs a killed run cut over before it saved its report: their sections
	// go into this run's report.
	var unreported []VMReport
	for _, vm := range env.Plan().VMs {
		if prev.Outputs[cutoverKey(vm.Name)] == cutoverDone {
			emit(Progress(vm.Name+": already cut over", -1))
			if r, ok := env.unreportedCutover(vm.Name); ok && env.savedReportHolds(r) {
				// A run killed after it saved its report, before it
				// recorded so (QA: the VM was reported twice).
				settled := map[string]string{unreportedKey(vm.Name): ""}
				if len(env.keptEarlierOutages(vm.Name)) > 0 {
					settled[earlierOutagesKey(vm.Name)] = ""
				}
				if err := env.State.SetOutputs(s.ID(), settled); err != nil {
					return res, err
				}
			} else if ok {
				unreported = append(unreported, r)
				emit(Progress(fmt.Sprintf("%s: cut over by a run that stopped before it saved its downtime report (%s): in this run's report", vm.Name, r.downtimeClause()), -1))
			}
			continue
		}
		if len(selected) > 0 && !selected[vm.Name] {
			waiting = append(waiting, vm.Name)
			continue
		}
		if vappLocks[vm.TargetVApp] == nil {
			vappLocks[vm.TargetVApp] = &sync.Mutex{}
		}
		wave = append(wave, &vmCutover{env: env, emit: emit, plan: vm, mon: mon, interval: interval,
			shutdownTimeout: shutdownTimeout, hard: hard, greenTimeout: greenTimeout,
			vappMu: vappLocks[vm.TargetVApp], up: make(chan struct{}),
			rep: VMReport{VM: vm.Name, TargetVApp: vm.TargetVApp, EarlierOutages: env.keptEarlierOutages(vm.Name)}})
	}
	var names []string
	for _, c := range wave {
		names = append(names, c.plan.Name)
	}
	ests, _ := env.ProjectDowntimes(names)
	for _, c := range wave {
		// A target left off has no window to project (its plan said so),
		// nor has an interrupted cutover this run finishes or goes on
		// with (the plan projects none either: QA, a wave of two such VMs
		// read "projected ~1m24s" beside its 4.0s).
		if est := ests[c.plan.Name]; est != nil && c.plan.Power().ProjectsDowntime() && !env.InterruptedWindow(c.plan.Name) {
			c.rep.Projection = est
			c.rep.ProjectedDowntimeSeconds = est.Total.Seconds()
		}
	}
	if len(wave) > 1 {
		emit(Progress(fmt.Sprintf("wave of %d VMs (%s), %d at a time", len(wave), strings.Join(names, ", "), min(parallel, len(wave))), -1))
		// As many as ran at once, as the line above says (the report
		// said cutover.parallel, more than the wave had).
		report.Parallel = min(parallel, len(wave))
	}
	report.ProjectedWaveSeconds = projectWave(report.projections(wave), parallel).Downtime.Seconds()

	errs := make([]error, len(wave))
	var panicMu sync.Mutex
	var panicked any
	// A panic in a goroutine of the wave (a dying process, in the crash
	// tests) goes on in the step's goroutine once the others have stopped.
	catch := func() {
		if p := recover(); p != nil {
			panicMu.Lock()
			if panicked == nil {
				panicked = p
			}
			panicMu.Unlock()
		}
	}
	wp := env.waveProbes(names)
	wpDone := make(chan struct{})
	go func() {
		defer close(wpDone)
		defer catch()
		report.WaveProbes = judgeWaveProbes(ctx, wp, wave, mon, interval, greenTimeout, emit)
	}()
	var wg sync.WaitGroup
	// At most cutover.parallel VMs are in their downtime windows
	// (windows); as many more prepare meanwhile (prep: the checks and the
	// pre-cutover passes while the source runs), so that a wave larger
	// than cutover.parallel does not wait for each VM's whole cutover
	// before the next one begins its passes. Places among those preparing
	// go in the wave's order (the plan's, as the wave's line lists them);
	// windows to the VMs ready for them. A VM that must wait says for whom.
	prep, windows := newPlaces(parallel, true), newPlaces(parallel, false)
	var gate *waveGate
	if len(wave) > 1 {
		gate = newWaveGate()
	}
	for i, c := range wave {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(c.up)
			defer catch()
			waited, err := prep.take(ctx, c.plan.Name, i, func(holders []string) {
				emit(Progress(fmt.Sprintf("%s: waiting to prepare: the wave's VMs do their checks and pre-cutover passes %d at a time (cutover.parallel); %s now", c.plan.Name, parallel, andList(holders)), -1))
			})
			if err != nil {
				// Nothing was done: its report says so, not an empty section.
				c.rep.Started = time.Now()
				errs[i] = fmt.Errorf("%s: stopped while waiting to prepare (%w): %w, it keeps running on-prem, its replica disks are kept and replication goes on", c.plan.Name, err, errNotStarted)
				c.rep.finish(errs[i])
				return
			}
			if waited >= 10*time.Millisecond {
				emit(Progress(fmt.Sprintf("%s: waited %.1fs for a place among the wave's VMs preparing", c.plan.Name, waited.Seconds()), -1))
			}
			// Given up when the VM takes its window (or ends without).
			var prepOnce sync.Once
			releasePrep := func() { prepOnce.Do(func() { prep.give(c.plan.Name) }) }
			defer releasePrep()
			defer windows.give(c.plan.Name)
			c.slot = func(ctx context.Context) (time.Duration, error) {
				waited, err := windows.take(ctx, c.plan.Name, -1, func(holders []string) {
					in := "is in its window"
					if len(holders) > 1 {
						in = "are in theirs"
					}
					emit(Progress(fmt.Sprintf("%s: ready to shut down; waiting for a place among the wave's %s (%d at a time): %s %s", c.plan.Name, parallelWindows, parallel, andList(holders), in), -1))
				})
				if err != nil {
					return waited, err
				}
				releasePrep()
				return waited, nil
			}
			c.ready, c.leave = gate.enter()
			defer c.leave()
			state := prev.Outputs[cutoverKey(c.plan.Name)]
			err = c.run(ctx, state)
			// As vCenter shows the target at the end (Cloud Director renamed
			// it at the import; a resumed cutover found it), read once the
			// downtime window closed: not inside it.
			c.readProviderName(context.WithoutCancel(ctx))
			if c.neverDown(state) {
				// What its probes saw is no downtime of its: this run never
				// shut its source down, no target ran, and no earlier run
				// left it down (QA: "failed · measured downtime at least
				// 0.1s" of a VM of a wave stopped early, never shut down).
				c.rep.Outages = nil
			} else {
				// Gone on from a source left off: the outage the probes saw
				// from the start is the one that cutover began.
				since := c.rep.Started
				if !c.continuedFrom.IsZero() {
					since = c.continuedFrom
				}
				c.rep.Outages = probeOutages(mon, c.probeNames(), since)
			}
			c.rep.finish(err)
			if err == nil {
				// Kept until a report file holds it: a ferry killed before
				// the wave's report is saved loses no VM's figures.
				if serr := env.keepUnreported(c.rep); serr != nil {
					emit(Warning(fmt.Sprintf("%s: could not keep its report in the state until the report is saved: %v", c.plan.Name, serr)))
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	<-wpDone
	if panicked != nil {
		panic(panicked)
	}
	var failed []error
	var decided []string
	for i, c := range wave {
		if err := errs[i]; !errors.Is(err, ErrDecisionNeeded) || len(c.rep.Phases) > 0 || len(c.rep.EarlierOutages) > 0 {
			report.VMs = append(report.VMs, c.rep)
		}
		// else: a run that found a decision needed and changed nothing
		// has nothing to report (each such run would add an empty report).
		if err := errs[i]; err != nil {
			if !strings.HasPrefix(err.Error(), c.plan.Name) {
				err = fmt.Errorf("%s: %w", c.plan.Name, err)
			}
			failed = append(failed, err)
			if OnlyRolledBackAsDecided(err) {
				decided = append(decided, c.plan.Name)
			}
			continue
		}
		vm := c.plan
		r := Resource{Kind: "vApp", Name: vm.TargetVApp, ID: c.vapp.HREF()}
		state := "running"
		if vm.Power() == LeaveOff {
			state = "left powered off (power_on: false)"
		}
		detail := fmt.Sprintf("%s in vApp %s; %s", state, vm.TargetVApp, c.rep.downtimeClause())
		if c.rep.ProviderVM != "" {
			detail += "; in the provider vCenter: " + c.rep.ProviderVM
		}
		it := Item{Action: ActionCreate, Kind: "VM", Name: vm.Name, Detail: detail, Resource: &r}
		emit(Changed(it))
		res.Changes = append(res.Changes, it)
		res.Resources = append(res.Resources, r)
	}
	for _, p := range report.WaveProbes {
		if p.Error != "" {
			failed = append(failed, fmt.Errorf("probe %q (%s): %s", p.Name, strings.Join(p.VMs, ", "), p.Error))
		}
	}
	report.Finished = time.Now()
	report.finishWave()
	more := ""
	if e := report.earlierInWave(); e != "" {
		more = "; " + e
	}
	if len(wave) > 1 && report.WaveDowntimeSeconds > 0 && report.WaveOutageOpen {
		emit(Progress(fmt.Sprintf("wave downtime at least %s from the first shutdown, a service still down when its cutover ended (%s)%s", secs(report.WaveDowntimeSeconds), report.waveProjected(), more), -1))
	} else if len(wave) > 1 && report.WaveDowntimeSeconds > 0 {
		emit(Progress(fmt.Sprintf("wave downtime %s from the first shutdown to the last service back (%s)%s", secs(report.WaveDowntimeSeconds), report.waveProjected(), more), -1))
	}
	for _, r := range unreported {
		r.Note = strings.TrimSpace(r.Note + " Cut over by an earlier run that stopped before it saved its report; its figures were kept in the state.")
		r.EarlierRun = true
		report.VMs = append(report.VMs, r)
	}
	if len(report.VMs) > 0 {
		dir := "."
		if env.State.Path() != "" {
			dir = filepath.Dir(env.State.Path())
		}
		md, js, err := report.Save(dir)
		if err != nil {
			emit(Warning("could not save the downtime report: " + err.Error()))
		} else {
			emit(Progress(fmt.Sprintf("downtime report: %s (JSON: %s)", md, js), -1))
			if err := env.State.SetOutput(s.ID(), "report", md); err != nil {
				return res, err
			}
			reported := map[string]string{}
			for _, r := range report.VMs {
				reported[unreportedKey(r.VM)] = ""
				if len(env.keptEarlierOutages(r.VM)) > 0 {
					reported[earlierOutagesKey(r.VM)] = ""
				}
			}
			if err := env.State.SetOutputs(s.ID(), reported); err != nil {
				return res, err
			}
		}
	}
	if err := errors.Join(failed...); err != nil {
		if OnlyRolledBackAsDecided(err) {
			return res, decidedWait{decided: err, names: decided, waiting: waiting}
		}
		return res, err
	}
	if len(waiting) > 0 {
		return res, fmt.Errorf("%w: %s not cut over yet (confirm with --confirm-cutover=%s)", ErrWaiting, strings.Join(waiting, ", "), strings.Join(waiting, ","))
	}
	return res, nil
}

// Verify implements Step.
func (s *Cutover) Verify(ctx context.Context, env *Env) error {
	st := env.State.Get(s.ID())
	for _, vm := range env.Plan().VMs {
		if st.Outputs[cutoverKey(vm.Name)] != cutoverDone {
			return fmt.Errorf("VM %s is not cut over", vm.Name)
		}
	}
	return nil
}

// vmCutover is one VM's cutover.
type vmCutover struct {
	env             *Env
	emit            Emit
	plan            VMPlan
	mon             *probe.Monitor
	interval        time.Duration
	shutdownTimeout time.Duration
	hard            bool
	greenTimeout    time.Duration
	rep             VMReport
	vappMu          *sync.Mutex   // held from the import to the power-on: VMs of one vApp go in one at a time
	up              chan struct{} // closed when this VM's cutover has ended

	onprem, provider *vsphere.Client
	sys              *vcd.Client
	src              vsphere.VM
	job              *replication.Job
	target           *vsphere.Ref
	vapp             *vcd.VApp
	createdVApp      bool
	held             bool // the wizard's scheduler paused for us
	unhurry          func()
	// ready waits at the wave's gate (waveGate) and says how long; leave
	// quits it without waiting (a VM with no shutdown to line up).
	ready func(ctx context.Context) time.Duration
	leave func()
	// slot waits for the VM's place among the wave's downtime windows
	// (cutover.parallel at once) once it is ready to shut down, and says
	// how long; nil: no wait (a VM cut over alone).
	slot func(ctx context.Context) (time.Duration, error)
	// mismatch is the verify's finding that the replica differs from the
	// source: the rollback pauses the job until a full compare repairs it.
	mismatch error
	// A cold migration (coldWindow): why its mode is cold; leaveOff keeps
	// a source that was powered off before the cutover off after a rollback.
	cold     bool
	why      string
	leaveOff bool
	// keepHoldOnError: a rollback that fails leaves the job's hold (the
	// cleanup of an interrupted cutover, whose state stays running).
	keepHoldOnError bool
	// keepSourceOff: the cleanup of an interrupted cutover before a retry
	// that goes on from the source it left off (cleanupInterrupted): its
	// rollback powers nothing on and keeps the job held.
	keepSourceOff bool
	// continuedFrom: this attempt went on from a source an interrupted
	// cutover shut down at this time, still off: no shutdown of its own.
	continuedFrom time.Time
	// endedOutage is the outage of an interrupted cutover the cleanup
	// found ended: by this run powering the source on (endedByUs), or
	// earlier.
	endedOutage *EarlierOutage
	endedByUs   bool
	// shutdownPending: this attempt asked the source's guest OS to shut
	// down and did not see it powered off (stopped while it waited, or
	// the timeout without a hard power-off). vCenter cannot cancel a guest
	// shutdown: the rollback waits for the power-off before it powers the
	// source on again (settleShutdown).
	shutdownPending bool
	// createPending: this attempt's CreateVM request at the provider whose
	// end it did not see (stopped while it waited): the VM its task may
	// still make is ferry's, and the rollback removes it (settleCreate).
	createPending *vsphere.CreateUnfinishedError
}

func (c *vmCutover) phase(name string, f func() (string, error)) error {
	if h := c.env.phaseHook; h != nil {
		h(c.plan.Name, name)
	}
	p := PhaseRecord{Name: name, Start: time.Now()}
	begin := Progress(fmt.Sprintf("%s: %s", c.plan.Name, name), -1)
	begin.Begins = true
	c.emit(begin)
	detail, err := f()
	p.End, p.Detail = time.Now(), detail
	if err != nil {
		p.Error = err.Error()
	}
	c.rep.Phases = append(c.rep.Phases, p)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", c.plan.Name, name, err)
	}
	msg := fmt.Sprintf("%s: %s done in %s", c.plan.Name, name, p.End.Sub(p.Start).Round(time.Millisecond))
	if detail != "" {
		msg += " (" + detail + ")"
	}
	c.emit(Progress(msg, -1))
	return nil
}

func (c *vmCutover) setState(v string) error {
	if v == cutoverRolledBack {
		// When, for a --rollback run again after it (SettledRollbacks).
		return c.env.State.SetOutputs("cutover", map[string]string{cutoverKey(c.plan.Name): v,
			rolledBackAtKey(c.plan.Name): time.Now().UTC().Format(time.RFC3339)})
	}
	return c.env.State.SetOutput("cutover", cutoverKey(c.plan.Name), v)
}

// rolledBackAtKey is the cutover step's output that says when vm's cutover
// was last rolled back (RFC 3339, UTC).
func rolledBackAtKey(vm string) string { return "rolled_back_at." + vm }

// rolledBackWhen says when vm's cutover was rolled back, as the state
// records it: "rolled back at 2006-01-02 15:04:05 UTC". A state an older
// ferry wrote has no time (rolledBackAtKey): the phrase says so rather than
// leave a sentence that reads as if a word were missing.
func (e *Env) rolledBackWhen(vm string) string {
	at, err := time.Parse(time.RFC3339, e.State.Get("cutover").Outputs[rolledBackAtKey(vm)])
	if err != nil {
		return "rolled back (when is not recorded: an older ferry rolled it back)"
	}
	return "rolled back at " + at.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// RolledBackSummary is the cutover step's summary as `ferry status` shows
// it while the step is pending and some of the plan's VMs' cutovers were
// rolled back (summary is the one the state records; it is returned as it
// is otherwise). The recorded one is what the last run said, and a run
// that only settled a killed --rollback (SettleEndedCutoverStep) said
// "waiting for --confirm-cutover" and nothing of the rollback (QA). This
// one is read from the cutover's outputs: each VM not cut over, rolled
// back when, and how to cut it over again.
func (e *Env) RolledBackSummary(summary string) string {
	if e.State.Status("cutover") != StatusPending {
		return summary
	}
	if text := e.rolledBackText(); text != "" {
		return text
	}
	return summary
}

// EndedCutoverSummary is, for the cutover step the state records as
// running while nothing runs it (a --rollback killed once it had rolled its
// VMs back, before it ended the step), what RolledBackSummary says of a
// pending one: the step's record is empty then, and `ferry status` read
// only "interrupted ... runs it again", which no run does for a cutover
// that ended (QA). "" when the step is not running, or a VM's cutover is
// left unfinished, or none was rolled back. The caller knows that nothing
// runs the step (a run in progress has VMs it has not reached yet).
func (e *Env) EndedCutoverSummary() string {
	if e.State.Status("cutover") != StatusRunning {
		return ""
	}
	return e.rolledBackText()
}

// rolledBackText says, from the cutover's outputs, each plan VM whose
// cutover was rolled back (when, and how to cut it over again) and the
// VMs whose cutover never started: "" when none was rolled back or one is
// left unfinished.
func (e *Env) rolledBackText() string {
	out := e.State.Get("cutover").Outputs
	var rolled, rest, parts []string
	for _, vm := range e.Plan().VMs {
		switch out[cutoverKey(vm.Name)] {
		case cutoverRolledBack:
			rolled = append(rolled, vm.Name)
			how := e.rolledBackWhen(vm.Name)
			if out[recoveredKey(vm.Name)] != "" {
				how = strings.Replace(how, "rolled back", "rolled back automatically", 1)
			}
			line := vm.Name + " not cut over: its cutover was " + how
			if len(e.keptEarlierOutages(vm.Name)) > 0 {
				line += " (its outage goes into the next downtime report)"
			}
			parts = append(parts, line+"; cut over again with --confirm-cutover="+vm.Name)
		case cutoverDone:
		case "":
			rest = append(rest, vm.Name)
		default:
			// Left unfinished: the step's own record says what to do.
			return ""
		}
	}
	if len(rolled) == 0 {
		return ""
	}
	if len(rest) > 0 {
		parts = append(parts, fmt.Sprintf("%s not cut over yet (confirm with --confirm-cutover=%s)", strings.Join(rest, ", "), strings.Join(rest, ",")))
	}
	return strings.Join(parts, "; ")
}

// RefuseIgnoredBySettled refuses flags (as given: "--verify=WebApp2",
// "--redo=checks") beside a --rollback that names only VMs rolled back
// already (settled, all SettledRollbacks took out): such a run runs no step,
// so it would ignore them, and a run that ends "nothing to do" with exit 0
// must not leave the operator believing a full compare or a step ran (QA:
// they were ignored silently). Refused, before anything changes, rather
// than honoured: the --rollback would decide nothing, and running the
// steps for them is what the same flags do without --confirm-cutover and
// --rollback, the command the message gives. nil when there is nothing to
// refuse (no flags, or VMs left to roll back: the run runs its steps, and
// those flags with them).
func (e *Env) RefuseIgnoredBySettled(settled, rest, flags []string) error {
	if len(flags) == 0 || len(settled) == 0 || len(rest) > 0 {
		return nil
	}
	var whens []string
	for _, vm := range settled {
		whens = append(whens, "the cutover of "+vm+" was "+e.rolledBackWhen(vm))
	}
	both := strings.Join(flags, " and ")
	return fmt.Errorf("%s with --rollback: %s, so --rollback has nothing to do and this run would run no step: %s would be ignored; nothing was changed. For %s, run the same command without --confirm-cutover and --rollback",
		both, strings.Join(whens, "; "), both, both)
}

// SettledRollbacks takes out of vms, for a rollback decision
// (CutoverRollback), the VMs whose cutover is rolled back already (a
// `ferry run --rollback` run again after it ended, or after it was killed
// once it had rolled the VM back, while the source came back; or rolled
// back automatically since): there is nothing left to roll back, and the
// same command run again must not be refused. It returns the VMs left to
// decide on, those taken out, and a line for each of them saying so.
// Other decisions, and VMs whose cutover is anything else (done, never
// started), are left to CheckDecision, which refuses them.
func (e *Env) SettledRollbacks(vms []string, decision string) (rest, settled, lines []string) {
	if decision != CutoverRollback {
		return vms, nil, nil
	}
	out := e.State.Get("cutover").Outputs
	for _, vm := range vms {
		if out[cutoverKey(vm)] != cutoverRolledBack {
			rest = append(rest, vm)
			continue
		}
		settled = append(settled, vm)
		lines = append(lines, fmt.Sprintf("%s: already %s; nothing to do; cut over again with --confirm-cutover=%s", vm, e.rolledBackWhen(vm), vm))
	}
	return rest, settled, lines
}

func (c *vmCutover) run(ctx context.Context, state string) (err error) {
	c.rep.Started = time.Now()
	// A wait for someone else's task on the source (a backup's snapshot)
	// is said, not only sat through.
	ctx = vsphere.WithBusyNotice(ctx, func(msg string) { c.emit(Progress(c.plan.Name+": "+msg, -1)) })
	defer func() {
		if c.unhurry != nil {
			c.unhurry()
		}
	}()
	// Stopped (a signal, the wizard quit) in the checks before this
	// attempt changed anything: the VM is as it was, not a failure (QA: a
	// wave stopped early reported "failed" of VMs never shut down). Not
	// after an interrupted cutover: its source may be down.
	untouched := true
	if state != cutoverRunning && state != cutoverPowerOnRequested {
		defer func() {
			if err == nil || !untouched || ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
				return
			}
			if c.src.Ref.Value != "" && !c.src.PoweredOn() {
				err = fmt.Errorf("%s: stopped before its cutover window (%w): %w, it stays powered off on-prem as it was, its replica disks are kept", c.plan.Name, err, errNotStarted)
				return
			}
			err = stoppedBeforeShutdown{fmt.Errorf("%w (stopped before the shutdown: %s kept running on-prem, its replica disks are kept and replication goes on)", err, c.plan.Name)}
		}()
	}
	// A failure or a stop once the attempt changed something (untouched
	// false: its window began, or it went on from a source an interrupted
	// cutover left off) is rolled back. Released after a rollback
	// (deferred calls run last first).
	unlockVApp := func() {}
	defer func() { unlockVApp() }()
	// noRollback is set once power-on was requested and the target may run.
	noRollback := false
	defer func() {
		if err == nil || noRollback || untouched {
			return
		}
		c.rep.RolledBack = true
		if rbErr := c.rollback(context.WithoutCancel(ctx)); rbErr != nil {
			c.rep.RollbackError = rbErr.Error()
			err = fmt.Errorf("%w; ROLLBACK FAILED: %v", err, rbErr)
			return
		}
		_ = c.setState(cutoverRolledBack)
		if !c.rep.SourceBackOn.IsZero() {
			// The report measures the outage to its end.
			c.awaitSourceBack(c.rep.SourceBackOn)
		}
		if c.mismatch != nil {
			err = fmt.Errorf("%w (rolled back: %s is running on-prem again, its replica disks are kept; the replica differs from the source: %s)", err, c.plan.Name, mismatchAdvice(c.plan.Name, "cut over again"))
			return
		}
		if c.leaveOff {
			err = fmt.Errorf("%w (rolled back: %s stays powered off on-prem as it was, its replica disks are kept)", err, c.plan.Name)
			return
		}
		if c.rep.SourceOff.IsZero() {
			err = fmt.Errorf("%w (stopped before the shutdown: %s kept running on-prem, its replica disks are kept and replication goes on)", err, c.plan.Name)
			return
		}
		err = fmt.Errorf("%w (rolled back: %s is running on-prem again, its replica disks are kept and replication can continue)", err, c.plan.Name)
	}()

	decision := c.env.CutoverDecision
	switch {
	case decision == "" || state == cutoverPowerOnRequested:
	case decision == CutoverRollback && state == cutoverRunning:
		// Interrupted before power-on was requested: only the rollback
		// its retry would begin with, and no retry.
	case decision == CutoverRollback:
		return fmt.Errorf("%s: --rollback decides on an interrupted cutover (one that stopped before or after power-on of the target was requested); this VM's cutover is not (state %q): run without it", c.plan.Name, state)
	default:
		return fmt.Errorf("%s: --%s decides on a cutover interrupted after power-on was requested; this VM's cutover is not (state %q): run without it", c.plan.Name, decision, state)
	}
	// After power-on was requested the target may hold the replica disks:
	// no replication job then (it would hot-add them to the appliance);
	// nor for a rollback alone, which passes nothing; nor before the
	// cleanup of a cutover interrupted before power-on (its target may
	// hold them too: the job comes after the cleanup).
	if err := c.connect(ctx, state != cutoverPowerOnRequested && state != cutoverRunning && decision == ""); err != nil {
		return err
	}
	switch state {
	case cutoverPowerOnRequested:
		return c.resume(ctx, decision)
	case cutoverRunning:
		if decision == CutoverRollback {
			return c.rollbackInterrupted(ctx, "as decided (--rollback)")
		}
		c.emit(Warning(c.plan.Name + ": a previous cutover was interrupted before power-on was requested; removing what it left at the provider (replica disks kept) before retrying"))
		// The source the interrupted cutover shut down has been down
		// since: still off, this attempt goes on from there; otherwise
		// (powered on again since) the cleanup's rollback powers it on.
		// Either way that outage is not this attempt's window (the report
		// says so, apart).
		if err := c.cleanupInterrupted(ctx, true); err != nil {
			return err
		}
		if !c.continuedFrom.IsZero() {
			// The source is down for this attempt from here: a failure
			// or a stop powers it on again (the rollback above).
			untouched = false
			if err := c.goOnFromOff(); err != nil {
				return err
			}
		}
		// The target gone, the replica disks are the appliance's again.
		var err error
		if c.job, c.src, err = c.env.job(ctx, c.plan.Name, progressEmitter(c.emit, c.plan.Name)); err != nil {
			return err
		}
		if o := c.endedOutage; o != nil {
			c.emit(Warning(fmt.Sprintf("%s: the interrupted cutover left the source powered off from %s UTC until %s (%.0fs of downtime, not in this cutover's figures)",
				c.plan.Name, o.Start.UTC().Format("15:04:05"), c.endedBy(), o.seconds())))
		}
	}
	if h := c.env.phaseHook; h != nil {
		h(c.plan.Name, "checks")
	}
	asFound := c.src
	if !c.continuedFrom.IsZero() {
		// Migrated as the running VM the interrupted cutover shut down,
		// not as a powered-off one (which a rollback would leave off).
		asFound.PowerState = vsphere.PoweredOn
	}
	mode, why, err := vmMode(c.plan, asFound)
	if err != nil {
		return fmt.Errorf("%s: %w", c.plan.Name, err)
	}
	c.cold, c.why = mode == ModeCold, why
	if err := c.env.markColdSource(c.plan.Name, c.cold && !asFound.PoweredOn()); err != nil {
		return err
	}
	store, err := c.env.replicationStore()
	if err != nil {
		return err
	}
	if ok, err := synced(store, c.plan.Name); !c.cold && (err != nil || !ok) {
		if err == nil {
			err = fmt.Errorf("%s has no completed initial sync: run the replication step first", c.plan.Name)
		}
		return err
	}
	// A replica a verify found to differ from its source is not cut over
	// until a full compare has repaired it.
	if vs, err := store.VM(c.plan.Name); err != nil {
		return err
	} else if vs.CompareNeeded {
		return fmt.Errorf("%s: %w", c.plan.Name, replicaMismatchError(c.plan.Name, mismatchOf(vs)))
	}
	// Checked again before the source stops: an import that relocates or
	// copies the VM would add to the downtime.
	if err := checkTargetPlacement(ctx, c.env, c.plan, c.src.DiskBytes()); err != nil {
		return fmt.Errorf("%s: %w", c.plan.Name, err)
	}
	if taken, err := c.env.targetNameTaken(ctx, c.plan.Name); err != nil {
		return fmt.Errorf("%s: %w", c.plan.Name, err)
	} else if taken != "" {
		return fmt.Errorf("%s: %s", c.plan.Name, taken)
	}
	if err := c.capturedDisksThere(ctx); err != nil {
		return fmt.Errorf("%s: %w", c.plan.Name, err)
	}
	if err := c.setState(cutoverRunning); err != nil {
		return err
	}
	// From here on a failure or a stop is rolled back (above).
	untouched = false

	// This attempt's shutdown, once it begins, is recorded anew (one that
	// went on from the source off recorded where it went on); an
	// automatic rollback of an earlier one is no longer the news.
	if c.continuedFrom.IsZero() {
		if err := c.env.State.SetOutput("cutover", shutdownKey(c.plan.Name), ""); err != nil {
			return err
		}
	}
	if c.env.State.Get("cutover").Outputs[recoveredKey(c.plan.Name)] != "" {
		if err := c.env.State.SetOutput("cutover", recoveredKey(c.plan.Name), ""); err != nil {
			return err
		}
	}
	// The wizard's scheduler stops passing this VM: the cutover owns it
	// now. A stop while it waits for the job's pass in progress leaves the
	// job held: the rollback above releases it.
	if c.held, err = c.env.warmHold(ctx, c.plan.Name, replication.HoldCutover, cutoverHold); err != nil {
		return err
	}
	if err := c.env.recordHold(c.plan.Name, replication.HoldCutover, cutoverHold); err != nil {
		return err
	}

	switch {
	case !c.continuedFrom.IsZero():
		if err := c.offWindow(ctx); err != nil {
			return err
		}
	case c.cold:
		if err := c.coldWindow(ctx); err != nil {
			return err
		}
	default:
		if err := c.warmWindow(ctx, store); err != nil {
			return err
		}
	}
	if err := c.phase("verify", func() (string, error) {
		v, err := c.verify(ctx)
		c.rep.Verify = v
		if errors.Is(err, replication.ErrVerifyMismatch) {
			c.mismatch = err // the rollback pauses the job
		}
		if err == nil && v != nil {
			// Kept for a run that finishes this cutover after an
			// interruption past the power-on request: its report says
			// what this attempt verified.
			if b, merr := json.Marshal(keptVerify{At: time.Now(), Verify: v}); merr == nil {
				if serr := c.env.State.SetOutput("cutover", verifyKey(c.plan.Name), string(b)); serr != nil {
					return v.Detail, serr
				}
			}
		}
		return v.Detail, err
	}); err != nil {
		return err
	}
	if err := c.phase("create VM at provider", func() (string, error) { return c.createTarget(ctx) }); err != nil {
		return err
	}
	// Two VMs of the wave going into one vApp: one at a time from the
	// import to the power-on, so that neither finds the vApp half made
	// nor removes it under the other in a rollback.
	if c.vappMu != nil {
		c.vappMu.Lock()
		unlockVApp = c.vappMu.Unlock
	}
	if err := c.phase("import into vCD", func() (string, error) { return c.importTarget() }); err != nil {
		return err
	}
	if err := c.phase("connect networks", func() (string, error) { return c.connectNetworks(ctx) }); err != nil {
		return err
	}
	if c.plan.Power() == LeaveOff {
		c.rep.Note = "left powered off as planned: the downtime lasts until it is powered on"
		return c.setState(cutoverDone)
	}
	// The point of no return. Stopped before it (a signal: a dropped
	// session, SIGTERM), the cutover rolls back; past it, it is finished.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: stopped before power-on of the target: %w", c.plan.Name, err)
	}
	// From here on the target may run: written before the request is sent.
	if err := c.setState(cutoverPowerOnRequested); err != nil {
		return err
	}
	if err := c.phase("power on", func() (string, error) {
		return "", c.sys.PowerOnVM(c.vapp, c.plan.Name)
	}); err != nil {
		if errors.Is(err, vcd.ErrPowerOnRefused) && c.targetOff(ctx) {
			// Cloud Director said no and the target is off: a plain
			// failure before anything ran, rolled back.
			return err
		}
		noRollback = true
		return fmt.Errorf("%w: %w: it is not known whether the target runs in Cloud Director; the source stays off; %s", err, ErrDecisionNeeded, decisionHint(c.plan.Name))
	}
	noRollback = true
	c.rep.TargetOn = time.Now()
	unlockVApp()
	unlockVApp = func() {}
	// Past this point the target runs: never rolled back on a guess. It is
	// cut over once its probes answer; a target whose guest never answers
	// serves nobody while the source is off, and ferry cannot tell a guest
	// that did not boot from a probe path that does not reach the cloud, so
	// it stops and asks (the state stays "power-on requested").
	// A cancellation does not cut the wait short (it has its own bound,
	// greenTimeout): stopping here would leave a target that runs, and may
	// serve, as a decision for the operator.
	if err := c.phase("probes green", func() (string, error) { return c.waitGreen() }); err != nil {
		return fmt.Errorf("%w: %w: the target runs in Cloud Director but does not answer, the source stays off: %s", err, ErrDecisionNeeded, decisionHint(c.plan.Name))
	}
	return c.setState(cutoverDone)
}

// goOnFromOff begins an attempt that goes on from the source an
// interrupted cutover shut down (at continuedFrom) and left off: the outage
// until now is that cutover's (an EarlierOutage, reported apart), this
// attempt's window begins now, recorded as its shutdown would be, so that
// a ferry killed in it leaves the next retry the same choice.
func (c *vmCutover) goOnFromOff() error {
	from, now := c.continuedFrom, time.Now()
	c.rep.SourceOff = now
	c.rep.addEarlier(EarlierOutage{Start: from, End: now,
		How: fmt.Sprintf("after it shut the source down: the source stayed powered off from %s until this run went on with the cutover at %s, without powering it on again", clock(from), clock(now))})
	b, err := json.Marshal(c.rep.EarlierOutages)
	if err != nil {
		return err
	}
	if err := c.env.State.SetOutputs("cutover", map[string]string{
		earlierOutagesKey(c.plan.Name): string(b),
		shutdownKey(c.plan.Name):       now.UTC().Format(time.RFC3339Nano),
	}); err != nil {
		return err
	}
	c.emit(Warning(fmt.Sprintf("%s: the interrupted cutover shut the source down at %s UTC and it is still powered off: the cutover goes on from there without powering it on again (%.0fs of downtime so far, reported apart; if this attempt fails, the source is powered on again)",
		c.plan.Name, from.UTC().Format("15:04:05"), now.Sub(from).Seconds())))
	return nil
}

// offWindow is the window of an attempt that goes on from a source an
// interrupted cutover left off (goOnFromOff): no pre-cutover pass and no
// shutdown; the final pass (a cold migration's one pass) reads the source
// as it is, off, without a snapshot.
func (c *vmCutover) offWindow(ctx context.Context) error {
	if c.cold {
		c.rep.Mode, c.rep.ModeWhy = ModeCold, c.why
	}
	// Projected for a window with a shutdown, which this one has not.
	c.rep.Projection, c.rep.ProjectedDowntimeSeconds = nil, 0
	if c.leave != nil { // down already: nothing to line up with the wave
		c.leave()
	}
	if _, err := c.takeSlot(ctx); err != nil {
		return err
	}
	name := "final pass"
	if c.cold {
		name = "cold pass"
	}
	return c.phase(name, func() (string, error) {
		r, err := c.job.RunPass(ctx, true)
		c.rep.FinalPass = &r.Counters
		if err == nil && c.cold {
			if store, serr := c.env.replicationStore(); serr == nil {
				err = recordPass(store, c.plan.Name, r)
			}
		}
		return fmt.Sprintf("the source read off, as the interrupted cutover left it at %s UTC: %s changed, %s sent",
			c.continuedFrom.UTC().Format("15:04:05"), Bytes(r.Counters.Planned), Bytes(r.Counters.Sent)), err
	})
}

// Pre-cutover passes. The final pass carries what the guest writes while
// the last pre-cutover pass runs (and during the shutdown): after a long
// pass (a replica far behind, as right after an initial sync, or a full
// compare) another one runs while the VM is still up, as long as they get
// shorter, at most maxPreCutoverPasses in all.
const (
	maxPreCutoverPasses = 3
	// preCutoverSettled: a pass this short leaves the final pass little.
	preCutoverSettled = time.Second
)

// anotherPreCutoverPass says whether the cutover runs another pre-cutover
// pass after passes that took took (in order): the last took longer than
// preCutoverSettled and, after the first, at most 3/4 of the one before
// (still converging; a guest writing as fast as a pass copies does not
// wait for a pass that never gets shorter).
func anotherPreCutoverPass(took []time.Duration) bool {
	n := len(took)
	if n == 0 {
		return true
	}
	if n >= maxPreCutoverPasses || took[n-1] <= preCutoverSettled {
		return false
	}
	return n == 1 || took[n-1] <= took[n-2]*3/4
}

// preCutoverPass runs one pass while the VM runs (a full compare too if
// none ran within verify_every, so the final verify builds on a recent one)
// and records it.
func (c *vmCutover) preCutoverPass(ctx context.Context, store *replication.StateStore) (string, time.Duration, error) {
	compare, err := c.compareDue(store)
	if err != nil {
		return "", 0, err
	}
	start := time.Now()
	r, err := c.job.RunPassWith(ctx, replication.PassOptions{Compare: compare})
	took := time.Since(start)
	c.rep.PreCutoverPass = &r.Counters
	c.rep.PreCutoverPasses++
	if err == nil {
		err = recordPass(store, c.plan.Name, r)
	}
	detail := fmt.Sprintf("%s changed, %s sent", Bytes(r.Counters.Planned), Bytes(r.Counters.Sent))
	if r.Compare != nil {
		detail += "; full compare: " + compareText(r.Compare)
	}
	return detail, took, err
}

// neverDown says whether this run's attempt, begun in state, left the
// VM's service as it found it: no shutdown, no target powered on, no
// cutover interrupted before it, no outage an earlier run left.
func (c *vmCutover) neverDown(state string) bool {
	return state != cutoverRunning && state != cutoverPowerOnRequested && c.rep.SourceOff.IsZero() &&
		c.rep.TargetOn.IsZero() && len(c.rep.EarlierOutages) == 0
}

// errNotStarted: a VM of a wave stopped before its cutover began (waiting
// for its place among the VMs preparing): nothing was done to it.
var errNotStarted = errors.New("not started")

// stoppedBeforeShutdown is a cutover stopped in its checks, before it
// changed anything: the source runs on as it did (the report's "stopped
// before the shutdown", as for one rolled back before its shutdown).
type stoppedBeforeShutdown struct{ error }

func (e stoppedBeforeShutdown) Unwrap() error { return e.error }

// slotCatchUp: a VM that waited this long for its place among the wave's
// downtime windows passes once more before its shutdown (what changed
// during the wait would otherwise be in its final pass, in the window).
const slotCatchUp = time.Second

// parallelWindows names the bound a VM waits for in progress lines.
const parallelWindows = "cutover.parallel windows"

// takeSlot waits for the VM's place among the wave's downtime windows
// (slot) and reports a wait.
func (c *vmCutover) takeSlot(ctx context.Context) (time.Duration, error) {
	if c.slot == nil {
		return 0, nil
	}
	waited, err := c.slot(ctx)
	if err != nil {
		return waited, fmt.Errorf("%s: waiting for a place among the wave's %s: %w", c.plan.Name, parallelWindows, err)
	}
	if waited >= 10*time.Millisecond {
		c.emit(Progress(fmt.Sprintf("%s: waited %.1fs for a place among the wave's %s", c.plan.Name, waited.Seconds(), parallelWindows), -1))
	}
	return waited, nil
}

// waveReady waits until the wave's other VMs preparing beside it are ready to
// shut down too (waveGate; at once for a VM cut over alone) and says how
// long it waited; a wait is reported.
func (c *vmCutover) waveReady(ctx context.Context) time.Duration {
	if c.ready == nil {
		return 0
	}
	waited := c.ready(ctx)
	if waited >= 10*time.Millisecond {
		c.emit(Progress(fmt.Sprintf("%s: waited %.1fs for the wave's other VMs to be ready to shut down", c.plan.Name, waited.Seconds()), -1))
	}
	return waited
}

// outgrown: how much longer than the downtime the cutover was confirmed
// with (and at least twice as long) the pre-cutover passes may make it
// before the cutover stops short of the shutdown (stillAsConfirmed).
const outgrown = 10 * time.Second

// stillAsConfirmed stops the cutover before the shutdown when the
// pre-cutover passes (which took took) showed the guest writing faster
// than they copy: the last of them took outgrown or more, and the
// downtime projected again from them (the final pass,
// which runs with the VM off, carries what the guest writes) is more than
// twice, and outgrown more than, the projection the cutover was confirmed
// with (QA: passes that never got shorter led to a shutdown all the same,
// and the downtime was the slow final pass, not the seconds projected).
// Confirming again projects from these passes.
func (c *vmCutover) stillAsConfirmed(store *replication.StateStore, took []time.Duration) error {
	confirmed := c.rep.Projection
	if confirmed == nil || store == nil || len(took) == 0 || took[len(took)-1] < outgrown {
		// A last pass this short leaves the final pass little, whatever
		// a projection from few passes says (CI: a 2.2 s pass of 448 KiB,
		// mostly its fixed cost, measured a throughput that projected a
		// final pass of 74 s).
		return nil
	}
	was, ok := confirmed.FinalPass()
	if !ok {
		return nil
	}
	vs, err := store.VM(c.plan.Name)
	if err != nil {
		return nil // the projection is advice: nothing to compare with
	}
	est := projectDowntime(c.plan, c.env.Plan().unwatched(c.plan.Name), vs, c.env.cutoverHistory(), diskCapacity(store, c.plan.Name), c.env.Plan().BandwidthMbit)
	now, ok := est.FinalPass()
	if grew := est.TotalSeconds - confirmed.TotalSeconds; !ok || grew < outgrown.Seconds() || grew < confirmed.TotalSeconds {
		return nil
	}
	var secs []string
	for _, d := range took {
		secs = append(secs, fmt.Sprintf("%.1fs", d.Seconds()))
	}
	return fmt.Errorf("%s: not shut down: the guest writes about as fast as the passes copy (pre-cutover passes of %s): the final pass, with the VM off, is now projected at ~%s (%s), not ~%s: downtime ~%s, not the ~%s projected when the cutover was confirmed. Cut over when the guest writes less, or with more bandwidth (bandwidth_mbit), or confirm again to accept the longer downtime (the projection then starts from these passes)",
		c.plan.Name, strings.Join(secs, ", "), now.Figure(), now.From, was.Figure(),
		roundSecs(est.TotalSeconds), roundSecs(confirmed.TotalSeconds))
}

// warmWindow is the start of a warm VM's cutover window: pre-cutover
// passes while it runs, the shutdown, the final pass with the VM off.
func (c *vmCutover) warmWindow(ctx context.Context, store *replication.StateStore) error {
	var took []time.Duration
	if err := c.phase("pre-cutover pass", func() (string, error) {
		var details []string
		for anotherPreCutoverPass(took) {
			detail, d, err := c.preCutoverPass(ctx, store)
			took = append(took, d)
			details = append(details, detail)
			if err != nil {
				return strings.Join(details, "; then "), err
			}
		}
		if len(took) == 1 {
			return details[0], nil
		}
		var secs []string
		for _, d := range took {
			secs = append(secs, fmt.Sprintf("%.1fs", d.Seconds()))
		}
		return fmt.Sprintf("%d passes (%s): %s", len(took), strings.Join(secs, ", "), strings.Join(details, "; then ")), nil
	}); err != nil {
		return err
	}
	if err := c.stillAsConfirmed(store, took); err != nil {
		return err
	}
	// No pass after waiting at the gate: it would stagger the shutdowns
	// again (the last VM to be ready goes at once); the final pass carries
	// the wait.
	c.waveReady(ctx)
	// A VM past cutover.parallel prepared while others were in their
	// windows; a long wait for its own is caught up while it still runs.
	waited, err := c.takeSlot(ctx)
	if err != nil {
		return err
	}
	if waited >= slotCatchUp {
		if err := c.phase("catch-up pass", func() (string, error) {
			detail, _, err := c.preCutoverPass(ctx, store)
			return fmt.Sprintf("after %.1fs waiting for a place among the wave's %s: %s", waited.Seconds(), parallelWindows, detail), err
		}); err != nil {
			return err
		}
	}
	if err := c.shutdown(ctx, "guest shut down"); err != nil {
		return err
	}
	if err := c.phase("final pass", func() (string, error) {
		r, err := c.job.RunPass(ctx, true)
		c.rep.FinalPass = &r.Counters
		return fmt.Sprintf("%s changed, %s sent", Bytes(r.Counters.Planned), Bytes(r.Counters.Sent)), err
	}); err != nil {
		return err
	}
	return nil
}

// targetOff reports whether the provider vCenter says the target is powered
// off (false when that cannot be read).
func (c *vmCutover) targetOff(ctx context.Context) bool {
	if c.target == nil {
		return false
	}
	st, err := c.provider.PowerState(ctx, *c.target)
	return err == nil && st == vsphere.PoweredOff
}

// resume handles a cutover that stopped after power-on was requested: the
// target may be serving, so it is never rolled back without a decision.
// With no decision, a target that runs and answers its probes finishes the
// cutover; anything else stops and asks.
func (c *vmCutover) resume(ctx context.Context, decision string) error {
	c.emit(Warning(c.plan.Name + ": a previous cutover stopped after power-on of the target was requested; checking the target"))
	var err error
	if c.held, err = c.env.warmHold(ctx, c.plan.Name, replication.HoldCutover, cutoverHold); err != nil {
		return err
	}
	if err := c.env.recordHold(c.plan.Name, replication.HoldCutover, cutoverHold); err != nil {
		return err
	}
	if ref, ok, err := c.env.findTarget(ctx, c.provider, c.plan.Name); err != nil {
		return err
	} else if ok {
		c.target = &ref
		// Named in the report also when the run stops for a decision:
		// the operator looks for it in the vSphere client.
		c.readProviderName(ctx)
	}
	vdc, err := c.sys.VDCByName(c.env.Plan().Org, c.env.Plan().VDC)
	if err != nil {
		return err
	}
	status := "not imported"
	if vapp, err := vdc.VApp(c.plan.TargetVApp); err == nil && hasVM(vapp, c.plan.Name) {
		c.vapp, c.createdVApp = vapp, len(otherVMs(vapp, c.plan.Name)) == 0
		if status, err = c.sys.VMStatus(vapp, c.plan.Name); err != nil {
			return err
		}
	}
	srcState := "unknown"
	if src, err := c.onprem.VMByName(ctx, c.plan.Name); err == nil {
		c.src, srcState = src, string(src.PowerState)
	}
	where := fmt.Sprintf("the target in vApp %s is %s, the source is %s", c.plan.TargetVApp, status, srcState)

	switch decision {
	case CutoverRollback:
		c.rep.RolledBack = true
		began := time.Now()
		var outage string
		if err := c.phase("roll back", func() (string, error) {
			return "as decided: the target removed, the replica disks kept, the source powered on", c.rollback(context.WithoutCancel(ctx))
		}); err != nil {
			c.rep.RollbackError = err.Error()
			return fmt.Errorf("%s: rollback as decided (%s): %w", c.plan.Name, where, err)
		}
		poweredOn := time.Now()
		if srcState != string(vsphere.PoweredOn) {
			// The report measures this run's outage to its end.
			c.awaitSourceBack(poweredOn)
		}
		if off := c.env.interruptedShutdown(c.plan.Name); !off.IsZero() && !c.leaveOff {
			// Down since the interrupted cutover's shutdown: until the
			// source was back (powered on again before this run by a
			// rollback killed after its power-on, or by hand; or by this
			// rollback, until it answered), or, the target found running,
			// at most until this rollback removed it (what came after is
			// this run's own outage, measured by the probes).
			var end time.Time
			var how string
			switch on := backOnSince(c.src, off); {
			case srcState == string(vsphere.PoweredOn) && !on.IsZero():
				end, how = on, fmt.Sprintf("after power-on of the target was requested: the source was off from %s until it was powered on again at %s, before this rollback (by a ferry run that stopped before it saved its report, or by hand)", clock(off), clock(on))
			case status == "POWERED_ON":
				end, how = began, fmt.Sprintf("after power-on of the target was requested: the source was off from %s; the target ran until this rollback began at %s and may have served meanwhile", clock(off), clock(began))
			case !c.rep.ServiceBack.IsZero():
				end, how = c.rep.ServiceBack, fmt.Sprintf("after power-on of the target was requested: the source was off from %s until this rollback powered it on again at %s, answering again at %s", clock(off), clock(poweredOn), clock(c.rep.ServiceBack))
			default:
				end, how = poweredOn, fmt.Sprintf("after power-on of the target was requested: the source was off from %s until this rollback powered it on again at %s", clock(off), clock(poweredOn))
			}
			o, err := c.earlier(off, end, status == "POWERED_ON", how)
			if err != nil {
				return err
			}
			// QA: the outage was in the report only.
			outage = fmt.Sprintf("; the interrupted cutover had left the source powered off from %s UTC (%s%.0fs of downtime)", off.UTC().Format("15:04:05"), o.bound(), o.seconds())
		}
		if err := c.setState(cutoverRolledBack); err != nil {
			return err
		}
		return decidedRollback{fmt.Sprintf("%s: cutover rolled back as decided (--rollback): running on-prem again, its replica disks are kept and replication can continue%s", c.plan.Name, outage)}
	case CutoverFinish, "":
	default:
		return fmt.Errorf("cutover decision %q: want %q or %q", decision, CutoverFinish, CutoverRollback)
	}
	if c.vapp == nil {
		if decision == CutoverFinish {
			// Nothing in Cloud Director to keep (a rollback interrupted
			// after it removed the target leaves this).
			return fmt.Errorf("%s: %w: %s: there is no target in Cloud Director to finish with; complete the rollback with `ferry run --confirm-cutover=%s --rollback` (the replica disks are kept)", c.plan.Name, ErrDecisionNeeded, where, c.plan.Name)
		}
		return fmt.Errorf("%s: %w: %s: %s", c.plan.Name, ErrDecisionNeeded, where, decisionHint(c.plan.Name))
	}
	if lacks, err := c.targetLacksDisks(ctx); err != nil {
		return err
	} else if lacks != "" {
		// A rollback interrupted after it detached the replica disks
		// (kept on the datastore), or disks removed by hand: powered on,
		// the target would boot without its disks and serve nothing.
		return fmt.Errorf("%s: %w: %s, but %s (a rollback interrupted after it detached the replica disks, which stay on the datastore, leaves this): it cannot be finished; roll back with `ferry run --confirm-cutover=%s --rollback`",
			c.plan.Name, ErrDecisionNeeded, where, lacks, c.plan.Name)
	}
	if c.src.PoweredOn() {
		return fmt.Errorf("%s: %w: %s; two copies must never run: shut one down, then %s", c.plan.Name, ErrDecisionNeeded, where, decisionHint(c.plan.Name))
	}
	if status != "POWERED_ON" {
		if decision != CutoverFinish {
			return fmt.Errorf("%s: %w: %s: %s", c.plan.Name, ErrDecisionNeeded, where, decisionHint(c.plan.Name))
		}
		if err := c.phase("power on", func() (string, error) { return "as decided (--finish)", c.sys.PowerOnVM(c.vapp, c.plan.Name) }); err != nil {
			return fmt.Errorf("%w; the cutover still waits for a decision: %s", err, decisionHint(c.plan.Name))
		}
	}
	c.rep.TargetOn = time.Now()
	if decision == CutoverFinish {
		c.rep.Decided = CutoverFinish
	}
	c.keptVerify()
	// The service has been down since the interrupted cutover shut the
	// source down: until this run, or, the target found running, at most
	// that long.
	if off := c.env.interruptedShutdown(c.plan.Name); !off.IsZero() {
		how := fmt.Sprintf("after power-on of the target was requested: the source has been off since %s and the target was off when this run began at %s", clock(off), clock(c.rep.Started))
		if status == "POWERED_ON" {
			how = fmt.Sprintf("after power-on of the target was requested: the source has been off since %s and this run found the target running at %s (it may have served earlier)", clock(off), clock(c.rep.Started))
		}
		if _, err := c.earlier(off, c.rep.Started, status == "POWERED_ON", how); err != nil {
			return err
		}
	}
	// A cancellation does not cut the wait short (it has its own bound,
	// greenTimeout): stopping here would leave a target that runs, and may
	// serve, as a decision for the operator.
	if err := c.phase("probes green", func() (string, error) { return c.waitGreen() }); err != nil {
		if decision == CutoverFinish {
			if serr := c.setState(cutoverDone); serr != nil {
				return serr
			}
			return fmt.Errorf("%w (cutover finished as decided: the VM runs in Cloud Director)", err)
		}
		return fmt.Errorf("%w: %w: %s: %s", err, ErrDecisionNeeded, where, decisionHint(c.plan.Name))
	}
	c.rep.Note = "finished after an interruption: the target was found running and answering its probes"
	if decision == CutoverFinish {
		c.rep.Note = "finished as decided (--finish) after an interruption"
	}
	return c.setState(cutoverDone)
}

// keptVerify is what the interrupted attempt's verify found, kept in the
// state under verifyKey.
type keptVerify struct {
	At     time.Time     `json:"at"`
	Verify *VerifyReport `json:"verify"`
}

func verifyKey(vm string) string { return "verify." + vm }

// keptVerify puts the verify of the attempt a run finishes (it ran before
// the power-on request the attempt was interrupted after) in the report.
func (c *vmCutover) keptVerify() {
	var k keptVerify
	if c.rep.Verify != nil || json.Unmarshal([]byte(c.env.State.Get("cutover").Outputs[verifyKey(c.plan.Name)]), &k) != nil || k.Verify == nil {
		return
	}
	v := *k.Verify
	v.Detail = "by the interrupted attempt, at " + clock(k.At) + ": " + v.Detail
	c.rep.Verify = &v
}

func (c *vmCutover) connect(ctx context.Context, withJob bool) error {
	var err error
	if c.onprem, err = c.env.OnPrem(ctx); err != nil {
		return err
	}
	if c.provider, err = c.env.ProviderVC(ctx); err != nil {
		return err
	}
	if c.sys, err = c.env.VCD(ctx); err != nil {
		return err
	}
	if !withJob {
		return nil
	}
	c.job, c.src, err = c.env.job(ctx, c.plan.Name, progressEmitter(c.emit, c.plan.Name))
	return err
}

// capturedDisksThere refuses, before the source stops, a cutover whose
// captured configuration has a disk where the source has none now: the
// target is built from that configuration, over the replicas of the
// source's disks. (A disk added to the source is in the configuration
// already: the job followed it, followDisks.)
func (c *vmCutover) capturedDisksThere(ctx context.Context) error {
	cfg, ok, err := savedVMConfig(c.env.State, c.plan.Name)
	if err != nil || !ok {
		return err
	}
	now, err := c.onprem.VMConfig(ctx, c.src.Ref)
	if err != nil {
		return err
	}
	for _, d := range cfg.Disks {
		if !hasDiskAt(now, d) {
			return fmt.Errorf("%s (%s, %s at %s) was captured at VM selection and the source has no disk there now, so the target cannot be built as captured: attach the disk to the source again, or run VM selection again to capture the source as it is now (the wizard's step 5, or ferry run --redo vm-selection); nothing was changed",
				cmp.Or(d.Label, "a disk"), d.File, Bytes(d.Capacity), d.Position())
		}
	}
	return nil
}

func (c *vmCutover) createTarget(ctx context.Context) (string, error) {
	// The replica of each source disk, by the source disk's file: the
	// provider vCenter's disks, detached from the receiver appliance (no
	// file operation, no copy) so that the target can take them.
	replicas := map[string]string{}
	for i, f := range c.env.replicaFiles(c.plan.Name, c.src.Disks) {
		replicas[c.src.Disks[i].File] = f.Path
	}
	if err := c.env.releaseReplicas(ctx, c.plan.Name, c.src.Disks); err != nil {
		return "", err
	}
	// Built from the source's captured configuration (targetSpec).
	spec, cfg, err := c.targetSpec(ctx, replicas)
	if err != nil {
		return "", err
	}
	ref, err := c.provider.CreateVMOverDisks(ctx, spec)
	if err != nil {
		var unfinished *vsphere.CreateUnfinishedError
		if errors.As(err, &unfinished) {
			c.createPending = unfinished
		}
		return "", err
	}
	c.target = &ref
	// Recorded before the import: Cloud Director may rename the VM it
	// adopts in vCenter; an interrupted cutover's cleanup, a resumed one and
	// a guest probe from the VM find it by this reference.
	if err := c.env.State.SetOutput("cutover", targetKey(c.plan.Name), ref.Value); err != nil {
		return "", err
	}
	// Named as ferry created it, not read again inside the downtime window:
	// the closing line and the report name it as vCenter shows it after.
	c.rep.ProviderVM = fmt.Sprintf("%s [%s]", spec.Name, ref.Value)
	return fmt.Sprintf("%s [%s] over %d replica disk(s) as the source: %s, %d controller(s), %d NIC(s)", spec.Name, ref.Value, len(spec.Disks), cfg.Summary(), len(cfg.Controllers), len(cfg.NICs)), nil
}

// readProviderName reads how the provider vCenter shows the target now
// (Cloud Director renames the VM it adopts, "WebApp2 (<id>)") and keeps it
// for the report: its name there with its moref beside it, "WebApp2 (<id>)
// [vm-54]", so that an admin finds it in the vSphere client (a moref alone
// is found nowhere there). When the name cannot be read (a rollback
// removed the VM) the report keeps what it had: the name ferry created the
// VM with, or the moref alone.
func (c *vmCutover) readProviderName(ctx context.Context) {
	if c.target == nil || c.provider == nil {
		return
	}
	name, ok, err := c.provider.VMByRef(ctx, *c.target)
	switch {
	case err == nil && ok:
		c.rep.ProviderVM = fmt.Sprintf("%s [%s]", name, c.target.Value)
	case c.rep.ProviderVM == "":
		c.rep.ProviderVM = c.target.Value
	}
}

// nameAtProvider is the provider VM ref as the provider vCenter shows it
// now, "<name> [<moref>]", or its moref alone when its name cannot be read.
func (c *vmCutover) nameAtProvider(ctx context.Context, ref vsphere.Ref) string {
	name, ok, err := c.provider.VMByRef(ctx, ref)
	if err != nil || !ok {
		c.env.Log.Info("provider VM's name not read", "vm", c.plan.Name, "ref", ref.Value, "found", ok, "err", err)
		return ref.Value
	}
	return fmt.Sprintf("%s [%s]", name, ref.Value)
}

func (c *vmCutover) importTarget() (string, error) {
	u, err := vsphere.ParseURL(c.env.Config.Provider.URL)
	if err != nil {
		return "", fmt.Errorf("provider vCenter URL: %w", err)
	}
	vc, err := c.sys.VirtualCenterFor(u.Host)
	if err != nil {
		return "", err
	}
	vdc, err := c.sys.VDCByName(c.env.Plan().Org, c.env.Plan().VDC)
	if err != nil {
		return "", err
	}
	opts, err := c.importOptions(vdc)
	if err != nil {
		return "", err
	}
	if existing, err := vdc.VApp(c.plan.TargetVApp); err == nil {
		if err := c.sys.ImportVMIntoVApp(vc, c.target.Value, existing, opts); err != nil {
			return "", err
		}
		c.vapp = existing
		return "into existing vApp " + c.plan.TargetVApp, nil
	}
	vapp, err := c.sys.ImportVMAsVApp(vc, c.target.Value, vdc, c.plan.TargetVApp, opts)
	if err != nil {
		return "", err
	}
	c.vapp, c.createdVApp = vapp, true
	return "as new vApp " + c.plan.TargetVApp + " (disks not copied)", nil
}

// probeNames are the probes that watch this VM alone (PlanFile.probesOf).
func (c *vmCutover) probeNames() []string {
	own, _ := c.env.Plan().probesOf(c.plan.Name)
	return own
}

// hurry probes this VM's probes (its own, or the plan's untagged ones, and
// those of several VMs it is one of) every FastInterval from now until its
// cutover ends: the window's outage and the first answer after it are
// measured to within that, not the probe interval.
func (c *vmCutover) hurry() {
	if c.unhurry != nil || c.mon == nil {
		return
	}
	names := c.probeNames()
	for i, p := range c.env.Plan().Probes {
		if deps := p.deps(); len(deps) > 1 && slices.Contains(deps, c.plan.Name) {
			names = append(names, p.label(i))
		}
	}
	c.unhurry = c.mon.Hurry(names...)
}

// waitGreen waits for the VM's probes past the point of no return: a
// cancellation does not stop it (the target may be serving; see Apply).
func (c *vmCutover) waitGreen() (string, error) {
	c.hurry()
	names := c.probeNames()
	if len(names) == 0 {
		c.rep.ServiceBack = c.rep.TargetOn
		switch c.rep.Unwatched = c.env.Plan().unwatched(c.plan.Name); c.rep.Unwatched {
		case "":
			c.rep.Unwatched = "only probes of several VMs watch this VM"
			return c.rep.Unwatched + ": they are judged once all of their VMs are up", nil
		case unwatchedVM:
			// QA: it said "no probe watches this VM alone (judged with the
			// wave)" of a VM no probe watches at all.
			return c.rep.Unwatched + ": its downtime is not measured (a probe of it goes in the plan's probes:, or step 5's service probes)", nil
		}
		return c.rep.Unwatched, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	back, red, err := awaitAnswers(context.Background(), c.mon, names, c.rep.TargetOn, time.Now().Add(c.greenTimeout), c.interval)
	if err != nil {
		return "", err
	}
	if len(red) > 0 {
		return "", fmt.Errorf("probes still not answering after %s: %v; the VM runs in vCD: check its network", c.greenTimeout, red)
	}
	c.rep.ServiceBack = back
	return fmt.Sprintf("%d probe(s) answering", len(names)), nil
}

// awaitSourceBack waits, once a rollback powered the source on again at
// since, until the VM's own probes answer (up to the green timeout), so
// that the report measures the outage to its end (ServiceBack) instead of
// leaving it "not over". Probes still silent then are said in the phase's
// detail, not made an error: the rollback is done, and the source's guest
// may take its time to boot.
func (c *vmCutover) awaitSourceBack(since time.Time) {
	names := c.probeNames()
	if c.mon == nil || len(names) == 0 || c.leaveOff {
		return
	}
	c.hurry()
	_ = c.phase("source answering", func() (string, error) {
		back, red, err := awaitAnswers(context.Background(), c.mon, names, since, time.Now().Add(c.greenTimeout), c.interval)
		if err != nil {
			return "", err
		}
		if len(red) > 0 {
			return fmt.Sprintf("%s not answering %s after the source was powered on again: check the source", strings.Join(red, ", "), c.greenTimeout), nil
		}
		c.rep.ServiceBack = back
		return fmt.Sprintf("%d probe(s) answering again", len(names)), nil
	})
}

// awaitAnswers waits until every probe of names answers probes sent after
// since, or deadline. It wakes at each sample of the monitor (and every
// poll at the latest) and returns when the last of them began answering
// (the arrival of its first answer, Monitor.AnsweringSince), or those still
// not answering at the deadline.
func awaitAnswers(ctx context.Context, mon *probe.Monitor, names []string, since, deadline time.Time, poll time.Duration) (time.Time, []string, error) {
	events := mon.Subscribe(64)
	defer mon.Unsubscribe(events)
	for {
		var back time.Time
		var red []string
		for _, n := range names {
			at, ok := mon.AnsweringSince(n, since)
			if !ok {
				red = append(red, n)
			} else if at.After(back) {
				back = at
			}
		}
		if len(red) == 0 {
			return back, nil, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, red, nil
		}
		tm := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			tm.Stop()
			return time.Time{}, nil, ctx.Err()
		case _, open := <-events:
			if !open {
				events = nil // the monitor stopped: the timer alone
			}
		case <-tm.C:
		}
		tm.Stop()
	}
}

// unreportedKey is the cutover step's output that keeps a VM's cutover
// report (JSON) from the end of its cutover until a report file holds it.
func unreportedKey(vm string) string { return "unreported." + vm }

// keepUnreported keeps r in the state until the report is saved.
func (e *Env) keepUnreported(r VMReport) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.State.SetOutput("cutover", unreportedKey(r.VM), string(b))
}

// savedReportHolds says whether a downtime report saved beside the state
// holds r's section already: the run that kept r was killed after it saved
// its report and before it recorded so.
func (e *Env) savedReportHolds(r VMReport) bool {
	dir := "."
	if e.State.Path() != "" {
		dir = filepath.Dir(e.State.Path())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cutover-*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var rep CutoverReport
		if json.Unmarshal(b, &rep) != nil {
			continue
		}
		for _, v := range rep.VMs {
			if v.VM == r.VM && v.Started.Equal(r.Started) {
				// Killed between the report's two files: the Markdown
				// is written from the JSON, which holds all of it.
				md := strings.TrimSuffix(f, ".json") + ".md"
				if _, err := os.Stat(md); errors.Is(err, fs.ErrNotExist) {
					err := writeFileAtomic(md, []byte(rep.Markdown()), 0o600)
					e.Log.Info("downtime report's Markdown written from its JSON (a run was killed between the two)", "report", md, "err", err)
				}
				return true
			}
		}
	}
	return false
}

// unreportedCutover is vm's cutover report a run kept and did not save.
func (e *Env) unreportedCutover(vm string) (VMReport, bool) {
	var r VMReport
	v := e.State.Get("cutover").Outputs[unreportedKey(vm)]
	if v == "" || json.Unmarshal([]byte(v), &r) != nil {
		return r, false
	}
	r.upgrade()
	return r, true
}

// earlierOutagesKey is the cutover step's output that keeps (JSON) the
// outages interrupted cutovers left a VM's service, from when a run finds
// one until a saved report holds it: a run killed in between (after it
// powered the source on again, or once its own attempt began and the
// shutdown it found was no longer recorded) loses none.
func earlierOutagesKey(vm string) string { return "earlier_outages." + vm }

// keptEarlierOutages are the outages kept under earlierOutagesKey.
func (e *Env) keptEarlierOutages(vm string) []EarlierOutage {
	var out []EarlierOutage
	if v := e.State.Get("cutover").Outputs[earlierOutagesKey(vm)]; v != "" {
		_ = json.Unmarshal([]byte(v), &out)
	}
	return out
}

// earlier records o, an outage an interrupted cutover left, in the report
// and in the state (before anything else can happen to the VM).
func (c *vmCutover) earlier(start, end time.Time, atMost bool, how string) (EarlierOutage, error) {
	o := EarlierOutage{Start: start, End: end, AtMost: atMost, How: how}
	c.rep.addEarlier(o)
	b, err := json.Marshal(c.rep.EarlierOutages)
	if err != nil {
		return o, err
	}
	return o, c.env.State.SetOutput("cutover", earlierOutagesKey(c.plan.Name), string(b))
}

// backOnSince is when src, read powered on, was powered on again after the
// shutdown an interrupted cutover began at off (zero: it was not, or its
// boot time is unknown): by a run killed before it saved its report, or
// by hand.
func backOnSince(src vsphere.VM, off time.Time) time.Time {
	if off.IsZero() || !src.PoweredOn() || !src.BootTime.After(off) {
		return time.Time{}
	}
	return src.BootTime
}

// targetLacksDisks says, when the target VM at the provider holds fewer
// disks than the source has (a rollback interrupted after it detached the
// replica disks, or disks removed by hand), how many it holds ("" when it
// holds them all, or there is no target or source read to compare). Disks
// are counted, not named: Cloud Director may move an imported VM's files.
func (c *vmCutover) targetLacksDisks(ctx context.Context) (string, error) {
	if c.target == nil || len(c.src.Disks) == 0 {
		return "", nil
	}
	files, err := c.provider.DiskFilesOf(ctx, *c.target)
	if err != nil {
		return "", fmt.Errorf("%s: read the target's disks: %w", c.plan.Name, err)
	}
	if len(files) >= len(c.src.Disks) {
		return "", nil
	}
	return fmt.Sprintf("the target holds %d of the source's %d disks", len(files), len(c.src.Disks)), nil
}

// rollback removes what the cutover made in vCD and at the provider and
// powers the source on again. The replica disks are detached from the
// target in vCenter before anything is deleted (Cloud Director deletes a
// VM's attached disks with the VM or its vApp, and so does vCenter's
// Destroy); if they cannot be detached, nothing is deleted.
func (c *vmCutover) rollback(ctx context.Context) error {
	var errs []error
	if c.target == nil && c.createPending != nil {
		// Known before anything is removed: the VM the create made holds
		// the replica disks.
		if err := c.settleCreate(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	imported := c.vapp != nil && hasVM(c.vapp, c.plan.Name)
	if imported && c.target == nil {
		return fmt.Errorf("%s is in vApp %s but its VM in the provider vCenter was not found: nothing deleted, so that its disks (the replica) cannot be lost; detach them and remove the VM by hand", c.plan.Name, c.vapp.Name())
	}
	if imported {
		// Off through Cloud Director, so that it knows; nothing deleted.
		if err := c.sys.UndeployVM(c.vapp, c.plan.Name); err != nil {
			return fmt.Errorf("power off the target: %w (nothing deleted)", err)
		}
	}
	if c.target != nil {
		files, err := c.provider.DetachDisks(ctx, *c.target)
		if err != nil {
			return fmt.Errorf("detach the replica disks from the target: %w (nothing deleted)", err)
		}
		if len(files) > 0 {
			c.emit(Progress(fmt.Sprintf("%s: replica disks detached from the target, kept: %s", c.plan.Name, strings.Join(files, ", ")), -1))
		}
	}
	if c.vapp != nil && c.createdVApp {
		// Made by this cutover, but another VM may have gone into it
		// since: then it stays, with that VM.
		if err := c.vapp.Refresh(); err == nil && len(otherVMs(c.vapp, c.plan.Name)) > 0 {
			c.createdVApp = false
		}
	}
	switch {
	case c.vapp != nil && c.createdVApp:
		// Ours: holds our VM (its disks detached above) or nothing.
		if err := c.sys.RemoveVApp(c.vapp); err != nil {
			errs = append(errs, err)
		}
	case imported:
		// An existing vApp keeps its other VMs: remove only ours.
		if err := c.sys.RemoveVM(c.vapp, c.plan.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if c.target != nil {
		// Gone already when Cloud Director deleted it.
		if err := c.provider.DestroyKeepDisks(ctx, *c.target); err != nil {
			errs = append(errs, err)
		}
	}
	if c.leaveOff || c.keepSourceOff {
		// A cold migration of a VM that was off: it stays off. Or the
		// cleanup before a retry that goes on from the source off.
	} else if err := c.settleShutdown(ctx); err != nil {
		errs = append(errs, err)
	} else if err := c.onprem.EnsurePoweredOn(ctx, c.src.Ref); err != nil {
		errs = append(errs, err)
	} else if !c.rep.SourceOff.IsZero() {
		c.rep.SourceBackOn = time.Now()
	}
	// Replication goes on: the replica disks back to the receiver appliance.
	if err := c.env.reattachReplicas(ctx, c.plan.Name, c.src.Disks, c.createPending != nil); err != nil {
		errs = append(errs, fmt.Errorf("hot-add the replica disks to the receiver appliance again: %w", err))
	}
	if (len(errs) > 0 && c.keepHoldOnError) || c.keepSourceOff {
		// The cleanup of an interrupted cutover that failed: its hold
		// stays with its state (running), for the next attempt. Or one
		// whose retry goes on from the source off: the retry holds the
		// job (no pass of the scheduler between them).
		return errors.Join(errs...)
	}
	switch {
	case c.mismatch != nil:
		// No pass builds on a replica known to differ from its source.
		if err := c.env.pauseForMismatch(c.plan.Name, c.mismatch); err != nil {
			errs = append(errs, fmt.Errorf("pause replication after the verify mismatch: %w", err))
		}
	case c.held:
		if err := c.env.warmRelease(c.plan.Name, replication.HoldCutover); err != nil {
			errs = append(errs, err)
		}
	default:
		// The wizard's scheduler follows it again: it did not while its
		// cutover was found interrupted (a VM cutting over is no job of
		// replication; QA: after ctrl+r, nothing replicated it until the
		// wizard was restarted, and its RPO was missed). It takes the job
		// first, still held, so that the release below goes through it and
		// says so (QA: the sidebar read "held" until the job's next pass,
		// up to an RPO later, the scheduler having taken the job released
		// in its record without a word).
		if c.env.warm != nil {
			if err := c.env.warmJob(context.WithoutCancel(ctx), c.plan); err != nil {
				errs = append(errs, fmt.Errorf("replicate %s again: %w", c.plan.Name, err))
			}
		}
		// The replica is back with replication: a hold a ferry killed
		// during this VM's cutover left on the job ends with it.
		if err := c.env.releaseHold(c.plan.Name, replication.HoldCutover, staleHoldText(replication.HoldCutover, "its rollback gave the replica back: replication resumes")); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// createSettleTimeout bounds the rollback's wait for a CreateVM task that
// was still running when the cutover stopped (vCenter makes a VM in
// seconds).
const createSettleTimeout = 2 * time.Minute

// settleCreate, in a rollback, waits (at most createSettleTimeout) for the
// end of the CreateVM task this attempt stopped waiting for, and makes the
// VM it made the target, which the rollback then removes, its replica disks
// detached first. Only that task's VM: never one found by its name. (With
// the call itself cut off, no task known: settleCutCreate.) An
// error (nothing of it removed) when the task cannot be followed to its
// end; the cutover's state then stays running, and the next run's cleanup
// removes what it left.
func (c *vmCutover) settleCreate(ctx context.Context) error {
	p := c.createPending
	if p.Task.Value == "" {
		return c.settleCutCreate(ctx)
	}
	until := time.Now().Add(createSettleTimeout)
	c.emit(Progress(fmt.Sprintf("%s: the provider vCenter's task creating the target (%s) was still running when the cutover stopped: waiting until %s UTC for it to end, to remove the VM it makes (its replica disks kept)",
		c.plan.Name, p.Task.Value, until.UTC().Format("15:04:05")), -1))
	ref, ok, err := c.provider.CreatedVM(ctx, p.Task, until)
	if err != nil {
		return fmt.Errorf("the provider vCenter's task creating the target %s (%s), still running when the cutover stopped, was not seen to end (%w): the VM it may make is this cutover's, over the replica disks; nothing of it was removed: once the task has ended, `ferry run --confirm-cutover=%s --rollback` removes it (its replica disks kept)",
			p.Name, p.Task.Value, err, c.plan.Name)
	}
	c.createPending = nil
	if !ok {
		c.emit(Progress(fmt.Sprintf("%s: the task creating the target (%s) failed: no VM was made at the provider", c.plan.Name, p.Task.Value), -1))
		return nil
	}
	c.target = &ref
	c.rep.ProviderVM = fmt.Sprintf("%s [%s]", p.Name, ref.Value)
	c.emit(Progress(fmt.Sprintf("%s: the task creating the target (%s) made %s [%s] after the stop: removing it, its replica disks detached and kept", c.plan.Name, p.Task.Value, p.Name, ref.Value), -1))
	// Recorded as the cutover's target, as createTarget does: a rollback
	// that fails from here leaves it to the next run's cleanup.
	return c.env.State.SetOutput("cutover", targetKey(c.plan.Name), ref.Value)
}

// settleCutCreate is settleCreate when the CreateVM call itself was cut
// off by the stop (vCenter's answer, naming its task, never came): vCenter
// may or may not have had the request. It looks in the provider vCenter's
// task history for the CreateVM tasks ferry's account began in the VM
// folder since the request was sent (another user's are not followed),
// follows each (at most createSettleTimeout), and makes
// the VM one made with the target's name over this VM's replica disks the
// target, which the rollback removes, its replica disks detached first.
// Found by no task (the history unreadable, or the task not listed yet), a
// VM with the target's name that holds the replica disks in the VM folder
// is this cutover's too (the cutover began with no VM of that name there
// but its own, targetNameTaken, and had just detached the disks from the
// receiver appliance). None found: an error says what to look for, nothing
// of it removed; the cutover's state stays running, and the next run's
// cleanup removes what it left.
func (c *vmCutover) settleCutCreate(ctx context.Context) error {
	p := c.createPending
	dc := c.env.Plan().Provider.Datacenter
	since := p.Sent
	if since.IsZero() {
		since = c.rep.Started
	}
	replicas := map[string]bool{}
	for _, f := range c.env.replicaFiles(c.plan.Name, c.src.Disks) {
		replicas[f.Path] = true
	}
	// ours says whether ref is the VM of the target's name over a replica
	// disk.
	ours := func(ref vsphere.Ref) (bool, error) {
		name, ok, err := c.provider.VMByRef(ctx, ref)
		if err != nil || !ok || name != p.Name {
			return false, err
		}
		files, err := c.provider.DiskFilesOf(ctx, ref)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(files, func(f string) bool { return replicas[f] }), nil
	}
	var found *vsphere.Ref
	var how string
	var unsure []string
	tasks, err := c.provider.CreateVMTasks(ctx, dc, since)
	if err != nil {
		unsure = append(unsure, fmt.Sprintf("its task history was not read: %v", err))
	}
	until := time.Now().Add(createSettleTimeout)
	if len(tasks) > 0 {
		var names []string
		for _, t := range tasks {
			names = append(names, t.Value)
		}
		c.emit(Progress(fmt.Sprintf("%s: the request creating the target was cut off by the stop, before vCenter's answer: the provider vCenter's task history shows %d CreateVM task(s) of ferry's account in its VM folder from about when it was sent (%s UTC) on (%s): waiting until %s UTC for them to end, to remove a VM %s one makes over the replica disks (its replica disks kept)",
			c.plan.Name, len(tasks), since.UTC().Format("15:04:05"), strings.Join(names, ", "), until.UTC().Format("15:04:05"), p.Name), -1))
	}
	for _, t := range tasks {
		ref, ok, err := c.provider.CreatedVM(ctx, t, until)
		if err != nil {
			unsure = append(unsure, fmt.Sprintf("task %s was not seen to end: %v", t.Value, err))
			continue
		}
		if !ok {
			continue
		}
		mine, err := ours(ref)
		if err != nil {
			unsure = append(unsure, fmt.Sprintf("the VM task %s made (%s) was not read: %v", t.Value, ref.Value, err))
			continue
		}
		if mine {
			found, how = &ref, fmt.Sprintf("its task %s (found in its task history) made %s [%s]", t.Value, p.Name, ref.Value)
			break
		}
	}
	if found == nil {
		ref, ok, err := c.provider.VMInRootFolder(ctx, dc, p.Name)
		if err != nil {
			unsure = append(unsure, fmt.Sprintf("the VM folder was not read: %v", err))
		} else if ok {
			if mine, err := ours(ref); err != nil {
				unsure = append(unsure, fmt.Sprintf("VM %s was not read: %v", ref.Value, err))
			} else if mine {
				found, how = &ref, fmt.Sprintf("%s [%s], in its VM folder over the replica disks, is the VM it made", p.Name, ref.Value)
			}
		}
	}
	if found == nil {
		why := ""
		if len(unsure) > 0 {
			why = " (" + strings.Join(unsure, "; ") + ")"
		}
		return fmt.Errorf("the request to create the target %s at the provider was cut off by the stop, and vCenter may have had it: no VM %s over its replica disks was found at the provider%s; if the provider vCenter shows a VM %s made since %s UTC, it is this cutover's; nothing of it was removed: `ferry run --confirm-cutover=%s --rollback` removes it (its replica disks kept)",
			p.Name, p.Name, why, p.Name, since.UTC().Format("15:04:05"), c.plan.Name)
	}
	c.createPending = nil
	c.target = found
	c.rep.ProviderVM = fmt.Sprintf("%s [%s]", p.Name, found.Value)
	c.emit(Progress(fmt.Sprintf("%s: the request creating the target was cut off by the stop, and the provider vCenter had it: %s: removing it, its replica disks detached and kept", c.plan.Name, how), -1))
	// Recorded as the cutover's target, as createTarget does.
	return c.env.State.SetOutput("cutover", targetKey(c.plan.Name), found.Value)
}

// settleShutdown, in a rollback that powers the source on again, waits for
// the power-off of a guest this attempt asked to shut down
// (shutdownPending): vCenter cannot cancel a guest shutdown, and the VM
// reads powered on until its guest has stopped, then powers off; a source
// found running here and left so would power off after the rollback said
// it runs. It waits until the plan's shutdown timeout since the shutdown
// was asked (on a context the stop does not cancel). Still running then:
// with cutover.hard_power_off it is powered off, as the cutover would have
// done, so that powering it on leaves no shutdown pending; without, an
// error says so and how to recover.
func (c *vmCutover) settleShutdown(ctx context.Context) error {
	if !c.shutdownPending {
		return nil
	}
	st, err := c.onprem.PowerState(ctx, c.src.Ref)
	if err != nil {
		return err
	}
	if st != vsphere.PoweredOn {
		c.shutdownPending = false
		return nil
	}
	asked := cmp.Or(c.rep.SourceOff, time.Now())
	until := asked.Add(c.shutdownTimeout)
	c.emit(Progress(fmt.Sprintf("%s: its guest OS was asked to shut down at %s UTC, and vCenter cannot cancel that (the VM reads powered on until the guest has stopped): waiting until %s UTC (cutover.shutdown_timeout %s) for it to power off, to power it on again",
		c.plan.Name, asked.UTC().Format("15:04:05"), until.UTC().Format("15:04:05"), c.shutdownTimeout), -1))
	off, err := c.onprem.WaitPoweredOff(ctx, c.src.Ref, until)
	if err != nil {
		return fmt.Errorf("wait for %s's guest OS to finish the shutdown it was asked for at %s UTC: %w: it may still power off; check it in vSphere and power it on if it is off", c.plan.Name, asked.UTC().Format("15:04:05"), err)
	}
	if off {
		c.shutdownPending = false
		c.emit(Progress(fmt.Sprintf("%s: its guest OS finished the shutdown: powering it on again", c.plan.Name), -1))
		return nil
	}
	if !c.hard {
		return fmt.Errorf("%s reads powered on, but its guest OS, asked to shut down at %s UTC, had not finished by %s UTC (cutover.shutdown_timeout %s), and vCenter cannot cancel a guest shutdown: it may still power off. Check it in vSphere and power it on if it is off (govc vm.power -on %s); ferry did not power it off hard, as cutover.hard_power_off is false",
			c.plan.Name, asked.UTC().Format("15:04:05"), until.UTC().Format("15:04:05"), c.shutdownTimeout, c.plan.Name)
	}
	c.emit(Progress(fmt.Sprintf("%s: its guest OS had not finished the shutdown by %s UTC: powering it off hard (cutover.hard_power_off), as the cutover would have, to power it on again with no shutdown pending", c.plan.Name, until.UTC().Format("15:04:05")), -1))
	if err := c.onprem.PowerOff(ctx, c.src.Ref); err != nil {
		return fmt.Errorf("%s: its guest OS, asked to shut down at %s UTC, had not finished by %s UTC and the hard power-off failed: %w: it may still power off; check it in vSphere and power it on if it is off", c.plan.Name, asked.UTC().Format("15:04:05"), until.UTC().Format("15:04:05"), err)
	}
	c.shutdownPending = false
	return nil
}

// cleanupLeftovers removes a target VM and vApp left by a cutover
// interrupted before power-on was requested.
func (c *vmCutover) cleanupLeftovers(ctx context.Context) error {
	if ref, ok, err := c.env.findTarget(ctx, c.provider, c.plan.Name); err != nil {
		return err
	} else if ok {
		c.target = &ref
	}
	if vdc, err := c.sys.VDCByName(c.env.Plan().Org, c.env.Plan().VDC); err == nil {
		if vapp, err := vdc.VApp(c.plan.TargetVApp); err == nil {
			// A vApp holding other VMs is not the interrupted cutover's:
			// only our VM goes (rollback), the vApp stays.
			c.vapp, c.createdVApp = vapp, len(otherVMs(vapp, c.plan.Name)) == 0
		}
	}
	err := c.rollback(ctx)
	c.vapp, c.target, c.createdVApp = nil, nil, false
	if err != nil {
		return fmt.Errorf("%s: clean up an interrupted cutover: %w", c.plan.Name, err)
	}
	src, err := c.onprem.VMByName(ctx, c.plan.Name)
	if err != nil {
		return err
	}
	c.src = src
	return nil
}

// cleanupInterrupted removes what a cutover interrupted before power-on
// was requested left at the provider (cleanupLeftovers: replica disks
// kept, given back to replication) and powers the source on again, unless
// it is a cold migration's source that was off before (leaveOff). When
// that interrupted cutover had shut the source down and this powers it on,
// the outage it left, from its shutdown until now, is the report's
// EarlierOutage.
//
// goOn (a retry, not a rollback): a source that the interrupted cutover
// shut down and that is still powered off stays off, and the retry goes on
// from it (continuedFrom, the shutdown): powering it on only to shut it
// down again would add a whole guest boot and shutdown to the outage (QA:
// 13.3s down, up 2s without finishing its boot, then 4.9s more). A cleanup
// that fails powers it on all the same: the service comes first.
func (c *vmCutover) cleanupInterrupted(ctx context.Context, goOn bool) error {
	c.leaveOff = c.env.coldSourceWasOff(c.plan.Name)
	if c.src.Ref.Value == "" {
		src, err := c.onprem.VMByName(ctx, c.plan.Name)
		if err != nil {
			return err
		}
		c.src = src
	}
	off := c.env.interruptedShutdown(c.plan.Name)
	src, err := c.settleInterruptedShutdown(ctx, c.src, off)
	if err != nil {
		return err
	}
	c.src = src
	wasOff := !c.src.PoweredOn()
	// Off as that cutover left it (not suspended, not a cold migration's
	// source that was off before it): the power-on is the retry's to skip.
	c.keepSourceOff = goOn && c.src.PowerState == vsphere.PoweredOff && !off.IsZero() && !c.leaveOff
	c.keepHoldOnError = true
	err = c.cleanupLeftovers(ctx)
	c.keepHoldOnError = false
	if c.keepSourceOff {
		c.keepSourceOff = false
		if err == nil {
			c.continuedFrom = off
			return nil
		}
		// Nothing of the retry will run: the source goes back on (its
		// target never ran: state running).
		if perr := c.onprem.EnsurePoweredOn(context.WithoutCancel(ctx), c.src.Ref); perr != nil {
			return errors.Join(err, fmt.Errorf("power the source on again: %w", perr))
		}
		return errors.Join(err, c.poweredOnNow(off))
	}
	if err != nil {
		return err
	}
	switch {
	case wasOff && !off.IsZero() && !c.leaveOff && c.src.PoweredOn():
		return c.poweredOnNow(off)
	case !wasOff && !backOnSince(c.src, off).IsZero():
		// Found running again: a run killed after it powered the source
		// on (before it saved its report), or someone by hand, ended the
		// outage at the source's boot.
		on := backOnSince(c.src, off)
		o, err := c.earlier(off, on, false, fmt.Sprintf("after it shut the source down: the source was powered off from %s until it was powered on again at %s (by a ferry run that stopped before it saved its report, or by hand)", clock(off), clock(on)))
		c.endedOutage = &o
		return err
	}
	return nil
}

// poweredOnNow records the outage an interrupted cutover left, from its
// shutdown at off until now, this run having powered the source on again.
func (c *vmCutover) poweredOnNow(off time.Time) error {
	now := time.Now()
	o, err := c.earlier(off, now, false, fmt.Sprintf("after it shut the source down: the source was powered off from %s until ferry powered it on again at %s", clock(off), clock(now)))
	c.endedOutage, c.endedByUs = &o, true
	return err
}

// endedBy says who ended endedOutage, for a warning.
func (c *vmCutover) endedBy() string {
	if c.endedByUs {
		return "this run powered it on again"
	}
	return "it was powered on again before this run (by a ferry run that stopped before it saved its report, or by hand)"
}

// undoInterrupted only rolls back a cutover interrupted before power-on of
// the target was requested (state running), and does not retry it: what it
// left at the provider removed, the replica disks kept and given back to
// replication (its hold released), the source powered on again
// (cleanupInterrupted), the state rolled back. A rollback that fails
// leaves the state running (cleanupLeftovers deletes nothing before the
// replica disks are detached from the target; the provider unreachable, it
// changes nothing).
func (c *vmCutover) undoInterrupted(ctx context.Context) error {
	c.rep.RolledBack = true
	if err := c.cleanupInterrupted(context.WithoutCancel(ctx), false); err != nil {
		c.rep.RollbackError = err.Error()
		return err
	}
	if o := c.endedOutage; o != nil && c.endedByUs {
		c.rep.SourceBackOn = o.End
	}
	return c.setState(cutoverRolledBack)
}

// rollbackInterrupted is undoInterrupted decided by the operator (how says
// so): it returns an error either way, as a rollback decided after power-on
// was requested does, since the VM was not cut over.
func (c *vmCutover) rollbackInterrupted(ctx context.Context, how string) error {
	if err := c.phase("roll back", func() (string, error) {
		return how + ": what the interrupted cutover left at the provider removed, the replica disks kept", c.undoInterrupted(ctx)
	}); err != nil {
		return fmt.Errorf("%s: rollback %s of the cutover interrupted before power-on was requested: %w (its cutover state stays %q)", c.plan.Name, how, err, cutoverRunning)
	}
	if o := c.endedOutage; o != nil && c.endedByUs {
		// The outage ends when the source answers again, not at its
		// power-on.
		if c.awaitSourceBack(o.End); !c.rep.ServiceBack.IsZero() {
			back, err := c.earlier(o.Start, c.rep.ServiceBack, false, o.How+", answering again at "+clock(c.rep.ServiceBack))
			if err != nil {
				return err
			}
			c.endedOutage = &back
		}
	}
	var outage string
	if o := c.endedOutage; o != nil {
		outage = fmt.Sprintf("; the interrupted cutover had left the source powered off from %s UTC (%.0fs of downtime)", o.Start.UTC().Format("15:04:05"), o.seconds())
		by := "this rollback powered it on again"
		if !c.endedByUs {
			by = c.endedBy()
		}
		c.emit(Warning(fmt.Sprintf("%s: the interrupted cutover left the source powered off from %s UTC until %s (%.0fs of downtime)",
			c.plan.Name, o.Start.UTC().Format("15:04:05"), by, o.seconds())))
	}
	where := "running on-prem again"
	if c.leaveOff {
		where = "powered off on-prem, as it was before the cutover"
	}
	return decidedRollback{fmt.Sprintf("%s: cutover rolled back %s: %s, its replica disks are kept and replication can continue%s", c.plan.Name, how, where, outage)}
}

// hasVM reports whether vapp holds a VM named name.
func hasVM(vapp *vcd.VApp, name string) bool {
	return slices.Contains(vapp.VMNames(), name)
}

// otherVMs lists the VMs of vapp other than name.
func otherVMs(vapp *vcd.VApp, name string) []string {
	var out []string
	for _, vm := range vapp.VMNames() {
		if vm != name {
			out = append(out, vm)
		}
	}
	return out
}

func probeOutages(m *probe.Monitor, names []string, since time.Time) []probe.Outage {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []probe.Outage
	for _, o := range m.Outages() {
		if want[o.Target] && !o.Start.Before(since) {
			out = append(out, o)
		}
	}
	return out
}
