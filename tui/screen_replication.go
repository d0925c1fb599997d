package tui

import (
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
)

// replicationScreen is step 6: start replication (the step's plan and
// apply), then the dashboard: per VM phase, progress, throughput, ETA, last
// pass, RPO health, next pass and projected cutover downtime, with pause
// and resume, and the probe panel beside it.
type replicationScreen struct {
	w      *wiring
	idx    int
	run    stepRun
	cursor int
	test   testRun
	// pick is the question for the plan's test network (t pressed while
	// the plan names none).
	pick netPick
	// testMirrored is the board's test run shown (another session's).
	testMirrored uint64
	// The projected final pass of each VM (DashboardState.SetFinalPasses)
	// is read in the background (refresh) as the cutover's confirmation
	// reads its projections: when the dashboard shows and none is read
	// yet, a pass ended since the last read began, or that read is older
	// than projectionTTL; projGen tells the current read's answer.
	projAt     time.Time
	projGen    int
	projBusy   bool
	projPasses int
}

// dashProjMsg carries the projected final passes read by read gen.
type dashProjMsg struct {
	Step, gen int
	final     map[string]string
}

func (m dashProjMsg) step() int { return m.Step }

// refresh reads the projected final passes again in the background when
// they are old (see projAt); the model asks after every message it
// handles while the dashboard shows, its tick included. The figure is the
// confirmation's (steps.Env.ProjectDowntimes, the final pass part), so
// the two agree (QA: the dashboard's, from the last replication event,
// said another than the confirmation's).
func (s *replicationScreen) refresh() tea.Cmd {
	now, d := s.w.now(), s.w.dash
	fresh := !s.projAt.IsZero() && now.Sub(s.projAt) <= projectionTTL && !now.Before(s.projAt) && d.passes == s.projPasses
	if s.projBusy || fresh || len(d.VMs) == 0 {
		return nil
	}
	s.projGen++
	s.projAt, s.projBusy, s.projPasses = now, true, d.passes
	idx, env, gen := s.idx, s.w.env, s.projGen
	return func() tea.Msg {
		var names []string
		for _, v := range env.Migrating() {
			names = append(names, v.Name)
		}
		ests, _ := env.ProjectDowntimes(names)
		final := map[string]string{}
		for vm, est := range ests {
			// A default (no pass recorded to project from) is the
			// confirmation's to show, marked; not a row's figure.
			if p, ok := est.FinalPass(); ok && !p.Default && p.Seconds > 0 {
				final[vm] = p.Figure()
			}
		}
		return dashProjMsg{Step: idx, gen: gen, final: final}
	}
}

func newReplicationScreen(w *wiring, idx int) *replicationScreen {
	s := &replicationScreen{w: w, idx: idx, run: newStepRun(w, idx)}
	s.run.scroll.paging = true // the arrows move the dashboard's cursor
	return s
}

func (s *replicationScreen) init() tea.Cmd { return nil }
func (s *replicationScreen) reopen() tea.Cmd {
	s.run.reopen()
	return nil
}
func (s *replicationScreen) running() bool   { return s.run.running() }
func (s *replicationScreen) busy() string    { return "" }
func (s *replicationScreen) capturing() bool { return false }

// cursorVM is the VM row under the cursor.
func (s *replicationScreen) cursorVM() (VMRow, bool) {
	vms := s.w.dash.VMs
	if s.cursor < len(vms) {
		return vms[s.cursor], true
	}
	return VMRow{}, false
}

func (s *replicationScreen) keys() keyMap {
	if s.pick.open {
		return s.pickKeys()
	}
	if s.test.confirm != nil {
		return s.confirmKeys()
	}
	var km keyMap
	if s.run.phase == phaseInput {
		k := keyNext
		k.SetHelp("enter", "plan replication")
		km = keyMap{k}
	} else {
		km = s.run.keys()
	}
	row, ok := s.cursorVM()
	pause, resume, verify := keyPause, keyResume, keyVerify
	switch {
	case !ok:
		pause = pause.when(false, "no VM replicating")
		resume = resume.when(false, "no VM replicating")
		verify = verify.when(false, "no VM replicating")
	case row.CutOver():
		why := row.VM + " is cut over: nothing replicates it any more"
		pause, resume, verify = pause.when(false, why), resume.when(false, why), verify.when(false, why)
	case row.Cold:
		why := row.VM + " is a cold migration: no passes to pause or compare; its one pass is in its cutover window"
		pause, resume, verify = pause.when(false, why), resume.when(false, why), verify.when(false, why)
	default:
		pause = pause.when(s.w.feeds.Pause != nil, "the replication engine is not connected").when(!row.Paused, row.VM+" is already paused").when(row.Held == "", "ferry holds "+row.VM+" (its row says why)")
		resume = resume.when(s.w.feeds.Resume != nil, "the replication engine is not connected").when(row.Paused, row.VM+" is not paused").when(row.Held == "", "ferry holds "+row.VM+" (its row says why) and resumes it")
		verify = verify.when(s.w.feeds.Verify != nil, "the replication engine is not connected").when(!row.Paused, row.VM+" is paused: resume it first")
	}
	test, cleanup := s.testKeys(row, ok)
	// The step's own keys (enter) first: a narrow help bar keeps them.
	return append(km, pause, resume, keyUp, keyDown, verify, test, cleanup)
}

func (s *replicationScreen) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case dashProjMsg:
		if msg.gen == s.projGen {
			s.w.dash.SetFinalPasses(msg.final)
			s.projBusy = false
		}
		return nil
	case testEventMsg, testDoneMsg:
		return s.testUpdate(msg)
	case actionDoneMsg:
		if msg.Err != nil {
			return flash(msg.What + " failed: " + msg.Err.Error())
		}
		return flash(msg.What + ": done")
	case choicesMsg:
		if msg.Key == steps.TestNetworkKey && s.pick.open {
			s.pick.loading, s.pick.choices, s.pick.err, s.pick.at = false, msg.Choices, msg.Err, 0
		}
		return nil
	case tea.KeyMsg:
		if s.pick.open {
			return s.pickKey(msg)
		}
		if s.test.confirm != nil {
			return s.confirmKey(msg)
		}
		if cmd, ok := s.testKey(msg); ok {
			return cmd
		}
		switch {
		case keyUp.Matches(msg):
			s.cursor = max(0, s.cursor-1)
			return nil
		case keyDown.Matches(msg):
			s.cursor = min(max(0, len(s.w.dash.VMs)-1), s.cursor+1)
			return nil
		case keyPause.Matches(msg), keyResume.Matches(msg):
			return s.control(keyPause.Matches(msg))
		case keyVerify.Matches(msg):
			return s.verify()
		}
		if s.run.phase == phaseInput {
			if keyNext.Matches(msg) {
				return s.run.begin()
			}
			return nil
		}
		if keyBack.Matches(msg) && !s.run.running() {
			// Back here, the step plans anew with the answer corrected
			// (not the refusal again, which esc would leave once more).
			cmd := s.w.answerElsewhere(s.idx, &s.run)
			s.run.phase = phaseInput
			return cmd
		}
		return s.run.key(msg)
	}
	cmd := s.run.update(msg)
	if _, ok := msg.(applyDoneMsg); ok {
		// The pass the step ran is in the replication state now.
		return tea.Batch(cmd, func() tea.Msg { return refreshStatusMsg{} })
	}
	return cmd
}

// control asks the engine to pause or resume the VM under the cursor. The
// dashboard changes when the engine reports it, not before.
func (s *replicationScreen) control(pause bool) tea.Cmd {
	row, ok := s.cursorVM()
	if !ok {
		return nil
	}
	f, what := s.w.feeds.Resume, "resume "+row.VM
	if pause {
		f, what = s.w.feeds.Pause, "pause "+row.VM
	}
	if f == nil {
		return nil
	}
	ctx, idx, vm := s.w.ctx, s.idx, row.VM
	return func() tea.Msg { return actionDoneMsg{Step: idx, What: what, Err: f(ctx, vm)} }
}

// verify asks the engine for a full compare of the VM under the cursor as
// its next pass; the dashboard shows the result when the engine reports it.
func (s *replicationScreen) verify() tea.Cmd {
	row, ok := s.cursorVM()
	f := s.w.feeds.Verify
	if !ok || f == nil || row.CutOver() || row.Paused {
		return nil
	}
	ctx, idx, vm := s.w.ctx, s.idx, row.VM
	return func() tea.Msg {
		return actionDoneMsg{Step: idx, What: "full compare of " + vm + " requested (next pass)", Err: f(ctx, vm)}
	}
}

func (s *replicationScreen) view(width, height int) string {
	out := stepHeading(s.w, s.idx, width)
	switch s.run.phase {
	case phasePlanned, phaseFailed:
		// The plan (a VM's replica and disks, the space checks) or the
		// failure scrolls in most of what the dashboard leaves (QA: at
		// 80x24 a two-VM plan was cut after its third item, unscrollable).
		out = append(out, s.run.view(width, max(min(8, height/3), (height-len(out))*2/3))...)
		out = append(out, "")
	case phaseInput:
		if s.run.note != "" {
			out = append(out, wrap(s.run.note+".", width)...)
		}
		enter := "Press enter to plan the replication of the selected VMs."
		if s.run.interrupted {
			enter = "Press enter to plan resuming it: the replica disks made are kept, an interrupted pass goes on from what the receiver holds durably (not sent again), and the step waits for each VM's pass. The dashboard below shows what replicates now."
		}
		out = append(append(out, wrap(enter, width)...), "")
	case phaseDone:
		if cut := s.w.env.CutOverVMs(); len(cut) > 0 && len(s.w.env.Migrating()) == 0 {
			// Not "started": nothing replicates any more.
			out = append(out, sOK.Render("✓ replication ended")+sDim.Render(" · every VM is cut over: "+strings.Join(cut, ", ")), "")
			break
		}
		out = append(out, sOK.Render("✓ replication started")+sDim.Render(" · "+s.run.summary), "")
	default:
		out = append(out, s.run.view(width, min(8, height/3))...)
		out = append(out, "")
	}
	if p := s.run.phase; p != phasePlanned && p != phaseFailed {
		s.run.scroll.hidden() // nothing of the plan shows: pgdn moves nothing
	}
	if s.pick.open {
		out = append(out, s.pickLines(width)...)
	} else {
		out = append(out, s.testLines(width)...)
	}
	return box(append(out, dashboardPanel(s.w, s.cursor, width, height-len(out))...), width, height)
}

// minProbeLines is the least the probe panel below the dashboard keeps:
// its heading and a line that names the probes, the down ones first.
const minProbeLines = 2

// dashboardPanel puts the probe panel beside the dashboard when there is
// room, below it otherwise.
func dashboardPanel(w *wiring, cursor, width, height int) []string {
	now := w.now()
	if width >= 100 {
		pw := min(36, width/3)
		dw := width - pw - 3
		left := dashboardLines(w.dash, now, cursor, dw, height)
		right := probeLines(w, pw, height)
		out := make([]string, 0, height)
		for i := 0; i < height && (i < len(left) || i < len(right)); i++ {
			l, r := "", ""
			if i < len(left) {
				l = left[i]
			}
			if i < len(right) {
				r = right[i]
			}
			out = append(out, fit(l, dw)+" "+sDim.Render("│")+" "+r)
		}
		return out
	}
	ph := min(1+2*max(1, len(w.dash.Probes)), max(3, height/3))
	dh := height - ph - 1
	out, whole := dashboardView(w.dash, now, cursor, width, dh)
	// A row for every VM and the whole detail of the one under the cursor
	// come before the probes' rows, when they can have both: the probes
	// give way down to their heading and a line naming them, the down
	// ones first (QA: at 80x24 with four VMs the detail line was cut, a
	// queued row's reason with it). More VMs than that room holds scroll
	// as before, beside the probes' share.
	for h := dh + 1; !whole && h <= height-minProbeLines-1; h++ {
		if o, ok := dashboardView(w.dash, now, cursor, width, h); ok {
			out, whole = o, true
		}
	}
	// The probes take every row the dashboard leaves (fewer than their
	// share when it took some of it).
	ph = height - len(out) - 1
	return append(append(out, ""), probeLines(w, width, ph)...)
}
