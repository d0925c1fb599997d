package steps

import (
	"context"
	"maps"
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
