package tui

import (
	"context"
	"regexp"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/steps"
)

// Session makes the wizard one of several attached to a running engine
// (ferry serve, over SSH): the engine's env is shared, steps run in the
// engine's context under its step lock, and quitting only detaches.
type Session struct {
	// Who is this session's user as the others see it ("admin (alice@laptop)").
	Who string
	// Viewer, when set, makes the session watch only and says why ("view
	// mode"): nothing it does changes the answers, runs a step or cuts over.
	Viewer string
	// Others lists the other sessions attached ("bob (viewer), key
	// SHA256:..."), shown on the cutover confirmation.
	Others func() []string
	// Exclusive takes the engine's step lock for a step run; release gives
	// it back. It refuses, saying who runs steps, when another one holds it.
	Exclusive func(who string) (release func(), err error)
	// Busy says who holds the engine's step lock now ("" when nobody):
	// another session, a ferry run client, or this one. May be nil.
	Busy func() string
	// RunCtx is the context steps run in (the engine's): a session that
	// goes away does not stop a step halfway. Nil: the wizard's own.
	RunCtx context.Context
	// Emit wraps a step run's events (the engine's event log). May be nil.
	Emit func(steps.Emit) steps.Emit
	// Runs is the engine's board of step runs: this session publishes
	// its own there and shows the others' (a watching session sees the
	// driver's plan, progress, result and downtime report). May be nil.
	Runs RunBoard
}

func (s *Session) viewer() bool { return s != nil && s.Viewer != "" }

// DriverChanged tells a watching session that the engine's driver
// changed: Viewer is its new reason to watch ("bob drives", or that no one
// drives since the driver's terminal went away). A confirmation that the
// driver who left was typing is no longer shown as being typed.
type DriverChanged struct {
	Viewer string
	Left   string // the driver who detached ("" when one attached)
}

// engineBusy is Busy, "" without an engine.
func (s *Session) engineBusy() string {
	if s == nil || s.Busy == nil {
		return ""
	}
	return s.Busy()
}

// headerPart is what the header says about the session; short, without
// the hint after the reason to watch ("no one drives now: attach again to
// drive") and the users' details in parentheses ("admin (alice@laptop)").
func (s *Session) headerPart(short bool) string {
	if s == nil {
		return ""
	}
	if s.Viewer != "" {
		why := s.Viewer
		if short {
			why, _, _ = strings.Cut(why, ": ")
			why = userDetails.ReplaceAllString(why, "")
		}
		return sWarn.Render("WATCHING") + " " + why
	}
	who := s.Who
	if short {
		who = userDetails.ReplaceAllString(who, "")
	}
	return sBadge.Render(" DRIVER ") + " " + who
}

// userDetails is what a session's user name says in parentheses after the
// name: the key's comment, the terminal ("admin (alice@laptop)").
var userDetails = regexp.MustCompile(` \([^()]*\)`)

// othersLine is the cutover confirmation's line about the other sessions.
func (s *Session) othersLine() string {
	if s == nil || s.Others == nil {
		return ""
	}
	o := s.Others()
	if len(o) == 0 {
		return "No one else is attached to this engine."
	}
	return "Also attached: " + strings.Join(o, "; ")
}

// viewerKey handles a key in a watching session: moving between steps,
// help, quitting (which detaches) and the screen's keys that change only
// what this terminal shows (watcher: scrolling, the dashboard's cursor);
// anything else is refused, saying why.
func (m *Model) viewerKey(msg tea.KeyMsg) tea.Cmd {
	m.flash = ""
	switch {
	case keyQuit.Matches(msg) || msg.Type == tea.KeyCtrlC:
		return tea.Quit
	case keyHelp.Matches(msg):
		m.showHelp, m.helpScroll.top = !m.showHelp, 0
	case m.showHelp && keyBack.Matches(msg):
		m.showHelp = false
	case m.showHelp && m.helpScroll.key(msg):
	case keyPrevSt.Matches(msg) && m.cur > 0:
		m.lookAround(m.cur - 1)
		return m.enter(m.cur - 1)
	case keyNextSt.Matches(msg) && m.cur < len(m.screens)-1:
		m.lookAround(m.cur + 1)
		return m.enter(m.cur + 1)
	case !m.showHelp && m.watchKey(msg):
	default:
		m.flash = watchingRefusal(m.w.session.Viewer)
	}
	return nil
}

// watchKey gives msg to the current screen if it only changes what this
// terminal shows, and reports whether it did.
func (m *Model) watchKey(msg tea.KeyMsg) bool {
	w, ok := m.screens[m.cur].(watcher)
	return ok && w.watch(msg)
}

// watchingRefusal is what a watching session says to a key only the
// driver has; viewer is its reason to watch ("bob drives").
func watchingRefusal(viewer string) string {
	return "You are watching (" + viewer + "): only the driver changes anything."
}
