package tui

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Messages that move between pages. Screens never switch pages themselves:
// they return a command producing one of these and the root acts on it.
type (
	// gotoStepMsg shows the screen of step Index (0-based).
	gotoStepMsg struct {
		Index int
		// Field, when set, is the answer to show there: its form opened,
		// the field focused (a failure elsewhere named it).
		Field string
	}
	// flashMsg shows a one-line notice above the help bar until the next key.
	flashMsg struct{ Text string }
)

// routed is a message for the screen of one step; the root delivers it to
// that screen whichever screen is showing.
type routed interface{ step() int }

// Step work: plan, apply (as a stream of events), choices and inventory.
type (
	planDoneMsg struct {
		Step int
		Plan steps.Plan
		Err  error
	}
	stepEventMsg struct {
		Step  int
		Event steps.Event
	}
	applyDoneMsg struct {
		Step    int
		Outcome steps.Outcome
		Err     error
		// At is when the run ended, when it ran elsewhere (another
		// session of the engine): not when this one learned it.
		At time.Time
	}
	choicesMsg struct {
		Step int
		Key  string
		// For is the answers the choices were asked for (form.choicesFor).
		For     string
		Choices []steps.Choice
		Err     error
	}
	vmsLoadedMsg struct {
		Step int
		VMs  []vsphere.VM
		Err  error
	}
	// actionDoneMsg reports a one-shot request (pause, resume).
	actionDoneMsg struct {
		Step int
		What string
		Err  error
	}
)

func (m planDoneMsg) step() int   { return m.Step }
func (m stepEventMsg) step() int  { return m.Step }
func (m applyDoneMsg) step() int  { return m.Step }
func (m choicesMsg) step() int    { return m.Step }
func (m vmsLoadedMsg) step() int  { return m.Step }
func (m actionDoneMsg) step() int { return m.Step }

// Streams from the adapters.
type (
	replicationMsg ReplicationUpdate
	// statusMsg carries the persisted replication status read on resume.
	statusMsg []ReplicationUpdate
	// refreshStatusMsg asks the root to read the persisted status again
	// (after a replication pass the wizard ran itself).
	refreshStatusMsg struct{}
	probeMsg         ProbeUpdate
	// probesMsg is the probe samples gathered by waitForProbes, in the
	// order they came.
	probesMsg []ProbeUpdate
	// secretAskMsg asks the operator for a secret a step needs; the answer
	// (or an error when the prompt is dismissed) goes back on Reply.
	secretAskMsg struct {
		Name, What string
		Reply      chan<- secretReply
	}
)

type secretReply struct {
	Value string
	Err   error
}

// waitForEvent returns the next message from ch, or nil once ch is closed.
// The handler of each message re-arms it (bubbletea examples/realtime), so
// a stream costs one blocked goroutine, never a polling loop.
func waitForEvent[T any](ch <-chan T, wrap func(T) tea.Msg) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		v, ok := <-ch
		if !ok {
			return nil
		}
		return wrap(v)
	}
}

// probeGather is how long waitForProbes gathers the samples that follow
// the first before the screen shows them.
var probeGather = 250 * time.Millisecond

// waitForProbes returns the next probe sample from ch with those that
// come within probeGather after it, as one message (nil once ch is
// closed). Every message is a new frame, and each probe samples on its own
// schedule (Interval after its last answer, so a round's samples drift
// apart): one message per sample rendered the whole screen once per probe
// and second, about 20 frames a second with 14 probes and 7% of a core in
// ferry serve per attached terminal. Gathered, the panel changes at most
// four times a second, a quarter second late at worst.
func waitForProbes(ch <-chan ProbeUpdate) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		u, ok := <-ch
		if !ok {
			return nil
		}
		batch := probesMsg{u}
		t := time.NewTimer(probeGather)
		defer t.Stop()
		for {
			select {
			case u, ok := <-ch:
				if !ok {
					return batch // the next wait sees ch closed
				}
				batch = append(batch, u)
			case <-t.C:
				return batch
			}
		}
	}
}

func asMsg(m tea.Msg) tea.Msg                   { return m }
func asReplication(u ReplicationUpdate) tea.Msg { return replicationMsg(u) }
func asSecret(a secretAskMsg) tea.Msg           { return a }

func gotoStep(i int) tea.Cmd { return func() tea.Msg { return gotoStepMsg{Index: i} } }
func flash(s string) tea.Cmd { return func() tea.Msg { return flashMsg{Text: s} } }
