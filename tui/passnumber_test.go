package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// TestPassNumbersGoOnAfterRestart (QA: after a restart the dashboard
// showed "idle #1" for a VM that had done two passes before the kill, the
// count kept per process): a restarted wizard's dashboard numbers passes
// as the replication record counts them (the scheduler's status, the
// pass-done events, the stored status), at 120x40 and 80x24.
func TestPassNumbersGoOnAfterRestart(t *testing.T) {
	row := func(h *harness, vm string) string {
		_, main, _ := shown(h.view())
		for _, l := range main {
			if strings.Contains(l, vm) && strings.Contains(l, "idle") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		return ""
	}
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		// The engine's feed of a restarted wizard: seeded from the
		// scheduler's status, then a pass.
		f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
		f.Seed([]replication.JobStatus{
			{VM: "WebApp2", RPO: replication.RPO(time.Minute), Health: replication.HealthOK, LastPass: t0.Add(-10 * time.Second), Passes: 2},
			{VM: "WebApp3", RPO: replication.RPO(time.Minute), Health: replication.HealthOK, LastPass: t0.Add(-20 * time.Second), Passes: 3},
		})
		h := newHarness(t, setup{pf: withVMs("WebApp2", "WebApp3"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 5})
		for range 2 {
			h.send(replicationMsg(<-f.Updates()))
		}
		if r := row(h, "WebApp2"); !strings.Contains(r, "idle #2") {
			t.Errorf("%dx%d: restarted wizard, WebApp2 two passes in: row %q, want idle #2\n%s", size[0], size[1], r, h.view())
		}
		if r := row(h, "WebApp3"); !strings.Contains(r, "idle #3") {
			t.Errorf("%dx%d: restarted wizard, WebApp3 three passes in: row %q, want idle #3\n%s", size[0], size[1], r, h.view())
		}
		f.Handle(replication.Event{Time: t0, VM: "WebApp2", Kind: replication.EventPassDone, Pass: replication.PassIncremental, Number: 3})
		h.send(replicationMsg(<-f.Updates()))
		if r := row(h, "WebApp2"); !strings.Contains(r, "idle #3") {
			t.Errorf("%dx%d: WebApp2's first pass after the restart, its third: row %q, want idle #3\n%s", size[0], size[1], r, h.view())
		}

		// Without an engine feed, the status read from the store.
		h = newHarness(t, setup{pf: withVMs("WebApp2"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 5})
		h.send(statusMsg(statusRows([]steps.VMStatus{{
			JobStatus: replication.JobStatus{VM: "WebApp2", RPO: replication.RPO(time.Minute), Health: replication.HealthOK, LastPass: t0.Add(-10 * time.Second), Passes: 2},
			Summary:   "ok"}}, false)))
		if r := row(h, "WebApp2"); !strings.Contains(r, "idle #2") {
			t.Errorf("%dx%d: stored status of WebApp2, two passes: row %q, want idle #2\n%s", size[0], size[1], r, h.view())
		}
	}
}
