package tui

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// TestDashboardSaysWhichJobsDidNotStart (QA: when warm replication failed
// to start some jobs, the wizard only logged "some jobs did not start" and
// the screen said nothing): the dashboard's row of each VM whose job did
// not start says so, and why.
func TestDashboardSaysWhichJobsDidNotStart(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
	// Step 6 recorded WebApp2's replica: the wizard's warm replication
	// follows it, and cannot start its job (the harness configures no
	// endpoint to reach).
	if err := h.env.State.Record("replication", steps.Resource{Kind: "replica", Name: "WebApp2", ID: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := Feeds{Probes: make(chan ProbeUpdate)} // no probes here
	feedLive(ctx, &f, h.env, slog.Default(), "")
	defer h.env.Close(context.Background())
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 5})
	for len(f.Replication) > 0 {
		h.send(replicationMsg(<-f.Replication))
	}
	h.mustSee(t, "WebApp2", "did not start:")
}

// TestNotStartedNamesEachVM: each VM's row says why its own job did not
// start.
func TestNotStartedNamesEachVM(t *testing.T) {
	f := NewReplicationFeed(nil)
	f.NotStarted(errors.Join(
		&steps.WarmStartError{VM: "WebApp2", Err: errors.New("replica disk not found at the provider")},
		&steps.WarmStartError{VM: "WebApp3", Err: errors.New("receiver 10.0.0.5:8443: connection refused")},
	))
	h := newHarness(t, setup{pf: withVMs("WebApp2", "WebApp3"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 5})
	for range 2 {
		h.send(replicationMsg(<-f.Updates()))
	}
	h.mustSee(t, "WebApp2", "did not start: replica disk not found at the provider")
	h.send(press("down"))
	h.mustSee(t, "WebApp3", "did not start: receiver 10.0.0.5:8443: connection refused")
}

// TestDashboardColdRow (QA: a powered-off VM replicated cold read "○ no
// complete pass yet" beside "last 14s ago", and "next in 46s" though a
// cold VM gets no pass every RPO): its row says it is cold, when it was
// replicated and that no pass follows every RPO.
func TestDashboardColdRow(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("Archive1"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 5})
	h.send(statusMsg(statusRows([]steps.VMStatus{{
		JobStatus: replication.JobStatus{VM: "Archive1", RPO: replication.RPO(time.Minute), Health: replication.HealthNone, LastPass: t0.Add(-14 * time.Second)},
		Summary:   "cold migration: replicated while off"}}, false)))
	h.mustSee(t, "Archive1", "cold: no RPO", "cold migration: replicated 14s ago (the source was off); no pass every RPO")
	h.mustNotSee(t, "no complete pass yet", "next in", "next now")
}
