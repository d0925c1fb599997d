package tui

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ferry-migrate/ferry/steps"
)

// cutoverScreen is step 8, the dangerous one (k9s style): a confirmation
// with the summary, the target, the power-on toggle and the VM names typed
// out; then a live timeline of the phases with the probe panel; then the
// downtime report. Quitting is refused while it runs.
type cutoverScreen struct {
	w     *wiring
	idx   int
	run   stepRun
	typed textinput.Model
	// power is the toggle (ctrl+o), given to the VMs confirmed; it starts
	// from planPower, the plan's answer for the VMs to cut over
	// (steps.WavePower), and starts from it again when that changed since
	// (step 5's options, another session): the toggle said "power on"
	// and projected downtimes for VMs the plan had since said to leave
	// off, and confirming powered them on.
	power, planPower steps.PowerOn
	// asPlanned: each VM confirmed keeps the plan's answer, where the plan
	// powers some targets on and leaves others off (planMixed): one
	// answer for all, the default, changed the plan's power_on of the VMs
	// it powers on (confirming WebApp2 alone left it off because WebApp3
	// was to be left off). ctrl+o goes on to one answer for all, and back.
	asPlanned, planMixed bool
	problem              string // why the confirmation was refused
	// The projected downtime of each VM (steps.Env.ProjectDowntimes),
	// read in the background (refresh) when the confirmation opens and
	// then at most every projectionTTL while it is open: it reads the
	// replication store and every saved report, which the view must not
	// do (it did, for each VM: N VMs times M reports at a frame every 5 s).
	// projGen tells the answer of the current read from an older one.
	proj     map[string]*steps.DowntimeEstimate
	projAt   time.Time // when the current read started (zero: read again)
	projGen  int
	projBusy bool // a read is under way
	// est scrolls the VMs and their estimates on the confirmation; the
	// prompt and its input stay in view below them.
	est scroller
	// decision, when set (ctrl+r), is what confirming does to the typed
	// VMs' interrupted cutovers instead of cutting over
	// (steps.CutoverRollback, steps.CutoverFinish), as `ferry run
	// --confirm-cutover=VM --rollback` / `--finish` do.
	decision string
	// published is the confirmation as last shared with the engine's
	// other sessions (publish); driver is the driver's, as a watching
	// session last got it (answers: record id), until a newer run of the
	// step ends it (mirrored: the newest run's id).
	published string
	driver    struct {
		by, typed, decision string
		power               steps.PowerOn
		asPlanned           bool
		id                  uint64
	}
	mirrored uint64
	// ready is what would make the cutover refuse as things stand
	// (steps.Env.CutoverReadiness), read in the background when the
	// confirmation opens; readyGen tells its answers apart.
	ready    []steps.Item
	readyGen int
}

// cutoverReadyMsg answers a readiness check (precheck) of generation gen.
type cutoverReadyMsg struct {
	Step, gen int
	items     []steps.Item
}

func (m cutoverReadyMsg) step() int { return m.Step }

// precheck reads, in the background, what would make the cutover refuse
// now: the confirmation says it before the names are typed. A check that
// cannot answer says nothing (the cutover's plan checks again).
func (s *cutoverScreen) precheck() tea.Cmd {
	if s.run.phase != phaseInput {
		return nil
	}
	s.readyGen++
	gen, idx, ctx, env, readiness := s.readyGen, s.idx, s.w.ctx, s.w.env, s.w.readiness
	return func() tea.Msg {
		items, err := readiness(ctx)
		if err != nil {
			if env.Log != nil {
				env.Log.Debug("cutover readiness", "err", err)
			}
			items = nil
		}
		return cutoverReadyMsg{Step: idx, gen: gen, items: items}
	}
}

// keyDecide switches the confirmation between cutting over and deciding
// on interrupted cutovers (roll back, finish).
var keyDecide = newKey("ctrl+r", "roll back / finish", "ctrl+r")

// decisions are the decisions some VM's interrupted cutover allows
// (steps.Env.CutoverDecisions), rollback first: what ctrl+r goes through.
func (s *cutoverScreen) decisions() []string {
	var out []string
	for _, d := range []string{steps.CutoverRollback, steps.CutoverFinish} {
		for _, vm := range s.w.env.Migrating() {
			if slices.Contains(s.w.env.CutoverDecisions(vm.Name), d) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// nextDecision is the decision after the current one: cutting over, then
// each decision some VM allows, then cutting over again.
func (s *cutoverScreen) nextDecision() string {
	ds := s.decisions()
	i := slices.Index(ds, s.decision)
	if i+1 < len(ds) {
		return ds[i+1]
	}
	return ""
}

// decisionText says what confirming does with the decision taken.
func decisionText(d string) string {
	switch d {
	case steps.CutoverRollback:
		return "ROLL BACK the interrupted cutover of the VMs typed: remove what it left at the provider (the replica disks are kept and replication resumes) and power the source on again; nothing is cut over"
	case steps.CutoverFinish:
		return "FINISH the interrupted cutover of the VMs typed: keep the target in Cloud Director, power it on if it is off, wait for its probes and mark it cut over; the source stays off"
	}
	return ""
}

// projectionTTL is how often the confirmation projects the downtimes again.
const projectionTTL = 5 * time.Second

// cutoverProjMsg carries the projected downtimes read by read gen.
type cutoverProjMsg struct {
	Step, gen int
	ests      map[string]*steps.DowntimeEstimate
}

func (m cutoverProjMsg) step() int { return m.Step }

// refresh reads the projected downtimes again in the background while the
// confirmation is open, when none is read yet or the last read is older
// than projectionTTL and no read is under way. The model calls it after
// every message it handles.
func (s *cutoverScreen) refresh() tea.Cmd {
	now := s.w.now()
	if s.run.phase != phaseInput || s.projBusy || (!s.projAt.IsZero() && now.Sub(s.projAt) <= projectionTTL && !now.Before(s.projAt)) {
		return nil
	}
	s.projGen++
	s.projAt, s.projBusy = now, true
	idx, env, gen := s.idx, s.w.env, s.projGen
	return func() tea.Msg {
		var names []string
		for _, v := range env.Migrating() {
			names = append(names, v.Name)
		}
		ests, _ := env.ProjectDowntimes(names)
		return cutoverProjMsg{Step: idx, gen: gen, ests: ests}
	}
}

// projection is vm's projected downtime (nil when it cannot be projected,
// or is not read yet).
func (s *cutoverScreen) projection(vm string) *steps.DowntimeEstimate { return s.proj[vm] }

func newCutoverScreen(w *wiring, idx int) *cutoverScreen {
	in := newInput()
	in.Prompt = "> "
	s := &cutoverScreen{w: w, idx: idx, run: newStepRun(w, idx), typed: in, est: scroller{typing: true}}
	s.planPower, s.planMixed = steps.WavePower(w.env.Migrating())
	s.power, s.asPlanned = s.planPower, s.planMixed
	return s
}

// followPlanPower starts the toggle from the plan's answer again when that
// changed since the toggle last started from it (planPower).
func (s *cutoverScreen) followPlanPower() {
	if p, mixed := steps.WavePower(s.w.env.Migrating()); p != s.planPower || mixed != s.planMixed {
		s.planPower, s.planMixed = p, mixed
		s.power, s.asPlanned = p, mixed
	}
}

// togglePower is ctrl+o: power on, leave off, and, where the plan powers
// the wave's targets differently, each as the plan says.
func (s *cutoverScreen) togglePower() {
	switch {
	case s.asPlanned:
		s.asPlanned, s.power = false, steps.PowerOnTarget
	case s.planMixed && s.power == steps.LeaveOff:
		s.asPlanned = true
	default:
		s.power = s.power.Toggle()
	}
}

// powerOf is the power-on choice confirming gives vm's target.
func (s *cutoverScreen) powerOf(vm steps.VMPlan) steps.PowerOn {
	if s.asPlanned {
		return vm.Power()
	}
	return s.power
}

// powerLine is the toggle's line: one answer for all, or each VM's own.
func (s *cutoverScreen) powerLine(power steps.PowerOn, asPlanned bool) string {
	if !asPlanned {
		return powerBox(power) + " power on after cutover"
	}
	var on, off []string
	for _, vm := range s.w.env.Migrating() {
		if vm.Power() == steps.LeaveOff {
			off = append(off, vm.Name)
		} else {
			on = append(on, vm.Name)
		}
	}
	return "[~] power on after cutover as the plan says: " + orDash(steps.AndList(on)) + "; left off: " + orDash(steps.AndList(off))
}

func (s *cutoverScreen) init() tea.Cmd {
	if s.run.phase == phaseInput && !s.w.readOnly {
		return tea.Batch(s.typed.Focus(), s.precheck())
	}
	return s.precheck()
}

func (s *cutoverScreen) reopen() tea.Cmd {
	s.projAt = time.Time{} // projected anew (refresh)
	if !s.w.readOnly {
		s.followPlanPower()
	}
	if s.run.reopen() && !s.w.readOnly {
		s.typed.SetValue("")
		s.est.top = 0
		return tea.Batch(s.typed.Focus(), s.precheck())
	}
	return s.precheck()
}

func (s *cutoverScreen) running() bool { return s.run.running() }
func (s *cutoverScreen) capturing() bool {
	return s.run.phase == phaseInput && !s.w.readOnly && s.typed.Focused()
}

func (s *cutoverScreen) busy() string {
	if s.run.phase == phaseApplying {
		return "the cutover is running; stopping now could leave the VM between source and target. Wait for the downtime report (failures roll back on their own)."
	}
	return ""
}

// want is what the operator types to cut over every VM not cut over yet:
// the names, comma-separated. Naming only some cuts over only those (one wave).
func (s *cutoverScreen) want() string {
	var n []string
	for _, vm := range s.w.env.Migrating() {
		if s.decision == "" || slices.Contains(s.w.env.CutoverDecisions(vm.Name), s.decision) {
			n = append(n, vm.Name)
		}
	}
	return strings.Join(n, ",")
}

// scrollKeys is the key that scrolls what the screen shows now (the
// downtime report, the estimates), if it scrolls: read-only and watching
// sessions too.
func (s *cutoverScreen) scrollKeys() keyMap {
	switch {
	case s.run.scrollable():
		return keyMap{keyScroll}
	case s.run.phase == phaseInput && s.est.scrollable():
		return keyMap{s.est.binding()}
	}
	return nil
}

func (s *cutoverScreen) keys() keyMap {
	scroll := s.scrollKeys()
	switch {
	case s.w.readOnly:
		return scroll
	case s.run.phase == phaseInput:
		start := keyNext
		start.SetHelp("enter", "start cutover")
		start = start.when(s.want() != "", "no VMs left to cut over (step 5)")
		if !s.typed.Focused() {
			start.SetHelp("enter", "type to confirm")
			return append(keyMap{start}, scroll...)
		}
		if s.decision != "" {
			start.SetHelp("enter", decisionVerb(s.decision))
		}
		km := keyMap{start}
		if s.decision == "" {
			km = append(km, newKey("ctrl+o", "toggle power on", "ctrl+o"))
		}
		if len(s.decisions()) > 0 {
			decide := keyDecide
			decide.SetHelp("ctrl+r", orCutOver(s.nextDecision()))
			km = append(km, decide)
		}
		return append(km, scroll...)
	case s.run.phase == phaseFailed || s.run.phase == phaseWaiting:
		retry := keyRetry
		retry.SetHelp("r", "confirm again")
		switch {
		case s.decidedRollback():
			retry.SetHelp("r", "cut over again")
		case s.run.phase == phaseWaiting:
			retry.SetHelp("r", "cut over the others")
		}
		return append(keyMap{retry}, scroll...)
	case s.run.phase == phaseDone:
		return scroll
	}
	return s.run.keys()
}

func (s *cutoverScreen) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case cutoverReadyMsg:
		if m.gen == s.readyGen {
			s.ready = m.items
		}
		return nil
	case cutoverProjMsg:
		if m.gen == s.projGen {
			// Kept after the confirmation: the report shows what was
			// projected before.
			s.proj, s.projBusy = m.ests, false
		}
		return nil
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return s.run.update(msg)
	}
	if s.run.scrollKey(km) {
		return nil
	}
	// The estimates scroll with keys the input leaves alone.
	if s.run.phase == phaseInput && s.est.key(km) {
		return nil
	}
	if s.w.readOnly {
		return nil
	}
	switch s.run.phase {
	case phaseInput:
		defer s.publish()
		switch {
		case !s.typed.Focused():
			// esc left the field: enter or tab types again.
			if km.Type == tea.KeyEnter || km.Type == tea.KeyTab {
				return s.typed.Focus()
			}
			return nil
		case km.Type == tea.KeyEsc:
			s.typed.Blur() // as on every form: esc leaves the field
			return nil
		case km.Type == tea.KeyCtrlO:
			if s.decision == "" {
				s.togglePower()
			}
			return nil
		case keyDecide.Matches(km) && len(s.decisions()) > 0:
			s.decision, s.problem = s.nextDecision(), ""
			return nil
		case km.Type == tea.KeyEnter:
			return s.confirm()
		}
		var cmd tea.Cmd
		s.typed, cmd = s.typed.Update(km)
		s.problem = ""
		return cmd
	case phaseFailed, phaseWaiting:
		if keyRetry.Matches(km) {
			s.run.phase = phaseInput
			s.typed.SetValue("")
			s.est.top, s.decision = 0, ""
			s.publish()
			return tea.Batch(s.typed.Focus(), s.precheck())
		}
	}
	return nil
}

// confirm checks the typed names with the same rule as
// `ferry run --confirm-cutover` and starts the cutover.
func (s *cutoverScreen) confirm() tea.Cmd {
	want, typed := s.want(), strings.TrimSpace(s.typed.Value())
	pf := s.w.env.Plan()
	switch {
	case want == "" && s.decision != "":
		s.decision = ""
		s.problem = "No interrupted cutover left to decide on."
		return nil
	case want == "":
		s.problem = "No VMs to cut over: select them in step 5."
		return nil
	case typed == "":
		s.problem = fmt.Sprintf("Type %s to confirm.", want)
		return nil
	}
	vms, err := steps.ConfirmedVMs(pf, typed)
	if err != nil {
		s.problem = fmt.Sprintf("%q does not match: type %s exactly.", typed, want)
		if len(s.w.env.Migrating()) > 1 {
			// Short: the prompt above says what naming only some does.
			s.problem = fmt.Sprintf("%q does not match: type %s, or some of these names.", typed, want)
		}
		return nil
	}
	for _, n := range vms {
		if s.w.env.VMPhase(n) == steps.VMCutOver {
			s.problem = fmt.Sprintf("%s is already cut over; type %s.", n, want)
			return nil
		}
		if s.decision != "" && !slices.Contains(s.w.env.CutoverDecisions(n), s.decision) {
			s.problem = fmt.Sprintf("%s has no interrupted cutover to %s; type %s (ctrl+r: cut over instead).", n, decisionVerb(s.decision), want)
			return nil
		}
	}
	// A test left running: refused as ferry run refuses it, before the
	// step runs (not recorded failed); x on the dashboard cleans it up.
	if err := s.w.env.CheckTestLeft(vms, s.decision); err != nil {
		s.problem = err.Error() + "; here, x on step 6's dashboard removes it."
		return nil
	}
	if s.decision == "" && !s.asPlanned {
		// The toggle is for the VMs cut over now; the others keep their answer.
		s.w.env.EditPlan(func(pf *steps.PlanFile) { pf.SetPower(vms, s.power) })
	}
	s.run.cutoverVMs, s.run.decision = vms, s.decision // given to the Env once the run holds the step lock
	s.typed.Blur()
	s.run.confirmed = true
	return tea.Batch(s.w.save(), s.run.startApply())
}

func (s *cutoverScreen) view(width, height int) string {
	out := stepHeading(s.w, s.idx, width)
	switch s.run.phase {
	case phaseInput:
		top, rest, heads, bottom := s.confirmParts(width, false)
		if len(out)+len(top)+len(rest)+len(bottom) > height {
			// The estimates scroll: the step's description and a blank
			// line give them their room.
			out = append(out[:1], "")
			top, rest, heads, bottom = s.confirmParts(width, true)
		}
		// A VM's heading sticks above its estimate when the view starts
		// in it (QA at 80x24: after pgdn, "projected downtime ~…" and the
		// phases read as nobody's).
		out = append(out, s.est.viewHeaded(top, rest, heads, height-len(out)-len(bottom))...)
		out = append(out, bottom...)
	case phaseApplying:
		out = append(out, sDanger.Render("Cutover running")+sDim.Render(" · elapsed "+dur(s.w.now().Sub(s.run.started))), "")
		// The probe panel keeps its rows; the timeline shows what fits.
		probes := probeLines(s.w, width, max(3, height/3))
		var bytes []string
		if f := s.phaseFraction(); f >= 0 {
			bytes = append([]string{"  " + bar(f, max(10, min(width-21, 40))) + fmt.Sprintf(" %3.0f%% of the phase", f*100)},
				wrapped("  "+s.barText(), width, 4, sDim)...)
		}
		out = append(out, s.timeline(width, height-len(out)-len(probes)-len(bytes)-1)...)
		out = append(out, bytes...)
		out = append(out, "")
		out = append(out, probes...)
	default:
		// The report scrolls as a step's results do, its verdict in view.
		pinned, rest := s.report(width)
		if notice := s.w.autoRollbackLines(width); len(notice) > 0 {
			pinned = append(append(notice, ""), pinned...)
		}
		out = append(out, s.run.scrolled(pinned, rest, height-len(out))...)
	}
	return box(out, width, height)
}

// barText is what the bar of the live view measures: the message of the
// latest progress with a fraction (a pass's bytes), whole. Not the run's
// latest line (QA: in a wave, another VM's "+ create VM ...; measured
// downtime 1.3s (shutdown to power-o…" sat under the bar, cut at the
// screen's edge).
// phaseFraction is the fraction of the phase the cutover's last progress
// line says (-1: none, the bar hidden): a line without one begins another
// phase, or a part of one, that the bar's figure is not about (the step's
// bar keeps the last fraction instead: stepRun.progress).
func (s *cutoverScreen) phaseFraction() float64 {
	for i := len(s.run.events) - 1; i >= 0; i-- {
		if ev := s.run.events[i]; ev.Kind == steps.EventProgress {
			return ev.Fraction
		}
	}
	return s.run.fraction
}

func (s *cutoverScreen) barText() string {
	for i := len(s.run.events) - 1; i >= 0; i-- {
		if ev := s.run.events[i]; ev.Kind == steps.EventProgress && ev.Fraction >= 0 {
			return ev.Message
		}
	}
	return s.run.message
}

// autoRolledBack: the notice above the confirmation says vm was rolled
// back when the wizard started.
func (s *cutoverScreen) autoRolledBack(vm string) bool {
	return slices.ContainsFunc(s.w.autoRollbacks(), func(r steps.AutoRollback) bool { return r.VM == vm })
}

// confirmParts are the confirmation's lines: the warning (top), the VMs
// with their projected downtime (rest, which scrolls when the window is
// short: one VM's estimate is six lines at 80 columns) and what the
// operator acts on (bottom: the toggle, the prompt, its input and why it
// was refused), which stays in view; tight: without the blank line
// between the toggle and the prompt. heads are rest's sticky headings
// (scroller.viewHeaded): a VM's line above the rest of its block.
func (s *cutoverScreen) confirmParts(width int, tight bool) (top, rest, heads, bottom []string) {
	pf := s.w.env.Plan()
	warning := "⚠ This shuts down the source VMs and starts them in Cloud Director."
	switch s.decision {
	case steps.CutoverRollback:
		warning = "⚠ This rolls back interrupted cutovers: the targets they left are removed, the sources start on-prem again."
	case steps.CutoverFinish:
		warning = "⚠ This finishes interrupted cutovers: the targets run in Cloud Director, the sources stay off."
	}
	// Targets left off (ctrl+o): nothing starts in Cloud Director, and the
	// window has no end a projection could give (QA: "starts them" and
	// "projected downtime ~4s", then "still down when the cutover ended").
	var offNames []string // the VMs whose targets stay off
	if s.decision == "" {
		for _, vm := range s.w.env.Migrating() {
			if s.powerOf(vm) == steps.LeaveOff {
				offNames = append(offNames, vm.Name)
			}
		}
	}
	leftOff := len(offNames) > 0 && len(offNames) == len(s.w.env.Migrating())
	switch {
	case leftOff:
		warning = "⚠ This shuts down the source VMs and leaves their targets in Cloud Director powered off: the services stay down until someone powers them on."
	case len(offNames) > 0:
		whose := "whose target the plan leaves powered off: its services stay down until someone powers it on."
		if len(offNames) > 1 {
			whose = "whose targets the plan leaves powered off: their services stay down until someone powers them on."
		}
		warning = "⚠ This shuts down the source VMs and starts them in Cloud Director, but for " + steps.AndList(offNames) + ", " + whose
	}
	// Sources an interrupted cutover left down are not shut down again
	// (QA: a wave going on from there read "This shuts down the source
	// VMs").
	var down []string
	if s.decision == "" {
		for _, vm := range s.w.env.Migrating() {
			if s.w.env.InterruptedWindow(vm.Name) {
				down = append(down, vm.Name)
			}
		}
	}
	switch {
	case len(down) == 0:
	case len(down) == len(s.w.env.Migrating()) && len(offNames) == 0:
		warning = "⚠ This starts the VMs in Cloud Director; their sources stay down, as interrupted cutovers left them."
		if len(down) == 1 {
			warning = "⚠ This starts " + down[0] + " in Cloud Director; its source stays down, as an interrupted cutover left it."
		}
	case len(down) == 1:
		warning += " " + down[0] + "'s source is down already (an interrupted cutover left it so): it is not shut down again."
	default:
		warning += " The sources of " + steps.AndList(down) + " are down already (interrupted cutovers left them so): they are not shut down again."
	}
	if notice := s.w.autoRollbackLines(width); len(notice) > 0 && s.decision == "" {
		// What ferry did by itself when the wizard started (QA: said only
		// on the terminal, before the screen opened).
		top = append(notice, "")
	}
	for _, l := range wrap(warning, width) {
		top = append(top, sDanger.Render(l))
	}
	if s.decision == "" && !leftOff {
		// What would refuse it now: said before the names are typed.
		for _, it := range s.ready {
			top = append(top, wrapped("✗ refused as things stand: "+it.Kind+" "+it.Name+": "+it.Detail, width, 2, sErr)...)
		}
	}
	top = append(top, "")
	var ests []*steps.DowntimeEstimate
	sticky := ""                                  // the heading of the VM whose lines are appended
	measure := false                              // a projection that a test migration would measure
	var listed []string                           // the VMs to type
	estOf := map[string]*steps.DowntimeEstimate{} // their projections
	finishes := map[string]bool{}                 // confirming finishes an interrupted cutover
	for _, vm := range s.w.env.Migrating() {
		if s.decision != "" && !slices.Contains(s.w.env.CutoverDecisions(vm.Name), s.decision) {
			continue // not decided on: not typed in this mode
		}
		listed = append(listed, vm.Name)
		heading := fmt.Sprintf("  %s → %s / %s", vm.Name, orDash(pf.VDC), orDash(vm.TargetNetwork))
		// The VM's lines, up to the next VM's, are under its heading.
		for len(heads) < len(rest) {
			heads = append(heads, sticky)
		}
		block := len(rest)
		rest = append(rest, wrapped(heading, width, 4, lipgloss.NewStyle())...)
		heads = append(heads, "")
		for range len(rest) - block - 1 {
			heads = append(heads, rest[block]) // a heading's wrapped rows under its first
		}
		sticky = trunc(heading, width)
		if s.decision != "" {
			// The warning above says what the decision does; the note says
			// what confirming without one would (QA: "cuts over anew"
			// under "This rolls back").
		} else if note := s.w.env.CutoverNoteWith(vm.Name, s.keyOr("ctrl+r: only roll back", "or only roll back"),
			s.keyOr("decide with ctrl+r", "the driver decides")+": finish (keep the target in Cloud Director, power it on if needed) or roll back (remove the target, keep the replica disks, power the source on again)"); note != "" {
			rest = append(rest, wrapped("    ⚠ "+note, width, 6, sWarn)...)
		} else if note := s.w.env.RecoveredNote(vm.Name); note != "" && !s.autoRolledBack(vm.Name) {
			// The wizard (or an engine) opened on a cutover a killed
			// ferry left with the source down, and ended the outage.
			rest = append(rest, wrapped("    ⚠ "+note, width, 6, sWarn)...)
		}
		if s.decision != "" {
			continue // a decision has no cutover window to project
		}
		if slices.Contains(s.w.env.CutoverDecisions(vm.Name), steps.CutoverFinish) || s.w.env.InterruptedWindow(vm.Name) {
			// Stopped after power-on of the target was requested: its
			// source is down since that cutover's shutdown, and confirming
			// finishes it (or asks for a decision), with no new window
			// (QA h9: "projected downtime ~6s · RPO ok" under DECISION
			// NEEDED, counted in the wave's projection too). So is one
			// stopped before, after the shutdown: confirming goes on from
			// the source left off (QA: "projected downtime ~1m24s", a new
			// shutdown's 30s and all).
			finishes[vm.Name] = true
			continue
		}
		var facts []string
		// The whole window (shutdown to the first answering probe), not
		// only the final pass.
		est := s.projection(vm.Name)
		if !s.powerOf(vm).ProjectsDowntime() {
			est = nil
			why := "power on after cutover is off"
			if s.asPlanned {
				why = "the plan leaves its target off"
			}
			facts = append(facts, "down from its shutdown until someone powers its target on ("+why+")")
		}
		if est != nil {
			estOf[vm.Name] = est
			facts = append(facts, "projected downtime ~"+dur(est.Total))
		}
		if note := s.w.env.ColdNote(vm.Name); note != "" {
			facts = append(facts, note) // no pass every RPO: no last pass to age
		} else if r, ok := s.w.dash.Row(vm.Name); ok {
			facts = append(facts, "last pass "+ago(s.w.now(), r.LastPass), fmt.Sprint(r.Health))
		}
		if len(facts) > 0 {
			facts[0] = "    " + facts[0]
			rest = append(rest, joined(facts, width, 6, sDim)...)
		}
		if est != nil {
			// Broken between phases only: "import into vCD" / "10s*" read
			// as two (QA at 80 columns).
			rest = append(rest, estimateLines(est, width)...)
			measure = measure || len(est.TestWouldMeasure()) > 0
		}
	}
	for len(heads) < len(rest) {
		heads = append(heads, sticky)
	}
	// The wave: every VM listed, or those the names typed so far choose
	// (QA: typing two of three names still read "one wave: all 3").
	chosen, subset := listed, false
	if typed := strings.TrimSpace(s.typed.Value()); typed != "" {
		if vms, err := steps.ConfirmedVMs(pf, typed); err == nil && len(vms) < len(listed) &&
			!slices.ContainsFunc(vms, func(vm string) bool { return !slices.Contains(listed, vm) }) {
			chosen, subset = vms, true
		}
	}
	n, finishing, off, cold := len(chosen), 0, 0, 0
	for _, vm := range chosen {
		switch est, ok := estOf[vm]; {
		case ok:
			ests = append(ests, est)
		case finishes[vm]:
			finishing++
		case slices.Contains(offNames, vm):
			off++
		default:
			cold++
		}
	}
	if n > 1 && s.decision == "" {
		w := s.w.env.ProjectWave(ests)
		wave, parallel := w.Downtime, w.Parallel
		rest = append(rest, "")
		together := fmt.Sprintf("%d, %d at a time (cutover.parallel)", n, parallel)
		if parallel >= n {
			together = fmt.Sprintf("all %d at once (cutover.parallel allows it)", n)
			if n == 2 {
				together = "both at once (cutover.parallel allows it)"
			}
		}
		proj := "projected wave downtime ~" + dur(wave)
		var why []string // why some VMs have no projection
		if cold > 0 {
			why = append(why, "a cold migration's window is its one pass")
		}
		if off > 0 {
			why = append(why, "a target left off has no end of its window")
		}
		if finishing > 0 {
			why = append(why, "an interrupted cutover's source is down already")
		}
		switch {
		case leftOff:
			proj = "no downtime projected (the targets stay off)"
		case len(ests) == 0:
			proj = "no downtime projected (" + strings.Join(why, "; ") + ")"
		case len(ests) < n:
			proj += fmt.Sprintf(" for the %d with a projection (%s, not projected)", len(ests), strings.Join(why, "; "))
		}
		if w.Shared != "" && len(ests) > 0 {
			// After the VMs it counts: one parenthesis after another read
			// as one (QA h-B, a cold VM in a capped wave).
			proj += "; " + w.Shared
		}
		who := "Confirmed together they are"
		if subset {
			who = "Confirmed, " + steps.AndList(chosen) + " are"
		}
		rest = append(rest, wrapped(fmt.Sprintf("  %s one wave: %s, each with its own rollback · %s", who, together, proj), width, 4, lipgloss.NewStyle())...)
	}
	if measure && !s.w.readOnly {
		rest = append(rest, wrapped("  * a test migration (t on step 6's dashboard) measures the phases at the provider first", width, 4, sDim)...)
	}
	if len(s.w.env.Migrating()) == 0 {
		rest = append(rest, sWarn.Render("  no VMs left to cut over: select more in step 5"))
	}
	if cut := s.w.env.CutOverVMs(); len(cut) > 0 {
		rest = append(rest, wrapped("  already cut over: "+strings.Join(cut, ", "), width, 4, sDim)...)
	}
	if s.w.readOnly {
		bottom = append(bottom, "", sWarn.Render(trunc("Read-only session: the cutover is not available here.", width)))
		if d := s.driver; d.by != "" {
			// The audience of a guided demo sees the presenter confirm.
			bottom = append(bottom, "")
			if d.decision != "" {
				bottom = append(bottom, wrapped("⚠ "+decisionText(d.decision), width, 2, sWarn)...)
			} else {
				bottom = append(bottom, wrapped(s.powerLine(d.power, d.asPlanned), width, 4, lipgloss.NewStyle())...)
			}
			bottom = append(bottom, wrap(d.by+" types the confirmation:", width)...)
			bottom = append(bottom, trunc("> "+d.typed, width))
		}
		return top, rest, heads, bottom
	}
	if l := s.w.session.othersLine(); l != "" {
		bottom = append(bottom, "")
		bottom = append(bottom, wrapped(l, width, 0, sWarn)...)
	}
	if s.decision != "" {
		bottom = append(bottom, "")
		bottom = append(bottom, wrapped("⚠ "+decisionText(s.decision)+" "+sDim.Render("(ctrl+r: "+orCutOver(s.nextDecision())+")"), width, 2, sWarn)...)
	} else {
		line := s.powerLine(s.power, s.asPlanned) + " " + sDim.Render("(ctrl+o)")
		switch ds := s.decisions(); len(ds) {
		case 1:
			line += sDim.Render(" · ctrl+r: roll back an interrupted cutover instead")
		case 2:
			line += sDim.Render(" · ctrl+r: roll back or finish an interrupted cutover instead")
		}
		bottom = append(bottom, "")
		bottom = append(bottom, wrapped(line, width, 4, lipgloss.NewStyle())...)
	}
	if !tight {
		bottom = append(bottom, "")
	}
	prompt := "Type " + sBold.Render(orDash(s.want())) + " to confirm:"
	switch {
	case s.decision != "" && strings.Contains(s.want(), ","):
		prompt = "Type " + sBold.Render(s.want()) + ", or some of the names, to confirm:"
	case s.decision == "" && len(s.w.env.Migrating()) > 1:
		prompt = "Type " + sBold.Render(s.want()) + " to confirm, or some of the names to cut over only those:"
	}
	bottom = append(bottom, wrap(prompt, width)...)
	s.typed.Width = max(10, width-4)
	bottom = append(bottom, s.typed.View())
	if s.problem != "" {
		bottom = append(bottom, wrapped("✗ "+s.problem, width, 2, sErr)...)
	}
	return top, rest, heads, bottom
}

// powerBox is the power-on toggle's box.
func powerBox(p steps.PowerOn) string {
	if p == steps.PowerOnTarget {
		return "[x]"
	}
	return "[ ]"
}

// publish shares the confirmation as typed with the engine's other
// sessions (a runEditing record, as a form's): a guided demo's audience
// is taken to the cutover and sees the presenter type the VMs' names,
// the power-on toggle and a decision on interrupted cutovers.
func (s *cutoverScreen) publish() {
	if s.w.readOnly || s.w.session == nil || s.w.session.Runs == nil {
		return
	}
	focus := 0
	if !s.typed.Focused() {
		focus = -1
	}
	power := fmt.Sprint(s.power == steps.PowerOnTarget)
	if s.asPlanned {
		power = "plan" // each VM as the plan says
	}
	answers := map[string]string{"confirm": s.typed.Value(), "power_on": power, "decision": s.decision}
	if sig := fmt.Sprint(focus, answers); sig != s.published {
		s.published = sig
		s.w.share(SharedRun{Step: s.w.it[s.idx].Step.ID(), Phase: runEditing, Answers: answers, Focus: focus})
	}
}

// answers shows the driver's confirmation as it types it, unless a run
// of the step began since (that confirmation was used).
func (s *cutoverScreen) answers(r SharedRun) {
	if r.ID < s.mirrored {
		return
	}
	s.driver.by, s.driver.typed, s.driver.decision, s.driver.id = r.By, r.Answers["confirm"], r.Answers["decision"], r.ID
	s.driver.power, s.driver.asPlanned = steps.LeaveOff, r.Answers["power_on"] == "plan"
	if r.Answers["power_on"] == "true" {
		s.driver.power = steps.PowerOnTarget
	}
	if !s.w.readOnly {
		return
	}
	// The confirmation reads as the driver's: its warning and VMs are
	// those of the decision the driver took (QA: "This shuts down the
	// source VMs" above the driver's rollback), and of its power-on
	// toggle (the viewer's own, never toggled, said "starts them" and
	// projected downtimes under the driver's "[ ] power on").
	s.decision, s.power, s.asPlanned = s.driver.decision, s.driver.power, s.driver.asPlanned
	if r.ID > s.mirrored && (s.run.phase == phaseFailed || s.run.phase == phaseWaiting) {
		// The driver confirms again (r) after the run this screen shows
		// (QA: the viewer kept the rolled-back report while the driver
		// typed the names of the next cutover).
		s.run.phase = phaseInput
	}
}

// phaseSpan is one phase of the cutover timeline, from its first event to
// the VM's next one (a wave's VMs report at once, each line named by its
// VM), or, for a phase the cutover said begins (steps.Event.Begins), to its
// "done in" line, the lines of its VM between being its parts (depth 1).
type phaseSpan struct {
	name       string
	start, end time.Time // end zero: the VM's latest line, or a phase under way
	open       bool      // its VM's latest line, or a phase, not said done
	depth      int       // 1: a part of the phase above (a pass's snapshot, ...)
	of         int       // depth 1: the index of its phase
	// failed: a phase the cutover began and never said done, another
	// begun after it (the rollback of a phase that failed).
	failed bool
}

// vmOf is the VM a line of the step names ("WebApp2: final pass"), or "".
func (s *cutoverScreen) vmOf(msg string) string {
	name, _, ok := strings.Cut(msg, ": ")
	if !ok {
		return ""
	}
	for _, vm := range s.w.env.Plan().VMs {
		if vm.Name == name {
			return name
		}
	}
	return ""
}

// phases groups the step's phase messages into the timeline, per VM. A
// progress event with a fraction is byte progress inside the current
// phase, not a phase of its own. A phase and its "done in" line are one
// line, the phase's time beside it and its detail after its name (QA:
// each phase took two lines, the second "<1ms", and at 80x24 the live view
// hid half a cutover as "earlier phases").
func (s *cutoverScreen) phases() []phaseSpan {
	var out []phaseSpan
	latest := map[string]int{} // VM -> its latest span
	begun := map[string]int{}  // VM -> its phase under way (Begins, not done)
	for _, ev := range s.run.events {
		if ev.Kind != steps.EventProgress || ev.Fraction >= 0 || isReportLine(ev) || isDecidedLine(ev) {
			continue
		}
		vm := s.vmOf(ev.Message)
		i, seen := latest[vm]
		if seen && out[i].name == ev.Message {
			continue
		}
		// The line that ends the phase under way (or, from a front end
		// that does not say where phases begin, the latest line).
		j, ok := begun[vm]
		if !ok {
			j, ok = i, seen && out[i].open
		}
		if ok {
			if rest, done := strings.CutPrefix(ev.Message, out[j].name+" done in "); done {
				if out[i].end.IsZero() {
					out[i].end = ev.Time
				}
				out[i].open = false
				out[j].end, out[j].open = ev.Time, false
				if _, detail, ok := strings.Cut(rest, " ("); ok {
					out[j].name += " (" + detail
				}
				delete(begun, vm)
				continue
			}
		}
		if seen {
			if _, under := begun[vm]; !under || i != begun[vm] || ev.Begins {
				if out[i].end.IsZero() {
					out[i].end = ev.Time
				}
				out[i].open = false
			}
		}
		if b, ok := begun[vm]; ok && ev.Begins {
			// A phase whose "done in" line did not come (it failed, and
			// the cutover went on to roll back): it ended here.
			if out[b].end.IsZero() {
				out[b].end = ev.Time
			}
			out[b].open, out[b].failed = false, true
			delete(begun, vm)
		}
		// A phase is open until its "done in" line, or the VM's next
		// line; "already cut over" is a state, not work under way (QA:
		// it spun through the whole wave).
		closed := strings.Contains(ev.Message, " done in ") || strings.HasSuffix(ev.Message, ": already cut over")
		span := phaseSpan{name: ev.Message, start: ev.Time, open: !closed}
		if b, under := begun[vm]; under {
			span.depth, span.of = 1, b
		}
		out = append(out, span)
		latest[vm] = len(out) - 1
		if ev.Begins {
			begun[vm] = len(out) - 1
		}
	}
	return out
}

// timeline draws the phases, the latest last; when they do not fit in
// room lines (the live view) the earliest are summed up in one line.
func (s *cutoverScreen) timeline(width, room int) []string {
	return s.phaseLines(width, room, false)
}

// phaseLines is the timeline; whole: every phase, each line wrapped under
// its name (the report, which scrolls), else cut to width.
func (s *cutoverScreen) phaseLines(width, room int, whole bool) []string {
	now, t0 := s.w.now(), s.run.started
	ps := s.phases()
	if len(ps) == 0 && s.run.phase == phaseFailed {
		return []string{sDim.Render("(no phase began)")}
	}
	if len(ps) == 0 {
		return []string{s.w.spin() + " starting"}
	}
	if !whole {
		// The live view: the parts of a phase that ended are in its line
		// (QA: in a wave the passes' parts pushed the phases out of view);
		// the report lists them all.
		all := ps
		ps = slices.DeleteFunc(slices.Clone(all), func(p phaseSpan) bool { return p.depth > 0 && !all[p.of].open })
	}
	var out []string
	if room = max(room, 2); len(ps) > room {
		// The latest lines, and, in the live view, every line still
		// under way before them: in a wave one VM's phases would push
		// out of view another VM's line saying it waits (QA: at 80x24 a
		// VM waiting for a window was not on the screen).
		keep := make([]bool, len(ps))
		n := room - 1
		if !whole && s.run.phase == phaseApplying {
			for i := len(ps) - 1; i >= 0 && n > 0; i-- {
				if ps[i].open && ps[i].end.IsZero() {
					keep[i] = true
					n--
				}
			}
		}
		for i := len(ps) - 1; i >= 0 && n > 0; i-- {
			if !keep[i] {
				keep[i] = true
				n--
			}
		}
		var shown []phaseSpan
		for i, p := range ps {
			if keep[i] {
				shown = append(shown, p)
			}
		}
		out = append(out, sDim.Render(fmt.Sprintf("… %d earlier phases", len(ps)-len(shown))))
		ps = shown
	}
	for i := 0; i < len(ps); i++ {
		p := ps[i]
		glyph, end := sOK.Render("✓"), p.end
		if p.failed {
			glyph = sErr.Render("✗") // QA: a failed phase read ✓ above its rollback
		}
		already := strings.HasSuffix(p.name, ": already cut over")
		if already && end.IsZero() {
			end = p.start // a state found, no work: it takes no time
		}
		if end.IsZero() {
			end = s.run.finished
			switch {
			case s.run.phase == phaseApplying:
				end = now
				if p.open || i == len(ps)-1 {
					glyph = s.w.spin()
				}
			case s.run.phase == phaseFailed && (p.open || i == len(ps)-1) && !s.decidedRollback():
				glyph = sErr.Render("✗")
			}
		}
		l := fmt.Sprintf("%s %6s  %-7s %s%s", glyph, "+"+dur(p.start.Sub(t0)), dur(end.Sub(p.start)), strings.Repeat("  ", p.depth), p.name)
		if whole {
			out = append(out, wrapped(l, width, 18, lipgloss.NewStyle())...) // 18: the name's column
			continue
		}
		out = append(out, truncPhase(l, width))
	}
	return out
}

// cliHint is the headless wording of "confirm these VMs"; the wizard says
// which key to press instead.
var cliHint = regexp.MustCompile(`\(confirm with --confirm-cutover=([^)]*)\)`)

// keyOr is keyed, which names a key of the cutover, in a session that
// can press it; else watching (QA: viewers were asked to "type WebApp2"
// and to press r and ctrl+r, which only the driver can).
func (s *cutoverScreen) keyOr(keyed, watching string) string {
	if s.w.readOnly {
		return watching
	}
	return keyed
}

// words is wizardWords, and in a session that cannot cut over, without
// the driver's hint ("press r and type WebApp2").
func (s *cutoverScreen) words(str string) string {
	if s.w.readOnly {
		str = cliHintSpaced.ReplaceAllString(str, "")
	}
	return wizardWords(str)
}

// cliHintSpaced is cliHint with the space before it.
var cliHintSpaced = regexp.MustCompile(` ?\(confirm with --confirm-cutover=[^)]*\)`)

// wizardWords puts the wizard's key where the step names the CLI's flag,
// and leaves out the flag a decided rollback names (the wizard decides
// with ctrl+r).
func wizardWords(s string) string {
	s = strings.ReplaceAll(s, "rolled back as decided (--rollback)", "rolled back as decided")
	return cliHint.ReplaceAllString(s, "(press r and type $1)")
}

// isDecidedLine is the step's outcome when it rolled back as decided (the
// runner reports it as progress): the verdict says it, not a phase.
func isDecidedLine(ev steps.Event) bool {
	return ev.Kind == steps.EventProgress && strings.Contains(ev.Message, "rolled back as decided")
}

// isReportLine is the step's note of where it saved its downtime report.
func isReportLine(ev steps.Event) bool {
	return ev.Kind == steps.EventProgress && strings.HasPrefix(ev.Message, "downtime report:")
}

// resultLines are what the step reported as done (per VM, with its
// measured downtime), its warnings and where it saved the report.
func (s *cutoverScreen) resultLines(width int, reportLine bool) []string {
	var out []string
	for _, ev := range s.run.events {
		switch {
		case ev.Kind == steps.EventChange:
			out = append(out, wrapped("  "+ev.Message, width, 4, sOK)...)
		case ev.Kind == steps.EventWarning:
			out = append(out, wrapped("  ! "+s.words(ev.Message), width, 4, sWarn)...)
		case isReportLine(ev) && reportLine:
			out = append(out, wrapped("  "+ev.Message, width, 4, sDim)...)
		}
	}
	return out
}

// next says what to do after a cutover: the VMs left, another wave, and
// the stretch once the last VM has moved.
func (s *cutoverScreen) next(width int) []string {
	var l string
	left := s.w.env.Migrating()
	switch {
	case s.run.phase == phaseFailed:
		return nil
	case len(left) > 0:
		var n []string
		for _, vm := range left {
			n = append(n, vm.Name)
		}
		l = "Next: " + strings.Join(n, ", ") + " still replicate; " + s.keyOr("cut them over when their window comes (r). To add VMs to this job, go back to step 5 ([ steps back).", "the driver cuts them over when their window comes.")
		if len(n) == 1 {
			l = "Next: " + n[0] + " still replicates; " + s.keyOr("cut it over when its window comes (r). To add VMs to this job, go back to step 5 ([ steps back).", "the driver cuts it over when its window comes.")
		}
	default:
		l = "Next: every VM of the job is cut over. " + s.keyOr("For another wave, go back to step 5 ([ steps back), select VMs, and enter. ", "Another wave is the driver's to select in step 5. ") +
			"Once the last VM has moved, remove the stretch by hand (ferry has no teardown): the L2VPN session and appliance of steps 2 to 4."
	}
	return wrapped(l, width, 0, sBold)
}

// report is the downtime report, or the failure with what to do next:
// the verdict (pinned: it stays in view) and the rest, which scrolls.
func (s *cutoverScreen) report(width int) (pinned, rest []string) {
	total := s.run.finished.Sub(s.run.started)
	switch {
	case s.decidedRollback():
		// Not a failure: the operator decided it (ctrl+r).
		what := s.run.summary
		if s.run.phase == phaseFailed {
			what = errText(s.run.err)
		}
		pinned = append([]string{sWarn.Render("↺ rolled back as decided")}, wrap(s.words(what), width)...)
		rest = append(rest, "")
		rest = append(rest, wrap("Nothing was cut over. "+s.keyOr("Press r to cut over again", "The driver can cut over again")+" when its window comes.", width)...)
	case s.run.phase == phaseWaiting:
		pinned = append([]string{sWarn.Render("◐ partly cut over")}, wrap(s.words(s.run.summary), width)...)
	case s.run.phase == phaseFailed:
		pinned = append([]string{sErr.Render("✗ cutover failed")}, wrap(errText(s.run.err), width)...)
		rest = append(rest, "")
		if errors.Is(s.run.err, steps.ErrConflict) && len(s.phases()) == 0 {
			// Refused by its plan's checks: it never began, so there is
			// no downtime to report and nothing was rolled back.
			rest = append(rest, wrap("Refused by the cutover's checks before it began: nothing was shut down or changed.", width)...)
			return pinned, append(rest, wrap(s.run.hint(), width)...)
		}
		rest = append(rest, wrap("Any failure before the target powers on rolls back: the source runs again and replication goes on.", width)...)
		rest = append(rest, wrap(s.run.hint(), width)...)
	default:
		pinned = []string{sOK.Render("✓ cutover complete") + ": " + s.run.summary}
	}
	out := rest
	rep, md, err := s.w.env.LastCutoverReport()
	if rep != nil && !s.run.started.IsZero() && rep.Finished.Before(s.run.started) {
		// An earlier run's report: this run saved none (it failed before
		// it had a VM to report, or could not save it). Not shown under
		// this run's verdict; its own figures follow.
		rep = nil
	}
	if rep != nil || err != nil {
		// The saved report: the same figures as its Markdown, after a
		// restart too.
		if err != nil {
			out = append(out, "", sBold.Render("Downtime report"))
			out = append(out, wrapped("  "+err.Error(), width, 4, sWarn)...)
		} else {
			out = append(out, "")
			out = append(out, sBold.Render("Downtime report")+fmt.Sprintf(" · the cutover took %s", rep.Finished.Sub(rep.Started).Round(time.Millisecond)))
			if wave := rep.WaveFigures(); wave != "" {
				out = append(out, wrapped("  "+wave, width, 4, sBold)...)
			}
			for _, v := range rep.VMs {
				// Broken between its figures, each whole ("shutdown to
				// power-on 1.3s", not "shutdown" and "to power-on 1.3s").
				out = append(out, joined(strings.Split("  "+v.VM+": "+v.Figures(), " · "), width, 4, lipgloss.NewStyle())...)
				if v.ProviderVM != "" {
					// As the vSphere client shows it: Cloud Director
					// renamed the VM it adopted; a rollback removed it
					// (QA: named as if it were still there).
					out = append(out, wrapped("    in the provider vCenter: "+v.Target(), width, 6, sDim)...)
				}
			}
			if saved := "  saved as " + md; ansiWidth(saved) <= width {
				out = append(out, sDim.Render(saved))
			} else {
				// Broken after a "/" only, so that it can be copied (QA at
				// 80 columns: wrapped as prose, in the middle of a name).
				out = append(out, sDim.Render("  saved as"))
				for _, l := range reportPath(md, width, 4) {
					out = append(out, sDim.Render(l))
				}
			}
		}
		out = append(out, s.next(width)...)
		if s.run.started.IsZero() {
			return pinned, out
		}
		if rl := s.resultLines(width, false); len(rl) > 0 {
			out = append(append(out, "", sBold.Render("Result")), rl...)
		}
		out = append(out, "", sBold.Render("Phases"))
		return pinned, append(out, s.phaseLines(width, math.MaxInt, true)...)
	}
	if s.run.started.IsZero() {
		return pinned, out
	}
	out = append(out, "", sBold.Render("Downtime report"))
	if s.run.finished.IsZero() || total < 0 {
		// Not known: not to be made up from a zero or another clock's time.
		out = append(out, "  total time            not known")
	} else {
		out = append(out, fmt.Sprintf("  total time            %s", dur(total)))
	}
	if d, ok := s.w.dash.DowntimeSince(s.run.started, s.run.finished); ok {
		out = append(out, fmt.Sprintf("  measured by probes    %s", dur(d)))
	} else {
		// Under its label's column when it wraps (QA: cut at 80 columns,
		// "none seen here; the step's own…").
		for i, l := range wrap("none seen here; the step's own probes are in Result", max(10, width-24)) {
			label := "  measured by probes    "
			if i > 0 {
				label = strings.Repeat(" ", len(label))
			}
			out = append(out, label+sDim.Render(l))
		}
	}
	var proj time.Duration
	var ests []*steps.DowntimeEstimate
	for _, est := range s.proj {
		ests = append(ests, est)
	}
	if len(ests) > 0 {
		proj = s.w.env.ProjectWave(ests).Downtime // as projected on the confirmation
	}
	if proj > 0 {
		out = append(out, fmt.Sprintf("  projected before      ~%s", dur(proj)))
	}
	if rl := s.resultLines(width, true); len(rl) > 0 {
		out = append(append(out, "", sBold.Render("Result")), rl...)
	}
	out = append(out, "", sBold.Render("Phases"))
	return pinned, append(out, s.phaseLines(width, math.MaxInt, true)...)
}

// decisionVerb names what confirming does with decision d ("": cut over).
func decisionVerb(d string) string {
	switch d {
	case steps.CutoverRollback:
		return "roll back"
	case steps.CutoverFinish:
		return "finish"
	}
	return "cut over"
}

// orCutOver names a decision for the ctrl+r hint.
func orCutOver(d string) string { return decisionVerb(d) + " instead" }

// decidedRollback says the run ended in nothing but rollbacks the
// operator decided (ctrl+r, --rollback), perhaps with VMs left waiting:
// this session's, or, after a restart, as the last report says (a failure
// in a state an older ferry wrote).
func (s *cutoverScreen) decidedRollback() bool {
	if s.run.phase == phaseWaiting {
		return s.run.rolledBack
	}
	if s.run.phase != phaseFailed || s.run.err == nil {
		return false
	}
	if steps.OnlyRolledBackAsDecided(s.run.err) {
		return true
	}
	// After a restart the failure is the state's text: the last report
	// says whether it was decided, but only for that rollback's failure
	// (QA: a cutover refused by its checks since read "rolled back as
	// decided", over the old report).
	return strings.Contains(s.run.err.Error(), "rolled back as decided") && s.w.env.LastCutoverDecided()
}

// estimateLines are est's parts under a VM of the confirmation, broken
// between phases only ("import into vCD" / "10s*" read as two phases at
// 80 columns, QA), then what * means, which wraps as prose.
func estimateLines(est *steps.DowntimeEstimate, width int) []string {
	parts := est.CompactParts()
	if len(parts) == 0 {
		return nil
	}
	parts[0] = "    " + parts[0]
	plain := lipgloss.NewStyle()
	ls := joined(parts, width, 6, plain)
	if note := est.DefaultsNote(); note != "" {
		// "(*" alone at a line's end reads as nothing.
		note = strings.Replace(note, "(* ", "(*"+string(nbSpace), 1)
		last := ls[len(ls)-1]
		ls = append(ls[:len(ls)-1], wrapped(last+note, width, 6, plain)...)
	}
	for i, l := range ls {
		ls[i] = sDim.Render(strings.ReplaceAll(l, string(nbSpace), " "))
	}
	return ls
}
