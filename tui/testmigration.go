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
)

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
	failed  bool
	stream  <-chan tea.Msg
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
	case s.w.env.Plan().TestMigration.Network == "":
		// The wizard does not ask it; the test would only fail on it (QA:
		// a plan begun in the wizard: "test_migration.network: name the
		// ISOLATED org VDC network", not saying where).
		test = test.when(false, "the plan names no isolated network for test copies: add test_migration: network: <an isolated org VDC network> to the plan file, then start ferry again")
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
		s.test.armed = ""
		return s.startTest("test cleanup", func(ctx context.Context, emit steps.Emit) (string, error) {
			return "", s.w.env.TestCleanup(ctx, emit)
		}), true
	}
	s.test.armed = ""
	return nil, false
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
			report, err := work(ctx, emit)
			return testDoneMsg{Step: idx, Report: report, Err: err}
		}, &publish{run: SharedRun{Step: s.w.it[idx].Step.ID(), Test: what, Phase: runApplying}, finished: testFinished})
	s.test.stream = ch
	return cmd
}

// testUpdate handles the test run's messages.
func (s *replicationScreen) testUpdate(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case testEventMsg:
		if m := msg.Event.Message; m != "" {
			s.test.message = m
		}
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
		if msg.Report != "" {
			parts = append(parts, "report "+msg.Report)
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
	case s.test.what != "":
		out = append(out, wrapped("✓ "+s.test.message, width, 2, sOK)...)
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
