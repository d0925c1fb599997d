package steps

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
)

// redoKey is the context key of the steps done before that a run, or a
// plan of one (`ferry plan --redo`), runs again and has not run yet: for
// the steps after them, still to run (stepPending), as a step not yet done
// is. It travels with the run's context, not the Env, which plans beside
// the run (the wizard's, an engine's clients') share.
type redoKey struct{}

type redoSet struct {
	m atomic.Pointer[map[string]bool]
}

// withRedo is ctx carrying ids as the steps to run again.
func withRedo(ctx context.Context, ids []string) context.Context {
	if len(ids) == 0 {
		return ctx
	}
	s := &redoSet{}
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	s.m.Store(&m)
	return context.WithValue(ctx, redoKey{}, s)
}

// redoing says whether ctx's run is to run step id again.
func redoing(ctx context.Context, id string) bool {
	s, _ := ctx.Value(redoKey{}).(*redoSet)
	return s != nil && (*s.m.Load())[id]
}

// ranAgain says step id has run in ctx's run: it is done or failed now, no
// longer one to run again.
func ranAgain(ctx context.Context, id string) {
	s, _ := ctx.Value(redoKey{}).(*redoSet)
	if s == nil {
		return
	}
	if m := *s.m.Load(); m[id] {
		n := maps.Clone(m)
		delete(n, id)
		s.m.Store(&n)
	}
}

// liveAnswers are fields whose answer takes effect without the step running
// again (the RPO: the scheduler reads it at each pass; the probes: the
// checks and the cutover read them when they run; the provider resource
// pool and network: the cutover builds the target VM with them).
var liveAnswers = map[string]bool{"rpo": true, "probes": true, "provider.resource_pool": true, "provider.network": true}

// stepAnswers are step's answers in pf (defaults filled), as the state
// records them when it is done.
func stepAnswers(step Step, pf *PlanFile) map[string]string {
	out := map[string]string{}
	for _, f := range step.Fields() {
		if liveAnswers[f.Key] {
			continue
		}
		if v := f.Value(pf); v != "" {
			out[f.Key] = v
		}
	}
	return out
}

// AnswersChanged says how step's answers in the plan differ from those it
// was last done with ("rpo: 1m -> 5m, vdc: A -> B"; "" when they do not, or
// it is not done, or none were recorded): ferry runs a done step again only
// when asked (--redo), so a changed answer is not applied on its own.
func (e *Env) AnswersChanged(step Step) string {
	st := e.State.Get(step.ID())
	if st.Status != StatusDone || st.Answers == nil {
		return ""
	}
	now := stepAnswers(step, e.Plan())
	var diffs []string
	for _, f := range step.Fields() {
		was, is := st.Answers[f.Key], now[f.Key]
		if was == is || liveAnswers[f.Key] {
			continue
		}
		diffs = append(diffs, fmt.Sprintf("%s: %s -> %s", f.Key, cmp.Or(was, "(none)"), cmp.Or(is, "(none)")))
	}
	return strings.Join(diffs, ", ")
}
