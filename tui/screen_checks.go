package tui

import (
	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
)

// checksScreen is step 7: the probe panel across the stretch, and the
// checks step's plan and apply.
type checksScreen struct {
	w   *wiring
	idx int
	run stepRun
}

func newChecksScreen(w *wiring, idx int) *checksScreen {
	s := &checksScreen{w: w, idx: idx, run: newStepRun(w, idx)}
	s.run.more = s.results
	return s
}

func (s *checksScreen) init() tea.Cmd { return nil }
func (s *checksScreen) reopen() tea.Cmd {
	s.run.reopen()
	return nil
}
func (s *checksScreen) running() bool   { return s.run.running() }
func (s *checksScreen) busy() string    { return "" }
func (s *checksScreen) capturing() bool { return false }

func (s *checksScreen) keys() keyMap {
	if s.run.phase == phaseInput {
		k := keyNext
		k.SetHelp("enter", "plan checks")
		return keyMap{k}
	}
	return s.run.keys()
}

func (s *checksScreen) update(msg tea.Msg) tea.Cmd {
	if msg, ok := msg.(tea.KeyMsg); ok {
		switch {
		case s.run.phase == phaseInput:
			if keyNext.Matches(msg) {
				return s.run.begin()
			}
			return nil
		case keyBack.Matches(msg) && !s.run.running():
			// Back here, the step plans anew with the answer corrected
			// (not the refusal again, which esc would leave once more).
			cmd := s.w.answerElsewhere(s.idx, &s.run)
			s.run.phase = phaseInput
			return cmd
		}
		return s.run.key(msg)
	}
	return s.run.update(msg)
}

func (s *checksScreen) view(width, height int) string {
	out := stepHeading(s.w, s.idx, width)
	switch s.run.phase {
	case phaseInput:
		if s.run.note != "" {
			// A second wave: why the checks run again.
			out = append(out, wrap(s.run.note+".", width)...)
		}
		out = append(append(out, wrap("Press enter to plan the probes between the VMs.", width)...), "")
	case phasePlanned, phaseDone, phaseFailed:
		// The plan or the results and the probe panel share the height:
		// the step's lines get what they need when the panel still has
		// its rows, and two thirds of the room at least (they scroll).
		room := height - len(out) - 1 // a blank line above the panel
		panel := 1 + 2*max(1, len(s.w.dash.Probes))
		h := min(s.run.need(width), max(room-panel, room*2/3))
		out = append(out, s.run.view(width, h)...)
		out = append(out, "")
	default:
		out = append(out, s.run.view(width, min(8, height/3))...)
		out = append(out, "")
	}
	return box(append(out, probeLines(s.w, width, height-len(out))...), width, height)
}

// results are what the probes answered, as the step reported them, whole.
// The rounds ("probe round 2 of 3", progress with a fraction) are the
// run's progress, not results: the engine's board keeps only the latest of
// them, so listed here a viewer saw round 3 where the driver saw 1 to 3.
func (s *checksScreen) results(width int) []string {
	var out []string
	for _, ev := range s.run.events {
		if ev.Kind == steps.EventProgress && ev.Fraction < 0 {
			out = append(out, wrapped("  "+ev.Message, width, 4, sDim)...)
		}
	}
	if len(out) > 0 {
		out = append([]string{sBold.Render("Results")}, out...)
	}
	return out
}
