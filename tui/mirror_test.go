package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/steps"
)

// board is the engine's board of runs as a session sees it (serve_wizard.go
// wires the same).
type board struct{ b *engine.RunBoard }

func (r board) Start(run SharedRun) uint64                               { return r.b.Start(engine.StepRun(run)) }
func (r board) Planned(id uint64, p steps.Plan, err error)               { r.b.Planned(id, p, err) }
func (r board) Event(id uint64, ev steps.Event)                          { r.b.Event(id, ev) }
func (r board) Finish(id uint64, o steps.Outcome, rep string, err error) { r.b.Finish(id, o, rep, err) }
func (r board) FinishAt(id uint64, at time.Time, o steps.Outcome, rep string, err error) {
	r.b.FinishAt(id, at, o, rep, err)
}
func (r board) Watch() RunWatch { return watch{r.b.Watch()} }

type watch struct{ w *engine.RunWatch }

func (w watch) Next(ctx context.Context) ([]SharedRun, error) {
	rs, err := w.w.Next(ctx)
	var out []SharedRun
	for _, r := range rs {
		out = append(out, SharedRun(r))
	}
	return out, err
}
func (w watch) Close() { w.w.Close() }

// pullRuns gives the model what the board has for it now, as the program's
// wait on the board would.
func (h *harness) pullRuns() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // what changed already, without waiting
	if rs, err := h.watch.Next(ctx); err == nil {
		h.send(runsMsg(rs))
	}
}

// pullUntil pulls runs until the screen shows want.
func (h *harness) pullUntil(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.pullRuns()
		v := h.view()
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(v, w) }) {
			return
		}
		if time.Now().After(deadline) {
			h.mustSee(t, want...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// twoSessions are a driver and a viewer attached to one engine: one env,
// one board of runs.
func twoSessions(t *testing.T, s setup, width, height int) (drv, view *harness, b board) {
	b = board{engine.NewRunBoard()}
	s.session = &Session{Who: "admin (alice@laptop)", Runs: b,
		Exclusive: func(string) (func(), error) { return func() {}, nil }}
	drv = newHarness(t, s)
	s.env, s.mutate = drv.env, nil
	s.session = &Session{Who: "bob (projector)", Viewer: "view mode", Runs: b}
	view = newHarness(t, s)
	drv.start(width, height)
	view.start(width, height)
	return drv, view, b
}

// TestViewerSeesDriversStepRun (a guided demo's audience saw nothing of
// what the presenter did: a watching session's screen kept the step's
// form while the driver planned and applied it, and showed only the
// sidebar's ✓ afterwards): the viewer sees the driver's plan, then the
// apply's result with its changes, on the step's screen; a viewer on
// another step is told and finds the run there; one that attaches later
// sees the last run of each step.
func TestViewerSeesDriversStepRun(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.EdgeGateway, pf.Network.GatewayCIDR = "company-edge", "172.16.10.1/24"
	drv, view, b := twoSessions(t, setup{pf: pf, done: []string{"rights"}}, 120, 40)
	view.mustSee(t, "WATCHING", "Step 2 of 8 · Trunk network")
	view.send(press("[")) // the viewer looks at step 1 meanwhile

	drv.mustSee(t, "Step 2 of 8 · Trunk network")
	drv.send(press("enter"))
	drv.mustSee(t, "Plan — nothing has changed yet", "2 change(s) will be made")

	view.pullRuns()
	view.mustSee(t, "Step 1 of 8 · Rights", "admin (alice@laptop) planned step 2 · Trunk network (] to watch)")
	view.send(press("]"))
	view.mustSee(t, "Plan — nothing has changed yet", "2 change(s) will be made", `+ create org VDC network "company-network"`)

	drv.send(press("enter"))
	drv.mustSee(t, "✓ done")
	view.pullRuns()
	view.mustSee(t, "✓ done", "Changes", "L2VPN tunnel ferry-l2vpn", "✓ 2 Trunk network")
	view.mustNotSee(t, "Plan — nothing has changed yet")

	// A session that attaches now sees the step's last run.
	late := newHarness(t, setup{pf: withVMs("WebApp2"), env: drv.env, session: &Session{Who: "carol", Viewer: "view mode", Runs: b}})
	late.start(120, 40)
	late.send(press("[")) // it opened at the first step not done
	late.pullRuns()
	late.mustSee(t, "Step 2 of 8 · Trunk network", "✓ done", "Changes", "L2VPN tunnel ferry-l2vpn")

	// Nothing the viewer shows goes back to the driver's screen.
	drv.pullRuns()
	drv.mustSee(t, "✓ done", "Changes")
}

// TestViewerSeesDriversCutover: while the driver's cutover runs, the
// viewer's cutover screen shows it running, its phases as they come; then
// the downtime report with each VM's measured downtime.
func TestViewerSeesDriversCutover(t *testing.T) {
	release := make(chan struct{})
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks"),
		mutate: func(m map[string]*fakeStep) { m["cutover"].block = release }}, 120, 40)
	view.mustSee(t, "Step 8 of 8 · Cutover", "Read-only session: the cutover is not available here.")
	// The audience sees the presenter confirm (QA: it saw nothing of the
	// confirmation until the cutover ran); a viewer looking at another
	// step is told where.
	view.send(press("["))
	drv.typeText("W")
	view.pullRuns()
	view.mustSee(t, "Step 7 of 8", "admin (alice@laptop) types the confirmation of step 8 · Cutover (] to watch)")
	view.send(press("]"))
	drv.typeText("ebApp")
	drv.send(tea.KeyMsg{Type: tea.KeyCtrlO})
	view.pullRuns()
	view.mustSee(t, "[ ] power on after cutover", "admin (alice@laptop) types the confirmation:", "> WebApp")
	drv.send(tea.KeyMsg{Type: tea.KeyCtrlO})
	drv.typeText("2")
	view.pullRuns()
	view.mustSee(t, "[x] power on after cutover", "> WebApp2")
	_, run := drv.m.Update(press("enter"))
	msgs := make(chan tea.Msg, 64)
	go collect(run, msgs)

	view.pullUntil(t, "Cutover running", "final pass while running", "power on")
	view.mustNotSee(t, "Read-only session")
	// The viewer may quit (it only detaches) while the cutover runs.
	_, cmd := view.m.Update(press("?"))
	view.settle(cmd)
	view.send(press("?"))

	close(release)
	for msg := range msgs {
		drv.send(msg)
	}
	drv.mustSee(t, "✓ cutover complete")
	view.pullUntil(t, "✓ cutover complete")
	view.mustSee(t, "Downtime report", "WebApp2: migrated · measured downtime 29.0s", "Phases", "import into vApp")
	// What comes next is the driver's (QA: the viewer read "go back to
	// step 5 ..., select VMs, and enter").
	mustRead(t, view, "Another wave is the driver's to select in step 5.")
	view.mustNotSee(t, "select VMs, and enter")
}

// TestViewerSeesDriversFailure: a step that fails in the driver's hands
// fails on the viewer's screen too, with the error; what to do next is
// the driver's to decide, and the viewer is told so instead of keys it
// cannot use.
func TestViewerSeesDriversFailure(t *testing.T) {
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"),
		mutate: func(m map[string]*fakeStep) { m["rights"].err = errors.New("Cloud Director refused the rights bundle") }}, 120, 40)
	drv.send(press("enter"))
	drv.send(press("enter"))
	drv.mustSee(t, "✗ failed", "Cloud Director refused the rights bundle", "press r to retry")
	view.pullRuns()
	view.mustSee(t, "✗ failed", "Cloud Director refused the rights bundle", "You are watching: the driver decides what comes next")
	view.mustNotSee(t, "press r to retry")
}

// planNow is ctrl+s: plan the step from any field of its form.
var planNow = tea.KeyMsg{Type: tea.KeyCtrlS}

// TestViewerFollowsDriver (reported: a guided demo's audience stayed on
// the step it was on while the presenter moved on; it was told where the
// run was and had to go there by hand): a watching session is taken to
// the step of each run the driver starts, saying so; once it looks around
// by itself it stays where it is and is told, until it comes back to the
// driver's step, and then it follows again.
func TestViewerFollowsDriver(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.EdgeGateway, pf.Network.GatewayCIDR = "company-edge", "172.16.10.1/24"
	pf.Appliance.IP, pf.Appliance.StretchedPortgroup = "172.16.10.250", "company-network"
	drv, view, _ := twoSessions(t, setup{pf: pf, done: []string{"rights"}}, 120, 40)
	view.mustSee(t, "Step 2 of 8 · Trunk network")

	// The viewer looks back at step 1: the driver's plan of step 2 does
	// not take it away; it is told where to watch.
	view.send(press("["))
	drv.send(press("enter"))
	drv.mustSee(t, "Plan — nothing has changed yet")
	view.pullRuns()
	view.mustSee(t, "Step 1 of 8 · Rights", "planned step 2 · Trunk network (] to watch)")

	// The notice follows the run to its end (QA: a viewer read "applies
	// step 8" long after the cutover was complete).
	drv.send(press("enter"))
	drv.mustSee(t, "✓ done")
	view.pullRuns()
	view.mustSee(t, "Step 1 of 8 · Rights", "admin (alice@laptop) applied step 2 · Trunk network (] to watch)")
	view.mustNotSee(t, "planned step 2", "applies step 2")

	// Back on the driver's step, it follows again: to step 3, which the
	// driver plans.
	view.send(press("]"))
	drv.send(press("]"))
	drv.mustSee(t, "Step 3 of 8")
	drv.send(planNow)
	view.pullRuns()
	view.mustSee(t, "Step 3 of 8 · L2 appliance", "admin (alice@laptop) planned step 3 · L2 appliance (followed here", "Plan — nothing has changed yet")
}

// TestPlanOutlivesTheDriversSession (QA: a plan ran in the driver's own
// context): the driver's connection drops while its plan runs; the plan
// runs on in the engine's context, as an apply does, and the viewers see it.
func TestPlanOutlivesTheDriversSession(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	pf := withVMs("WebApp2")
	pf.EdgeGateway, pf.Network.GatewayCIDR = "company-edge", "172.16.10.1/24"
	b := board{engine.NewRunBoard()}
	s := setup{pf: pf, done: []string{"rights"}, mutate: func(m map[string]*fakeStep) {
		m["trunk-network"].planBlock, m["trunk-network"].planEntered = release, entered
	}}
	s.session = &Session{Who: "admin (alice@laptop)", Runs: b, RunCtx: context.Background(),
		Exclusive: func(string) (func(), error) { return func() {}, nil }}
	drv := newHarness(t, s)
	s.env, s.mutate = drv.env, nil
	s.session = &Session{Who: "bob (projector)", Viewer: "view mode", Runs: b}
	view := newHarness(t, s)
	drv.start(120, 40)
	view.start(120, 40)
	drv.mustSee(t, "Step 2 of 8 · Trunk network")
	_, plan := drv.m.Update(press("enter"))
	msgs := make(chan tea.Msg, 64)
	go collect(plan, msgs)
	<-entered
	drv.cancel() // the driver's SSH connection dropped
	time.Sleep(50 * time.Millisecond)
	close(release)
	view.pullUntil(t, "Plan — nothing has changed yet", "2 change(s) will be made")
	view.mustNotSee(t, "context canceled")
}

// TestViewerSeesDriverType (QA: a guided demo's audience saw a step's
// form stay as it was while the presenter typed into it, until the plan):
// a watching session shows the driver's answers as they are typed and the
// field the driver is in; one that looked elsewhere is told where.
func TestViewerSeesDriverType(t *testing.T) {
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: []string{"rights"}}, 120, 40)
	view.mustSee(t, "WATCHING", "Step 2 of 8 · Trunk network")
	view.send(press("[")) // the viewer looks at step 1
	view.pullRuns()

	drv.mustSee(t, "Step 2 of 8 · Trunk network")
	drv.send(press("enter")) // the organization from the pick list
	drv.send(press("enter")) // the VDC the plan has
	drv.typeText("company-e")
	view.pullRuns()
	view.mustSee(t, "Step 1 of 8 · Rights", "admin (alice@laptop) fills in step 2 · Trunk network (] to watch)")
	view.send(press("]"))
	view.mustSee(t, "Step 2 of 8 · Trunk network", "▸ Edge gateway  company-e")
	drv.typeText("dge")
	drv.send(press("enter"))
	drv.send(press("enter")) // the network the plan has
	drv.typeText("172.16.10.1/24")
	view.pullRuns()
	view.mustSee(t, "  Edge gateway  company-edge", "▸ Gateway CIDR  172.16.10.1/24")
	drv.send(press("esc")) // the driver leaves the fields
	view.pullRuns()
	view.mustSee(t, "  Gateway CIDR  172.16.10.1/24")
	view.mustNotSee(t, "▸ Gateway CIDR")
}

// TestTypingWhileOthersReadThePlan (QA of ferry serve under the race
// detector: the driver's form wrote its answers into the plan in place
// while a watching terminal drew it and the steps read it, a data race
// that can tear an answer): while the driver types, a watching terminal
// draws frames and a step reads the answers, each on its own goroutine
// as under ferry serve. make test runs this package with -race.
func TestTypingWhileOthersReadThePlan(t *testing.T) {
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: []string{"rights"}}, 120, 40)
	drv.mustSee(t, "Step 2 of 8 · Trunk network")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var frames, edge string // what the readers read last (kept, so the reads are not optimised away)
	var started sync.WaitGroup
	wg.Add(2)
	started.Add(2)
	loop := func(read func()) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				read()
				if i == 0 {
					started.Done()
				}
			}
		}
	}
	// The watching terminal's frames, and a step reading the answers.
	go loop(func() { frames = view.m.View() })
	go loop(func() {
		pf := drv.env.Plan()
		edge = pf.EdgeGateway + " " + pf.Network.GatewayCIDR
	})
	started.Wait()
	drv.send(press("enter")) // the organization from the pick list
	drv.send(press("enter")) // the VDC the plan has
	drv.typeText("company-edge")
	drv.send(press("enter"))
	drv.send(press("enter")) // the network the plan has
	drv.typeText("172.16.10.1/24")
	drv.send(press("ctrl+s")) // plan now: the defaults are filled in and saved
	close(stop)
	wg.Wait()
	if frames == "" || edge == "" {
		t.Fatal("the readers read nothing")
	}
	drv.mustSee(t, "Plan — nothing has changed yet")
	pf := drv.env.Plan()
	if pf.EdgeGateway != "company-edge" || pf.Network.GatewayCIDR != "172.16.10.1/24" || pf.Tunnel.Name != "ferry-l2vpn" {
		t.Fatalf("answers in the plan: edge %q, CIDR %q, tunnel %q", pf.EdgeGateway, pf.Network.GatewayCIDR, pf.Tunnel.Name)
	}
	view.pullRuns()
	view.mustSee(t, "Plan — nothing has changed yet")
}

// TestViewerDropsAUsedConfirmation: a confirmation the driver typed is
// shown until a run of the cutover begins (it was used); a session that
// gets the records late, in any order, does not show it on the next
// wave's prompt.
func TestViewerDropsAUsedConfirmation(t *testing.T) {
	_, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks")}, 120, 40)
	s := view.m.screens[7].(*cutoverScreen)
	typed := SharedRun{ID: 5, Step: "cutover", Phase: runEditing, By: "admin", Answers: map[string]string{"confirm": "WebApp2", "power_on": "true"}}
	s.answers(typed)
	view.mustSee(t, "admin types the confirmation:", "> WebApp2")
	s.mirror(SharedRun{ID: 6, Step: "cutover", Phase: runFinished, By: "admin", Err: errors.New("refused")})
	s.answers(typed) // delivered again, after the run
	s.run.phase = phaseInput
	view.mustNotSee(t, "admin types the confirmation:", "> WebApp2")
}

// TestAttachedSessionShowsTheRunsOwnDuration (QA: a wizard attached to
// ferry serve after the steps ran showed "DC extension ✓ done · took 55s"
// for a step of 119 ms): a run another session made ends when it ended,
// not when this session learned of it.
func TestAttachedSessionShowsTheRunsOwnDuration(t *testing.T) {
	_, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: []string{"rights"}}, 120, 40)
	view.mustSee(t, "Step 2 of 8 · Trunk network")
	started := t0.Add(-55 * time.Second)
	view.send(runsMsg{{ID: 9, Step: "trunk-network", Phase: runFinished, By: "admin",
		Started: started, Finished: started.Add(119 * time.Millisecond)}})
	view.mustSee(t, "✓ done", "took 119ms")
}

// TestViewerIsNotAskedToConfirm (QA: after a rollback decided with ctrl+r,
// a watching session read "WebApp2 not cut over (press r and type
// WebApp2)" and "Press r to cut over again", and before it "decide with
// ctrl+r": keys only the driver has): the viewer is told what the driver
// can do, never asked to type or press it.
func TestViewerIsNotAskedToConfirm(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: checksDone,
			cutoverState: map[string]string{"WebApp2": "power-on requested"},
			mutate: func(m map[string]*fakeStep) {
				m["cutover"].after = func(env *steps.Env) error {
					// As the real step: the rollback's report, saved.
					rep := &steps.CutoverReport{Started: t0, Finished: t0.Add(25 * time.Second),
						VMs: []steps.VMReport{{VM: "WebApp2", Outcome: "rolled back as decided", MeasuredDowntimeSeconds: 25.2}}}
					md, _, err := rep.Save(filepath.Dir(env.State.Path()))
					if err == nil {
						err = env.State.SetOutput("cutover", "report", filepath.Base(md))
					}
					if err != nil {
						return err
					}
					return fmt.Errorf("WebApp2: cutover rolled back as decided (--rollback): running on-prem again: %w; WebApp2 not cut over (confirm with --confirm-cutover=WebApp2) (%w)", steps.ErrRolledBackAsDecided, steps.ErrWaiting)
				}
			}}, size[0], size[1])
		view.mustSee(t, "DECISION NEEDED", "the driver", "decides: finish")
		view.mustNotSee(t, "ctrl+r")
		drv.send(tea.KeyMsg{Type: tea.KeyCtrlR})
		drv.typeText("WebApp2")
		drv.send(press("enter"))
		drv.mustSee(t, "↺ rolled back as decided", "(press r and type WebApp2)", "Press r to cut over again")
		view.pullUntil(t, "↺ rolled back as decided")
		view.mustSee(t, "The driver can cut over again", "the driver cuts it over")
		view.mustNotSee(t, "type WebApp2", "Press r", "press r", "(r)", "ctrl+r")
	}
}

// TestViewerFollowsTheDriversDecisionAndRetry (QA: while the driver rolled
// back with ctrl+r, the viewer's confirmation read "This shuts down the
// source VMs"; after the rollback, the viewer kept its report while the
// driver pressed r and typed the names again): the viewer's confirmation
// is the driver's, its decision and its second try.
func TestViewerFollowsTheDriversDecisionAndRetry(t *testing.T) {
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: checksDone,
		cutoverState: map[string]string{"WebApp2": "power-on requested"},
		mutate: func(m map[string]*fakeStep) {
			m["cutover"].after = func(env *steps.Env) error {
				return fmt.Errorf("WebApp2: cutover rolled back as decided (--rollback): running on-prem again: %w; WebApp2 not cut over (%w)", steps.ErrRolledBackAsDecided, steps.ErrWaiting)
			}
		}}, 80, 24)
	drv.send(tea.KeyMsg{Type: tea.KeyCtrlR})
	drv.typeText("Web")
	view.pullUntil(t, "> Web")
	mustRead(t, view, "This rolls back interrupted cutovers", "ROLL BACK the interrupted cutover")
	view.mustNotSee(t, "This shuts down the source VMs")
	drv.typeText("App2")
	drv.send(press("enter"))
	view.pullUntil(t, "↺ rolled back as decided")

	drv.send(press("r"))
	drv.typeText("WebA")
	view.pullUntil(t, "> WebA")
	// (The fake cutover leaves WebApp2's power-on requested: its source
	// is down already, and the header says what confirming does then.)
	mustRead(t, view, "This starts WebApp2 in Cloud Director", "types the confirmation:")
	view.mustNotSee(t, "↺ rolled back as decided", "ROLL BACK")
}

// TestTestMigrationProgressWholeAt80 (QA: at 80 columns the dashboard's
// running test migration read "WebApp2: boot done in 1.…"): its line
// wraps, the duration whole.
func TestTestMigrationProgressWholeAt80(t *testing.T) {
	_, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")}, 80, 24)
	view.send(runsMsg{{ID: 99, Step: "replication", Test: "test migration of WebApp2", Phase: runApplying, By: "admin", Started: t0,
		Events: []steps.Event{steps.Progress("WebApp2: boot done in 1.234s (guest answering at 172.16.10.12)", -1)}}})
	view.mustSee(t, "test migration of WebApp2")
	mustRead(t, view, "WebApp2: boot done in 1.234s (guest answering at 172.16.10.12)")
	view.mustNotSee(t, "1.…")
}

// TestTestOutcomeGoesWithItsVM (QA: a second wave's dashboard still read
// "✓ test migration of WebApp2: done · report ...", WebApp2 being cut over
// in the first): the last test's outcome is shown while its VM is still
// to cut over, not after.
func TestTestOutcomeGoesWithItsVM(t *testing.T) {
	h := newHarness(t, setup{pf: withTestNetwork(withVMs("WebApp2", "WebApp3")), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	h.start(80, 24)
	h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(replicationMsg{VM: "WebApp3", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(press("[")) // the dashboard (step 6)
	h.send(press("t"))
	h.send(press("t"))
	h.mustSee(t, "test migration of WebApp2")
	if err := h.env.State.SetOutput("cutover", "cutover.WebApp2", "done"); err != nil {
		t.Fatal(err)
	}
	h.send(replicationMsg{VM: "WebApp3", Phase: "idle", Pass: 4, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.mustNotSee(t, "test migration of WebApp2")
}

// TestViewerSeesTheDriversCheckResults (QA: a viewer saw only "probe round
// 3 of 3" on step 7 while the driver saw rounds 1–3: the board keeps the
// latest of consecutive progress with a fraction): step 7's results are
// what the probes answered, the same on both screens; the rounds are its
// progress, not results; a long result wraps whole at 80 columns.
func TestViewerSeesTheDriversCheckResults(t *testing.T) {
	const long = "WebApp1 -> 172.16.10.12 (guest ping): 0/3 answered; not expected to answer before its cutover: powered off on-prem"
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"),
			mutate: func(m map[string]*fakeStep) {
				m["checks"].events = []steps.Event{
					steps.Progress("probe round 1 of 3", 1.0/3), steps.Progress("probe round 2 of 3", 2.0/3), steps.Progress("probe round 3 of 3", 1),
					steps.Progress("WebApp1 → WebApp2: 3/3 answered, 1.2ms", -1),
					steps.Progress(long, -1),
				}
			}}, size[0], size[1])
		drv.send(press("enter"))
		drv.send(press("enter"))
		drv.mustSee(t, "✓ done", "Results")
		view.pullUntil(t, "✓ done", "Results")
		results := func(h *harness) string {
			_, main, _ := shown(h.view())
			i := slices.IndexFunc(main, func(l string) bool { return strings.HasPrefix(l, "Results") })
			if i < 0 {
				t.Fatalf("no results:\n%s", h.view())
			}
			var b strings.Builder
			for _, l := range main[i:] {
				if strings.TrimSpace(l) == "" {
					break
				}
				b.WriteString(strings.TrimSpace(l) + " ")
			}
			return b.String()
		}
		d, v := results(drv), results(view)
		if d != v {
			t.Errorf("%dx%d: the driver's results\n%s\nare not the viewer's\n%s", size[0], size[1], drv.view(), view.view())
		}
		if !strings.Contains(d, "WebApp1 → WebApp2: 3/3 answered, 1.2ms") || !strings.Contains(d, long) {
			t.Errorf("%dx%d: the results are not whole:\n%s", size[0], size[1], drv.view())
		}
		if strings.Contains(d, "probe round") {
			t.Errorf("%dx%d: a probe round listed as a result:\n%s", size[0], size[1], drv.view())
		}
	}
}

// TestViewerToldTheDriverLeft (QA over SSH: after the driver's kill -9 the
// watching session still read "WATCHING admin drives" and "admin types the
// confirmation: > WebAp"): the engine's DriverChanged names who drives now,
// and a confirmation the driver that left was typing is not shown as typed.
func TestViewerToldTheDriverLeft(t *testing.T) {
	_, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks")}, 120, 40)
	s := view.m.screens[7].(*cutoverScreen)
	s.answers(SharedRun{ID: 5, Step: "cutover", Phase: runEditing, By: "admin (alice@laptop)", Answers: map[string]string{"confirm": "WebAp", "power_on": "true"}})
	view.mustSee(t, "admin (alice@laptop) types the confirmation:", "> WebAp")
	view.send(DriverChanged{Viewer: "no one drives now: attach again to drive", Left: "admin (alice@laptop)"})
	view.mustSee(t, "WATCHING no one drives now")
	view.mustNotSee(t, "types the confirmation:", "> WebAp")
	view.send(DriverChanged{Viewer: "carol (laptop) drives"})
	view.mustSee(t, "WATCHING carol (laptop) drives")
}

// TestViewerSeesDriversVMSelection (QA over SSH: the watching session read
// "[ ] WebApp3" and "1 of 17 selected" while the driver had ticked WebApp3
// too, until the driver planned): the viewer on step 5 shows the VMs as
// the driver ticks them, and one elsewhere is taken there.
func TestViewerSeesDriversVMSelection(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.Job = "WebApp2-Migration" // the default name: it follows the selection
	drv, view, _ := twoSessions(t, setup{pf: pf, done: infraDone}, 120, 40)
	drv.mustSee(t, "Step 5 of 8", "[x] WebApp2", "job WebApp2-Migration")
	view.mustSee(t, "job WebApp2-Migration")
	view.mustSee(t, "Step 5 of 8", "[x] WebApp2", "[ ] WebApp3")
	drv.send(press("/"))
	drv.typeText("WebApp3")
	drv.send(press("enter"))
	drv.send(press("space"))
	drv.mustSee(t, "[x] WebApp3")
	view.pullRuns()
	view.mustSee(t, "[x] WebApp2", "[x] WebApp3", "2 of ", "job WebApp2-WebApp3-Migration")
	view.mustNotSee(t, "[ ] WebApp3")
	drv.send(press("space")) // and untick it
	view.pullRuns()
	view.mustSee(t, "[ ] WebApp3", "1 of ")
}

// TestViewerShowsTheDriversDuration (QA over SSH: the driver's screen read
// "✓ done: 2 changes · took 640ms", the watcher's "took 638ms" for the same
// run): the run's start and end are the ones its record has.
func TestViewerShowsTheDriversDuration(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.EdgeGateway, pf.Network.GatewayCIDR = "company-edge", "172.16.10.1/24"
	drv, view, _ := twoSessions(t, setup{pf: pf, done: []string{"rights"}}, 120, 40)
	tick := t0
	drv.m.w.now = func() time.Time { tick = tick.Add(time.Millisecond); return tick } // every read a later time
	drv.mustSee(t, "Step 2 of 8 · Trunk network")
	drv.send(press("enter"))
	drv.mustSee(t, "Plan — nothing has changed yet")
	drv.send(press("enter"))
	drv.mustSee(t, "✓ done")
	view.pullRuns()
	view.mustSee(t, "✓ done")
	took := regexp.MustCompile(`took \S+`)
	d, v := took.FindString(drv.view()), took.FindString(view.view())
	if d == "" || d != v {
		t.Fatalf("the driver's screen says %q, the viewer's %q", d, v)
	}
}

// TestViewerRefusalFollowsTheDriver (QA over SSH: a watching session that
// had pressed enter kept "You are watching (root drives): only the driver
// changes anything." at the bottom after the driver's kill -9, under a
// header saying no one drives): the refusal says who drives now.
func TestViewerRefusalFollowsTheDriver(t *testing.T) {
	_, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: []string{"rights"}}, 120, 40)
	view.send(DriverChanged{Viewer: "admin (alice@laptop) drives"})
	view.send(press("enter"))
	view.mustSee(t, "You are watching (admin (alice@laptop) drives): only the driver changes anything.")
	view.send(DriverChanged{Viewer: "no one drives now: attach again to drive", Left: "admin (alice@laptop)"})
	view.mustSee(t, "WATCHING no one drives now", "You are watching (no one drives now: attach again to drive): only the driver changes anything.")
	view.mustNotSee(t, "admin (alice@laptop) drives")
}
