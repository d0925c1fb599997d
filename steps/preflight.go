package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// ErrPreflight is wrapped by the error of a run refused before any change.
var ErrPreflight = errors.New("nothing was changed")

// Preflight plans every step that Run would run, in order, before anything
// changes: an unknown org, VDC, edge gateway or port group, a name taken by
// something else, a login that fails, all show up here
// instead of after earlier steps have already created things. It relies on
// the same contract as `ferry plan`: a step's Plan works (and says what it
// would do) before the steps ahead of it have applied. It changes nothing.
//
// Endpoints no step's Plan contacts are proved here too: when a step that
// replicates is still to run, the receiver gets a TLS handshake with the
// configured trust and client certificate and a protocol hello.
func (r *Runner) Preflight(ctx context.Context) error {
	var errs []error
	ctx = withRedo(ctx, r.Redo)
	needReceiver := false
	for i, st := range r.Itinerary {
		id := st.Step.ID()
		if !r.runs(id) || st.SkipReason(r.Env.Plan()) != "" {
			continue
		}
		if st.Confirm && !r.Confirmed {
			break // Run stops in front of it
		}
		if u, ok := st.Step.(receiverUser); ok && u.usesReceiver() {
			needReceiver = true
		}
		p, err := st.Step.Plan(ctx, r.Env)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		step := fmt.Sprintf("step %d (%s)", i+1, st.Step.Title())
		if err != nil {
			errs = append(errs, &stepError{step, err})
			continue
		}
		if len(p.Conflicts()) > 0 {
			errs = append(errs, &stepError{step, fmt.Errorf("%w: %s", ErrConflict, p.conflictText())})
		}
	}
	if needReceiver {
		if err := r.Env.ProbeReceiver(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("replication receiver: %w", err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &PreflightError{Errs: errs}
}

// receiverUser is a step that talks to the replication receiver.
type receiverUser interface{ usesReceiver() bool }

func (*VMSelection) usesReceiver() bool { return true }
func (*Replicate) usesReceiver() bool   { return true }
func (*Cutover) usesReceiver() bool     { return true }

// ProbeReceiver proves that the configured receiver answers and accepts
// this sender (address, trust, client certificate or pin), changing nothing.
func (e *Env) ProbeReceiver(ctx context.Context) error {
	cfg, err := receiverTLS(e.Config.Receiver)
	if err != nil {
		return err
	}
	err = replication.Probe(ctx, e.Config.Receiver.URL, cfg)
	if err != nil && ctx.Err() == nil {
		if why := e.receiverApplianceDown(ctx); why != "" {
			err = fmt.Errorf("%w: %s", err, why)
		}
	}
	return err
}

// receiverApplianceDown says, when the receiver is an appliance the
// provider vCenter has powered off (or suspended), that this is why it
// does not answer ("" otherwise, or when it cannot tell). QA: a cutover
// refused with only "TLS handshake with receiver ...: EOF".
func (e *Env) receiverApplianceDown(ctx context.Context) string {
	kind, err := e.receiverKind()
	pp := e.Plan().Provider
	if err != nil || kind != replication.KindAppliance || pp.ReceiverVM == "" {
		return ""
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return ""
	}
	ref, ok, err := provider.FindVM(ctx, pp.ReceiverVM)
	if err != nil || !ok {
		return ""
	}
	st, err := provider.PowerState(ctx, ref)
	if err != nil || st == vsphere.PoweredOn {
		return ""
	}
	return fmt.Sprintf("the receiver appliance %s (provider.receiver_vm) is %s at the provider, and the receiver runs in it: power it on", pp.ReceiverVM, st)
}

// PreflightError lists what stops a run before it starts.
type PreflightError struct{ Errs []error }

func (e *PreflightError) Error() string {
	if len(e.Errs) == 1 {
		return fmt.Sprintf("%v; %v", e.Errs[0], ErrPreflight)
	}
	// Steps refused for the same reason (one login that fails, say) are
	// one line naming them all, not the reason once per step.
	var causes []string // in order; a reason of no step stands alone
	steps := map[string][]string{}
	var b strings.Builder
	fmt.Fprintf(&b, "%d steps cannot run; %v:", len(e.Errs), ErrPreflight)
	for _, err := range e.Errs {
		se, ok := err.(*stepError)
		if !ok {
			causes = append(causes, "\x00"+err.Error())
			continue
		}
		cause := se.err.Error()
		if _, seen := steps[cause]; !seen {
			causes = append(causes, cause)
		}
		steps[cause] = append(steps[cause], se.step)
	}
	for _, cause := range causes {
		b.WriteString("\n  ")
		if alone, ok := strings.CutPrefix(cause, "\x00"); ok {
			b.WriteString(alone)
		} else {
			b.WriteString(strings.Join(steps[cause], ", ") + ": " + cause)
		}
	}
	return b.String()
}

func (e *PreflightError) Unwrap() []error { return append([]error{ErrPreflight}, e.Errs...) }

// stepError is a step's reason in a PreflightError: "step N (Title): err".
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// runs says whether Run would run step id: it is not done, or it runs
// again (VMs added since, replicas lost, --redo). A step run again is
// planned by the preflight too (QA: a --redo step was not, and a refusal
// only its own plan found came after earlier steps changed things).
func (r *Runner) runs(id string) bool {
	return r.Env.State.Status(id) != StatusDone || r.Env.Stale(id) != "" || r.lost(id) != "" || slices.Contains(r.Redo, id)
}

// PlanConflicts is what the preflight of a run without --confirm-cutover
// would refuse among plans (PlanAll's): the conflicts of the steps it
// would run (not done, or run again with --redo; not skipped; before the
// cutover). ferry plan exits non-zero for them (QA: it printed "!
// conflict" and exited 0, and ferry run then refused that conflict).
func PlanConflicts(it Itinerary, plans []StagePlan) error {
	var errs []error
	for _, sp := range plans {
		if sp.Index < 1 || sp.Index > len(it) || it[sp.Index-1].Confirm {
			break
		}
		if sp.Skipped != "" || sp.Err != nil || (sp.Status == StatusDone && !sp.Redo) {
			continue
		}
		if len(sp.Plan.Conflicts()) > 0 {
			errs = append(errs, &stepError{fmt.Sprintf("step %d (%s)", sp.Index, sp.Step.Title()), fmt.Errorf("%w: %s", ErrConflict, sp.Plan.conflictText())})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &PreflightError{Errs: errs}
}
