package steps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Replicate is step 6: the initial full sync of every selected VM's disks to
// the provider-side receiver (later runs: an incremental pass that brings the
// replica within the RPO). The replica keeps following the source until the
// cutover: the wizard runs passes every RPO; headless runs pass again at
// cutover.
type Replicate struct{}

// ID implements Step.
func (*Replicate) ID() string { return "replication" }

// Title implements Step.
func (*Replicate) Title() string { return "Replication" }

// Fields implements Step.
func (*Replicate) Fields() []Field { return nil }

// synced reports whether the VM's replica has a committed pass.
func synced(store *replication.StateStore, vm string) (bool, error) {
	if store == nil { // no store yet: nothing replicated
		return false, nil
	}
	st, err := store.VM(vm)
	if err != nil {
		return false, err
	}
	return !st.LastPass.IsZero(), nil
}

// firstCopy says whether vm's next pass makes its replica's first copy
// (the plan's "create"): no pass recorded, none interrupted, no disk
// committed.
func firstCopy(store *replication.StateStore, vm string) (bool, error) {
	done, err := synced(store, vm)
	if err != nil || done || store == nil {
		return !done, err
	}
	inFlight, committed, _, err := storedPass(store, vm)
	return err == nil && inFlight == nil && committed == 0, err
}

// recordPass keeps the VM's record as the scheduler does after a pass, so
// a later scheduler (the wizard) knows when the next pass is due.
func recordPass(store *replication.StateStore, vm string, r replication.PassResult) error {
	// In one transaction with the read: a pause stored meanwhile (ferry
	// pause) stays.
	return store.UpdateVM(vm, func(vs *replication.VMState) error {
		if vs.LastPass.Equal(r.Start) {
			// The job recorded this pass itself: recording it again
			// would make the interval between passes zero (and the
			// change rate, which the projected downtime reads, unknown).
			return nil
		}
		vs.NotePass(r.Start, r.Start, r.Duration, r.Kind, r.Counters, r.Compare != nil)
		if r.Compare != nil {
			vs.LastCompare = r.Compare
		}
		return nil
	})
}

// Plan implements Step.
func (s *Replicate) Plan(ctx context.Context, env *Env) (Plan, error) {
	p := Plan{Step: s.ID()}
	if _, err := receiverTLS(env.Config.Receiver); err != nil {
		return p, err
	}
	every, err := env.verifyEvery()
	if err != nil {
		return p, err
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		return p, err
	}
	kind, err := env.receiverKind()
	if err != nil {
		return p, err
	}
	store, done, err := env.readReplicationStore()
	if errors.Is(err, replication.ErrStoreBusy) {
		return p, fmt.Errorf("%w; plan again once it ends (a ferry serve engine plans while it replicates)", err)
	}
	if err != nil {
		return p, err
	}
	defer done()
	checkedProvider := false
	var sources []vsphere.VM
	var replicate []bool
	for _, vmp := range env.Migrating() {
		vm, err := onprem.VMByName(ctx, vmp.Name)
		if err != nil {
			return p, err
		}
		done, err := synced(store, vm.Name)
		if err != nil {
			return p, err
		}
		mode, why, err := vmMode(vmp, vm)
		if err != nil {
			return p, err
		}
		sources, replicate = append(sources, vm), append(replicate, mode == ModeWarm)
		var inFlight *PassInFlight
		var committed int
		var committedSize int64
		if store != nil {
			if inFlight, committed, committedSize, err = storedPass(store, vm.Name); err != nil {
				return p, err
			}
		}
		switch {
		case mode == ModeCold:
			p.Items = append(p.Items, env.coldPlanItem(vmp, vm, why, done))
		case done && inFlight != nil && !env.passRunning(vm.Name):
			// A later pass (an incremental one, or a full compare) was
			// interrupted: the next pass resumes it. (One this process's
			// scheduler runs now is not interrupted: the plain line.)
			ic, err := store.InterruptedCompare(vm.Name)
			if err != nil {
				return p, err
			}
			what := fmt.Sprintf("%s pass to %s: %s of %s durable at the receiver, not sent again", inFlight.Kind, env.Config.Receiver.URL, Bytes(inFlight.Durable), Bytes(inFlight.Size))
			switch {
			case ic != nil:
				what = fmt.Sprintf("full compare with %s: %d of %d blocks compared, not read again", env.Config.Receiver.URL, ic.Blocks, ic.Total)
			case inFlight.Durable <= 0:
				what = fmt.Sprintf("%s pass to %s in its snapshot: nothing of it was durable at the receiver yet, so it is sent from the start", inFlight.Kind, env.Config.Receiver.URL)
			}
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name, Detail: "resume the interrupted " + what + "; then changed blocks only"})
		case done && mode == ModeWarm && env.warm == nil:
			// Headless (applyPasses): the pass is a full compare when one
			// is due (none since the initial sync: a run killed between
			// them; or the last one older than verify_every).
			due, err := compareDue(store, vm.Name, every, time.Now())
			if err != nil {
				return p, err
			}
			detail := "incremental pass (changed blocks only) to " + env.Config.Receiver.URL
			if due {
				detail = "full compare with " + env.Config.Receiver.URL + " (every block read back from the replica and compared with the source): " + compareWhy(store, vm.Name, every)
			}
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name, Detail: detail})
		case done:
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name, Detail: "incremental pass (changed blocks only) to " + env.Config.Receiver.URL})
		case inFlight != nil && inFlight.Durable <= 0:
			// Stopped before any of it was durable in disk order (acks come
			// out of order, the watermark follows the first gap).
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name, Detail: fmt.Sprintf(
				"resume the interrupted %s pass to %s in its snapshot: nothing of it was durable at the receiver yet, so it is sent from the start", inFlight.Kind, env.Config.Receiver.URL)})
		case inFlight != nil:
			// Interrupted (a killed or stopped ferry): the pass resumes in
			// its snapshot from the durable watermark.
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name, Detail: fmt.Sprintf(
				"resume the interrupted %s pass to %s: %s of %s durable at the receiver, not sent again", inFlight.Kind, env.Config.Receiver.URL, Bytes(inFlight.Durable), Bytes(inFlight.Size))})
		case committed > 0:
			rest := ""
			if more := len(vm.Disks) - committed; more > 0 {
				rest = fmt.Sprintf(", and the initial sync of the %d other", more)
				if more > 1 {
					rest += "s"
				}
			}
			// Stopped after the receiver committed the first pass of these
			// disks, before the pass was recorded: they go on from there.
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name, Detail: fmt.Sprintf(
				"go on from the initial sync of %s committed at %s (its pass was not recorded as ended): changed blocks only%s", disksPhrase(committed, committedSize), env.Config.Receiver.URL, rest)})
		default:
			detail := fmt.Sprintf("initial sync of %s to %s", Bytes(vm.DiskBytes()), env.Config.Receiver.URL)
			if mode == ModeWarm && env.warm != nil {
				// The wizard's scheduler follows it with a full compare
				// while the VM runs (headless: an item of its own, below).
				detail += "; then, in the background, a full compare (every block read back from the replica and compared with the source)"
			}
			p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "replica", Name: vm.Name, Detail: detail})
		}
		if !done && mode == ModeWarm && env.warm == nil {
			// Headless (applyPasses): the full compare right after the
			// initial sync is a change of its own in the result; the
			// plan counts it too (QA: a result of more changes than
			// planned). The wizard's scheduler runs it in the background.
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "replica", Name: vm.Name,
				Detail: "full compare right after the initial sync: every block read back from the replica and compared with the source"})
		}
		// A cold VM that runs gets its disks in its cutover window.
		if !done && (mode == ModeWarm || !vm.PoweredOn()) {
			if !checkedProvider {
				if err := env.checkReplicaPlace(ctx, kind); err != nil {
					return p, err
				}
				checkedProvider = true
			}
			// Its disks, made by the provider vCenter (kept if they exist).
			items, files, found, err := env.replicaDiskItems(ctx, vm.Name, vm.Disks, kind)
			if err != nil {
				return p, err
			}
			p.Items = append(p.Items, items...)
			// Disks another VM uses (the VM a cutover made of them, its
			// state lost): the apply would refuse; the plan says so first.
			if len(found) > 0 {
				provider, err := env.ProviderVC(ctx)
				if err != nil {
					return p, err
				}
				if err := env.refuseUsedReplicas(ctx, provider, vm.Name, files); err != nil {
					p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "replica", Name: vm.Name, Detail: err.Error()})
				}
			}
		}
	}
	// VMs replicated before and taken out of the plan since: nothing
	// replicates them now, and ferry removes nothing of theirs.
	left, err := replicasLeft(env, store)
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, left...)
	// What the replication and the cutovers will ask of both vCenters.
	conflicts, err := env.privilegeItems(ctx, sources, replicate)
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, conflicts...)
	// Room for the pass snapshots' deltas on the source datastores.
	if conflicts, err = env.snapshotRoomItems(ctx, onprem, sources, replicate); err != nil {
		return p, err
	}
	p.Items = append(p.Items, conflicts...)
	return p, nil
}

// replicasLeft are the replicas of VMs the store has replicated that are
// no longer in the plan's vms: and were not cut over (QA: a VM deleted
// from the plan while it replicated left its replica, its disks hot-added
// to the receiver appliance and changed block tracking on, without a word).
func replicasLeft(env *Env, store *replication.StateStore) ([]Item, error) {
	if store == nil {
		return nil, nil
	}
	names, err := store.VMNames()
	if err != nil {
		return nil, err
	}
	var out []Item
	for _, n := range names {
		if slices.ContainsFunc(env.Plan().VMs, func(v VMPlan) bool { return v.Name == n }) || env.VMPhase(n) == VMCutOver {
			continue
		}
		vs, err := store.VM(n)
		if err != nil || vs.LastPass.IsZero() {
			continue
		}
		out = append(out, Item{Action: ActionExists, Kind: "replica", Name: n, Detail: fmt.Sprintf(
			"no longer in the plan's vms: (last pass %s): nothing replicates it, and ferry removes nothing of it (its replica disks at the provider, changed block tracking at the source); put it back in vms: to replicate and cut it over",
			vs.LastPass.Local().Format("2006-01-02 15:04"))})
	}
	return out, nil
}

// Apply implements Step.
func (s *Replicate) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	// The VMs' passes report from goroutines of their own (the
	// scheduler's, applyWarm's and applyPasses'): one event at a time to
	// the runner, whose recording of changes is not made for more.
	emit = serialEmit(emit)
	// A VM cut over in an earlier wave has no source to follow; a cold one
	// gets its one pass without a snapshot (replicateCold).
	vms, cold, err := env.splitCold(ctx, env.Migrating())
	if err != nil {
		return Result{}, err
	}
	res, err := env.replicateCold(ctx, cold, len(vms)+len(cold) == 1, emit)
	if err != nil {
		return res, err
	}
	var more Result
	if env.warm != nil {
		more, err = s.applyWarm(ctx, env, vms, emit)
	} else {
		more, err = s.applyPasses(ctx, env, vms, emit)
	}
	res.Changes = append(res.Changes, more.Changes...)
	res.Resources = append(res.Resources, more.Resources...)
	return res, err
}

// applyPasses runs a pass of each warm VM (headless: no scheduler).
func (s *Replicate) applyPasses(ctx context.Context, env *Env, vms []VMPlan, emit Emit) (Result, error) {
	var res Result
	every, err := env.verifyEvery()
	if err != nil {
		return res, err
	}
	limit, err := concurrentPasses(env.Plan())
	if err != nil {
		return res, err
	}
	results := make([]replication.PassResult, len(vms))
	followups := make([]*replication.PassResult, len(vms)) // the full compare right after an initial sync
	firsts := make([]bool, len(vms))
	disks := make([][]Item, len(vms)) // the replica disks made for each
	// The lines' fraction is the step's, as the wizard's scheduler's
	// (applyWarm): each pass's fraction, of whichever VM spoke last, made
	// the percentage of ferry run's lines jump between the VMs (80%, 10%,
	// 85%) and start again at the full compare after an initial sync.
	prog := newStepProgress(emit, vms)
	switch together := strings.Join(prog.vms, ", "); {
	case len(vms) > limit:
		emit(Progress(fmt.Sprintf("replicating %s: their passes run together, %d at a time (concurrent_passes); the others wait for a slot; the percentage is step 6's, the mean of the VMs'", together, limit), 0))
	case len(vms) > 1:
		emit(Progress("replicating "+together+": their passes run together; the percentage is step 6's, the mean of the VMs'", 0))
	}
	var mu sync.Mutex
	over := map[string]bool{} // the VMs whose passes completed
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit) // concurrent_passes, as the wizard's scheduler
	for i, vmp := range vms {
		g.Go(func() error {
			// What the plan counted as made (env.job makes them).
			var err error
			if disks[i], err = env.replicaDisksToMake(gctx, vmp.Name); err != nil {
				return err
			}
			job, _, err := env.job(gctx, vmp.Name, prog.emitter(vmp.Name))
			if err != nil {
				return err
			}
			due, err := compareDue(job.State, vmp.Name, every, time.Now())
			if err != nil {
				return err
			}
			if firsts[i], err = firstCopy(job.State, vmp.Name); err != nil {
				return err
			}
			if !due {
				// An initial sync is followed by a full compare: each is
				// half of what the step counts of the VM.
				if vs, err := job.State.VM(vmp.Name); err != nil {
					return err
				} else if vs.LastPass.IsZero() {
					prog.passes(vmp.Name, 0, 2)
				}
			}
			r, err := job.RunPassWith(gctx, replication.PassOptions{Compare: due})
			if err != nil {
				return fmt.Errorf("replicate %s: %w", vmp.Name, err)
			}
			results[i] = r
			if err := recordPass(job.State, vmp.Name, r); err != nil {
				return err
			}
			complete := func() {
				mu.Lock()
				defer mu.Unlock()
				over[vmp.Name] = true
				var waiting []string
				for _, v := range vms {
					if !over[v.Name] {
						waiting = append(waiting, v.Name+"'s pass")
					}
				}
				prog.done(vmp.Name, waiting)
			}
			// Right after the initial sync: a full compare of the replica.
			if due, err = compareDue(job.State, vmp.Name, every, time.Now()); err != nil || !due {
				if err == nil {
					complete()
				}
				return err
			}
			prog.passes(vmp.Name, 1, 2)
			c, err := job.RunPassWith(gctx, replication.PassOptions{Compare: true})
			if err != nil {
				return fmt.Errorf("full compare of %s: %w", vmp.Name, err)
			}
			followups[i] = &c
			if err := recordPass(job.State, vmp.Name, c); err != nil {
				return err
			}
			complete()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	for i, vmp := range vms {
		r := results[i]
		it := passItem(env, vmp.Name, r, "")
		if firsts[i] {
			it.Action = ActionCreate // as planned: the replica's first copy
		}
		items := append([]Item{it}, disks[i]...)
		if f := followups[i]; f != nil {
			items = append(items, passItem(env, vmp.Name, *f, " right after the initial sync"))
			r = *f
		}
		for _, it := range items {
			emit(Changed(it))
			res.Changes = append(res.Changes, it)
		}
		res.Resources = append(res.Resources, *it.Resource)
		if err := env.State.SetOutput(s.ID(), "last_pass."+vmp.Name, r.Start.UTC().Format(time.RFC3339)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// passItem is what a headless pass of vm did: its kind (a full compare:
// every block read, as events and metrics count it), figures and, for a
// compare, what it found; when adds when it ran.
func passItem(env *Env, vm string, r replication.PassResult, when string) Item {
	kind := string(r.Kind) + " pass"
	if r.Compare != nil || r.Kind == replication.PassFullCompare {
		kind = "full compare"
	}
	it := Item{Action: ActionUpdate, Kind: "replica", Name: vm,
		Detail: fmt.Sprintf("%s%s: %s, %s on the wire, %s zeros skipped, in %s",
			kind, when, plannedText(r.Counters), Bytes(r.Counters.Sent), Bytes(r.Counters.ZeroSkipped), r.Duration.Round(time.Millisecond)),
		Resource: &Resource{Kind: "replica", Name: vm, ID: env.Config.Receiver.URL}}
	if r.Compare != nil {
		it.Detail += "; it found: " + compareText(r.Compare)
	}
	return it
}

// applyWarm hands the VMs to the wizard's scheduler, which keeps passing
// every RPO after the step, and waits for each one's pass. Every VM's pass
// is asked for at once and waited for in a goroutine of its own: the
// scheduler runs as many at a time as concurrent_passes allows, and a VM
// whose pass waits (its job paused from another session, or held) holds
// only its own result, not the passes of the VMs after it (one after
// another, the step took the sum of the initial syncs, and a paused first
// pass kept the others from even starting). The changes come in the plan's
// VM order, each VM's as soon as its pass and those of the VMs before it
// completed.
func (s *Replicate) applyWarm(ctx context.Context, env *Env, vms []VMPlan, emit Emit) (Result, error) {
	var res Result
	store, err := env.replicationStore()
	if err != nil {
		return res, err
	}
	prog := newStepProgress(emit, vms)
	names := make([]string, len(vms))
	for i, vmp := range vms {
		names[i] = vmp.Name
	}
	// A pass a stopped ferry left goes on from what is durable: the step
	// starts from there, not from 0% (QA: after a restart in step 6 its
	// bar read 0% until the passes' first progress lines).
	resumed, err := resumedFractions(store, names)
	if err != nil {
		return res, err
	}
	from := prog.seed(resumed)
	switch together := strings.Join(names, ", "); {
	case len(vms) == 1:
		emit(Progress(vms[0].Name+": replicating", from))
	case len(vms) > env.warm.passes:
		emit(Progress(fmt.Sprintf("replicating %s: their passes run together, %d at a time (concurrent_passes); the others wait for a slot", together, env.warm.passes), from))
	case len(vms) > 1:
		emit(Progress("replicating "+together+": their passes run together", from))
	}
	var mu sync.Mutex
	done := make([][]Item, len(vms)) // a VM's changes, once its pass completed
	next := 0                        // the first VM whose changes are not said yet
	say := func(i int) {
		for _, it := range done[i] {
			emit(Changed(it))
			res.Changes = append(res.Changes, it)
		}
		res.Resources = append(res.Resources, *done[i][0].Resource)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, vmp := range vms {
		g.Go(func() error {
			first, err := firstCopy(store, vmp.Name)
			if err != nil {
				return err
			}
			made, err := env.replicaDisksToMake(gctx, vmp.Name)
			if err != nil {
				return err
			}
			stop := env.warmListen(vmp.Name, prog.emitter(vmp.Name))
			err = env.warmPass(gctx, vmp, emit)
			stop()
			if err != nil {
				return err
			}
			r := Resource{Kind: "replica", Name: vmp.Name, ID: env.Config.Receiver.URL}
			it := Item{Action: ActionUpdate, Kind: "replica", Name: vmp.Name, Detail: "replica complete; a pass runs every " + vmp.RPO.String() + " until the cutover", Resource: &r}
			if first {
				it.Action = ActionCreate // as planned: the replica's first copy
			}
			mu.Lock()
			defer mu.Unlock()
			done[i] = append([]Item{it}, made...)
			for ; next < len(vms) && done[next] != nil; next++ {
				say(next)
			}
			// Said after its changes, so that the wizard's line (the last
			// one) says what the step still waits for: a VM paused earlier
			// said so once, in a warning that the other VMs' lines since
			// pushed out of sight (QA hD: three VMs, WebApp2 paused, the
			// others done, the step read "+ create replica disk ...").
			var rest []string
			for j, d := range done {
				if d == nil {
					rest = append(rest, env.waitingFor(vms[j].Name))
				}
			}
			prog.done(vmp.Name, rest)
			return nil
		})
	}
	err = g.Wait()
	if err != nil {
		// The VMs whose pass completed before the failure keep their
		// record (the state's resources), in order.
		for i := next; i < len(vms); i++ {
			if done[i] != nil {
				say(i)
			}
		}
	}
	return res, err
}

// stepProgress keeps step 6's progress meaningful while several VMs'
// passes run at once: each pass's lines name their VM, and the fraction of
// a line that has one is the step's (the VMs' mean: a VM whose pass
// completed counts whole, one that has not started nothing), not the
// fraction of the pass of whichever VM spoke last (the wizard shows it as
// "% of the step"; several VMs' would make its bar jump between them).
// So is the ETA such a line ends with: the step's, the longest of the
// passes it waits for, and none while one of them has none (not started,
// paused, checking what an earlier attempt made durable); the wizard shows
// it beside the step's percentage (QA: it read one VM's ETA there, the
// VM whose line came last, while another's pass would end minutes later).
type stepProgress struct {
	emit Emit
	vms  []string
	mu   sync.Mutex
	frac map[string]float64
	over map[string]bool // the VMs whose pass completed
	// eta is the ETA of each VM's pass in flight, as its last progress
	// said it; a VM not in it has none now.
	eta map[string]time.Duration
	// again are the VMs whose pass began again after the step counted
	// some of it (a pause or a failure stopped it: see held).
	again map[string]bool
	// kept are the VMs whose pass in flight counts bytes an earlier
	// attempt or pass made durable (Counters.Resumed): begun again, it
	// did not start over (DiskState.Carry).
	kept map[string]bool
	// part is, for a VM the step waits more than one pass of (headless:
	// an initial sync, then its full compare), the pass in flight and how
	// many: each pass is that share of the VM's fraction. A VM not in it
	// has one.
	part map[string][2]int
}

// passes says that vm's pass in flight is pass i (from 0) of the n the
// step waits for.
func (p *stepProgress) passes(vm string, i, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part[vm] = [2]int{i, n}
}

// vmFractionLocked is vm's fraction of the step's work for it when its
// pass in flight is at f (p.mu is held).
func (p *stepProgress) vmFractionLocked(vm string, f float64) float64 {
	if part, ok := p.part[vm]; ok && part[1] > 1 {
		return (float64(part[0]) + f) / float64(part[1])
	}
	return f
}

// moreLocked reports whether the step waits for another pass of vm after
// the one in flight (p.mu is held).
func (p *stepProgress) moreLocked(vm string) bool {
	part, ok := p.part[vm]
	return ok && part[0] < part[1]-1
}

func newStepProgress(emit Emit, vms []VMPlan) *stepProgress {
	p := &stepProgress{emit: emit, frac: map[string]float64{}, over: map[string]bool{}, eta: map[string]time.Duration{}, again: map[string]bool{}, kept: map[string]bool{},
		part: map[string][2]int{}}
	for _, vm := range vms {
		p.vms = append(p.vms, vm.Name)
	}
	return p
}

// seed counts each VM of fracs at its fraction (resumedFractions) and
// returns the step's fraction then.
func (p *stepProgress) seed(fracs map[string]float64) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for vm, f := range fracs {
		p.frac[vm] = f
	}
	return p.stepLocked()
}

// resumedFractions is, for each of vms whose first pass (its initial
// sync) a stopped ferry (or a pause) left in flight with some of it
// durable at the receiver, how much of it is (storedPass): the pass goes
// on from there, its progress lines count it (Counters.Resumed) from their
// first, and step 6 waits for that pass (warmPass). Not a VM with a
// complete pass: the step waits for its next pass, which may be one after
// the pass in flight now, and counts it from 0.
func resumedFractions(store *replication.StateStore, vms []string) (map[string]float64, error) {
	out := map[string]float64{}
	if store == nil {
		return out, nil
	}
	for _, vm := range vms {
		if ok, err := synced(store, vm); err != nil || ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		p, _, _, err := storedPass(store, vm)
		if err != nil {
			return nil, err
		}
		if p != nil && p.Size > 0 && p.Durable > 0 {
			out[vm] = min(float64(p.Durable)/float64(p.Size), 1)
		}
	}
	return out, nil
}

// StepProgress is the fraction of step id a run starts from, as ferry
// persists it, for a front end to show before the run's first progress
// line: for the replication step, what its first line says (applyWarm),
// the mean over its warm VMs of how much of each one's initial sync in
// flight is durable (resumedFractions: a pass a stopped ferry left goes on
// from there); -1 when nothing is persisted (another step, no warm VM, no
// initial sync in flight with anything durable, a store that cannot be
// read). Cold VMs do not count: their passes run before the warm VMs' and
// their lines carry no fraction of the step (replicateCold), so what of
// theirs is durable would have the bar go back at the first line; a cold
// VM alone in the step has -1 (its final pass resumes no snapshot, so its
// first line may not start from what is durable).
func (e *Env) StepProgress(id string) float64 {
	if id != (&Replicate{}).ID() {
		return -1
	}
	var names []string
	for _, vm := range e.Migrating() {
		if !e.isCold(vm.Name) {
			names = append(names, vm.Name)
		}
	}
	if len(names) == 0 {
		return -1
	}
	store, done, err := e.readReplicationStore()
	if err != nil {
		return -1
	}
	defer done()
	fracs, err := resumedFractions(store, names)
	if err != nil || len(fracs) == 0 {
		return -1
	}
	sum := 0.0
	for _, f := range fracs {
		sum += f
	}
	return min(sum/float64(len(names)), 1)
}

// stepLocked is the step's fraction; p.mu is held.
func (p *stepProgress) stepLocked() float64 {
	sum := 0.0
	for _, f := range p.frac {
		sum += f
	}
	return min(sum/float64(max(len(p.vms), 1)), 1)
}

// etaText is the ETA clause of vm's progress line ev: with one VM its
// pass's (the step's, unless its full compare follows: said); with
// several the step's, naming the VM whose pass ends last, or none when it
// is not known (a VM whose full compare follows its pass).
func (p *stepProgress) etaText(ev replication.Event) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.vms) <= 1 {
		if len(p.vms) == 1 && p.moreLocked(p.vms[0]) {
			return passETA(ev) + " (then its full compare)"
		}
		return passETA(ev)
	}
	var last string
	var longest time.Duration
	for _, vm := range p.vms {
		if p.over[vm] {
			continue
		}
		if p.moreLocked(vm) {
			return "" // nor has a pass the step waits for another one after
		}
		eta, ok := p.eta[vm]
		if !ok {
			return "" // a pass the step waits for has no ETA: neither has the step
		}
		if last == "" || eta > longest {
			last, longest = vm, eta
		}
	}
	if longest <= 0 {
		return ""
	}
	return fmt.Sprintf("; step 6 ETA %s (%s's pass ends last)", longest.Round(time.Second), last)
}

// heldLocked says, for a line of vm's pass at fraction f below what the
// step counted of vm, that the step keeps counting what vm had reached
// (p.mu is held); "" otherwise. The step's bar does not go back while the
// step runs: a pass a pause (or a failure) stopped starts again in a new
// snapshot when it resumes (no snapshot grows on the source while a job is
// paused); it keeps what the stopped one made durable, but sends again
// what the guest changed there meanwhile, and counts from 0% until it
// planned its disk, so the VM's pass fell back and the step's mean with it
// (QA: 71% then 69%; in the lab, before a new pass kept what the stopped
// one made durable, WebApp1 paused at 40% of its first pass and resumed
// at 0 of 57 MiB, the step's bar 44% then 31%). A pass that plans its next
// disk finds more to copy as well. The step's bar holds, and the line says
// why, until the pass passes what the step counted.
func (p *stepProgress) heldLocked(vm string, f float64) string {
	was := p.frac[vm]
	if f >= was {
		return ""
	}
	why := "found more to copy"
	switch {
	case p.again[vm] && p.kept[vm]:
		// It kept what the stopped pass made durable (its line says how
		// much: "resumed: ..."); QA: "(resumed: 44 MiB were durable
		// already) ...; WebApp2's pass started again" read as from 0%.
		why = "went on in a new snapshot with more to copy"
	case p.again[vm]:
		why = "started again"
	}
	return fmt.Sprintf("; %s's pass %s: the step counts it at the %.0f%% it had reached until it passes that", vm, why, was*100)
}

// note records what ev says of vm's pass's ETA.
func (p *stepProgress) note(vm string, ev replication.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Kind == replication.EventProgress {
		p.kept[vm] = ev.Resumed > 0
	}
	switch {
	case ev.Kind == replication.EventProgress && ev.Planned > 0 && ev.Acked >= ev.Planned:
		p.eta[vm] = 0 // all of it durable: it commits
	case ev.Kind == replication.EventProgress && ev.ETA > 0:
		p.eta[vm] = ev.ETA
	case ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseSnapshot:
		delete(p.eta, vm) // a pass begins: no ETA yet
		if p.frac[vm] > 0 {
			p.again[vm] = true
		}
	case ev.Kind == replication.EventProgress, ev.Kind == replication.EventPaused, ev.Kind == replication.EventError:
		// No ETA yet (nothing acknowledged), or the pass stopped.
		delete(p.eta, vm)
	}
}

// emitter turns vm's pass events into the step's progress lines
// (progressEmitter), with the step's fraction and ETA.
func (p *stepProgress) emitter(vm string) func(replication.Event) {
	lines := progressEmitterWith(func(ev Event) {
		p.mu.Lock()
		defer p.mu.Unlock() // held while it is said: the lines come in the order of their fractions
		if p.over[vm] {
			return // a pass after the one the step waited for: the dashboard's
		}
		if ev.Kind == EventProgress && ev.Fraction >= 0 {
			f := p.vmFractionLocked(vm, ev.Fraction)
			ev.Message += p.heldLocked(vm, f)
			if f >= p.frac[vm] {
				p.frac[vm], p.again[vm] = f, false
			}
			ev.Fraction = p.stepLocked()
		}
		p.emit(ev)
	}, vm, p.etaText)
	return func(ev replication.Event) {
		p.note(vm, ev)
		lines(ev)
	}
}

// done says that vm's pass completed, and what the step still waits for
// (waiting: the VMs whose pass has not completed, as waitingFor says them).
func (p *stepProgress) done(vm string, waiting []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.over[vm], p.frac[vm] = true, 1
	if len(p.vms) > 1 {
		msg := fmt.Sprintf("%s: replica complete (%d of %d VMs)", vm, len(p.over), len(p.vms))
		if len(waiting) > 0 {
			msg += "; step 6 waits for " + strings.Join(waiting, ", ")
		}
		p.emit(Progress(msg, p.stepLocked()))
	}
}

// waitingFor says what step 6 waits for of vm, whose first pass has not
// completed: its pass, or its job's pause and how it goes on.
func (e *Env) waitingFor(vm string) string {
	st, ok := e.warmStatus(vm)
	switch {
	case !ok || !st.Paused:
		return vm + "'s pass"
	case st.Phase == replication.JobHeld:
		return fmt.Sprintf("%s (%s; ferry releases it)", vm, cmp.Or(st.Reason, "held for its "+string(st.Held)))
	}
	return fmt.Sprintf("%s (replication %s: resume it with u on the replication dashboard, or ferry resume %s)",
		vm, cmp.Or(st.Reason, replication.PausedByRequest), vm)
}

// replicaDiskItems are vm's replica disks (of its on-prem disks) as the
// plan lists them: each to be made by the provider vCenter (its first
// pass makes it, Env.job), or made by an earlier run and kept; with their
// files and which of them exist.
func (env *Env) replicaDiskItems(ctx context.Context, vm string, disks []vsphere.Disk, kind string) ([]Item, []vsphere.DiskFile, map[string]bool, error) {
	how := "written by the nfs receiver on the mounted datastore"
	if kind == replication.KindAppliance {
		how = "hot-added to the receiver appliance " + env.Plan().Provider.ReceiverVM
	}
	files := env.replicaFiles(vm, disks)
	found, err := env.replicaDisksFound(ctx, files)
	if err != nil {
		return nil, nil, nil, err
	}
	items := make([]Item, 0, len(files))
	for _, f := range files {
		it := Item{Action: ActionCreate, Kind: "replica disk", Name: f.Path,
			Detail: fmt.Sprintf("thin, %s, by the provider vCenter; %s", Bytes(f.Capacity), how)}
		if found[f.Path] {
			it.Action, it.Detail = ActionExists, "made by an earlier run, kept as it is (with what it holds); "+how
		}
		items = append(items, it)
	}
	return items, files, found, nil
}

// replicaDisksToMake are the plan's "create replica disk" items of vm
// (replicaDiskItems): the apply says each one its first pass made, as the
// plan counted them (QA: the plan said "2 change(s) will be made", the
// result "1 change": the replica, not its disk).
func (env *Env) replicaDisksToMake(ctx context.Context, name string) ([]Item, error) {
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	vm, err := onprem.VMByName(ctx, name)
	if err != nil {
		return nil, err
	}
	kind, err := env.receiverKind()
	if err != nil {
		return nil, err
	}
	items, _, _, err := env.replicaDiskItems(ctx, name, vm.Disks, kind)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(items, func(it Item) bool { return it.Action != ActionCreate }), nil
}

// Verify implements Step.
func (s *Replicate) Verify(ctx context.Context, env *Env) error {
	store, err := env.replicationStore()
	if err != nil {
		return err
	}
	for _, vmp := range env.Migrating() {
		done, err := synced(store, vmp.Name)
		if err != nil {
			return err
		}
		if !done && !env.isCold(vmp.Name) { // a running cold VM's pass is in its cutover window
			return fmt.Errorf("VM %s has no complete replica yet", vmp.Name)
		}
	}
	return nil
}
