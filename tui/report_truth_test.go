package tui

import (
	"bytes"
	tea "github.com/charmbracelet/bubbletea"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// TestDowntimeReportSaysInterruptedOutagesAndRemovedTargets (QA h9: after
// a ferry killed in a cutover, the wizard's downtime report read
// "WebApp1: rolled back as decided · measured downtime 1.5s" of a source
// that had been down 34s, and "in the provider vCenter: WebApp1 ... [vm-126]"
// of a target the rollback had removed, where the saved Markdown said
// "1.5s (+at most 33.8s: interrupted cutover)" and "(removed by the
// rollback)"): the screen says what the Markdown says.
func TestDowntimeReportSaysInterruptedOutagesAndRemovedTargets(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: allDone})
	down := t0.Add(-34 * time.Second)
	rep := &steps.CutoverReport{Started: t0, Finished: t0.Add(1780 * time.Millisecond), Parallel: 4,
		VMs: []steps.VMReport{
			{VM: "WebApp1", Outcome: "rolled back as decided", Decided: steps.CutoverRollback, RolledBack: true,
				MeasuredDowntimeSeconds: 1.5, ProviderVM: "WebApp1 (13442882-4f9b-4b9b-88c4-ec6df152f1aa) [vm-126]",
				EarlierOutages: []steps.EarlierOutage{{Start: down, End: down.Add(33800 * time.Millisecond), AtMost: true,
					How: "after power-on of the target was requested"}}},
			{VM: "WebApp2", Outcome: "migrated", ProviderVM: "WebApp2 (30885dd9-2f02-4ce7-ad65-aee9d53a7dbe) [vm-85]",
				EarlierOutages: []steps.EarlierOutage{{Start: down, End: down.Add(8700 * time.Millisecond),
					How: "after it shut the source down"}}},
		}}
	md, _, err := rep.Save(filepath.Dir(h.env.State.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.env.State.SetOutput("cutover", "report", md); err != nil {
		t.Fatal(err)
	}
	h.start(120, 40)
	mustRead(t, h, "WebApp1: rolled back as decided · measured downtime 1.5s (+at most 33.8s: interrupted cutover)",
		"in the provider vCenter: WebApp1 (13442882-4f9b-4b9b-88c4-ec6df152f1aa) [vm-126] (removed by the rollback)",
		"WebApp2: migrated · measured downtime - (+8.7s: interrupted cutover)",
		"in the provider vCenter: WebApp2 (30885dd9-2f02-4ce7-ad65-aee9d53a7dbe) [vm-85]")
	if strings.Contains(mainText(h.view()), "[vm-85] (removed") {
		t.Fatalf("the migrated VM's target reads as removed:\n%s", h.view())
	}
	b, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(b), "| WebApp1 | rolled back as decided | 1.5s (+at most 33.8s: interrupted cutover) |") ||
		!strings.Contains(string(b), "Target in the provider vCenter: WebApp1 (13442882-4f9b-4b9b-88c4-ec6df152f1aa) [vm-126] (removed by the rollback).") ||
		!strings.Contains(string(b), "Target in the provider vCenter: WebApp2 (30885dd9-2f02-4ce7-ad65-aee9d53a7dbe) [vm-85].") {
		t.Fatalf("the Markdown report does not carry the same figures: %v\n%s", err, b)
	}
}

// TestCutoverConfirmProjectsNoWindowForAnInterruptedCutover (QA h9: after
// a ferry killed past the target's power-on request, the confirmation
// said "projected downtime ~6s · last pass 14s ago · RPO ok" under the
// VM's DECISION NEEDED, and counted it in the wave's projected downtime,
// though its source had been down since that cutover's shutdown and
// confirming finishes it rather than cutting over anew): such a VM gets
// no projection; a VM interrupted before power-on (confirming cuts it
// over anew) keeps its own.
func TestCutoverConfirmProjectsNoWindowForAnInterruptedCutover(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone,
		cutoverState: map[string]string{"WebApp1": "power-on requested", "WebApp2": "running"}})
	h.start(120, 40)
	dashboardData(h, "WebApp1", "WebApp2")
	v := mainText(h.view())
	one, two, ok := strings.Cut(v, "WebApp2 → Company-VDC")
	if !ok || !strings.Contains(one, "WebApp1 → Company-VDC") {
		t.Fatalf("the confirmation does not list both VMs:\n%s", h.view())
	}
	if strings.Contains(one, "projected downtime") || strings.Contains(one, "RPO ok") {
		t.Errorf("WebApp1, whose cutover stopped after power-on was requested, gets a cutover window projected:\n%s", h.view())
	}
	if !strings.Contains(one, "DECISION NEEDED") || !strings.Contains(two, "projected downtime ~") {
		t.Errorf("want WebApp1's decision and WebApp2's projection:\n%s", h.view())
	}
	mustRead(t, h, "projected wave downtime ~", "for the 1 with a projection (an interrupted cutover's source is down already, not projected)")
}

// TestTestMigrationFromTheDashboardIsLogged (QA h9: a test migration and a
// test cleanup started from the dashboard left no line in ferry.log, where
// every step run's events go: a killed test migration and what x removed
// were nowhere on record): its start, its events and its outcome are
// logged as a step run's are.
func TestTestMigrationFromTheDashboardIsLogged(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	var log bytes.Buffer
	h.env.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.start(120, 40)
	h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(press("[")) // the dashboard (step 6)
	h.send(press("t"))
	h.send(press("enter")) // test-bubble
	h.send(press("t"))
	h.mustSee(t, "test migration of WebApp2 failed")
	for _, want := range []string{`level=INFO msg="test migration of WebApp2" step=replication kind=started`,
		`level=ERROR msg="test migration of WebApp2 failed: `} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("ferry.log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestPauseOfAFirstPassTheStepWaitsFor (QA h9: p on the dashboard while
// step 6 ran the initial sync of a VM paused it, and the step failed; p
// was then refused for such a VM ("pause it once the step is done")): the
// step now waits out a pause (steps.TestFirstPassPausedElsewhereWaits), so
// p pauses a VM whose first pass the step waits for, as any other.
func TestPauseOfAFirstPassTheStepWaitsFor(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp3"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true,
		mutate: func(m map[string]*fakeStep) { m["replication"].block = release }})
	h.start(120, 40)
	h.send(press("enter")) // plan
	_, run := h.m.Update(press("enter"))
	msgs := make(chan tea.Msg, 64)
	go collect(run, msgs)
	for range 2 { // the first may arrive before the step lists the plan's VMs
		h.send(replicationMsg{VM: "WebApp3", Phase: "initial transfer", Planned: 4 << 20, Acked: 1 << 20, Rate: 1 << 20, RPO: time.Minute})
		h.send(replicationMsg{VM: "WebApp1", Phase: "idle", Pass: 2, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	}
	h.mustSee(t, "p pause  ✗u resume: WebApp1 is not paused") // WebApp1 under the cursor: its first pass is done
	h.send(press("j"))
	h.mustSee(t, "p pause  ✗u resume: WebApp3 is not paused")
	h.mustNotSee(t, "✗p pause")
	h.send(press("p"))
	mustRead(t, h, "pause WebApp3: done")
	close(release)
	for msg := range msgs {
		h.send(msg)
	}
}

// TestSidebarSaysPaused (QA h9: a pass a pause stopped ends in "idle", and
// the sidebar read "○ WebApp3 idle" beside the dashboard row's "paused"):
// the sidebar reads the VM's phase as its row does.
func TestSidebarSaysPaused(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp3"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
	h.start(120, 40)
	h.send(replicationMsg{VM: "WebApp3", Phase: "idle", Paused: true, Planned: 4 << 20, Acked: 3 << 20, RPO: time.Minute})
	h.send(press("[")) // the dashboard (step 6)
	if r := dashRow(h.view(), "WebApp3"); !strings.Contains(r, "paused") {
		t.Fatalf("the dashboard row %q, want it paused:\n%s", r, h.view())
	}
	h.mustSee(t, "○ WebApp3 paused")
	h.mustNotSee(t, "WebApp3 idle")
}
