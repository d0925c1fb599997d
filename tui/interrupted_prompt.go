package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ferry-migrate/ferry/steps"
)

// decideWithin is how long the wizard waits, before its screen opens, for
// the operator to decide on cutovers a killed ferry left with the sources
// shut down: nobody answering, it rolls them back, as `ferry run` and
// `ferry serve` do at once (the services are down meanwhile).
const decideWithin = time.Minute

// interruptedChoice is what the operator decided at the prompt.
type interruptedChoice int

const (
	undecided interruptedChoice = iota
	choseRollBack
	choseGoOn
	choseQuit
)

// interruptedPrompt asks, on the terminal before the wizard's screen
// opens, whether to roll back the cutovers a killed ferry left interrupted
// after it had shut their sources down (the default, and what happens by
// itself at the deadline), or to go on with them from the sources left
// off: rolling back and then cutting over again power-cycles each source,
// a whole guest boot and shutdown more of downtime (QA).
type interruptedPrompt struct {
	vms      []steps.InterruptedShutdown
	deadline time.Time
	within   time.Duration
	now      func() time.Time
	width    int
	choice   interruptedChoice
	timedOut bool
	step     int // the cutover's step number
}

type promptTick struct{}

func (m *interruptedPrompt) Init() tea.Cmd { return m.tick() }

func (m *interruptedPrompt) tick() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return promptTick{} })
}

func (m *interruptedPrompt) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case tea.KeyMsg:
		switch msg.String() {
		case "r", "R", "enter":
			m.choice = choseRollBack
		case "g", "G":
			m.choice = choseGoOn
		case "ctrl+c", "q":
			m.choice = choseQuit
		}
		if m.choice != undecided {
			return m, tea.Quit
		}
	case promptTick:
		if !m.now().Before(m.deadline) {
			m.choice, m.timedOut = choseRollBack, true
			return m, tea.Quit
		}
		return m, m.tick()
	}
	return m, nil
}

func (m *interruptedPrompt) names() string {
	var n []string
	for _, v := range m.vms {
		n = append(n, v.VM)
	}
	return steps.AndList(n)
}

func (m *interruptedPrompt) View() string {
	width := m.width
	if width <= 0 {
		width = 80
	}
	width = min(width, 100)
	var out []string
	add := func(s string, indent int) { out = append(out, wrapped(s, width, indent, lipgloss.NewStyle())...) }
	switch m.choice {
	case choseRollBack:
		why := "as decided"
		if m.timedOut {
			why = "nobody answered within " + dur(m.within)
		}
		add(fmt.Sprintf("ferry: rolling back the interrupted cutover of %s (%s) …", m.names(), why), 2)
		return strings.Join(out, "\n") + "\n"
	case choseGoOn:
		add(fmt.Sprintf("ferry: %s left as it is, to go on: the wizard opens on step %d (Cutover).", m.names(), m.step), 2)
		return strings.Join(out, "\n") + "\n"
	case choseQuit:
		add(fmt.Sprintf("ferry: quit; nothing was changed (%s left as it is).", m.names()), 2)
		return strings.Join(out, "\n") + "\n"
	}
	now := m.now()
	if len(m.vms) == 1 {
		add("⚠ A previous ferry process was stopped in a cutover after it shut this source down, before power-on of the target was requested; unless someone powered it on since, its service is down:", 2)
	} else {
		add("⚠ A previous ferry process was stopped in a cutover after it shut these sources down, before power-on of the targets was requested; unless someone powered them on since, their services are down:", 2)
	}
	for _, v := range m.vms {
		out = append(out, fmt.Sprintf("    %s  shut down at %s UTC, %s ago", v.VM, v.Off.UTC().Format("15:04:05"), dur(now.Sub(v.Off))))
	}
	out = append(out, "")
	source, name := "the source", "the VM's name"
	if len(m.vms) > 1 {
		source, name = "the sources", "their names"
	}
	add("  r, enter  roll back now: remove what the cutover left at the provider (the replica disks are kept), power "+source+" on again; cut over again later (a new shutdown then)", 12)
	add(fmt.Sprintf("  g         go on: leave %s off; the wizard opens on step %d (Cutover), where typing %s cuts over from there (final pass, import, power-on) with no new power cycle", source, m.step, name), 12)
	add("  q         quit: nothing changes (running ferry again asks again; ferry run and ferry serve roll back)", 12)
	out = append(out, "")
	add("Rolling back by itself in "+dur(m.deadline.Sub(now))+" if nobody answers.", 2)
	return strings.Join(out, "\n") + "\n"
}

// askInterrupted runs the prompt on the terminal (inline: the wizard's
// alternate screen opens after it) and returns the operator's choice.
func askInterrupted(ctx context.Context, vms []steps.InterruptedShutdown, within time.Duration, step int) (interruptedChoice, error) {
	m := &interruptedPrompt{vms: vms, now: time.Now, step: step, within: within}
	m.deadline = m.now().Add(within)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithoutSignalHandler())
	if _, err := p.Run(); err != nil {
		if ctx.Err() != nil {
			return undecided, ctx.Err() // a signal: nothing decided
		}
		return undecided, err
	}
	return m.choice, nil
}
