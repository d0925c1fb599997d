package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// runPhase is where a step is between its inputs and its result.
type runPhase int

const (
	phaseInput    runPhase = iota // answering the step's inputs
	phasePlanning                 // Plan in flight
	phasePlanned                  // plan shown, waiting for the go-ahead
	phaseApplying                 // Apply in flight, events streaming
	phaseDone
	phaseFailed
	phaseSkipped
	// phaseWaiting: the step did what it was allowed to and waits for the
	// operator for the rest (VMs not yet confirmed for cutover).
	phaseWaiting
)

// stepRun is the part every step screen shares: plan, apply with live
// progress, and the result or the failure with what to do next. It runs the
// step through steps.Runner (one stage), so the state file is written the
// same way as headless.
type stepRun struct {
	w     *wiring
	idx   int
	stage steps.Stage

	phase runPhase
	plan  steps.Plan
	// planFailed: the failure was the plan's (nothing was applied).
	planFailed bool
	err        error
	events     []steps.Event
	fraction   float64 // -1: unknown
	message    string
	summary    string
	// rolledBack: the cutover ended waiting, with VMs rolled back as the
	// operator decided and nothing failed (summary says which).
	rolledBack bool
	started    time.Time
	finished   time.Time
	// confirmed is set by the cutover screen once the operator typed the
	// confirmation; it lets the runner pass the stage's Confirm gate.
	confirmed bool
	// cutoverVMs are the VMs the operator confirmed; the run hands them to
	// the shared Env only once it holds the engine's step lock (another
	// client's run may be using the Env until then).
	cutoverVMs []string
	// decision is the operator's decision on the confirmed VMs'
	// interrupted cutovers ("": cut over); given to the Env with them.
	decision string
	// note says why a done step shows its inputs again (VMs added), or
	// that its run was interrupted (interrupted).
	note string
	// interrupted: the state records the step running, begun by a ferry
	// process that stopped midway (a kill -9); enter resumes it.
	interrupted bool
	// scroll shows the plan or the result a page at a time.
	scroll scroller
	// more is a screen's own result lines (step 7's probe results), shown
	// below the step's result or failure, in what scrolls.
	more   func(width int) []string
	cancel context.CancelFunc
	stream <-chan tea.Msg
	// own: the run in flight is this screen's; mirrored is the board's
	// run this screen shows (another session's, mirror).
	own      bool
	mirrored uint64
}

func newStepRun(w *wiring, idx int) stepRun {
	r := stepRun{w: w, idx: idx, stage: w.it[idx], fraction: -1}
	st := w.env.State.Get(r.id())
	switch {
	case st.Status == steps.StatusDone:
		r.phase, r.summary = phaseDone, st.Summary
		if st.Finished != nil {
			r.finished = *st.Finished
		}
	case st.Status == steps.StatusFailed:
		r.phase, r.err = phaseFailed, errors.New(st.Error)
	case w.env.State.Interrupted(r.id()):
		// QA: after a kill -9 during step 6 the wizard said "Press enter
		// to plan the replication..." as if it had never run.
		r.interrupted = true
		r.note = fmt.Sprintf("Step %d was interrupted: the ferry that ran it stopped midway", idx+1)
		if st.Started != nil {
			r.note += " (it began at " + st.Started.Local().Format("15:04:05") + ")"
		}
	case st.Status == steps.StatusPending && r.id() == "cutover" && w.env.LastCutoverDecided():
		r.phase, r.summary, r.rolledBack = phaseWaiting, st.Summary, true
		if st.Finished != nil {
			r.finished = *st.Finished
		}
	case w.skipReason(idx) != "":
		r.phase, r.summary = phaseSkipped, w.skipReason(idx)
	}
	r.reopen()
	return r
}

// reopen puts a finished step back to its inputs when the plan has changed
// under it: VMs added after it ran (a second wave), or VMs now where it was
// skipped for want of them. It reports whether it did.
func (r *stepRun) reopen() bool {
	switch {
	case r.phase == phaseDone && r.w.env.Stale(r.id()) != "":
		r.note = r.w.env.StaleNote(r.id())
	case r.phase == phaseSkipped && r.w.skipReason(r.idx) == "":
		r.note = ""
	default:
		return false
	}
	r.phase = phaseInput
	return true
}

func (r *stepRun) id() string { return r.stage.Step.ID() }

func (r *stepRun) running() bool { return r.phase == phasePlanning || r.phase == phaseApplying }

// startPlan asks the step what it would change, off the Update loop.
func (r *stepRun) startPlan() tea.Cmd {
	r.phase, r.err, r.plan, r.own = phasePlanning, nil, steps.Plan{}, true
	// The engine's context, as an apply's: a driver whose connection
	// drops does not cancel the plan its viewers watch.
	ctx, step, env, idx := r.w.runContext(), r.stage.Step, r.w.env, r.idx
	sh := r.w.share(SharedRun{Step: r.id(), Phase: runPlanning})
	return func() tea.Msg {
		p, err := step.Plan(ctx, env)
		sh.planned(p, err)
		return planDoneMsg{Step: idx, Plan: p, Err: err}
	}
}

// startApply runs the step; its events come back one message at a time
// through a channel and a re-arming waitForEvent.
func (r *stepRun) startApply() tea.Cmd {
	ctx, cancel := context.WithCancel(r.w.runContext())
	r.cancel = cancel
	// The bar starts from what the step persisted (a replication pass a
	// stopped ferry left goes on from what is durable), not from nothing
	// until the step's first progress line (QA: 0% after a restart).
	r.phase, r.err, r.events, r.fraction, r.message, r.planFailed = phaseApplying, nil, nil, r.w.env.StepProgress(r.id()), "starting", false
	r.started, r.finished, r.own = r.w.now(), time.Time{}, true
	if r.interrupted {
		r.interrupted, r.note = false, "" // this run resumes it
	}
	idx, stage, confirmed := r.idx, r.stage, r.confirmed
	state, id := r.w.env.State, r.id()
	env, cutoverVMs, decision := r.w.env, r.cutoverVMs, r.decision
	cmd, ch := r.w.background(ctx,
		func(ev steps.Event) tea.Msg { return stepEventMsg{Step: idx, Event: ev} },
		func(err error) tea.Msg { return applyDoneMsg{Step: idx, Err: err} },
		func(emit steps.Emit) tea.Msg {
			if cutoverVMs != nil {
				env.CutoverVMs, env.CutoverDecision = cutoverVMs, decision
				// A decision is for this run only, as ferry run's flags.
				defer func() { env.CutoverDecision = "" }()
			}
			// The runner passes over a step that is done; the operator who
			// changed its answers and applies again wants it run (apply is
			// idempotent, so an unchanged step changes nothing).
			if state.Status(id) == steps.StatusDone {
				if err := state.Begin(id); err != nil {
					return applyDoneMsg{Step: idx, Err: err}
				}
			}
			runner := &steps.Runner{Itinerary: steps.Itinerary{stage}, Env: env, Confirmed: confirmed, Emit: emit}
			out, err := runner.Run(ctx)
			return applyDoneMsg{Step: idx, Outcome: out, Err: err}
		}, &publish{run: SharedRun{Step: id, Phase: runApplying, Started: r.started}, finished: applyFinished})
	r.stream = ch
	return cmd
}

// runContext is what work started from a screen runs in: the engine's
// context when the wizard is attached to one (a detach does not stop it),
// the wizard's otherwise.
func (w *wiring) runContext() context.Context {
	if w.session != nil && w.session.RunCtx != nil {
		return w.session.RunCtx
	}
	return w.ctx
}

// background runs work off the Update loop, as every step run does:
// counted in w.runs (quitting waits for it), under the engine's step lock
// when the wizard is attached to an engine, its events passed through the
// session's Emit (the engine's event log). The events (made messages by
// event) and then work's own final message come back in order through the
// returned channel, read by a re-arming waitForEvent; failed makes the
// final message when work cannot start. ctx bounds the delivery. pub, if
// not nil, shares the run with the engine's other sessions (Session.Runs)
// once it holds the step lock: its events as they come, its end; this
// goes on after this session's screen is gone.
func (w *wiring) background(ctx context.Context, event func(steps.Event) tea.Msg, failed func(error) tea.Msg, work func(steps.Emit) tea.Msg, pub *publish) (tea.Cmd, <-chan tea.Msg) {
	sess, view := w.session, w.ctx // view: the screen, gone with its session
	ch := make(chan tea.Msg, 256)
	send := func(m tea.Msg) {
		select {
		case ch <- m:
		case <-ctx.Done():
		case <-view.Done():
		}
	}
	var sh *sharing
	var emit steps.Emit = func(ev steps.Event) {
		sh.event(ev)
		send(event(ev))
	}
	if sess != nil && sess.Emit != nil {
		emit = sess.Emit(emit)
	}
	runs := &w.runs
	run := func() tea.Msg {
		defer close(ch)
		if !runs.start() {
			send(failed(context.Canceled))
			return nil
		}
		defer runs.done()
		if sess != nil && sess.Exclusive != nil {
			release, err := sess.Exclusive(sess.Who)
			if err != nil {
				send(failed(err))
				return nil
			}
			defer release()
		}
		if pub != nil {
			sh = w.share(pub.run)
		}
		// The final message goes through the channel too, after the last
		// event, so the screen sees them in order.
		final := work(emit)
		if sh != nil {
			// The run's end as its record has it is the one this screen
			// shows: the sessions read the same "took" (QA: "took 640ms"
			// here, "took 638ms" on a watcher's screen).
			at := sh.now()
			if d, ok := final.(applyDoneMsg); ok && d.At.IsZero() {
				d.At = at
				final = d
			}
			out, report, err := pub.finished(final)
			sh.finishAt(at, out, report, err)
		}
		send(final)
		return nil
	}
	return tea.Batch(run, waitForEvent(ch, asMsg)), ch
}

// progress takes a progress line of the step: its message, and its
// fraction of the step when it has one. A line without one (-1: step 6's
// "WebApp2: commit" between two VMs' transfer lines) leaves the step's bar
// where the step said last: it hid the bar until the next line with a
// fraction, and with several VMs replicating the bar blinked.
func (r *stepRun) progress(ev steps.Event) {
	r.message = ev.Message
	if ev.Fraction >= 0 {
		r.fraction = ev.Fraction
	}
}

// update handles the step's own messages; for an event it returns the
// re-armed wait for the next one.
func (r *stepRun) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case planDoneMsg:
		if r.phase != phasePlanning {
			return nil
		}
		r.own = false
		r.plan, r.err, r.scroll.top = msg.Plan, msg.Err, 0
		r.phase, r.planFailed = phasePlanned, msg.Err != nil
		if msg.Err != nil {
			r.phase = phaseFailed
		}
	case stepEventMsg:
		ev := msg.Event
		if ev.Time.IsZero() {
			ev.Time = r.w.now()
		}
		r.events = append(r.events, ev)
		switch ev.Kind {
		case steps.EventProgress:
			r.progress(ev)
		case steps.EventChange, steps.EventStarted, steps.EventWarning:
			r.message = ev.Message
		}
		return waitForEvent(r.stream, asMsg)
	case applyDoneMsg:
		r.own = false
		if r.cancel != nil {
			r.cancel()
			r.cancel = nil
		}
		r.finished, r.scroll.top = r.w.now(), 0
		if !msg.At.IsZero() {
			r.finished = msg.At
		}
		st := r.w.env.State.Get(r.id())
		switch {
		case msg.Err != nil:
			r.phase, r.err = phaseFailed, r.unnumbered(msg.Err)
		case msg.Outcome.StoppedBefore != "":
			r.phase, r.summary, r.rolledBack = phaseWaiting, st.Summary, msg.Outcome.RolledBack
		case st.Status == steps.StatusSkipped:
			r.phase, r.summary = phaseSkipped, st.Summary
		default:
			r.phase, r.summary = phaseDone, st.Summary
			r.w.noteVerified(r.id())
		}
	}
	return nil
}

// unnumbered drops the runner's "step 1 (Title): " prefix: the runner
// numbers the one-stage itinerary it was given, which is not the step's
// place in the wizard's.
func (r *stepRun) unnumbered(err error) error {
	prefix := fmt.Sprintf("step 1 (%s): ", r.stage.Step.Title())
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), prefix) {
		return inner
	}
	return err
}

// hint says what to do after a failure.
func (r *stepRun) hint() string {
	var fe *steps.FieldError
	var ve *steps.ValidationError
	switch {
	case r.err == nil:
		return ""
	case r.w.session.viewer():
		return "You are watching: the driver decides what comes next (a retry, other answers)."
	case errors.Is(r.err, steps.ErrNotBuilt):
		return "This step is not built in this version of ferry. Press s to skip it (it is added to the plan's skip list), as `ferry run` would with skip: [" + r.id() + "]."
	case errors.Is(r.err, steps.ErrConflict):
		return "ferry does not change objects that differ from the plan. Fix them in vCenter / Cloud Director or change the answers (esc), then press r to plan again."
	case errors.Is(r.err, context.Canceled):
		return "The step was interrupted. Press r to run it again: apply is idempotent, nothing is created twice."
	case errors.As(r.err, &fe), errors.As(r.err, &ve), r.w.refusedField(r.err) != "":
		if r.planFailed {
			return "Nothing was changed: the plan refused an answer. Press esc to correct it (it opens that answer), then enter."
		}
		// The answer is the likeliest cause, not always the only one (a
		// refused edge port may be an appliance still booting).
		return "Press esc to correct the answer (it opens that answer), then enter; or press r to retry with the same answers (apply is idempotent)."
	case !r.retryHelps():
		return "Only the plan's networks: maps a port group to an org VDC network, and a retry reads the same plan. " +
			"Press esc and map the port group in the options' Other networks (port group=org VDC network), or deselect the VM."
	case errors.Is(r.err, vsphere.ErrLogin), errors.Is(r.err, vcd.ErrLogin):
		// QA: "fix the cause, then press r" after a wrong password in the
		// --config file: the file was corrected, r failed again.
		return loginHint(r.w)
	}
	if r.planFailed {
		return "Nothing was changed: the plan failed. Fix the cause named above, then press r to plan again, or esc to change the answers."
	}
	return "Fix the cause named above, then press r to retry (apply is idempotent: nothing is created twice), or esc to change the answers."
}

// loginHint is the hint under a refused login: a retry logs in with the
// username and password read at the start (the --config file, the
// environment), only a password typed at ferry's prompt is asked again.
func loginHint(w *wiring) string {
	h := "Nothing was changed: the login was refused. ferry read the username and password named above when it started, and a retry (r) uses them again: quit (q), correct them, and start ferry again (the answers and the state are kept)."
	if w.session != nil {
		h = "Nothing was changed: the login was refused. ferry serve read the username and password named above when it started, and a retry (r) uses them again: correct them and start ferry serve again (the answers and the state are kept)."
	}
	if w.prompted {
		h += " A password typed at ferry's prompt is asked again: press r to type it again."
	}
	return h
}

// retryHelps is false for a failure that no retry from the wizard can
// fix: a NIC on a port group the plan maps to no org VDC network.
func (r *stepRun) retryHelps() bool { return !errors.Is(r.err, steps.ErrNoNetworkMapping) }

// wrapped wraps s to width, continuation lines indented by indent cells,
// each line in style: a long line keeps its point (the CIDR at its end, the
// right a rights line adds) instead of losing it to an ellipsis.
func wrapped(s string, width, indent int, style lipgloss.Style) []string {
	ls := wrap(s, width)
	if len(ls) <= 1 {
		return []string{style.Render(s)}
	}
	out := []string{style.Render(ls[0])}
	rest := strings.Join(ls[1:], " ")
	if strings.HasPrefix(s, ls[0]) {
		rest = strings.TrimLeft(s[len(ls[0]):], " ")
	}
	pad := strings.Repeat(" ", indent)
	for _, l := range wrap(rest, max(1, width-indent)) {
		out = append(out, style.Render(pad+l))
	}
	return out
}

// joined is parts separated by " · " in lines of width cells, breaking
// only between parts ("RPO ok" stays whole), the later lines indented by
// indent; a part wider than a line wraps on its own. A line that a part
// follows keeps room for the " ·" it ends with (not a "·" alone on the
// next line).
func joined(parts []string, width, indent int, style lipgloss.Style) []string {
	var out []string
	line := ""
	for i, p := range parts {
		tail := 0
		if i < len(parts)-1 {
			tail = 2 // " ·"
		}
		switch next := line + " · " + p; {
		case line == "":
			line = p
		case ansiWidth(next)+tail <= width:
			line = next
		default:
			dot := " ·"
			if ansiWidth(line+dot) > width {
				// Glued to the part's last word, which wraps with it
				// (QA: a "·" alone on a line of the cutover report at
				// 80 columns, under a part that filled its line).
				dot = string(nbSpace) + "·"
			}
			out = append(out, wrapped(line+dot, width, indent, style)...)
			line = strings.Repeat(" ", indent) + p
		}
	}
	if line == "" {
		return out
	}
	return append(out, wrapped(line, width, indent, style)...)
}

// planSummary is the plan's one-line verdict, shown above its items.
func planSummary(p steps.Plan) string {
	switch n := p.Changes(); {
	case len(p.Conflicts()) > 0:
		return sErr.Render(fmt.Sprintf("%d conflict(s): apply is refused until they are resolved", len(p.Conflicts())))
	case n == 0 && slices.ContainsFunc(p.Items, func(it steps.Item) bool { return it.Action == steps.ActionCheck }):
		return "no changes: it checks what its items say"
	case n == 0 && len(p.Items) == 0:
		// Nothing exists to say so of (QA walk hB: step 7 of a plan with
		// no probes said "everything already exists").
		return "no changes: nothing to do"
	case n == 0:
		return "no changes: everything already exists"
	default:
		return fmt.Sprintf("%d change(s) will be made", n)
	}
}

// planLines renders the plan's items, one per item, wrapped, marked by
// action; conflicts first (what the operator must fix). The rights one
// bundle or role gets are listed together (itemLines).
func planLines(p steps.Plan, width int) []string {
	var out []string
	for _, it := range p.Conflicts() {
		out = append(out, wrapped(it.String(), width, 2, sErr)...)
	}
	var rest []steps.Item
	for _, it := range p.Items {
		if it.Action != steps.ActionConflict {
			rest = append(rest, it)
		}
	}
	return append(out, itemLines(rest, width, 0, itemStyle)...)
}

// itemStyle is how a plan shows an item: changes green, the rest dim.
func itemStyle(it steps.Item) lipgloss.Style {
	switch it.Action {
	case steps.ActionConflict:
		return sErr
	case steps.ActionCreate, steps.ActionUpdate, steps.ActionPower:
		return sOK
	}
	return sDim
}

// itemLines renders items at indent, one per line, wrapped under itself.
// The rights one rights bundle, role or org gets (steps.AddRight, one item
// per right) are one line with their count, then their names, every one
// whole, grouped by what precedes ": " in them and wrapped together (QA:
// at 80x24 step 1's plan was 162 lines of "add right X to role Y").
func itemLines(items []steps.Item, width, indent int, style func(steps.Item) lipgloss.Style) []string {
	pad := strings.Repeat(" ", indent)
	var out []string
	for i := 0; i < len(items); {
		it := items[i]
		_, scope, ok := it.AddedRight()
		j := i + 1
		for ok && j < len(items) {
			_, sc, more := items[j].AddedRight()
			if !more || sc != scope || items[j].Kind != it.Kind || items[j].Name != it.Name {
				break
			}
			j++
		}
		if !ok || j-i < 2 {
			out = append(out, wrapped(pad+it.String(), width, indent+2, style(it))...)
			i++
			continue
		}
		head := it
		head.Detail = fmt.Sprintf("add %d rights (%s):", j-i, scope)
		out = append(out, wrapped(pad+head.String(), width, indent+2, style(it))...)
		out = append(out, rightNames(items[i:j], width, indent+2, style(it))...)
		i = j
	}
	return out
}

// rightNames lists the rights items add, sorted, each category's
// ("Organization vDC Gateway" of "Organization vDC Gateway: Configure
// DHCP") on lines of its own: the category, then the rest of each name,
// separated by " · ".
func rightNames(items []steps.Item, width, indent int, style lipgloss.Style) []string {
	var cats []string
	names := map[string][]string{}
	for _, it := range items {
		r, _, _ := it.AddedRight()
		cat, name, found := strings.Cut(r, ": ")
		if !found {
			cat, name = "", r
		}
		if _, seen := names[cat]; !seen {
			cats = append(cats, cat)
		}
		names[cat] = append(names[cat], name)
	}
	// In order, so that a bundle's and a role's read alike.
	slices.Sort(cats)
	pad := strings.Repeat(" ", indent)
	var out []string
	for _, cat := range cats {
		parts := slices.Sorted(slices.Values(names[cat]))
		if cat != "" {
			parts[0] = cat + ": " + parts[0]
		}
		parts[0] = pad + parts[0]
		out = append(out, joined(parts, width, indent+2, style)...)
	}
	return out
}

// scrolled shows pinned, then as much of rest as fits, scrolled.
func (r *stepRun) scrolled(pinned, rest []string, height int) []string {
	return r.scroll.view(pinned, rest, height)
}

// scrollable reports a plan, result or report (the cutover's, a partial
// one too) taller than the panel.
func (r *stepRun) scrollable() bool {
	switch r.phase {
	case phasePlanned, phaseDone, phaseFailed, phaseWaiting:
		return r.scroll.scrollable()
	}
	return false
}

// parts are the lines of the plan, the result or the failure: pinned stay
// in view, rest scrolls below them. ok is false in the other phases.
func (r *stepRun) parts(width int) (pinned, rest []string, ok bool) {
	switch r.phase {
	case phasePlanned:
		pinned = []string{sBold.Render("Plan") + sDim.Render(" — nothing has changed yet"), planSummary(r.plan), ""}
		if r.stage.Kind == steps.KindChecks && len(r.plan.Items) == 0 {
			// Said before apply, as apply's warning says it after.
			return pinned, wrapped("The plan has no probes (step 5's Service probes, or the plan file's probes:): this step checks nothing, and the cutover's downtime will not be measured.", width, 0, sWarn), true
		}
		return pinned, planLines(r.plan, width), true
	case phaseDone:
		done := sOK.Render("✓ done") + ": " + r.summary
		if !r.finished.IsZero() && !r.started.IsZero() {
			done += sDim.Render(" · took " + dur(r.finished.Sub(r.started)))
		}
		// Warnings stay in view above what scrolls.
		pinned = append([]string{done}, r.doneLines(width)...)
		if w := r.warnings(width); len(w) > 0 {
			pinned = append(append(pinned, "", sWarn.Render("Warnings")), w...)
		}
		pinned = append(pinned, "")
		rest = r.resultLines(width)
		if more := r.moreLines(width); len(more) > 0 {
			if len(rest) > 0 {
				rest = append(rest, "")
			}
			rest = append(rest, more...)
		}
		return pinned, rest, true
	case phaseFailed:
		pinned = []string{sErr.Render("✗ failed")}
		for _, l := range wrap(errText(r.err), width) {
			pinned = append(pinned, sErr.Render(l))
		}
		pinned = append(pinned, "")
		pinned = append(pinned, wrap(r.hint(), width)...)
		if more := r.moreLines(width); len(more) > 0 {
			pinned = append(pinned, "")
			rest = more
		}
		return pinned, rest, true
	}
	return nil, nil, false
}

func (r *stepRun) moreLines(width int) []string {
	if r.more == nil {
		return nil
	}
	return r.more(width)
}

// need is how many lines the plan, result or failure has in all (0 in the
// other phases): what a screen sharing its height gives it when it fits.
func (r *stepRun) need(width int) int {
	pinned, rest, ok := r.parts(width)
	if !ok {
		return 0
	}
	return len(pinned) + len(rest)
}

// scrollKey moves the view; it reports whether msg was a scroll key.
func (r *stepRun) scrollKey(msg tea.KeyMsg) bool { return r.scrollable() && r.scroll.key(msg) }

// view renders the phase: plan, progress, result or failure.
func (r *stepRun) view(width, height int) []string {
	if pinned, rest, ok := r.parts(width); ok {
		return r.scrolled(pinned, rest, height)
	}
	var out []string
	switch r.phase {
	case phasePlanning:
		out = append(out, r.w.spin()+" reading what exists to plan "+r.stage.Step.Title()+"…")
	case phaseApplying:
		// Whole, wrapped under itself (QA: at 80 columns "waiting up to 2m
		// for the edge's API at https://127.5…", the address and port that
		// were wrong cut off).
		out = append(out, wrapped(r.w.spin()+" "+r.message, width, 2, lipgloss.NewStyle())...)
		if r.fraction >= 0 {
			out = append(out, bar(r.fraction, max(10, min(width-18, 60)))+fmt.Sprintf(" %3.0f%% of the step", r.fraction*100))
		}
		out = append(out, "", sDim.Render("elapsed "+dur(r.w.now().Sub(r.started))))
		out = append(out, r.logLines(width, height-len(out))...)
	case phaseSkipped:
		out = append(out, "↷ skipped: "+r.summary)
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// doneLines is what a step says about its result beyond the summary
// (step 4: both ends of the stretch are UP).
func (r *stepRun) doneLines(width int) []string {
	if r.stage.Kind != steps.KindExtension {
		return nil
	}
	return wrapped("The stretch is UP on both ends: the L2VPN server session in Cloud Director and the on-prem client appliance report UP.", width, 0, sOK)
}

// warnings are the apply's warnings, whole.
func (r *stepRun) warnings(width int) []string {
	var out []string
	for _, ev := range r.events {
		if ev.Kind == steps.EventWarning {
			out = append(out, wrapped("! "+ev.Message, width, 2, sWarn)...)
		}
	}
	return out
}

// resourceLines are a resource's kind, name and ID, whole: the ID on its
// own indented line when they do not fit one (QA: "urn:vcloud:network:0…"
// at 80 columns; an admin needs the whole ID to find it).
func resourceLines(res steps.Resource, width int) []string {
	head := "  " + res.Kind + " " + res.Name
	if res.ID == "" {
		return wrapped(head, width, 4, lipgloss.NewStyle())
	}
	if ansiWidth(head+" "+res.ID) <= width {
		return []string{head + " " + sDim.Render(res.ID)}
	}
	// Indented under its name, less so if that keeps it on one line (a
	// Cloud Director URN is 55 cells; the panel at 80 columns is about as
	// wide): an ID cut in two is hard to copy.
	out := wrapped(head, width, 4, lipgloss.NewStyle())
	pad := strings.Repeat(" ", max(0, min(4, width-ansiWidth(res.ID))))
	for _, l := range wrap(res.ID, max(1, width-len(pad))) {
		out = append(out, pad+sDim.Render(l))
	}
	return out
}

// resultLines are what the step made and uses, then its changes, whole.
func (r *stepRun) resultLines(width int) []string {
	var created, used, out []string
	for _, res := range r.w.env.State.Get(r.id()).Resources {
		l := resourceLines(res, width)
		if res.Created {
			created = append(created, l...)
		} else {
			used = append(used, l...)
		}
	}
	if len(created) > 0 {
		out = append(append(out, sBold.Render("Created by ferry")+sDim.Render(" (recorded in the state file)")), created...)
	}
	if len(used) > 0 {
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(append(out, sBold.Render("Used by ferry")+sDim.Render(" (found; never removed)")), used...)
	}
	// The changes as the plan listed them: the rights a bundle or role
	// got together.
	var changes []string
	var items []steps.Item
	flush := func() {
		changes = append(changes, itemLines(items, width, 2, func(steps.Item) lipgloss.Style { return sOK })...)
		items = nil
	}
	for _, ev := range r.events {
		switch {
		case ev.Kind != steps.EventChange:
		case ev.Item != nil && ev.Item.String() == ev.Message:
			items = append(items, *ev.Item)
		default:
			flush()
			changes = append(changes, wrapped("  "+ev.Message, width, 4, sOK)...)
		}
	}
	flush()
	if len(changes) > 0 {
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(append(out, sBold.Render("Changes")), changes...)
	}
	return out
}

// logLines are the last changes (each on a line, cut) and warnings (whole)
// of the apply.
func (r *stepRun) logLines(width, room int) []string {
	var entries [][]string
	for _, ev := range r.events {
		switch ev.Kind {
		case steps.EventChange:
			entries = append(entries, []string{sOK.Render(trunc("  "+ev.Message, width))})
		case steps.EventWarning:
			// Whole, wrapped: a warning says what to do (QA h9: step 6's
			// "... step 6 waits; resume WebApp1 (u on the replication…"
			// lost its "or ferry resume WebApp1" at 120 columns).
			entries = append(entries, wrapped("  ! "+ev.Message, width, 4, sWarn))
		case steps.EventProgress:
			if ev.Resolves {
				// The end of what a warning above said (a pause step 6
				// waited out, resumed): kept in the list, after it.
				entries = append(entries, wrapped("  ✓ "+ev.Message, width, 4, sOK))
			}
		}
	}
	if room <= 0 || len(entries) == 0 {
		return nil
	}
	// The newest entries that fit whole: a warning cut at the top read
	// from its middle (QA hD at 80x24: "the replication dashboard, or
	// ferry resume WebApp2) and its pass, and the step, go on", whose VM
	// and cause were cut off). The newest alone taller than the room shows
	// its beginning, ending in "…".
	from := len(entries)
	for n := 0; from > 0 && n+len(entries[from-1]) <= room; from-- {
		n += len(entries[from-1])
	}
	if from == len(entries) {
		last := entries[len(entries)-1][:room]
		return append(last[:room-1:room-1], trunc(last[room-1], width-1)+"…")
	}
	var out []string
	for _, e := range entries[from:] {
		out = append(out, e...)
	}
	return out
}

var keySkip = newKey("s", "skip step", "s")

// keys are the bindings of the phases after the inputs.
func (r *stepRun) keys() keyMap {
	back := keyBack
	back.SetHelp("esc", "edit answers")
	next := keyNext
	var scroll keyMap
	if r.scrollable() {
		scroll = keyMap{r.scroll.binding()}
	}
	switch r.phase {
	case phasePlanned:
		next.SetHelp("enter", "apply")
		return append(keyMap{next.when(len(r.plan.Conflicts()) == 0, "the plan has conflicts"), back}, scroll...)
	case phaseDone, phaseSkipped:
		next.SetHelp("enter", "next step")
		return append(keyMap{next.when(r.idx < len(r.w.it)-1, "this is the last step"), back}, scroll...)
	case phaseFailed:
		retry := keyRetry.when(r.retryHelps(), "a retry reads the same plan: esc, then map the port group in Other networks")
		if errors.Is(r.err, steps.ErrNotBuilt) {
			return append(keyMap{retry, back, keySkip}, scroll...)
		}
		return append(keyMap{retry, back}, scroll...)
	}
	return nil
}

// key handles the keys of the phases after the inputs. Esc is left to the
// screen (it knows where its inputs are).
func (r *stepRun) key(msg tea.KeyMsg) tea.Cmd {
	if r.scrollKey(msg) {
		return nil
	}
	switch r.phase {
	case phasePlanned:
		if keyNext.Matches(msg) && len(r.plan.Conflicts()) == 0 {
			return r.startApply()
		}
	case phaseDone, phaseSkipped:
		if keyNext.Matches(msg) && r.idx < len(r.w.it)-1 {
			return gotoStep(r.idx + 1)
		}
	case phaseFailed:
		switch {
		case keyRetry.Matches(msg) && r.retryHelps():
			return r.startPlan()
		case keySkip.Matches(msg) && errors.Is(r.err, steps.ErrNotBuilt):
			r.w.env.EditPlan(func(pf *steps.PlanFile) { pf.Skip = append(pf.Skip, r.id()) })
			return tea.Batch(r.w.save(), r.startApply())
		}
	}
	return nil
}

// begin starts the step once its inputs are accepted: plan first, or
// straight to the runner when the stage does not apply (it records why).
func (r *stepRun) begin() tea.Cmd {
	if r.w.skipReason(r.idx) != "" {
		return r.startApply()
	}
	return r.startPlan()
}

// inflight counts the step runs in progress: a foreground wizard that ends
// (a signal) returns only once they have ended by their own rules (a
// cutover rolls back or finishes; it is never left halfway).
type inflight struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	n      int
	closed bool
}

// start counts a run in; false once the wizard ends (the run must not
// start).
func (f *inflight) start() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.n++
	f.wg.Add(1)
	return true
}

// busy says whether a run is in progress.
func (f *inflight) busy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n > 0
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	f.mu.Unlock()
	f.wg.Done()
}

// close refuses new runs and waits for those in progress; before waiting,
// waiting is called when there are any.
func (f *inflight) close(waiting func()) {
	f.mu.Lock()
	f.closed = true
	n := f.n
	f.mu.Unlock()
	if n > 0 && waiting != nil {
		waiting()
	}
	f.wg.Wait()
}
