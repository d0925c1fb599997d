package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"
)

// about says in one line what each step does (docs/itinerary.md), for the
// top of its screen.
var about = map[string]string{
	"rights":        "Give the tenant org the edge and L2 VPN rights, and its admin an org-local role holding them.",
	"trunk-network": "Create the routed org VDC network and the L2VPN server session that stretches it; read its peer code.",
	"appliance":     "On-prem: a sink port group (MAC learning or promiscuous, forged transmits), the vendor's L2VPN client (NSX autonomous edge), and the duplicate gateway's local egress.",
	"dc-extension":  "Configure the client session from the server's peer code and wait until both ends report UP.",
	"vm-selection":  "Pick the VMs to migrate (warm if running, cold if off), their target and the RPO.",
	"replication":   "Initial full sync, then incremental passes every RPO until the cutover.",
	"checks":        "Probe reachability between the VMs across the stretch, before, during and after the cutover.",
	"cutover":       "A pre-cutover pass while the source runs, shut it down, the final pass, import into the vApp, power on, probes green.",
}

// stepScreen is the screen of a step made of fields (rights, trunk network,
// L2 appliance, DC extension, and any step without a screen of its own):
// the form, then the plan, the apply and the result.
type stepScreen struct {
	w    *wiring
	idx  int
	form *form
	run  stepRun
}

func newStepScreen(w *wiring, idx int) *stepScreen {
	// Focus on the first field; answers filled in beforehand (the lab's
	// plan, a resumed session) plan with one enter (form.update).
	return &stepScreen{w: w, idx: idx, form: newForm(w, idx, w.it[idx].Step.Fields()), run: newStepRun(w, idx)}
}

func (s *stepScreen) init() tea.Cmd {
	if s.run.phase == phaseInput {
		return s.form.loadChoices()
	}
	return nil
}

func (s *stepScreen) focusField(key string) {
	if !s.run.running() && s.form.focusKey(key) {
		s.run.phase = phaseInput
	}
}

func (s *stepScreen) reopen() tea.Cmd {
	s.run.reopen()
	// Another step may have answered a field this one shares (the
	// organization, the VDC) since it was last shown.
	return s.form.refresh(true)
}

func (s *stepScreen) running() bool {
	if s.run.running() {
		return true
	}
	for _, ff := range s.form.fields {
		if ff.loading {
			return true
		}
	}
	return false
}

func (s *stepScreen) busy() string { return "" }
func (s *stepScreen) capturing() bool {
	return s.run.phase == phaseInput && len(s.form.fields) > 0 && !s.form.idle
}

func (s *stepScreen) keys() keyMap {
	if s.run.phase == phaseInput {
		if len(s.form.fields) == 0 {
			k := keyNext
			k.SetHelp("enter", "plan")
			return keyMap{k}
		}
		return s.form.keys()
	}
	return s.run.keys()
}

func (s *stepScreen) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case choicesMsg:
		s.form.setChoices(msg)
		return nil
	case tea.KeyMsg:
		if s.run.phase == phaseInput {
			cmd, done := s.form.update(msg)
			if done {
				return tea.Batch(cmd, s.w.save(), s.run.begin())
			}
			return cmd
		}
		if keyBack.Matches(msg) && !s.run.running() {
			// To the answer the failure names, if it names one: here, or
			// in the step that asks it.
			key := s.w.answerKey(&s.run)
			// Back here after the answer was corrected in another step,
			// enter plans anew (QA: the old refusal showed again).
			s.run.phase = phaseInput
			if key != "" && !s.form.focusKey(key) {
				if i := s.w.stepOfField(key); i >= 0 && i != s.idx {
					return func() tea.Msg { return gotoStepMsg{Index: i, Field: key} }
				}
			}
			return nil
		}
		return s.run.key(msg)
	}
	return s.run.update(msg)
}

func (s *stepScreen) view(width, height int) string {
	out := stepHeading(s.w, s.idx, width)
	if s.run.phase == phaseInput {
		if len(s.form.fields) == 0 {
			out = append(out, "This step needs no answers. Press enter to see what it would change.")
		} else {
			out = append(out, s.form.view(width, height-len(out))...)
		}
	} else {
		if changed := s.w.env.AnswersChanged(s.w.it[s.idx].Step); changed != "" && s.run.phase == phaseDone {
			for _, l := range wrap("! done with other answers than the plan's now: "+changed+". Esc, then enter plans it again with them (apply is idempotent)", width) {
				out = append(out, sWarn.Render(l))
			}
		}
		out = append(out, s.run.view(width, height-len(out))...)
	}
	return box(out, width, height)
}

// stepHeading is the title block of a step screen.
func stepHeading(w *wiring, idx, width int) []string {
	st := w.it[idx].Step
	out := []string{sTitle.Render(trunc(fmt.Sprintf("Step %d of %d · %s", idx+1, len(w.it), st.Title()), width))}
	if a := about[st.ID()]; a != "" {
		for _, l := range wrap(a, width) {
			out = append(out, sDim.Render(l))
		}
	}
	return append(out, "")
}
