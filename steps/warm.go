package steps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
)

// warm keeps the replicas following their sources between steps while a
// wizard is open: a scheduler running one pass per RPO for every VM whose
// initial sync is done. Headless runs have none; their steps run passes
// directly.
type warm struct {
	sched  *replication.Scheduler
	cancel context.CancelFunc
	done   chan struct{}
	// passes is how many passes the scheduler runs at a time
	// (concurrent_passes when it started).
	passes int

	mu    sync.Mutex
	added map[string]bool
	// failed is why a VM's job could not be added (warmJob), until it is.
	failed map[string]error
	// listen gets a VM's events too while a step waits for its pass
	// (warmListen). Its own lock: events come while mu is held (warmJob).
	listenMu sync.Mutex
	listen   map[string]func(replication.Event)
}

// notify gives ev to the listener of its VM, if any.
func (w *warm) notify(ev replication.Event) {
	w.listenMu.Lock()
	f := w.listen[ev.VM]
	w.listenMu.Unlock()
	if f != nil {
		f(ev)
	}
}

// warmListen gives vm's pass events to f too until the returned func is
// called: a step waiting for a pass shows its progress (ferry run through
// ferry serve has no dashboard).
func (e *Env) warmListen(vm string, f func(replication.Event)) func() {
	w := e.warm
	w.listenMu.Lock()
	w.listen[vm] = f
	w.listenMu.Unlock()
	return func() {
		w.listenMu.Lock()
		delete(w.listen, vm)
		w.listenMu.Unlock()
	}
}

// EnableWarm starts warm replication for this session: VMs already
// replicated (step 6 done on an earlier run) get their jobs now, the others
// when step 6 runs. events receives every pass's events (the dashboard).
func (e *Env) EnableWarm(ctx context.Context, events func(replication.Event)) (*replication.Scheduler, error) {
	if e.warm != nil {
		return e.warm.sched, nil
	}
	n, err := concurrentPasses(e.Plan())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &warm{cancel: cancel, done: make(chan struct{}), passes: n, added: map[string]bool{}, failed: map[string]error{}, listen: map[string]func(replication.Event){}}
	w.sched = replication.NewScheduler(n, func(ev replication.Event) {
		if events != nil {
			events(ev)
		}
		w.notify(ev)
	})
	go func() { defer close(w.done); _ = w.sched.Run(ctx) }()
	e.warm = w
	vms, err := e.replicasToFollow()
	if err != nil {
		return w.sched, err
	}
	var errs []error
	for _, vm := range vms {
		if err := e.warmJob(ctx, vm); err != nil {
			errs = append(errs, &WarmStartError{VM: vm.Name, Err: err})
		}
	}
	return w.sched, errors.Join(errs...)
}

// WarmNotStarted is why this process's warm replication has not started
// the jobs of VMs it follows (one WarmStartError per VM), as it stands now:
// a job that started since (step 6 run again) is no longer in it; nil when
// every job runs.
func (e *Env) WarmNotStarted() error {
	if e.warm == nil {
		return nil
	}
	e.warm.mu.Lock()
	defer e.warm.mu.Unlock()
	var errs []error
	for _, vm := range e.Plan().VMs {
		if err := e.warm.failed[vm.Name]; err != nil {
			errs = append(errs, &WarmStartError{VM: vm.Name, Err: err})
		}
	}
	return errors.Join(errs...)
}

// warmFailed is why this process's warm replication could not start vm's
// job (nil: it runs, or it is not followed).
func (e *Env) warmFailed(vm string) error {
	if e.warm == nil {
		return nil
	}
	e.warm.mu.Lock()
	defer e.warm.mu.Unlock()
	return e.warm.failed[vm]
}

// WarmStartError is why warm replication did not start one VM's job
// (EnableWarm joins one per VM): the wizard shows it on the VM's row.
type WarmStartError struct {
	VM  string
	Err error
}

func (e *WarmStartError) Error() string {
	return e.VM + ": replication did not start: " + e.Err.Error()
}

func (e *WarmStartError) Unwrap() error { return e.Err }

// replicasToFollow are the plan's VMs whose replica exists, which warm
// replication follows from the start: the ones step 6 recorded, and the
// ones a step 6 that never finished (a killed or stopped ferry) left in
// the store, with a complete pass (it keeps its RPO), a pass in flight
// (it resumes from its durable watermark) or a first pass the receiver
// committed that was not recorded (it goes on from there). Not a VM cut
// over, nor one added for a second wave (step 6 starts it).
func (e *Env) replicasToFollow() ([]VMPlan, error) {
	var out, maybe []VMPlan
	for _, vm := range e.Plan().VMs {
		switch e.VMPhase(vm.Name) {
		case VMReplicating:
			out = append(out, vm)
		case VMSelected:
			maybe = append(maybe, vm)
		}
	}
	if len(maybe) == 0 || e.State.Status("replication") == StatusPending {
		return out, nil
	}
	store, done, err := e.readReplicationStore()
	if err != nil || store == nil {
		return out, err
	}
	defer done()
	for _, vm := range maybe {
		ok, err := synced(store, vm.Name)
		if err != nil {
			return out, err
		}
		if !ok {
			p, committed, _, err := storedPass(store, vm.Name)
			if err != nil {
				return out, err
			}
			ok = p != nil || committed > 0
		}
		if ok {
			out = append(out, vm)
		}
	}
	return out, nil
}

// warmJob adds vm's job to the scheduler once.
func (e *Env) warmJob(ctx context.Context, vm VMPlan) (err error) {
	w := e.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.added[vm.Name] || e.isCold(vm.Name) { // a cold VM has no pass every RPO
		return nil
	}
	defer func() {
		if err != nil && !w.added[vm.Name] {
			w.failed[vm.Name] = err
		} else {
			delete(w.failed, vm.Name)
		}
	}()
	// What building the job says (a disk added to the source since VM
	// selection) is said once the scheduler, which gives the job its
	// events, has it.
	var early []replication.Event
	job, _, err := e.job(ctx, vm.Name, func(ev replication.Event) { early = append(early, ev) })
	if err != nil {
		return err
	}
	job.Events = nil // the scheduler's, from Add on
	every, err := e.verifyEvery()
	if err != nil {
		return err
	}
	if err := w.sched.Add(job, vm.RPO.Duration()); err != nil {
		return err
	}
	for _, ev := range early {
		job.Events(ev)
	}
	if err := w.sched.SetVerifyEvery(vm.Name, every); err != nil {
		return err
	}
	w.added[vm.Name] = true
	return e.settleHold(vm.Name)
}

// Why ferry holds a job (replication.Scheduler.Hold), as its status says.
const (
	cutoverHold = "held by its cutover"
	testHold    = "held while its test migration freezes the replica (a snapshot of the receiver appliance)"
	// interruptedCutoverHold: a cutover a previous ferry process left
	// between its start and the request to power the target on.
	interruptedCutoverHold = "held by its cutover, which a previous ferry process left unfinished before power-on of the target was requested " +
		"(the target VM may hold the replica disks): run the cutover again; it removes what it left and retries (from the source still off if that cutover left it off)"
)

// holdOutlook says what becomes of a hold h of vm's job that no running
// ferry process holds any more (ferry was killed while it held the job):
// keep says it stays (why: the reason it keeps), otherwise why says that
// its cause is gone. A job held by its cutover stays held while that
// cutover may have given the replica disks to the target VM (it was
// interrupted after it started, or after power-on of the target was
// requested): no pass may write them, and the cutover, run again, either
// finishes or gives them back to replication (its rollback releases the
// hold). Any other hold ended with the process that took it: a test
// migration's snapshot freezes the replica for its copies whatever
// replication writes after it, and a cutover that is not in progress
// (rolled back, or never past its start) holds nothing.
func (e *Env) holdOutlook(vm string, h replication.Hold) (keep bool, why string) {
	switch h {
	case replication.HoldCutover:
		switch state := e.State.Get("cutover").Outputs[cutoverKey(vm)]; state {
		case cutoverRunning:
			if off := e.interruptedShutdown(vm); !off.IsZero() {
				return true, interruptedCutoverHold + fmt.Sprintf("; it had shut the source down at %s UTC and recorded nothing since (a rollback killed before it saved, or someone by hand, may have powered it on since: vCenter shows whether it runs): the source stays off until the cutover runs again (the retry goes on from it off, without booting it only to shut it down again) "+
					"or is rolled back (`ferry run --confirm-cutover=%s --rollback`; ferry serve, or a ferry run that does not confirm it, rolls it back by itself when it starts; the wizard asks first)", off.UTC().Format("2006-01-02 15:04:05"), vm)
			}
			return true, interruptedCutoverHold
		case cutoverPowerOnRequested:
			return true, "held by its cutover, which stopped after power-on of the target was requested: " + decisionHint(vm)
		case cutoverDone:
			return true, "" // nothing replicates it any more: kept as found
		case "":
			return false, "that cutover is not in progress"
		default:
			return false, fmt.Sprintf("that cutover is not in progress (%s)", state)
		}
	case replication.HoldTestMigration:
		return false, "that test migration ended with it (the replica's snapshot, if it was taken, stays until `ferry run --test-cleanup`)"
	}
	// A hold this ferry does not know (a newer one's): kept, as found.
	return true, ""
}

// staleHoldText says that ferry stopped while it held a job for h, and why
// the hold's cause is gone (holdOutlook).
func staleHoldText(h replication.Hold, why string) string {
	return fmt.Sprintf("ferry stopped while it held the job for its %s; %s", h, why)
}

// settleHold decides on a hold of vm's job found when the scheduler took
// the job (a ferry killed while it held it; see holdOutlook): the job
// stays held, saying why, or resumes, saying why.
func (e *Env) settleHold(vm string) error {
	st, ok := e.warmStatus(vm)
	if !ok || !st.Paused || st.Held == "" {
		return nil
	}
	keep, why := e.holdOutlook(vm, st.Held)
	switch {
	case keep && why != "" && why != st.Reason:
		return e.warm.sched.Hold(vm, st.Held, why)
	case keep:
		return nil
	}
	_, err := e.warm.sched.Release(vm, st.Held, staleHoldText(st.Held, why)+": replication resumes")
	return err
}

// warmPass makes a pass of vm due now and waits until it completes (step 6
// in the wizard: the scheduler owns the job, so the step must not run a
// pass of its own beside it). A pause of the job meanwhile (by request:
// another session of ferry serve, or held by ferry for its own work) is
// waited out, said with emit: when the job resumes, its pass goes on and
// the step with it (QA demo: a pause from another session failed step 6
// with "replication job is paused"). A job a failed pass paused fails the
// step, saying why.
func (e *Env) warmPass(ctx context.Context, vm VMPlan, emit Emit) error {
	if err := e.warmJob(ctx, vm); err != nil {
		return err
	}
	// A first pass that runs already (an initial sync a killed ferry left,
	// resumed when warm replication started) is the one to wait for:
	// asking for another pass would add a whole one after it. Waited for
	// until it completes, not until the job is idle: the full compare due
	// after an initial sync starts at once, and the step waited for it too
	// (a whole disk read, its progress in the step's bar: QA, after a
	// restart, the bar went back).
	if st, ok := e.warmStatus(vm.Name); ok && st.Running && st.LastPass.IsZero() {
		if err := e.warm.sched.WaitFirstPass(ctx, vm.Name); err != nil {
			return err
		}
		if st, ok := e.warmStatus(vm.Name); ok && !st.LastPass.IsZero() {
			return nil
		}
	}
	if err := e.warm.sched.PassNow(vm.Name); err != nil {
		return err
	}
	for {
		err := e.warm.sched.WaitPass(ctx, vm.Name)
		if err == nil {
			return nil
		}
		st, ok := e.warmStatus(vm.Name)
		if !errors.Is(err, replication.ErrPaused) || !ok || (st.Phase != replication.JobPaused && st.Phase != replication.JobHeld) {
			return fmt.Errorf("replicate %w", err)
		}
		emit(Warning(pausedWaitText(vm.Name, st)))
		if err := e.warmWaitResumed(ctx, vm.Name); err != nil {
			return fmt.Errorf("replicate %s: waiting for its job to resume: %w", vm.Name, err)
		}
		// Resumed: its resume asked for a pass now, which WaitPass waits for.
		// Said as the end of the warning above, which no longer holds.
		emit(Resolved(vm.Name + ": replication resumed: its pass, and step 6, go on"))
	}
}

// pausedWaitText says that step 6 waits for vm's job, paused (st) while
// the step waits for its pass, and how it goes on.
func pausedWaitText(vm string, st replication.JobStatus) string {
	if st.Phase == replication.JobHeld {
		return fmt.Sprintf("%s: %s: step 6 waits until ferry releases it, then its pass goes on", vm, cmp.Or(st.Reason, "held for its "+string(st.Held)))
	}
	return fmt.Sprintf("%s: replication %s: step 6 waits; resume %s (u on the replication dashboard, or ferry resume %s) and its pass, and the step, go on",
		vm, cmp.Or(st.Reason, replication.PausedByRequest), vm, vm)
}

// warmWaitResumed waits until vm's job in the scheduler is no longer
// paused (or ctx ends).
func (e *Env) warmWaitResumed(ctx context.Context, vm string) error {
	for {
		changed := e.warm.sched.Changed() // before the status: no change is missed
		if st, ok := e.warmStatus(vm); !ok || !st.Paused {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// passRunning says whether this process's scheduler (the wizard's, the
// engine's) runs a pass of vm now.
func (e *Env) passRunning(vm string) bool {
	if e.warm == nil {
		return false
	}
	st, ok := e.warmStatus(vm)
	return ok && st.Running
}

// warmStatus is vm's job's status in the wizard's scheduler.
func (e *Env) warmStatus(vm string) (replication.JobStatus, bool) {
	for _, st := range e.warm.sched.Status() {
		if st.VM == vm {
			return st, true
		}
	}
	return replication.JobStatus{}, false
}

// warmHold stops the scheduler's passes of vm and waits until none runs
// (a running one is interrupted): the cutover takes the job over, held
// for h (why says so in its status). It reports whether it held the job, so that the
// caller releases it afterwards: a job that was paused already (by the
// operator, or after a failed pass) runs no pass and is left paused, as it
// was found.
func (e *Env) warmHold(ctx context.Context, vm string, h replication.Hold, why string) (bool, error) {
	return e.warmHoldWith(ctx, vm, h, why, true, nil)
}

// warmHoldAfterPass is warmHold, except that a pass running now is not
// interrupted: it runs to its end, which the call waits for
// (Scheduler.HoldAfterPass), calling waiting first. For work that needs
// the replica as of a completed pass (a test migration's snapshot): a pass
// warmHold interrupts leaves the replica holding part of it.
func (e *Env) warmHoldAfterPass(ctx context.Context, vm string, h replication.Hold, why string, waiting func()) (bool, error) {
	return e.warmHoldWith(ctx, vm, h, why, false, waiting)
}

// warmHoldWith holds vm's job for h; interrupt: a running pass is
// interrupted, otherwise waiting (if not nil) is called when one runs on.
func (e *Env) warmHoldWith(ctx context.Context, vm string, h replication.Hold, why string, interrupt bool, waiting func()) (bool, error) {
	if e.warm == nil {
		return false, nil
	}
	e.warm.mu.Lock()
	added := e.warm.added[vm]
	e.warm.mu.Unlock()
	if !added {
		return false, nil
	}
	for _, st := range e.warm.sched.Status() {
		if st.VM == vm && st.Paused {
			return false, e.warm.sched.WaitIdle(ctx, vm)
		}
	}
	hold := e.warm.sched.Hold
	if !interrupt {
		hold = e.warm.sched.HoldAfterPass
	}
	if err := hold(vm, h, why); err != nil {
		return false, err
	}
	if waiting != nil && e.passRunning(vm) {
		waiting()
	}
	return true, e.warm.sched.WaitIdle(ctx, vm)
}

// recordHold holds vm's job for h (why says why) in its record when no
// scheduler of this process runs it (a headless run): killed while it holds
// the job, this ferry leaves it held for the next one to settle
// (holdOutlook), and ferry status says so. A job paused already is left as
// it was found.
func (e *Env) recordHold(vm string, h replication.Hold, why string) error {
	if e.warm != nil && e.warmAdded(vm) {
		return nil
	}
	store, err := e.replicationStore()
	if err != nil {
		return err
	}
	_, err = store.Hold(vm, h, why)
	return err
}

// warmRelease gives the job warmHold held for h back to the scheduler.
func (e *Env) warmRelease(vm string, h replication.Hold) error {
	if e.warm == nil {
		return nil
	}
	_, err := e.warm.sched.Release(vm, h, "")
	return err
}

// releaseHold ends a hold for h of vm's job that this process did not take
// (a ferry killed while it held the job) once its cause is gone (why says
// how): in the wizard's scheduler when it has the job, otherwise in the
// job's record. A job paused otherwise stays paused.
func (e *Env) releaseHold(vm string, h replication.Hold, why string) error {
	if e.warm != nil && e.warmAdded(vm) {
		_, err := e.warm.sched.Release(vm, h, why)
		return err
	}
	store, err := e.replicationStore()
	if err != nil {
		return err
	}
	_, err = store.Release(vm, h)
	return err
}

// pauseForMismatch pauses vm's replication because a verify found its
// replica differs from its source: in the wizard's scheduler when it has
// the job, otherwise in the job's record (the next scheduler finds it so).
func (e *Env) pauseForMismatch(vm string, mismatch error) error {
	if e.warm != nil && e.warmAdded(vm) {
		return e.warm.sched.PauseForMismatch(vm, mismatch)
	}
	store, err := e.replicationStore()
	if err != nil {
		return err
	}
	return store.PauseForMismatch(vm, mismatch)
}

// mismatchAdvice says what vm's replica, found to differ from its source,
// needs before vm can be cut over (then: what to do after).
func mismatchAdvice(vm, then string) string {
	return fmt.Sprintf("a full compare that repairs the replica must complete first: `ferry run --verify=%s` (or resuming the job on the wizard's replication dashboard) "+
		"runs one; then %s", vm, then)
}

// mismatchOf is what the verify that found vs's replica differing found.
func mismatchOf(vs replication.VMState) string {
	return cmp.Or(vs.Mismatch, vs.PausedReason, "no detail recorded")
}

// replicaMismatchError refuses the cutover of vm, whose replica a verify
// found to differ from its source (reason: what it found).
func replicaMismatchError(vm, reason string) error {
	return fmt.Errorf("not cut over: a verify found the replica differs from the source (%s); %s", reason, mismatchAdvice(vm, "cut over again"))
}

func (e *Env) stopWarm() {
	if e.warm != nil {
		e.warm.cancel()
		<-e.warm.done
		e.warm = nil
	}
}

// ProbeMonitor returns a monitor over the plan's probes (not started: run
// it with Run), or nil when the plan has none.
func (e *Env) ProbeMonitor(ctx context.Context, interval time.Duration) (*probe.Monitor, error) {
	targets, err := e.probeTargets(ctx)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	return probe.NewMonitor(interval, targets...), nil
}
