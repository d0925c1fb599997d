package tui

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/steps"
)

// Every session attached to an engine shows the step runs of the others:
// when the driver plans, applies or retries a step, runs the cutover or a
// test migration from the dashboard, each watching terminal's screen for
// that step shows the same plan, progress, result or failure and downtime
// report (a guided demo's audience watches what the presenter does). The
// driver's runs are published to the engine's board (Session.Runs) from
// where they run, off the Update loop; every model watches the board and
// mirrors the others' runs into its own screens.

// The phases of a SharedRun (engine.RunPlanning, ...).
const (
	runPlanning = "planning"
	runPlanned  = "planned"
	runApplying = "applying"
	runFinished = "finished"
	runEditing  = "editing" // the driver's form as typed (not a run)
)

// SharedRun is a step run as every session of an engine sees it
// (engine.StepRun, field for field).
type SharedRun struct {
	ID       uint64
	Origin   uint64 // the model that runs it
	Step     string // the step's ID
	Test     string // the dashboard's test migration ("test migration of WebApp2"), "" for the step's run
	By       string
	Phase    string
	Plan     steps.Plan
	Events   []steps.Event
	Dropped  int // events the board left out (the oldest)
	Outcome  steps.Outcome
	Report   string
	Err      error
	Started  time.Time
	Finished time.Time
	Answers  map[string]string // runEditing: the form's values by field key
	Focus    int               // runEditing: the field the driver is in, -1 none
}

// RunBoard is where the sessions of an engine publish their step runs and
// watch each other's (engine.RunBoard). Its methods never block on a
// watcher.
type RunBoard interface {
	Start(r SharedRun) (id uint64)
	Planned(id uint64, p steps.Plan, err error)
	Event(id uint64, ev steps.Event)
	Finish(id uint64, out steps.Outcome, report string, err error)
	Watch() RunWatch
}

// RunWatch is one session's view of the board: Next waits for runs that
// changed (all of them the first time) and returns them as they are now.
type RunWatch interface {
	Next(ctx context.Context) ([]SharedRun, error)
	Close()
}

// origins numbers the models of this process: a model does not mirror
// its own runs.
var origins atomic.Uint64

// runsMsg is a batch of runs from the board.
type runsMsg []SharedRun

// sharing publishes one run of this session; nil (no board) does nothing.
type sharing struct {
	b   RunBoard
	id  uint64
	now func() time.Time
}

// share starts r on the board, as this session's.
func (w *wiring) share(r SharedRun) *sharing {
	if w.session == nil || w.session.Runs == nil {
		return nil
	}
	r.Origin, r.By = w.origin, w.session.Who
	if r.Started.IsZero() {
		r.Started = w.now()
	}
	return &sharing{b: w.session.Runs, id: w.session.Runs.Start(r), now: w.now}
}

func (s *sharing) planned(p steps.Plan, err error) {
	if s != nil {
		s.b.Planned(s.id, p, err)
	}
}

func (s *sharing) event(ev steps.Event) {
	if s == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	s.b.Event(s.id, ev)
}

// finishAt ends the run at at, by the clock its Started was read from.
func (s *sharing) finishAt(at time.Time, out steps.Outcome, report string, err error) {
	if b, ok := s.b.(finishAt); ok {
		b.FinishAt(s.id, at, out, report, err)
		return
	}
	s.b.Finish(s.id, out, report, err)
}

// finishAt is a board that takes when a run ended from the session that
// ran it: by the clock its Started was read from (share). A board's own
// clock may be another: a watching session took the run's time as the
// board's end less the runner's start (QA: "total time 252h19m" in a
// harness whose sessions' clock is fixed).
type finishAt interface {
	FinishAt(id uint64, at time.Time, out steps.Outcome, report string, err error)
}

// publish says how background shares a run: the record to start once the
// run holds the step lock, and what its final message says.
type publish struct {
	run      SharedRun
	finished func(final tea.Msg) (steps.Outcome, string, error)
}

func applyFinished(final tea.Msg) (steps.Outcome, string, error) {
	if m, ok := final.(applyDoneMsg); ok {
		return m.Outcome, "", m.Err
	}
	return steps.Outcome{}, "", nil
}

func testFinished(final tea.Msg) (steps.Outcome, string, error) {
	if m, ok := final.(testDoneMsg); ok {
		return steps.Outcome{}, m.Report, m.Err
	}
	return steps.Outcome{}, "", nil
}

// waitRuns waits for the next batch of runs from the board.
func (m *Model) waitRuns() tea.Cmd {
	watch, ctx := m.watch, m.w.ctx
	if watch == nil {
		return nil
	}
	return func() tea.Msg {
		rs, err := watch.Next(ctx)
		if err != nil {
			return nil // the session ends
		}
		return runsMsg(rs)
	}
}

// mirrorer is a screen that shows another session's run of its step.
type mirrorer interface {
	// mirror brings the screen to what r shows and returns the messages
	// its own run would have had (a plan, the end of an apply), which the
	// root delivers through its update.
	mirror(r SharedRun) []tea.Msg
}

// mirrorRuns shows the others' runs on the screens of their steps.
func (m *Model) mirrorRuns(rs runsMsg) tea.Cmd {
	var cmds []tea.Cmd
	for _, r := range rs {
		if r.Origin == m.w.origin {
			continue
		}
		i := slices.IndexFunc(m.w.it, func(s steps.Stage) bool { return s.Step.ID() == r.Step })
		if i < 0 {
			continue
		}
		mr, isMirror := m.screens[i].(mirrorer)
		a, isAnswerer := m.screens[i].(answerer)
		editing := r.Phase == runEditing
		if (editing && !isAnswerer) || (!editing && !isMirror) {
			continue
		}
		// A run in flight on another step: a watching session goes
		// there (the audience follows the presenter) unless it looked
		// around; a driving one is told (the first batch's too: it began
		// before this session attached). The driver typing into a form
		// is followed too, unless it typed before this session attached.
		if r.ID > m.lastRun && r.Phase != runFinished && (!editing || !r.Started.Before(m.attached)) {
			m.liveStep = i
			switch {
			case i == m.cur:
				// Already here (a batch's earlier record of the same
				// step brought it): the notice tells the latest.
				if n := &m.notice; n.text != "" && n.step == i && r.ID > n.run {
					m.setNotice(i, r, n.followed)
				}
			case m.w.session.viewer() && !m.lookedAround:
				cmds = append(cmds, m.enter(i))
				m.setNotice(i, r, true)
			default:
				m.setNotice(i, r, false)
			}
		} else if n := &m.notice; n.text != "" && n.text == m.flash && i == n.step && r.ID >= n.run && !editing {
			// The step the flash tells of went on (its plan ended, its
			// apply ran): the flash says so, not what was being done.
			m.setNotice(n.step, r, n.followed)
		}
		m.lastRun = max(m.lastRun, r.ID)
		if editing {
			a.answers(r)
			continue
		}
		for _, msg := range mr.mirror(r) {
			cmds = append(cmds, m.screens[i].update(msg))
			if _, ok := msg.(applyDoneMsg); ok {
				m.syncPhases()
			}
		}
	}
	return tea.Batch(append(cmds, m.waitRuns())...)
}

// lookAround notes that a watching session moves to step i by itself:
// it stops following the driver, until it comes back to the step of the
// driver's newest run.
func (m *Model) lookAround(i int) {
	if m.w.session.viewer() {
		m.lookedAround = i != m.liveStep
	}
}

// setNotice flashes runNotice and remembers which run it tells of.
func (m *Model) setNotice(i int, r SharedRun, followed bool) {
	m.flash = m.runNotice(i, r, followed)
	m.notice.run, m.notice.step, m.notice.followed, m.notice.text = r.ID, i, followed, m.flash
}

// runNotice says that a run started on step i, or how far it went: on
// another step's screen, or (followed) on that step's, which a watching
// session was taken to.
func (m *Model) runNotice(i int, r SharedRun, followed bool) string {
	what := "plans"
	switch {
	case r.Phase == runEditing && r.Answers["confirm"] != "":
		what = "types the confirmation of" // the cutover's (cutoverScreen.publish)
	case r.Phase == runEditing:
		what = "fills in"
	case r.Test != "" && r.Phase == runFinished:
		what = "ran a " + r.Test + " on"
	case r.Test != "":
		what = "runs a " + r.Test + " on"
	case r.Phase == runPlanned:
		what = "planned"
	case r.Phase == runApplying:
		what = "applies"
	case r.Phase == runFinished && r.Err != nil:
		what = "failed to apply"
	case r.Phase == runFinished:
		what = "applied"
	}
	if followed {
		return fmt.Sprintf("%s %s step %d · %s (followed here; [ and ] look around)", r.By, what, i+1, m.w.it[i].Step.Title())
	}
	dir := "]"
	if i < m.cur {
		dir = "["
	}
	return fmt.Sprintf("%s %s step %d · %s (%s to watch)", r.By, what, i+1, m.w.it[i].Step.Title(), dir)
}

// answerer is a screen with a form that shows the driver's answers as it
// types them (a runEditing record).
type answerer interface {
	answers(r SharedRun)
}

func (s *stepScreen) answers(r SharedRun) { s.form.showAnswers(r.Answers, r.Focus) }

// mirror shows r, another session's run of this step, as if this screen
// had started it; a run of this screen's own in flight is left alone.
func (r *stepRun) mirror(sr SharedRun) []tea.Msg {
	if r.own && r.running() {
		return nil
	}
	if sr.ID != r.mirrored {
		r.mirrored, r.own = sr.ID, false
		r.stream, r.err, r.note, r.interrupted, r.scroll.top = nil, nil, "", false, 0
		if sr.Phase == runPlanning || sr.Phase == runPlanned {
			r.phase, r.plan = phasePlanning, steps.Plan{}
		} else {
			// As the driver's screen: from what the step persisted.
			r.phase, r.events, r.fraction, r.message = phaseApplying, nil, r.w.env.StepProgress(r.id()), "starting"
			r.started, r.finished = sr.Started, time.Time{}
		}
	}
	switch sr.Phase {
	case runPlanned:
		if r.phase == phasePlanning {
			return []tea.Msg{planDoneMsg{Step: r.idx, Plan: sr.Plan, Err: sr.Err}}
		}
	case runApplying, runFinished:
		if r.phase != phaseApplying {
			return nil
		}
		r.events = sr.Events
		for _, ev := range sr.Events {
			switch ev.Kind {
			case steps.EventProgress:
				r.progress(ev)
			case steps.EventChange, steps.EventStarted, steps.EventWarning:
				r.message = ev.Message
			}
		}
		if sr.Dropped > 0 {
			r.message = fmt.Sprintf("(%d earlier events not kept) %s", sr.Dropped, r.message)
		}
		if sr.Phase == runFinished {
			return []tea.Msg{applyDoneMsg{Step: r.idx, Outcome: sr.Outcome, Err: sr.Err, At: sr.Finished}}
		}
	}
	return nil
}

func (s *stepScreen) mirror(r SharedRun) []tea.Msg   { return s.run.mirror(r) }
func (s *checksScreen) mirror(r SharedRun) []tea.Msg { return s.run.mirror(r) }
func (s *vmScreen) mirror(r SharedRun) []tea.Msg     { return s.run.mirror(r) }
func (s *cutoverScreen) mirror(r SharedRun) []tea.Msg {
	if r.ID > s.driver.id { // the confirmation shown was used by this run, or an earlier one
		s.driver.by, s.mirrored = "", max(s.mirrored, r.ID)
	}
	return s.run.mirror(r)
}

// The dashboard shows the step's run and the test migrations.
func (s *replicationScreen) mirror(r SharedRun) []tea.Msg {
	if r.Test == "" {
		return s.run.mirror(r)
	}
	if s.test.running && s.test.stream != nil {
		return nil // its own
	}
	if r.ID != s.testMirrored {
		s.testMirrored = r.ID
		s.test = testRun{what: r.Test, running: true, started: r.Started, message: "starting"}
	}
	if !s.test.running {
		return nil
	}
	s.test.removed = nil // r.Events are all of the run's, as it is now
	for _, ev := range r.Events {
		s.test.event(ev)
	}
	if r.Phase == runFinished {
		return []tea.Msg{testDoneMsg{Step: s.idx, Report: r.Report, Err: r.Err}}
	}
	return nil
}

var (
	_ mirrorer = (*stepScreen)(nil)
	_ mirrorer = (*checksScreen)(nil)
	_ mirrorer = (*vmScreen)(nil)
	_ mirrorer = (*cutoverScreen)(nil)
	_ mirrorer = (*replicationScreen)(nil)
	_ answerer = (*stepScreen)(nil)
	_ answerer = (*vmScreen)(nil)
)
