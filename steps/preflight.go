package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
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
	needReceiver := false
	for i, st := range r.Itinerary {
		id := st.Step.ID()
		if r.Env.State.Status(id) == StatusDone || st.SkipReason(r.Env.Plan()) != "" {
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
		if err != nil {
			errs = append(errs, fmt.Errorf("step %d (%s): %w", i+1, st.Step.Title(), err))
			continue
		}
		if len(p.Conflicts()) > 0 {
			errs = append(errs, fmt.Errorf("step %d (%s): %w: %s", i+1, st.Step.Title(), ErrConflict, p.conflictText()))
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
	return replication.Probe(ctx, e.Config.Receiver.URL, cfg)
}

// PreflightError lists what stops a run before it starts.
type PreflightError struct{ Errs []error }

func (e *PreflightError) Error() string {
	if len(e.Errs) == 1 {
		return fmt.Sprintf("%v; %v", e.Errs[0], ErrPreflight)
	}
	// Steps refused for the same reason (one login that fails, say) are
	// one line naming them all, not the reason once per step.
	var causes []string
	steps := map[string][]string{}
	for _, err := range e.Errs {
		msg := err.Error()
		step, cause, ok := strings.Cut(msg, "): ")
		if !ok || !strings.HasPrefix(step, "step ") {
			step, cause = "", msg
		} else {
			step += ")"
		}
		if _, seen := steps[cause]; !seen {
			causes = append(causes, cause)
		}
		steps[cause] = append(steps[cause], step)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d steps cannot run; %v:", len(e.Errs), ErrPreflight)
	for _, cause := range causes {
		b.WriteString("\n  ")
		if names := steps[cause]; len(names) == 1 && names[0] == "" {
			b.WriteString(cause)
		} else {
			b.WriteString(strings.Join(names, ", ") + ": " + cause)
		}
	}
	return b.String()
}

func (e *PreflightError) Unwrap() []error { return append([]error{ErrPreflight}, e.Errs...) }
