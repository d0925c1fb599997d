package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ferry-migrate/ferry/steps"
)

// A test migration from the dashboard: the key on a VM's row brings a copy
// of it up at the provider from its replica (steps.Env.TestMigrate, as
// `ferry run --test-migrate` does), the source and its replication going
// on; the cleanup key removes what a test left (steps.Env.TestCleanup, as
// `ferry run --test-cleanup`). Both run off the Update loop like a step and
// stream their events to a line above the dashboard.

var (
	keyTest    = newKey("t", "test migration", "t")
	keyCleanup = newKey("x", "clean up tests", "x")
	// The cleanup's confirmation (x pressed): what it removes, and y/n.
	keyCleanupYes = newKey("y", "remove the test copies", "y")
	keyCleanupNo  = newKey("n/esc", "keep them", "n", "esc")
)

// cleanupTest is what a test run of the cleanup is called.
const cleanupTest = "test cleanup"

type (
	testEventMsg struct {
		Step  int
		Event steps.Event
	}
	testDoneMsg struct {
		Step   int
		Report string
		Err    error
	}
)

func (m testEventMsg) step() int { return m.Step }
func (m testDoneMsg) step() int  { return m.Step }

// testRun is the dashboard's test migration or cleanup: the one in flight,
// or the outcome of the last one.
type testRun struct {
	// armed is the VM whose test migration a second press of the key
	// starts (the first press says what it will do).
	armed   string
	what    string // "test migration of WebApp2", "test cleanup"
	vm      string // the VM a test migration copies ("" for a cleanup, or another session's)
	running bool
	started time.Time
	message string // latest event while running; outcome after
	// report is the path of the test's report, shown on rows of its own
	// (testLines), broken only after a "/" so that it can be copied.
	report string
	failed bool
	stream <-chan tea.Msg
	// confirm, when not nil, is the cleanup's question on the screen:
	// the VMs whose test copies it names (x pressed; y cleans up).
	confirm []string
	// removed is what a cleanup said it removed, in its order.
	removed []string
}

// event records a test run's event: its latest message, and what a
// cleanup removed (its result line names it).
func (t *testRun) event(ev steps.Event) {
	if ev.Message == "" {
		return
	}
	t.message = ev.Message
	if t.what == cleanupTest && ev.Kind == steps.EventProgress {
		t.removed = append(t.removed, ev.Message)
	}
}

// cleanupQuestion is the cleanup's confirmation: what it removes (each
// VM's test copy, the appliance's test snapshot) and what it keeps.
func cleanupQuestion(vms []string) string {
	var copies []string
	for _, vm := range vms {
		copies = append(copies, fmt.Sprintf("vApp %s with its VM %s (or that VM at the provider, if Cloud Director never imported it)", steps.TestVApp(vm), steps.TestCopyName(vm)))
	}
	return fmt.Sprintf("Clean up the test migration of %s? It deletes %s, the copy's child disks only, and removes the receiver appliance's test snapshot (%s). "+
		"The replica disks are kept and replication goes on. y cleans up, n keeps it.",
		strings.Join(vms, ", "), strings.Join(copies, "; "), steps.TestSnapshot)
}

// testKeys are the two keys as the VM under the cursor allows them.
func (s *replicationScreen) testKeys(row VMRow, ok bool) (test, cleanup Key) {
	test, cleanup = keyTest, keyCleanup
	left := s.w.env.TestsLeftRunning()
	busy, engine := "", s.w.session.engineBusy()
	switch {
	case s.test.running:
		busy = "the " + s.test.what + " is running"
	case s.w.readOnly:
		busy = "read-only"
	case s.w.runs.busy():
		busy = "a step is running"
	case engine != "":
		// A wizard re-attached while a test it started still runs in the
		// engine, or another session's or a ferry run client's work.
		busy = "the engine is running steps for " + engine
	}
	switch {
	case busy != "":
		test = test.when(false, busy)
	case !ok:
		test = test.when(false, "no VM replicating")
	case row.CutOver():
		test = test.when(false, row.VM+" is cut over: a test migration tests a VM that still runs on-prem")
	case row.LastPass.IsZero():
		test = test.when(false, row.VM+" has no completed pass to test yet")
	case len(left) > 0:
		test = test.when(false, "a test copy of "+strings.Join(left, ", ")+" is left: press x to clean it up first")
	}
	switch {
	case busy != "":
		cleanup = cleanup.when(false, busy)
	case len(left) == 0:
		cleanup = cleanup.when(false, "no test migration is left running")
	}
	return test, cleanup
}

// testKey handles the test and cleanup keys; ok is false for other keys
// (which disarm a first press).
func (s *replicationScreen) testKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	row, have := s.cursorVM()
	test, cleanup := s.testKeys(row, have)
	switch {
	case test.Matches(msg) && test.Why == "" && s.w.env.Plan().TestMigration.Network == "":
		// The plan names no network for the copies (a plan begun in the
		// wizard): asked here, from the VDC's isolated networks.
		s.test.armed = ""
		return s.askNetwork(row.VM), true
	case test.Matches(msg) && test.Why == "":
		if s.test.armed != row.VM {
			s.test.armed = row.VM
			// Short enough for 80 columns: the help (?) says the rest.
			return flash(fmt.Sprintf("Press t again to test-migrate %s; it keeps running and replicating.", row.VM)), true
		}
		s.test.armed = ""
		vm := row.VM
		cmd := s.startTest("test migration of "+vm, func(ctx context.Context, emit steps.Emit) (string, error) {
			return s.w.env.TestMigrate(ctx, []string{vm}, emit)
		})
		s.test.vm = vm
		return cmd, true
	case cleanup.Matches(msg) && cleanup.Why == "":
		// Asked first: it deletes at the provider (QA demo: x removed the
		// test VM at once, and said nothing of what it removed).
		s.test.armed = ""
		s.test.confirm = s.w.env.TestsLeftRunning()
		return nil, true
	}
	s.test.armed = ""
	return nil, false
}

// confirmKeys are the keys while the cleanup's question is open.
func (s *replicationScreen) confirmKeys() keyMap {
	_, cleanup := s.testKeys(s.cursorVM())
	return keyMap{keyCleanupYes.when(cleanup.Why == "", cleanup.Why), keyCleanupNo}
}

// confirmKey handles a key while the cleanup's question is open: y cleans
// up, n or esc closes the question; other keys leave it open.
func (s *replicationScreen) confirmKey(msg tea.KeyMsg) tea.Cmd {
	yes, no := s.confirmKeys()[0], keyCleanupNo
	switch {
	case no.Matches(msg):
		s.test.confirm = nil
		return flash("Test cleanup not run: the test copies are kept (x asks again).")
	case yes.Matches(msg) && yes.Why != "":
		s.test.confirm = nil
		return flash("Test cleanup not run: " + yes.Why)
	case yes.Matches(msg):
		s.test.confirm = nil
		return s.startTest(cleanupTest, func(ctx context.Context, emit steps.Emit) (string, error) {
			return "", s.w.env.TestCleanup(ctx, emit)
		})
	}
	return nil
}

// startTest runs work as a step run is run (wiring.background).
func (s *replicationScreen) startTest(what string, work func(context.Context, steps.Emit) (string, error)) tea.Cmd {
	ctx := s.w.runContext()
	s.test = testRun{what: what, running: true, started: s.w.now(), message: "starting"}
	idx := s.idx
	cmd, ch := s.w.background(ctx,
		func(ev steps.Event) tea.Msg { return testEventMsg{Step: idx, Event: ev} },
		func(err error) tea.Msg { return testDoneMsg{Step: idx, Err: err} },
		func(emit steps.Emit) tea.Msg {
			// In ferry.log as a step run is (QA h9: a test migration and
			// a cleanup from the dashboard left no line there, not even
			// what the cleanup removed).
			env := s.w.env
			env.LogEvent(steps.Event{Step: "replication", Kind: steps.EventStarted, Message: what})
			report, err := work(ctx, func(ev steps.Event) { env.LogEvent(ev); emit(ev) })
			switch {
			case err != nil:
				env.LogEvent(steps.Event{Step: "replication", Kind: steps.EventFailed, Error: what + " failed: " + err.Error()})
			case report != "":
				env.LogEvent(steps.Event{Step: "replication", Kind: steps.EventDone, Message: what + ": done · report " + report})
			default:
				env.LogEvent(steps.Event{Step: "replication", Kind: steps.EventDone, Message: what + ": done"})
			}
			return testDoneMsg{Step: idx, Report: report, Err: err}
		}, &publish{run: SharedRun{Step: s.w.it[idx].Step.ID(), Test: what, Phase: runApplying}, finished: testFinished})
	s.test.stream = ch
	return cmd
}

// testUpdate handles the test run's messages.
func (s *replicationScreen) testUpdate(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case testEventMsg:
		s.test.event(msg.Event)
		return waitForEvent(s.test.stream, asMsg)
	case testDoneMsg:
		s.test.running = false
		s.test.failed = msg.Err != nil
		var parts []string
		switch {
		case msg.Err == nil:
			parts = append(parts, s.test.what+": done")
		case errors.Is(msg.Err, context.Canceled):
			parts = append(parts, s.test.what+" interrupted: "+msg.Err.Error())
		default:
			parts = append(parts, s.test.what+" failed: "+msg.Err.Error())
		}
		if s.test.report = msg.Report; msg.Report != "" {
			parts = append(parts, "report:") // the path follows on rows of its own
		}
		if s.test.what == cleanupTest {
			// What it removed, as it said it (each VM's copy, the
			// appliance's snapshot), or that it found nothing to remove.
			if len(s.test.removed) == 0 && msg.Err == nil {
				parts = append(parts, "nothing was left to remove")
			}
			parts = append(parts, s.test.removed...)
		}
		s.test.message = strings.Join(parts, " · ")
		// The state changed (a test recorded, removed): the dashboard's
		// rows and the left-running line follow it.
		return func() tea.Msg { return refreshStatusMsg{} }
	}
	return nil
}

// testLines are the dashboard's lines about test migrations: the one
// running or the last outcome, and the tests left running.
func (s *replicationScreen) testLines(width int) []string {
	var out []string
	if s.test.confirm != nil {
		return wrapped("▲ "+cleanupQuestion(s.test.confirm), width, 2, sWarn)
	}
	switch {
	case !s.test.running && s.test.vm != "" && s.w.env.VMPhase(s.test.vm) == steps.VMCutOver:
		// The outcome of a test of a VM cut over since: of no use for
		// what is left (QA: a second wave's dashboard still read "✓ test
		// migration of WebApp2: done", of the first wave's VM).
	case s.test.running:
		// Whole, wrapped under itself (QA: at 80 columns "WebApp2: boot
		// done in 1.…", the duration cut).
		out = append(out, wrapped(fmt.Sprintf("%s %s · %s · %s", s.w.spin(), s.test.what, s.test.message, dur(s.w.now().Sub(s.test.started))), width, 2, lipgloss.NewStyle())...)
	case s.test.what != "" && s.test.failed:
		out = append(out, wrapped("✗ "+s.test.message, width, 2, sErr)...)
		out = append(out, reportPath(s.test.report, width, 2)...)
	case s.test.what != "":
		out = append(out, wrapped("✓ "+s.test.message, width, 2, sOK)...)
		out = append(out, reportPath(s.test.report, width, 2)...)
	}
	left := s.w.env.TestsLeftRunning()
	switch busy := s.w.session.engineBusy(); {
	case len(left) == 0 || s.test.running:
	case busy != "":
		// The test may be running now in the engine (started by a session
		// that went away): not left behind, not to be cleaned up yet.
		out = append(out, wrapped("▲ TEST MIGRATION RECORDED: "+strings.Join(left, ", ")+" · the engine is running steps for "+busy+
			" (perhaps this test): if it is left running when they end, x cleans it up", width, 2, sWarn)...)
	default:
		out = append(out, wrapped("▲ TEST MIGRATION LEFT RUNNING: "+strings.Join(left, ", ")+" · x cleans it up (ferry run --test-cleanup)", width, 2, sWarn)...)
	}
	return out
}

// reportPath is a report's path under the line that names it, indented,
// broken only after a "/" (QA at 80 columns: wrapped as prose it read
// "…/test-migrati" / "on-20261125-…", which cannot be copied).
func reportPath(path string, width, indent int) []string {
	var out []string
	pad := strings.Repeat(" ", indent)
	for _, l := range wrapValue(path, max(1, width-indent)) {
		out = append(out, pad+l)
	}
	return out
}

// noTestNetwork is what to do when the dashboard can offer no network for
// test copies.
const noTestNetwork = "the plan names no isolated network for test copies: add test_migration: network: <an isolated org VDC network> to the plan file, then start ferry again"

// netPick is the dashboard's question for the plan's test_migration.network,
// asked when t is pressed while the plan names none (QA: the wizard never
// asked it; t then only said to edit the plan file and start again). Only
// what a test migration would accept is offered: the VDC's networks the
// steps list for it (steps.TestNetworkKey: the ISOLATED ones).
type netPick struct {
	open    bool
	vm      string // whose test the answer is for
	loading bool
	choices []steps.Choice
	err     error // why none can be offered
	at      int
}

var (
	keyUseNetwork  = newKey("enter", "use this network", "enter")
	keyPickNetwork = newKey("↑/↓", "pick", "up", "down")
	keyListAgain   = newKey("t", "list again", "t")
	keyCancelPick  = newKey("esc", "cancel", "esc")
)

// askNetwork opens the question and lists the networks off the Update loop.
func (s *replicationScreen) askNetwork(vm string) tea.Cmd {
	s.pick = netPick{open: true, vm: vm, loading: true}
	ctx, choices, idx := s.w.ctx, s.w.choices, s.idx
	return func() tea.Msg {
		c, err := choices(ctx, steps.TestNetworkKey, nil)
		return choicesMsg{Step: idx, Key: steps.TestNetworkKey, Choices: c, Err: err}
	}
}

// pickKeys are the question's keys.
func (s *replicationScreen) pickKeys() keyMap {
	use, move := keyUseNetwork, keyPickNetwork
	switch {
	case s.pick.loading:
		use = use.when(false, "listing the VDC's isolated networks")
		move = move.when(false, "listing the VDC's isolated networks")
	case len(s.pick.choices) == 0:
		use = use.when(false, "no isolated network to use: the line above says what to do")
		move = move.when(false, "no isolated network to pick")
	}
	return keyMap{use, move, keyListAgain.when(!s.pick.loading, "listing already"), keyCancelPick}
}

// pickKey handles a key while the question is open.
func (s *replicationScreen) pickKey(msg tea.KeyMsg) tea.Cmd {
	n := len(s.pick.choices)
	switch {
	case keyCancelPick.Matches(msg):
		s.pick = netPick{}
	case keyListAgain.Matches(msg) && !s.pick.loading:
		// A network created in Cloud Director meanwhile is listed.
		return s.askNetwork(s.pick.vm)
	case s.pick.loading || n == 0:
	case keyUp.Matches(msg):
		s.pick.at = (s.pick.at - 1 + n) % n
	case keyDown.Matches(msg):
		s.pick.at = (s.pick.at + 1) % n
	case keyUseNetwork.Matches(msg):
		name, vm := s.pick.choices[s.pick.at].Value, s.pick.vm
		s.pick = netPick{}
		// Saved as every answer is: the plan file, and the plan the steps
		// (and under ferry serve, the engine) read, so t works now.
		s.w.env.EditPlan(func(pf *steps.PlanFile) { pf.TestMigration.Network = name })
		s.test.armed = vm
		return tea.Batch(s.w.save(), flash(fmt.Sprintf("Test copies run on %s (saved in the plan). Press t again to test-migrate %s.", name, vm)))
	}
	return nil
}

// pickLines are the question's lines above the dashboard.
func (s *replicationScreen) pickLines(width int) []string {
	vdc := s.w.env.Plan().VDC
	out := wrapped(fmt.Sprintf("A test copy of %s keeps its MAC and address: it runs on an isolated network of VDC %s (no uplink), saved in the plan as test_migration.network.", s.pick.vm, vdc), width, 2, lipgloss.NewStyle())
	switch {
	case s.pick.loading:
		out = append(out, s.w.spin()+" listing the VDC's isolated networks…")
	case len(s.pick.choices) == 0:
		// No choice can be made: the plan file, as before the question
		// was asked here; and why, with what would let one be picked
		// here (a network created in the VDC: t lists again).
		why := "VDC " + vdc + " has no isolated network"
		if s.pick.err != nil {
			why = s.pick.err.Error()
		}
		out = append(out, wrapped("✗ "+noTestNetwork, width, 2, sErr)...)
		out = append(out, wrapped("  nothing to pick: "+why+"; then press t to list the networks again", width, 4, sWarn)...)
	default:
		for i, c := range s.pick.choices {
			if i == maxChoices && s.pick.at < maxChoices {
				out = append(out, sDim.Render(fmt.Sprintf("  … %d more (↓)", len(s.pick.choices)-maxChoices)))
				break
			}
			line := "  " + c.Value
			if c.Note != "" {
				line += "  " + c.Note
			}
			if i == s.pick.at {
				out = append(out, sCursor.Render(trunc("› "+line[2:], width)))
				continue
			}
			out = append(out, trunc(line, width))
		}
	}
	return out
}
