package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
)

// quitAsk is the confirmation shown when quitting would stop something the
// operator may not expect to stop: replication, or the lab and its files.
type quitAsk struct {
	lines []string
	ctrlC bool // asked by ctrl+c: quitting is an interrupt (exit 130)
	// keep offers to keep the lab's temporary directory.
	keep bool
}

var (
	keyQuitYes  = newKey("y", "quit", "y", "enter")
	keyQuitNo   = newKey("n", "stay", "n", "esc")
	keyQuitKeep = newKey("k", "quit, keep the lab directory", "k")
)

// quitQuestion says what quitting now would stop (nil: nothing, quit
// without asking).
func (m *Model) quitQuestion(ctrlC bool) *quitAsk {
	if m.w.session != nil {
		return nil // quitting detaches from the engine: nothing stops
	}
	var lines []string
	// A step this wizard applies stops midway (QA: quitting during step
	// 6's initial sync of WebApp1 named only WebApp2, already replicating,
	// and without the lab quit without a word).
	if i := m.applyingStep(); i >= 0 {
		id := m.w.it[i].Step.ID()
		head := fmt.Sprintf("Step %d (%s) is running: quitting stops it midway. ", i+1, m.w.it[i].Step.Title())
		switch sync := m.initialSyncs(); {
		case id == "replication" && len(sync) > 0:
			lines = append(lines, head+"The initial sync of "+strings.Join(sync, ", ")+" stops; when ferry runs again, the step says it was interrupted, "+
				"and resuming it goes on from what the receiver holds durably (not sent again).")
		default:
			lines = append(lines, head+"When ferry runs again, the step says it was interrupted, and applying it again picks up from what is done (nothing is created twice).")
		}
	}
	var repl []string
	for _, vm := range m.w.env.Migrating() {
		if m.w.env.VMPhase(vm.Name) == steps.VMReplicating {
			repl = append(repl, vm.Name)
		}
	}
	if len(repl) > 0 {
		lines = append(lines, "Replication of "+strings.Join(repl, ", ")+" stops while ferry is not running: the RPO is not kept. "+
			"The replicas stay; the next pass catches up when ferry runs again.")
	}
	ask := &quitAsk{ctrlC: ctrlC}
	// Only a lab this process runs stops with it: a wizard attached to
	// `ferry lab serve` leaves that lab running.
	if m.w.runsLab {
		switch {
		case m.w.labDir != "":
			lines = append(lines, "This is the lab: quitting stops it, and its directory "+m.w.labDir+
				" (plan, state, downtime reports, logs) is deleted. Press k to keep the directory.")
			ask.keep = true
		case len(lines) > 0:
			lines = append(lines, "This is the lab: quitting stops it.")
		}
	}
	if len(lines) == 0 {
		return nil
	}
	ask.lines = lines
	return ask
}

func (a *quitAsk) keys() keyMap {
	km := keyMap{keyQuitYes, keyQuitNo}
	if a.keep {
		km = append(km, keyQuitKeep)
	}
	return km
}

// update handles a key while the question shows: quit reports the answer.
func (m *Model) answerQuit(msg tea.KeyMsg) tea.Cmd {
	a := m.quitAsk
	switch {
	case keyQuitYes.Matches(msg), msg.Type == tea.KeyCtrlC, a.keep && keyQuitKeep.Matches(msg):
		m.quitAsk = nil
		m.keepLab = a.keep && keyQuitKeep.Matches(msg)
		m.interrupted = a.ctrlC || msg.Type == tea.KeyCtrlC
		return tea.Quit
	case keyQuitNo.Matches(msg):
		m.quitAsk = nil
	}
	return nil
}

func (a *quitAsk) view(width, height int) string {
	out := []string{sDanger.Render("Quit ferry?"), ""}
	for _, l := range a.lines {
		out = append(append(out, wrap(l, width)...), "")
	}
	opts := "y / enter: quit · n / esc: stay"
	if a.keep {
		opts += " · k: quit and keep the lab directory"
	}
	return box(append(out, wrap(opts, width)...), width, height)
}

// applyingStep is the stage this wizard applies now (-1: none): recorded
// running by this process while a run is in flight.
func (m *Model) applyingStep() int {
	if !m.w.runs.busy() {
		return -1
	}
	for i, st := range m.w.it {
		if id := st.Step.ID(); m.w.env.State.Status(id) == steps.StatusRunning && !m.w.env.State.Interrupted(id) {
			return i
		}
	}
	return -1
}

// initialSyncs are the plan's VMs replication has no replica of yet:
// while step 6 applies, those in their initial sync.
func (m *Model) initialSyncs() []string {
	var out []string
	for _, vm := range m.w.env.Migrating() {
		if m.w.env.VMPhase(vm.Name) == steps.VMSelected {
			out = append(out, vm.Name)
		}
	}
	return out
}
