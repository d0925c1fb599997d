package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestOnlyRolledBackAsDecided: a wave's outcome reads as a decided
// rollback only when every VM's is one (or waits for its confirmation);
// any real failure beside it is a failure. The cutover step's outcome of
// decided rollbacks is also ErrWaiting: the step stays pending.
func TestOnlyRolledBackAsDecided(t *testing.T) {
	decided := decidedRollback{"WebApp2: cutover rolled back as decided (--rollback): running on-prem again"}
	failed := errors.New("WebApp1: rollback as decided: vCenter unreachable")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{decided, true},
		{fmt.Errorf("cutover: %w", decided), true},
		{errors.Join(decided, decidedRollback{"WebApp1: cutover rolled back as decided"}), true},
		{fmt.Errorf("cutover: %w", errors.Join(decided, failed)), false},
		{failed, false},
		{fmt.Errorf("x: %w", ErrRolledBackAsDecided), true},
		// VMs waiting for their confirmation beside it fail nothing.
		{errors.Join(decided, fmt.Errorf("%w: WebApp3 not cut over yet", ErrWaiting)), true},
		{decidedWait{decided: decided, names: []string{"WebApp2"}, waiting: []string{"WebApp3"}}, true},
		{fmt.Errorf("%w: WebApp3 not cut over yet", ErrWaiting), false},
		{errors.Join(failed, fmt.Errorf("%w: WebApp3", ErrWaiting)), false},
	} {
		if got := OnlyRolledBackAsDecided(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
		if c.want && !errors.Is(c.err, ErrRolledBackAsDecided) {
			t.Errorf("%v: not errors.Is ErrRolledBackAsDecided", c.err)
		}
	}
	w := decidedWait{decided: decided, names: []string{"WebApp2"}, waiting: []string{"WebApp3"}}
	if !errors.Is(w, ErrWaiting) {
		t.Error("the step's outcome of a decided rollback is not ErrWaiting: the runner would fail the step")
	}
	if msg := w.Error(); !strings.Contains(msg, "WebApp2 not cut over (confirm with --confirm-cutover=WebApp2)") || !strings.Contains(msg, "WebApp3 not cut over yet") {
		t.Errorf("the outcome says %q; want how to cut WebApp2 over anew and that WebApp3 waits", msg)
	}
}

// runDecided runs r, whose cutover rolls back as the operator decided,
// and returns what the step says of it: the run must end without error,
// stopped at the cutover with Outcome.RolledBack, the step pending (its
// VMs to be cut over anew), not failed.
func runDecided(t *testing.T, ctx context.Context, r *Runner) string {
	t.Helper()
	out, err := r.Run(ctx)
	st := r.Env.State.Get("cutover")
	if err != nil || !out.RolledBack || out.StoppedBefore != "cutover" || st.Status != StatusPending {
		t.Fatalf("decided rollback: outcome %+v, error %v, cutover step %s (%s); want no error, stopped at the cutover, rolled back, pending", out, err, st.Status, st.Error)
	}
	return st.Summary
}
