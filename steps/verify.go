package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/replication"
)

// Full compares of the replicas while the VMs run (issue 12): right after
// the initial sync, every verify_every (default 24h) and on demand
// (`ferry run --verify NAMES`, the dashboard); the cutover then verifies
// only what its final pass touched plus the digest-map roots, unless
// cutover.full_verify asks for whole disks inside the downtime window.

// DefaultVerifyEvery is the interval between full compares when the plan
// sets none.
const DefaultVerifyEvery = "24h"

// ValidVerifyEvery accepts a Go duration within the scheduler's bounds.
func ValidVerifyEvery(v string, _ *PlanFile) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration: want 1h to 720h (30 days), e.g. 24h", v)
	}
	if err := replication.ValidateVerifyEvery(d); err != nil {
		return fmt.Errorf("%q is out of range: full compares run between every 1h and every 720h (30 days), e.g. 24h", v)
	}
	return nil
}

// verifyEvery is the plan's interval between full compares.
func (e *Env) verifyEvery() (time.Duration, error) {
	v := e.Plan().VerifyEvery
	if v == "" {
		v = DefaultVerifyEvery
	}
	if err := ValidVerifyEvery(v, e.Plan()); err != nil {
		return 0, &FieldError{"verify_every", err}
	}
	d, _ := time.ParseDuration(v)
	return d, nil
}

// compareDue says whether vm's replica is due a full compare: none since
// its initial sync, the last one is older than verify_every, or one was
// interrupted (it goes on from where it got to).
func compareDue(store *replication.StateStore, vm string, every time.Duration, now time.Time) (bool, error) {
	vs, err := store.VM(vm)
	if err != nil {
		return false, err
	}
	if vs.LastPass.IsZero() {
		return false, nil
	}
	if inflight, err := store.CompareInFlight(vm); err != nil || inflight {
		return inflight, err // an interrupted compare goes on
	}
	return vs.LastCompare == nil || now.Sub(vs.LastCompare.Time) >= every, nil
}

// compareWhy says why vm's replica is due a full compare (compareDue).
func compareWhy(store *replication.StateStore, vm string, every time.Duration) string {
	vs, err := store.VM(vm)
	if err != nil || vs.LastCompare == nil {
		return "none has run since its initial sync"
	}
	return fmt.Sprintf("the last one ran at %s, more than verify_every (%s) ago", vs.LastCompare.Time.Local().Format(time.DateTime), every)
}

// VerifyNames parses `ferry run --verify NAMES` (comma-separated VMs of
// the plan).
func VerifyNames(pf *PlanFile, typed string) ([]string, error) {
	return planVMNames(pf, "--verify", typed)
}

// planVMNames checks a flag's comma-separated VM names against the plan.
func planVMNames(pf *PlanFile, flag, typed string) ([]string, error) {
	var all, out []string
	for _, vm := range pf.VMs {
		all = append(all, vm.Name)
	}
	for _, n := range strings.Split(typed, ",") {
		if n = strings.TrimSpace(n); n == "" || slices.Contains(out, n) {
			continue
		}
		if !slices.Contains(all, n) {
			return nil, fmt.Errorf("%s=%q names %q, which is not in the plan%s (VMs: %s)", flag, typed, n, nearname.Hint(n, all), strings.Join(all, ","))
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s=%q names no VM (VMs of the plan: %s)", flag, typed, strings.Join(all, ","))
	}
	return out, nil
}

// VerifyReplicas runs a full compare of each named VM's replica now (`ferry
// run --verify`): every block of a new snapshot against the replica read
// back by the receiver, blocks that differ re-sent; the result is recorded
// for `ferry status` and the cutover report. With a wizard's scheduler the
// compare is its next pass.
func (e *Env) VerifyReplicas(ctx context.Context, names []string, emit Emit) error {
	// Its events belong to no step of the itinerary: they run before it.
	inner := emit
	emit = func(ev Event) {
		ev.Step, ev.Index = "verify", 0
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		inner(ev)
	}
	store, err := e.replicationStore()
	if err != nil {
		return err
	}
	for _, name := range names {
		if !slices.ContainsFunc(e.Plan().VMs, func(v VMPlan) bool { return v.Name == name }) {
			return fmt.Errorf("--verify %s: not a VM of the plan", name)
		}
	}
	// Cut over, no replica yet: refused (CheckVerifyNames).
	if err := e.refuseReplicaNames(store, names, verifyUse); err != nil {
		return err
	}
	for _, name := range names {
		emit(Progress(name+": full compare of the replica with its source", -1))
		var c *replication.CompareResult
		if e.warm != nil && e.warmAdded(name) {
			if c, err = e.warmCompare(ctx, name); err != nil {
				return err
			}
		} else {
			job, _, err := e.job(ctx, name, progressEmitter(emit, name))
			if err != nil {
				return err
			}
			r, err := job.RunPassWith(ctx, replication.PassOptions{Compare: true})
			if err != nil {
				return fmt.Errorf("full compare of %s: %w", name, err)
			}
			if err := recordPass(store, name, r); err != nil {
				return err
			}
			if c = r.Compare; c == nil {
				return fmt.Errorf("full compare of %s: the pass was an initial sync; run --verify again", name)
			}
		}
		emit(Changed(Item{Action: ActionUpdate, Kind: "replica", Name: name, Detail: "full compare: " + compareText(c)}))
	}
	return nil
}

// compareText says what a full compare found, in words.
func compareText(c *replication.CompareResult) string {
	if c == nil {
		return "none yet"
	}
	s := fmt.Sprintf("%d blocks compared, %d differing, %d repaired (%s)", c.Blocks, c.Differing, c.Repaired, c.Time.Local().Format("2006-01-02 15:04:05"))
	if c.Unreported > 0 {
		s += fmt.Sprintf("; %d block(s) held other data than the last pass recorded (changed at the source without changed block tracking reporting it, "+
			"or already wrong in the replica when a pass wrote part of them), sent too", c.Unreported)
	}
	if c.Resumed {
		s += fmt.Sprintf("; resumed after an interruption (%d blocks compared before it, not read again)", c.ResumedBlocks)
	}
	if t := c.EarlierText(); t != "" {
		s += "; " + t
	}
	if c.Differing == 0 {
		s = "replica equal to the source: " + s
	}
	return s
}

// warmAdded reports whether the wizard's scheduler has vm's job.
func (e *Env) warmAdded(vm string) bool {
	e.warm.mu.Lock()
	defer e.warm.mu.Unlock()
	return e.warm.added[vm]
}

// warmCompare asks the wizard's scheduler for a full compare of vm and
// waits for its result.
func (e *Env) warmCompare(ctx context.Context, vm string) (*replication.CompareResult, error) {
	ask := e.warm.sched.VerifyNow
	for _, st := range e.warm.sched.Status() {
		if st.VM == vm && st.Paused && st.Differs {
			// Paused because its replica differs from the source: asking
			// for the full compare that repairs it resumes the job, whose
			// next pass is that compare. A job paused otherwise (by
			// request, a compare due or not) stays paused: WaitPass says
			// so, and the compare runs once it is resumed.
			ask = e.warm.sched.Resume
		}
	}
	if err := ask(vm); err != nil {
		return nil, err
	}
	// The pass VerifyNow asked for is the full compare.
	if err := e.warm.sched.WaitPass(ctx, vm); err != nil {
		if errors.Is(err, replication.ErrPaused) {
			return nil, fmt.Errorf("full compare of %w; it runs once the job is resumed (`ferry resume %s`, or u on the replication dashboard)", err, vm)
		}
		return nil, fmt.Errorf("full compare of %w", err)
	}
	for _, st := range e.warm.sched.Status() {
		if st.VM == vm && st.LastCompare != nil {
			return st.LastCompare, nil
		}
	}
	return nil, fmt.Errorf("full compare of %s: the pass ran, but no compare is recorded", vm)
}

// VerifyNow asks the wizard's scheduler for a full compare of vm as its
// next pass (the dashboard's key); the dashboard shows the result.
func (e *Env) VerifyNow(vm string) error {
	if e.warm == nil || !e.warmAdded(vm) {
		return fmt.Errorf("%s is not replicating in this session", vm)
	}
	return e.warm.sched.VerifyNow(vm)
}

// fullVerify says whether the plan keeps the whole-disk verify inside the
// cutover window.
func fullVerify(cp CutoverPlan) bool { return cp.FullVerify != nil && *cp.FullVerify }

// VerifyReport is what the cutover's verify phase checked.
type VerifyReport struct {
	// Mode: "final pass" (the blocks the final pass touched, read again
	// from the powered-off source, and the digest-map roots) or "whole
	// disks" (cutover.full_verify, or no digest map).
	Mode       string  `json:"mode"`
	Blocks     int64   `json:"blocks,omitempty"`
	BytesRead  int64   `json:"bytes_read"`
	RootBlocks int64   `json:"root_blocks,omitempty"`
	Seconds    float64 `json:"seconds"`
	Detail     string  `json:"detail"`
	// LastCompare is the last full compare while the VM ran.
	LastCompare *replication.CompareResult `json:"last_compare,omitempty"`
}

// compareDue says whether the cutover's pre-cutover pass should be a full
// compare (none within verify_every).
func (c *vmCutover) compareDue(store *replication.StateStore) (bool, error) {
	every, err := c.env.verifyEvery()
	if err != nil {
		return false, err
	}
	return compareDue(store, c.plan.Name, every, time.Now())
}

// verify is the cutover's verify phase (source off, final pass done).
func (c *vmCutover) verify(ctx context.Context) (*VerifyReport, error) {
	start := time.Now()
	rep := &VerifyReport{Mode: "final pass"}
	if store, err := c.env.replicationStore(); err == nil {
		if vs, err := store.VM(c.plan.Name); err == nil {
			rep.LastCompare = vs.LastCompare
		}
	}
	var err error
	full := fullVerify(c.env.Plan().Cutover)
	if !full {
		var v replication.VerifyResult
		v, err = c.job.VerifyFinal(ctx)
		rep.Blocks, rep.BytesRead, rep.RootBlocks, rep.Detail = v.Blocks, v.BytesRead, v.RootBlocks, v.Summary()
		if errors.Is(err, replication.ErrNoDigestMap) {
			c.emit(Warning(fmt.Sprintf("%s: %v: verifying whole disks inside the downtime instead", c.plan.Name, err)))
			full, err = true, nil
		}
	}
	if full {
		rep.Mode, rep.Blocks, rep.RootBlocks = "whole disks", 0, 0
		err = c.job.Verify(ctx)
		rep.BytesRead = c.src.DiskBytes()
		rep.Detail = replication.VerifyResult{Full: true, BytesRead: rep.BytesRead}.Summary()
	}
	rep.Seconds = time.Since(start).Seconds()
	if err != nil {
		rep.Detail = "FAILED: " + err.Error()
	}
	return rep, err
}

// text is the report's paragraph on verification.
func (v *VerifyReport) text() string {
	var b strings.Builder
	if strings.HasPrefix(v.Detail, "FAILED") {
		fmt.Fprintf(&b, "Verify (%s) %s.", v.Mode, v.Detail)
	} else if v.Mode == "whole disks" {
		fmt.Fprintf(&b, "Verified whole disks inside the downtime window (%.3fs): %s.", v.Seconds, v.Detail)
	} else {
		fmt.Fprintf(&b, "Verified what the final pass touched (%.3fs inside the downtime window): %s.", v.Seconds, v.Detail)
	}
	fmt.Fprintf(&b, " Last full compare while the VM ran: %s.", compareText(v.LastCompare))
	return b.String()
}
