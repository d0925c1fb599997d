package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Migration modes (vms[].mode in the plan; "" lets the source's power state
// decide).
const (
	// ModeWarm replicates a running VM while it runs (a pass every RPO)
	// and cuts it over in a short window: last pass, shutdown, final pass.
	ModeWarm = "warm"
	// ModeCold replicates a powered-off VM in one pass without a snapshot
	// and cuts it over with the same target build, import, probes, report
	// and rollback as a warm one. A running VM marked cold is shut down at
	// the start of its cutover window (confirmed as any cutover).
	ModeCold = "cold"
)

// ValidMode checks vms[].mode.
func ValidMode(m string, _ *PlanFile) error {
	switch m {
	case "", ModeWarm, ModeCold:
		return nil
	}
	return fmt.Errorf("%q: want %q (replicate while it runs, short cutover window) or %q (one pass with the VM off; a running VM is shut down at the start of its window), or leave it out to decide by the VM's power state", m, ModeWarm, ModeCold)
}

// vmMode says how the VM of plan p whose source is src is migrated, and
// why; an error when neither mode can take it.
func vmMode(p VMPlan, src vsphere.VM) (mode, why string, err error) {
	state := src.PowerState
	switch {
	case state == vsphere.Suspended:
		return "", "", fmt.Errorf("VM %q is suspended: its memory state would be lost; power it on (warm migration) or shut it down (cold migration)", p.Name)
	case p.Mode == ModeCold && src.PoweredOn():
		return ModeCold, "mode: cold in the plan: shut down at the start of its cutover window, then one pass", nil
	case p.Mode == ModeCold:
		return ModeCold, "mode: cold in the plan: powered off, one pass without a snapshot", nil
	case p.Mode == ModeWarm && !src.PoweredOn():
		return "", "", fmt.Errorf("VM %q is %s and the plan says mode: warm, which replicates a running VM; power it on, or set mode: cold (or leave mode out) to migrate it powered off", p.Name, state)
	case p.Mode == ModeWarm:
		return ModeWarm, "mode: warm in the plan: replicated while it runs", nil
	case !src.PoweredOn():
		return ModeCold, "powered off: one pass without a snapshot", nil
	}
	return ModeWarm, "running: replicated while it runs, short cutover window", nil
}

// MigrationMode says how the plan's VM name is migrated ("warm" or "cold")
// and why, from the plan and the source VM's power state now.
func (e *Env) MigrationMode(ctx context.Context, name string) (mode, why string, err error) {
	mode, why, _, err = e.sourceMode(ctx, name)
	return mode, why, err
}

// sourceMode is MigrationMode with the source VM it read.
func (e *Env) sourceMode(ctx context.Context, name string) (mode, why string, src vsphere.VM, err error) {
	if !slices.ContainsFunc(e.Plan().VMs, func(vm VMPlan) bool { return vm.Name == name }) {
		return "", "", src, fmt.Errorf("VM %q is not in the plan", name)
	}
	p := e.planOf(name)
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return "", "", src, err
	}
	if src, err = onprem.VMByName(ctx, name); err != nil {
		return "", "", src, err
	}
	mode, why, err = vmMode(p, src)
	return mode, why, src, err
}

// coldKey is the replication step's output that marks a VM as migrated
// cold: the wizard's scheduler never takes it (a cold VM has no pass every
// RPO).
func coldKey(vm string) string { return "mode." + vm }

// isCold reports whether step 6 found the VM to be migrated cold.
func (e *Env) isCold(vm string) bool {
	return e.State.Get("replication").Outputs[coldKey(vm)] == ModeCold
}

// ColdNote is what the cutover confirmation says of a VM step 6 found to
// be migrated cold ("" for a warm one).
func (e *Env) ColdNote(vm string) string {
	if !e.isCold(vm) {
		return ""
	}
	return "cold migration: its source is shut down first if it runs, then one pass without a snapshot inside the window"
}

// splitCold splits vms into the warm ones and the cold ones (with the
// source of each cold one), and records each cold one for the scheduler.
func (e *Env) splitCold(ctx context.Context, vms []VMPlan) (warm []VMPlan, cold []coldVM, err error) {
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range vms {
		src, err := onprem.VMByName(ctx, p.Name)
		if err != nil {
			return nil, nil, err
		}
		mode, why, err := vmMode(p, src)
		if err != nil {
			return nil, nil, err
		}
		if mode == ModeWarm {
			if e.isCold(p.Name) { // powered on since, or the plan changed
				if err := e.State.SetOutput("replication", coldKey(p.Name), ModeWarm); err != nil {
					return nil, nil, err
				}
			}
			warm = append(warm, p)
			continue
		}
		if err := e.State.SetOutput("replication", coldKey(p.Name), ModeCold); err != nil {
			return nil, nil, err
		}
		cold = append(cold, coldVM{plan: p, src: src, why: why})
	}
	return warm, cold, nil
}

type coldVM struct {
	plan VMPlan
	src  vsphere.VM
	why  string
}

// replicateCold is step 6 for the cold VMs: a powered-off one gets its one
// pass now, without a snapshot (nothing changes on a VM that does not run;
// the cutover's pass then finds nothing or little to send); a running one
// marked cold is replicated in its cutover window, after the shutdown.
//
// Its progress lines' fraction is the step's only when its VM is the
// step's only one: otherwise the pass's percentage goes in the line, with
// its VM, and the line has no fraction of the step (its "23% Archive1:
// ..." was followed by "0% replicating WebApp2, ...", the warm VMs' mean).
func (e *Env) replicateCold(ctx context.Context, vms []coldVM, alone bool, emit Emit) (Result, error) {
	var res Result
	for _, c := range vms {
		lines := emit
		if !alone {
			lines = passPercentInLine(emit, c.plan.Name)
		}
		if c.src.PoweredOn() {
			// Nothing changes now: said, not counted as a change.
			emit(Progress(c.plan.Name+": cold migration ("+c.why+"): replicated in one pass in its cutover window, after the shutdown", -1))
			continue
		}
		job, _, err := e.job(ctx, c.plan.Name, progressEmitter(lines, c.plan.Name))
		if err != nil {
			return res, err
		}
		// Off before ferry: not a downtime window, so not served first
		// by the bandwidth cap (running VMs' passes go on beside it).
		r, err := job.RunPassWith(ctx, replication.PassOptions{Final: true})
		if err != nil {
			return res, fmt.Errorf("replicate %s (cold): %w", c.plan.Name, err)
		}
		if err := recordPass(job.State, c.plan.Name, r); err != nil {
			return res, err
		}
		rs := Resource{Kind: "replica", Name: c.plan.Name, ID: e.Config.Receiver.URL}
		it := Item{Action: ActionUpdate, Kind: "replica", Name: c.plan.Name,
			Detail: fmt.Sprintf("cold migration (%s): %s pass without a snapshot, %s, %s on the wire, in %s",
				c.why, r.Kind, plannedText(r.Counters), Bytes(r.Counters.Sent), r.Duration.Round(time.Millisecond)),
			Resource: &rs}
		emit(Changed(it))
		res.Changes = append(res.Changes, it)
		res.Resources = append(res.Resources, rs)
		if err := e.State.SetOutput("replication", "last_pass."+c.plan.Name, r.Start.UTC().Format(time.RFC3339)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// passPercentInLine passes vm's progress lines on to emit with the
// fraction of its pass said in the line ("Archive1: 23% of its pass, 2.0
// MiB of ...") instead of as the step's.
func passPercentInLine(emit Emit, vm string) Emit {
	return func(ev Event) {
		if ev.Kind == EventProgress && ev.Fraction >= 0 {
			if rest, ok := strings.CutPrefix(ev.Message, vm+": "); ok {
				ev.Message = fmt.Sprintf("%s: %.0f%% of its pass, %s", vm, ev.Fraction*100, rest)
			}
			ev.Fraction = -1
		}
		emit(ev)
	}
}

// coldPlanItem is step 6's plan for a cold VM.
func (e *Env) coldPlanItem(p VMPlan, src vsphere.VM, why string, synced bool) Item {
	switch {
	case src.PoweredOn():
		return Item{Action: ActionUpdate, Kind: "replica", Name: p.Name, Detail: "cold migration (" + why + "): nothing now; one pass in its cutover window, after the shutdown"}
	case synced:
		return Item{Action: ActionUpdate, Kind: "replica", Name: p.Name, Detail: "cold migration (" + why + "): a pass without a snapshot (changed blocks only) to " + e.Config.Receiver.URL}
	}
	return Item{Action: ActionCreate, Kind: "replica", Name: p.Name, Detail: fmt.Sprintf("cold migration (%s): one pass of %s without a snapshot to %s", why, Bytes(src.DiskBytes()), e.Config.Receiver.URL)}
}

// coldWindow is the start of a cold VM's cutover window: the source shut
// down if it runs (it was confirmed as any cutover), then the one pass with
// the VM off and no snapshot. A source that was off stays off, also after a
// rollback.
func (c *vmCutover) coldWindow(ctx context.Context) error {
	c.rep.Mode, c.rep.ModeWhy = ModeCold, c.why
	// A warm projection says nothing of a cold window.
	c.rep.Projection, c.rep.ProjectedDowntimeSeconds = nil, 0
	if !c.src.PoweredOn() {
		c.leaveOff = true
		c.rep.Note = "cold migration of a powered-off VM: no service was running, so no downtime is measured"
		if c.leave != nil { // no shutdown to line up with the wave's
			c.leave()
		}
		if _, err := c.takeSlot(ctx); err != nil {
			return err
		}
	} else {
		c.waveReady(ctx)
		if _, err := c.takeSlot(ctx); err != nil {
			return err
		}
		if err := c.shutdown(ctx, "guest shut down (cold migration: the whole replication happens in this window)"); err != nil {
			return err
		}
	}
	return c.phase("cold pass", func() (string, error) {
		r, err := c.job.RunPass(ctx, true)
		c.rep.FinalPass = &r.Counters
		if err == nil {
			if store, serr := c.env.replicationStore(); serr == nil {
				err = recordPass(store, c.plan.Name, r)
			}
		}
		return fmt.Sprintf("%s pass without a snapshot: %s, %s sent", r.Kind, plannedText(r.Counters), Bytes(r.Counters.Sent)), err
	})
}

// offProbes are the plan's probes that cannot answer before the cutover:
// each VM they depend on is migrated cold and powered off now (no service
// runs until its migrated copy does). By probe name, why.
func (e *Env) offProbes(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	offVMs := map[string]bool{}
	for i, p := range e.Plan().Probes {
		deps := p.deps()
		if len(deps) == 0 {
			continue
		}
		all := true
		for _, vm := range deps {
			off, known := offVMs[vm]
			if !known && !slices.ContainsFunc(e.Plan().VMs, func(p VMPlan) bool { return p.Name == vm }) {
				// Not migrated by this plan: its probe answers or not as
				// the machine does.
				known, offVMs[vm] = true, false
			}
			if !known {
				mode, _, src, err := e.sourceMode(ctx, vm)
				if err != nil {
					return nil, err
				}
				off = mode == ModeCold && !src.PoweredOn()
				offVMs[vm] = off
			}
			all = all && off
		}
		if all {
			out[p.label(i)] = strings.Join(deps, ", ") + " powered off (cold migration)"
		}
	}
	return out, nil
}

// planOf is the plan's entry for the VM name, or a new one.
func (e *Env) planOf(name string) VMPlan {
	for _, vm := range e.Plan().VMs {
		if vm.Name == name {
			return vm
		}
	}
	return VMPlan{Name: name}
}

// PickMode says how the VM would be migrated if it were picked (the plan's
// mode for a VM of the plan, else by its power state) and why; "", "" for
// a VM neither mode takes (PickRefusal says why).
func (e *Env) PickMode(vm vsphere.VM) (mode, why string) {
	mode, why, err := vmMode(e.planOf(vm.Name), vm)
	if err != nil {
		return "", ""
	}
	return mode, why
}

// coldOffKey is the cutover step's output that says a cold VM's source was
// powered off when its cutover began: a rollback, also one after a crash,
// leaves it off.
func coldOffKey(vm string) string { return "source_off." + vm }

// markColdSource records at the start of a cutover whether it begins with
// a cold VM's source powered off (off), so that a retry after a crash
// does not power it on.
func (e *Env) markColdSource(vm string, off bool) error {
	v := ""
	if off {
		v = "off"
	}
	if e.State.Get("cutover").Outputs[coldOffKey(vm)] == v {
		return nil
	}
	return e.State.SetOutput("cutover", coldOffKey(vm), v)
}

// shutdownKey is the cutover step's output that records when a cutover
// began to shut the VM's source down.
func shutdownKey(vm string) string { return "source_shutdown." + vm }

// interruptedShutdown is when the VM's last cutover began to shut its
// source down (zero: never, or not recorded).
func (e *Env) interruptedShutdown(vm string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, e.State.Get("cutover").Outputs[shutdownKey(vm)])
	if err != nil {
		return time.Time{}
	}
	return t
}

// settleInterruptedShutdown reads the VM's source again once a guest
// shutdown an interrupted cutover asked for (at off) has had its time: a
// source that reads powered on while the plan's shutdown timeout since off
// has not passed may be a guest still shutting down (vCenter reports it
// powered on until the guest stops), which would power off seconds after a
// rollback found it running. It waits until the source is off or that
// timeout has passed, saying so, and returns the source as read then. A
// source whose boot time is after off was powered on again since: there is
// no shutdown to wait for.
func (c *vmCutover) settleInterruptedShutdown(ctx context.Context, src vsphere.VM, off time.Time) (vsphere.VM, error) {
	if off.IsZero() || !src.PoweredOn() || !backOnSince(src, off).IsZero() {
		// Not shutting down: off, or powered on again since (a retry or
		// rollback killed after its power-on, or someone by hand).
		return src, nil
	}
	timeout, _, _, err := cutoverTimings(c.env.Plan().Cutover)
	if err != nil {
		return src, err
	}
	until := off.Add(timeout)
	if !time.Now().Before(until) {
		return src, nil
	}
	c.emit(Progress(fmt.Sprintf("%s: the source reads powered on, but the interrupted cutover asked its guest OS to shut down at %s UTC, and a guest shutting down reads as powered on: waiting until %s UTC (cutover.shutdown_timeout %s) for it to stop before deciding",
		c.plan.Name, off.UTC().Format("15:04:05"), until.UTC().Format("15:04:05"), timeout), -1))
	wasOff, err := c.onprem.WaitPoweredOff(ctx, src.Ref, until)
	if err != nil {
		return src, err
	}
	if !wasOff {
		c.emit(Progress(fmt.Sprintf("%s: the source is still powered on at the end of the shutdown timeout: its guest did not stop, taken as running", c.plan.Name), -1))
		return src, nil
	}
	c.emit(Progress(fmt.Sprintf("%s: the source's guest OS finished the shutdown the interrupted cutover asked for: it is powered off", c.plan.Name), -1))
	return c.onprem.VMByName(ctx, c.plan.Name)
}

// coldSourceWasOff reports whether the VM's cold cutover began with its
// source powered off.
func (e *Env) coldSourceWasOff(vm string) bool {
	return e.State.Get("cutover").Outputs[coldOffKey(vm)] == "off"
}

// shutdown is the shutdown phase of a cutover window: guest shutdown, hard
// power-off after the timeout if the plan allows; done is its detail when
// the guest stopped by itself.
func (c *vmCutover) shutdown(ctx context.Context, done string) error {
	if err := ctx.Err(); err != nil {
		// Stopped before the shutdown was asked for: the source runs on,
		// and no shutdown is on record (a VM stopped here read "rolled
		// back", "shutdown to power-on 0.0s", in a wave "down from the
		// first shutdown" though none was shut down).
		return fmt.Errorf("%s: stopped before the shutdown: %w", c.plan.Name, err)
	}
	c.hurry()
	c.rep.SourceOff = time.Now()
	// Recorded first: a ferry killed from here on leaves the source down,
	// and the retry's report counts that outage (interruptedShutdown).
	if err := c.env.State.SetOutput("cutover", shutdownKey(c.plan.Name), c.rep.SourceOff.UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	return c.phase("shutdown", func() (string, error) {
		if err := ctx.Err(); err != nil {
			// Stopped as the phase began, before anything was asked of
			// vCenter: not shut down after all.
			c.rep.SourceOff = time.Time{}
			if serr := c.env.State.SetOutput("cutover", shutdownKey(c.plan.Name), ""); serr != nil {
				return "", errors.Join(err, serr)
			}
			return "not asked: stopped before the shutdown", err
		}
		hard, err := c.onprem.Shutdown(ctx, c.src.Ref, c.shutdownTimeout, c.hard)
		// Asked and not seen off: it may still power off (the rollback
		// waits for that).
		c.shutdownPending = errors.Is(err, vsphere.ErrShutdownAsked)
		if hard != "" {
			return hard + ": powered off hard", err
		}
		return done, err
	})
}

// coldHealth is `ferry status`'s word on a cold VM's replica: no pass every
// RPO, so no RPO to miss.
func coldHealth(last, now time.Time) string {
	if last.IsZero() {
		return "cold migration: replicated in one pass in its cutover window"
	}
	return fmt.Sprintf("cold migration: replica of the powered-off VM as of %s ago (no pass every RPO; the cutover window passes again)", now.Sub(last).Round(time.Second))
}
