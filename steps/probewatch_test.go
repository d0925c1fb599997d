package steps

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

// listen answers TCP connections until the test ends.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// next is the next event of ch, or a failure after 10 s.
func nextWatchEvent(t *testing.T, ch <-chan ProbeWatchEvent) ProbeWatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no probe event in 10s")
	}
	return ProbeWatchEvent{}
}

// TestWatchProbesFollowsThePlan (QA: a wizard started from an empty plan
// got its probes in step 5, and the probe panel said "no probe results
// yet" for good: its monitor was built once, at the start, over no
// probes): probes set by an edit of the plan are probed, and a probe the
// plan drops is no longer probed.
func TestWatchProbesFollowsThePlan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := NewEnv(nil, &PlanFile{Org: "Company"}, nil)
	w := env.WatchProbes(ctx, 20*time.Millisecond, 10*time.Millisecond)
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	ch := w.Subscribe(ctx, 256)

	first, second := listen(t), listen(t)
	env.EditPlan(func(pf *PlanFile) {
		pf.Probes = []ProbePlan{{Name: "WebApp2 (tcp)", VM: "WebApp2", TCP: first}}
	})
	ev := nextWatchEvent(t, ch)
	if ev.Set == nil || !slices.Equal(ev.Set.Targets, []string{"WebApp2 (tcp)"}) || ev.Set.Err != nil || ev.Set.Kinds["WebApp2 (tcp)"] != "tcp "+first {
		t.Fatalf("after the plan got a probe: %+v, want the set [WebApp2 (tcp)], probing tcp %s", ev, first)
	}
	ev = nextWatchEvent(t, ch)
	if ev.Set != nil || ev.Target != "WebApp2 (tcp)" || !ev.Sample.OK || ev.Kind != "tcp "+first {
		t.Fatalf("the new probe's first event: %+v (set %+v), want an answer of WebApp2 (tcp), kind tcp %s", ev, ev.Set, first)
	}

	env.EditPlan(func(pf *PlanFile) {
		pf.Probes = []ProbePlan{{Name: "WebApp3 (tcp)", VM: "WebApp3", TCP: second}}
	})
	for {
		ev = nextWatchEvent(t, ch)
		if ev.Set != nil {
			break
		}
	}
	if !slices.Equal(ev.Set.Targets, []string{"WebApp3 (tcp)"}) {
		t.Fatalf("after the plan changed its probe: set %+v, want [WebApp3 (tcp)]", ev.Set)
	}
	for range 3 {
		if ev = nextWatchEvent(t, ch); ev.Target != "WebApp3 (tcp)" {
			t.Fatalf("after the set [WebApp3 (tcp)]: an event of %q (set %+v)", ev.Target, ev.Set)
		}
	}

	// An edit that leaves the probes as they are does not restart them.
	env.EditPlan(func(pf *PlanFile) { pf.RPO = "5m" })
	deadline := time.After(200 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-ch:
			if ev.Set != nil {
				t.Fatalf("an edit of the RPO restarted the probes: %+v", ev.Set)
			}
		case <-deadline:
			done = true
		}
	}

	// A probe that cannot be built: the set says why.
	env.EditPlan(func(pf *PlanFile) { pf.Probes = []ProbePlan{{Name: "bad"}} })
	for {
		if ev = nextWatchEvent(t, ch); ev.Set != nil {
			break
		}
	}
	if ev.Set.Err == nil || len(ev.Set.Targets) != 0 || w.Err() == nil {
		t.Fatalf("a probe with nothing to probe: set %+v, Err %v; want an error and no targets", ev.Set, w.Err())
	}
	cancel()
	for range ch { // closed when the watch ends
	}
}
