package tui

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
)

// TestCutoverConfirmWaveAt80x24 (QA: with two VMs or more, their
// estimates pushed "Type … to confirm:" and the input off an 80x24
// screen; the operator typed blind): the toggle, the prompt, the input and
// why it was refused stay on screen, and ↑/↓ pgup/pgdn scroll the estimates
// to the last VM's; j and k go to the input.
func TestCutoverConfirmWaveAt80x24(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone})
	h.start(80, 24)
	dashboardData(h, "WebApp1", "WebApp2", "WebApp3")
	h.typeText("WebApp")
	h.send(press("enter"))
	onScreen := func() {
		t.Helper()
		h.mustSee(t, "[x] power on after cutover (ctrl+o)", "Type WebApp1,WebApp2,WebApp3 to confirm", "> WebApp", `✗ "WebApp" does not match`, "lines 1–", "↑/↓ pgup/pgdn to scroll", "↑/↓/pgdn scroll")
	}
	onScreen()
	h.mustNotSee(t, "WebApp3 → Company-VDC")
	seen := h.view()
	for range 40 {
		m := linesHint.FindStringSubmatch(h.view())
		if m == nil {
			t.Fatalf("no lines hint:\n%s", h.view())
		}
		if m[2] == m[3] {
			break
		}
		h.send(press("down"))
		seen += h.view()
	}
	h.mustSee(t, "projected wave downtime", "[x] power on after cutover (ctrl+o)", "> WebApp", `✗ "WebApp" does not match`)
	for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
		if !strings.Contains(seen, vm+" → Company-VDC / company-network") {
			t.Errorf("%s is never shown while scrolling", vm)
		}
	}
	if n := strings.Count(seen, "probes green: none (* default:"); n < 3 {
		t.Errorf("%d of 3 estimates shown in full while scrolling", n)
	}
	for range 5 {
		h.send(press("pgup"))
	}
	h.mustSee(t, "lines 1–", "WebApp1 → Company-VDC")
	h.typeText("jk")
	h.mustSee(t, "> WebAppjk", "lines 1–")
}

// TestCutoverConfirmSaysAnInterruptedCutover (QA: after a ferry killed
// past the target's power-on request, the confirmation read as for a new
// cutover, and typing the name quietly finished the old one): the VM's
// line says what confirming will do, and how to roll back instead.
func TestCutoverConfirmSaysAnInterruptedCutover(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone,
		cutoverState: map[string]string{"WebApp1": "power-on requested", "WebApp2": "running"}})
	h.start(120, 40)
	dashboardData(h, "WebApp1", "WebApp2")
	h.mustSee(t, "DECISION NEEDED: the last cutover stopped after power-on of the target was requested",
		"ctrl+r: finish (keep the target", "the last cutover was interrupted before power-on of the target was requested",
		"powers the source on again if it is off", "ctrl+r: only roll back")
	// The wizard decides on this screen: it does not send the operator to
	// ferry run's flags.
	h.mustNotSee(t, "--rollback", "--finish")
}

// TestCutoverDecisionFromWizard (reported: an operator in the wizard could
// not roll back an interrupted cutover, nor finish one, without quitting
// it for `ferry run --rollback` / `--finish`): ctrl+r on the confirmation
// switches to rolling back, then finishing, the typed VMs' interrupted
// cutovers, saying what that does and whose; a VM without such a cutover
// is refused; the decision reaches the step with the VMs and lasts for
// that run only.
func TestCutoverDecisionFromWizard(t *testing.T) {
	var got [][]string
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone,
		cutoverState: map[string]string{"WebApp1": "power-on requested", "WebApp2": "running"},
		mutate: func(m map[string]*fakeStep) {
			m["cutover"].after = func(env *steps.Env) error {
				got = append(got, append([]string{env.CutoverDecision}, env.CutoverVMs...))
				if env.CutoverDecision == steps.CutoverRollback {
					// As the step says it: nothing failed, the step waits.
					return fmt.Errorf("WebApp2: cutover rolled back as decided (--rollback): running on-prem again: %w; WebApp2 not cut over (%w)", steps.ErrRolledBackAsDecided, steps.ErrWaiting)
				}
				return nil
			}
		}})
	h.start(120, 40)
	h.mustSee(t, "ctrl+r: roll back or finish an interrupted", "Type WebApp1,WebApp2,WebApp3 to confirm", "ctrl+r roll back instead")

	h.send(tea.KeyMsg{Type: tea.KeyCtrlR})
	h.mustSee(t, "This rolls back interrupted cutovers", "ROLL BACK the interrupted cutover of the VMs typed", "finish instead)",
		"Type WebApp1,WebApp2, or some of the names, to confirm", "enter roll back")
	// Only the VMs it decides on, and no cutover window to project, nor
	// what confirming without the decision would do.
	h.mustNotSee(t, "power on after cutover", "toggle power on", "WebApp3 →", "projected", "one wave", "cuts over anew", "confirming finishes it")

	h.send(tea.KeyMsg{Type: tea.KeyCtrlR})
	h.mustSee(t, "FINISH the interrupted cutover of the VMs typed", "Type WebApp1 to confirm", "over instead)")
	h.typeText("WebApp2")
	h.send(press("enter"))
	h.mustSee(t, "WebApp2 has no interrupted cutover to finish; type WebApp1")
	if len(got) != 0 {
		t.Fatalf("the step ran on a refused confirmation: %v", got)
	}

	// Back to cutting over, then to rolling back: WebApp2 alone.
	h.send(tea.KeyMsg{Type: tea.KeyCtrlR})
	h.mustSee(t, "This shuts down the source VMs", "Type WebApp1,WebApp2,WebApp3 to confirm")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlR})
	for range len("WebApp2") {
		h.send(press("backspace"))
	}
	h.typeText("WebApp2")
	h.send(press("enter"))
	if len(got) != 1 || strings.Join(got[0], " ") != "rollback WebApp2" {
		t.Fatalf("the step got %q; want the rollback decision for WebApp2", got)
	}
	h.mustSee(t, "↺ rolled back as decided", "Nothing was cut over")
	// QA: its keys offered to "cut over the others" (there were none), and
	// it named ferry run's flag for what ctrl+r decided.
	h.mustSee(t, "cut over again")
	h.mustNotSee(t, "cutover failed", "Fix the cause", "partly cut over", "cut over the others", "(--rollback)")
	if st := h.env.State.Status("cutover"); st != steps.StatusPending {
		t.Errorf("the cutover step is %s after a decided rollback; want pending (its VM to cut over anew)", st)
	}
	if d := h.env.CutoverDecision; d != "" {
		t.Errorf("the decision outlived its run: %q", d)
	}
	// Confirmed again: a cutover, no decision.
	h.send(press("r"))
	h.mustSee(t, "This shuts down the source VMs")
	h.typeText("WebApp3")
	h.send(press("enter"))
	if len(got) != 2 || strings.Join(got[1], " ") != " WebApp3" {
		t.Errorf("the step got %q after confirming again; want a cutover of WebApp3 with no decision", got)
	}
}

// TestDecidedRollbackAfterRestart (QA: after a rollback decided with
// ctrl+r, a wizard started again showed "✗ cutover failed" and "fix the
// cause", and ✗ in the sidebar): as the report says the rollback was
// decided, the screen and the sidebar say so after a restart too.
func TestDecidedRollbackAfterRestart(t *testing.T) {
	// The step waits (pending) since decided rollbacks are not failures;
	// a state an older ferry wrote has it failed.
	// QA: a rollback ferry did by itself after a crash (pending too) read
	// "rolled back as decided" under the earlier decided rollback's report.
	msg := "WebApp2: cutover rolled back as decided (--rollback): running on-prem again"
	for _, c := range []struct {
		name    string
		end     func(*steps.State) error
		decided bool
	}{
		{"pending", func(s *steps.State) error {
			return s.Pend("cutover", msg+"; WebApp2 not cut over (confirm with --confirm-cutover=WebApp2)")
		}, true},
		{"older state", func(s *steps.State) error { return s.Fail("cutover", errors.New(msg)) }, true},
		{"rolled back by ferry since", func(s *steps.State) error {
			return s.Pend("cutover", "WebApp2: rolled back automatically after a cutover a killed ferry left unfinished; waiting for --confirm-cutover")
		}, false},
	} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone, cutoverState: map[string]string{"WebApp2": "rolled back"}})
		env := h.env
		saveDecidedRollbackReport(t, env)
		if err := env.State.Begin("cutover"); err != nil {
			t.Fatal(err)
		}
		if err := c.end(env.State); err != nil {
			t.Fatal(err)
		}
		again := newHarness(t, setup{pf: env.Plan(), env: env})
		again.start(120, 40)
		again.send(gotoStepMsg{Index: 7})
		if !c.decided {
			again.mustSee(t, "Type WebApp2 to confirm")
			again.mustNotSee(t, "rolled back as decided", "↺ 8 Cutover")
			continue
		}
		again.mustSee(t, "↺ rolled back as decided", "Nothing was cut over", "↺ 8 Cutover")
		again.mustNotSee(t, "cutover failed", "Fix the cause", "✗ 8 Cutover", "--confirm-cutover")
	}
}

// TestRefusedCutoverAfterADecidedRollback (QA): a cutover refused by its
// checks (the stretch down) after an earlier rollback decided with ctrl+r
// showed "↺ rolled back as decided" over the old report, and a "starting"
// spinner that never stopped: it says the cutover failed, refused before it
// began, and no phase spins.
func TestRefusedCutoverAfterADecidedRollback(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone,
		mutate: func(m map[string]*fakeStep) {
			// Refused by its plan: nothing ran, no phase was reported.
			m["cutover"].events = nil
			m["cutover"].after = func(env *steps.Env) error {
				return fmt.Errorf("%w, nothing changed: ! conflict L2 stretch \"company-network\": the L2 stretch is down", steps.ErrConflict)
			}
		}})
	env := h.env
	saveDecidedRollbackReport(t, env)
	h.start(120, 40)
	h.mustSee(t, "Type WebApp2 to confirm")
	h.typeText("WebApp2")
	h.send(press("enter"))
	h.mustSee(t, "✗ cutover failed", "stretch is down", "Refused by the cutover's checks before it began", "✗ 8 Cutover")
	h.mustNotSee(t, "rolled back as decided", "starting", "↺ 8 Cutover")
}

// saveDecidedRollbackReport saves, as the last cutover's report, a
// rollback of WebApp2 decided by the operator.
func saveDecidedRollbackReport(t *testing.T, env *steps.Env) {
	t.Helper()
	rep := &steps.CutoverReport{Job: "WebApp2-Migration", Started: t0, Finished: t0.Add(time.Second), Parallel: 1,
		VMs: []steps.VMReport{{VM: "WebApp2", TargetVApp: "WebApp2", Outcome: "rolled back as decided", Decided: steps.CutoverRollback, RolledBack: true}}}
	md, _, err := rep.Save(filepath.Dir(env.State.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.State.SetOutput("cutover", "report", md); err != nil {
		t.Fatal(err)
	}
}

// TestCutOverRowFitsBesideTheSidebar (QA: at 80 columns step 6 read "keep
// the source po…"): a cut-over VM's dashboard line is whole in the ~56
// columns the dashboard has beside the sidebar.
func TestCutOverRowFitsBesideTheSidebar(t *testing.T) {
	lines := vmRow(&VMRow{ReplicationUpdate: ReplicationUpdate{VM: "WebApp2", Phase: PhaseCutOver}}, t0, false, false, 56)
	for _, l := range lines {
		if strings.Contains(l, "…") {
			t.Errorf("a cut-over VM's line is cut at 56 columns: %q", l)
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "keep the source off") {
		t.Errorf("a cut-over VM's lines: %q", lines)
	}
}

// TestCutoverBarKeepsItsProgressWhole (QA: at 80 columns, a wave's live
// cutover showed "…(shutdown to power-o…" under the final pass's bar: the
// line under the bar was the run's latest line, another VM's result, cut
// at the screen's edge): under the bar is the progress it measures, whole
// at 80 and at 120 columns, and no other VM's result.
func TestCutoverBarKeepsItsProgressWhole(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		release := make(chan struct{})
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone, mutate: func(m map[string]*fakeStep) {
			m["cutover"].block = release
			m["cutover"].events = []steps.Event{
				{Kind: steps.EventProgress, Message: "WebApp2: final pass", Fraction: -1, Time: t0},
				{Kind: steps.EventProgress, Message: "WebApp1: final pass", Fraction: -1, Time: t0.Add(time.Second)},
				{Kind: steps.EventProgress, Message: "WebApp1: 1.0 MiB of 3.0 MiB acknowledged, 1.0 MiB/s, ETA 2s", Fraction: 0.33, Time: t0.Add(2 * time.Second)},
				{Kind: steps.EventChange, Message: `+ create VM "WebApp2": running in vApp WebApp2; measured downtime 13.3s (shutdown to power-on; no probe outage seen)`, Time: t0.Add(3 * time.Second)},
			}
		}})
		h.start(size[0], size[1])
		h.typeText("WebApp1,WebApp2")
		h.deliver(press("enter"))
		h.clock = t0.Add(4 * time.Second)
		for _, ev := range h.steps["cutover"].events {
			h.deliver(stepEventMsg{Step: 7, Event: ev})
		}
		h.mustSee(t, "33% of the phase")
		h.mustSee(t, "WebApp1: 1.0 MiB of 3.0 MiB acknowledged, 1.0 MiB/s,", "ETA 2s")
		h.mustNotSee(t, "power-o…", `create VM "WebApp2"`, "ET…", "1.0 MiB/…")
		close(release)
	}
}

// TestCutoverReportWithoutSavedReportAt80 (QA: at 80 columns the report of
// a run that saved none read "none seen here; the step's own…"): the line
// wraps under its column, whole.
func TestCutoverReportWithoutSavedReportAt80(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone,
		cutoverState: map[string]string{"WebApp2": "power-on requested"},
		mutate: func(m map[string]*fakeStep) {
			m["cutover"].after = func(env *steps.Env) error {
				return fmt.Errorf("WebApp2: cutover rolled back as decided (--rollback): running on-prem again: %w; WebApp2 not cut over (%w)", steps.ErrRolledBackAsDecided, steps.ErrWaiting)
			}
		}})
	h.start(80, 24)
	h.send(tea.KeyMsg{Type: tea.KeyCtrlR})
	h.typeText("WebApp2")
	h.send(press("enter"))
	h.mustSee(t, "↺ rolled back as decided", "measured by probes")
	mustRead(t, h, "measured by probes none seen here; the step's own probes are in Result")
	h.mustNotSee(t, "own…")
}

// TestFailedCutoverShowsNoEarlierReport: a cutover that failed before it
// saved a report of its own showed the last report saved, an earlier
// run's, under its verdict ("Downtime report · the cutover took ...") as if
// it were this run's figures. It shows this run's own figures instead.
func TestFailedCutoverShowsNoEarlierReport(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone,
			mutate: func(m map[string]*fakeStep) {
				m["cutover"].after = func(env *steps.Env) error {
					return errors.New("WebApp2: create VM at provider: vCenter refused the disks")
				}
			}})
		// An earlier run's report, saved an hour before this run.
		earlier := t0.Add(-time.Hour)
		rep := &steps.CutoverReport{Job: "WebApp2-Migration", Started: earlier, Finished: earlier.Add(7 * time.Second), Parallel: 1,
			VMs: []steps.VMReport{{VM: "WebApp2", TargetVApp: "WebApp2", Outcome: "rolled back", RolledBack: true, MeasuredDowntimeSeconds: 4.2}}}
		md, _, err := rep.Save(filepath.Dir(h.env.State.Path()))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.env.State.SetOutput("cutover", "report", md); err != nil {
			t.Fatal(err)
		}
		h.start(size[0], size[1])
		h.mustSee(t, "Type WebApp2 to confirm")
		h.typeText("WebApp2")
		h.send(press("enter"))
		h.mustSee(t, "✗ cutover failed", "total time")
		h.mustNotSee(t, "the cutover took 7s", filepath.Base(md))
	}
}
