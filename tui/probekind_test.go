package tui

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// answering is a TCP listener that accepts connections (a probe's
// answer) until the test ends.
func answering(t *testing.T) net.Listener {
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
	return ln
}

// TestProbePanelNamesWhatItProbes (QA: in the lab the probe panel's second
// line read "   · loss 0% · 0 outage(s)": the wizard's probe feed was given
// no kinds, so the panel never said what a probe connects to): the panel of
// a wizard fed by the plan's probes shows "tcp HOST:PORT" under each.
func TestProbePanelNamesWhatItProbes(t *testing.T) {
	ln := answering(t)
	pf := withVMs("WebApp2")
	pf.Probes = []steps.ProbePlan{{Name: "WebApp2 (tcp)", VM: "WebApp2", TCP: ln.Addr().String()}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := Feeds{Replication: make(chan ReplicationUpdate)} // no warm replication here
	feedLive(ctx, &f, steps.NewEnv(nil, pf, nil), slog.Default(), "")
	if f.Probes == nil {
		t.Fatalf("no probe feed (err %v)", f.ProbesErr)
	}
	var u ProbeUpdate
	select {
	case u = <-f.Probes:
	case <-time.After(10 * time.Second):
		t.Fatal("no probe result in 10s")
	}
	h := newHarness(t, setup{pf: pf, done: append(append([]string{}, infraDone...), "vm-selection"), feeds: true})
	h.start(120, 40)
	h.send(probeMsg(u))
	h.mustSee(t, "WebApp2 (tcp)", "tcp "+ln.Addr().String()+" · loss 0%")
	_, main, _ := shown(h.view())
	for _, l := range main {
		if strings.HasPrefix(strings.TrimSpace(l), "· loss") {
			t.Errorf("a probe line starts with its loss, naming no probe: %q\n%s", l, h.view())
		}
	}
}

// TestDownProbeSaysWhy (QA: with the guest operation privilege withheld,
// the guest ping showed "✗ ... down 1m06s" and nothing else): a probe
// that does not answer shows its last error under it, at 120x40 and
// 80x24, and drops it once it answers again.
func TestDownProbeSaysWhy(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.Probes = []steps.ProbePlan{{Name: "WebApp1 -> WebApp2 (guest ping)", From: "WebApp1", To: "172.16.10.12"}}
	const why = "vCenter refused StartProgramInGuest on VirtualMachine:vm-52: ferry's account lacks the privilege VirtualMachine.GuestOperations.Execute"
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: pf, done: append(append([]string{}, infraDone...), "vm-selection"), feeds: true})
		h.start(size[0], size[1])
		h.send(probeMsg(ProbeUpdate{Pair: "WebApp1 -> WebApp2 (guest ping)", Kind: "guest ping WebApp1 -> 172.16.10.12", Time: time.Now(), Err: why}))
		v := h.view()
		flat := strings.Join(strings.Fields(v), " ")
		for _, want := range []string{"down", "vCenter refused StartProgramInGuest"} {
			if !strings.Contains(flat, want) {
				t.Errorf("%dx%d: the down probe does not say %q:\n%s", size[0], size[1], want, v)
			}
		}
		if !strings.Contains(flat, "VirtualMachine.GuestOperations.Execute") {
			t.Errorf("%dx%d: the reason lost the privilege's name:\n%s", size[0], size[1], v)
		}
		h.send(probeMsg(ProbeUpdate{Pair: "WebApp1 -> WebApp2 (guest ping)", Kind: "guest ping WebApp1 -> 172.16.10.12", Time: time.Now(), Up: true, Latency: time.Millisecond}))
		if v := h.view(); strings.Contains(v, "StartProgramInGuest") {
			t.Errorf("%dx%d: the reason stays after the probe answered:\n%s", size[0], size[1], v)
		}
	}
}

// TestProbesAnsweredInStep5AreShown (QA: a wizard started from an empty
// plan, its probes answered in step 5: the probe panel said "no probe
// results yet" for good, its monitor built once at the start over no
// probes): the wizard's probe feed follows the plan; a probe the plan
// drops leaves the panel, and one that cannot run says why.
func TestProbesAnsweredInStep5AreShown(t *testing.T) {
	ln := answering(t)
	env := steps.NewEnv(nil, withVMs("WebApp2"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := Feeds{Replication: make(chan ReplicationUpdate)} // no warm replication here
	feedLive(ctx, &f, env, slog.Default(), "")
	if f.Probes == nil {
		t.Fatal("a wizard started with no probes has no probe feed: probes answered later are never shown")
	}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(append([]string{}, infraDone...), "vm-selection"), feeds: true})
	h.start(120, 40)
	h.mustSee(t, "none: the plan has no probes")
	next := func() ProbeUpdate {
		t.Helper()
		select {
		case u := <-f.Probes:
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("no probe update in 10s")
		}
		return ProbeUpdate{}
	}

	// Step 5's answer.
	env.EditPlan(func(pf *steps.PlanFile) {
		pf.Probes = []steps.ProbePlan{{Name: "WebApp2 (tcp)", VM: "WebApp2", TCP: ln.Addr().String()}}
	})
	for u := next(); ; u = next() {
		h.send(probeMsg(u))
		if u.Set == nil {
			break
		}
	}
	h.mustSee(t, "WebApp2 (tcp)", "tcp "+ln.Addr().String()+" · loss 0%")
	h.mustNotSee(t, "no probe results yet")

	// The plan drops it for a probe that cannot run.
	env.EditPlan(func(pf *steps.PlanFile) { pf.Probes = []steps.ProbePlan{{Name: "nothing to probe"}} })
	for u := next(); ; u = next() {
		h.send(probeMsg(u))
		if u.Set != nil {
			break
		}
	}
	h.mustSee(t, "the plan's probes cannot run")
	h.mustNotSee(t, "WebApp2 (tcp)")
}

// TestProbeOfAnotherAddressStartsAfresh (QA: WebApp2's TCP probe, corrected
// in step 5 from a closed port, kept "loss 34% · 1 outage(s)" on its row:
// those of the closed port): when the plan's probes change, a probe that
// keeps its name but probes another address starts a new row; one that
// probes the same keeps its record.
func TestProbeOfAnotherAddressStartsAfresh(t *testing.T) {
	pf := withVMs("WebApp2")
	h := newHarness(t, setup{pf: pf, done: append(append([]string{}, infraDone...), "vm-selection"), feeds: true})
	h.start(120, 40)
	t0 := time.Now()
	const wrong, right, db = "tcp 172.16.10.12:1", "tcp 172.16.10.12:80", "tcp 172.16.10.22:5432"
	for i, up := range []bool{true, false, false, true} {
		h.send(probeMsg(ProbeUpdate{Pair: "WebApp2 (tcp)", Kind: wrong, Time: t0.Add(time.Duration(i) * time.Second), Up: up, Err: map[bool]string{false: "connection refused"}[up]}))
		h.send(probeMsg(ProbeUpdate{Pair: "LinuxDB1 (tcp)", Kind: db, Time: t0.Add(time.Duration(i) * time.Second), Up: i != 2, Err: map[bool]string{false: "timeout"}[i != 2]}))
	}
	h.mustSee(t, wrong+" · loss 50% · 1 outage(s)", db+" · loss 25% · 1 outage(s)")
	h.send(probeMsg(ProbeUpdate{Set: &steps.ProbeSet{Targets: []string{"WebApp2 (tcp)", "LinuxDB1 (tcp)"},
		Kinds: map[string]string{"WebApp2 (tcp)": right, "LinuxDB1 (tcp)": db}}}))
	h.send(probeMsg(ProbeUpdate{Pair: "WebApp2 (tcp)", Kind: right, Time: t0.Add(5 * time.Second), Up: true}))
	h.mustSee(t, right+" · loss 0% · 0 outage(s)", db+" · loss 25% · 1 outage(s)")
	h.mustNotSee(t, wrong)
}
