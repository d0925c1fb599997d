// Package tui is ferry's wizard: a bubbletea program whose root model owns
// the itinerary (steps.Itinerary) and shows one screen per step, with a
// header, an itinerary sidebar and a help bar generated from the keymap.
//
// The package holds no infrastructure logic. It renders the persisted
// steps.State, the plan, the step events, and a DashboardState fed by
// replication and probe updates; it sends the operator's intent (answers,
// apply, pause, cutover) to the steps and the adapters in Deps.
package tui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Deps is everything the wizard works with. Infrastructure comes in only
// through these values, so tests pass fakes and the lead wires adapters.
type Deps struct {
	Config *config.Config
	// Env is required: the answers (Env.Plan), the state (Env.State), the
	// clients.
	Env *steps.Env
	// Itinerary defaults to steps.NewItinerary().
	Itinerary steps.Itinerary
	// Inventory lists the on-prem VMs for the VM selection screen.
	// Default: Env.OnPremVMs.
	Inventory func(ctx context.Context) ([]vsphere.VM, error)
	// Choices lists the values a field may take, by field key
	// ("org", "vdc", "edge_gateway", "storage_profile",
	// "appliance.stretched_portgroup"), for the form's answers of the keys
	// steps.ChoicesDependOn names; a nil list means free text. Default:
	// Env.Choices (Cloud Director and the on-prem vCenter).
	Choices func(ctx context.Context, key string, answers map[string]string) ([]steps.Choice, error)
	// Readiness says what would make the cutover refuse as things stand,
	// for its confirmation. Default: Env.CutoverReadiness.
	Readiness func(ctx context.Context) ([]steps.Item, error)
	Feeds     Feeds
	// ReadOnly removes the dangerous action (the cutover) entirely, for
	// demos and walkthroughs over a shared lab (k9s --readonly).
	ReadOnly bool
	// RunsLab is true when this process runs the lab the wizard drives
	// (`ferry lab`): quitting stops the lab. False for a wizard attached
	// to a lab another process serves (`ferry lab serve`), even though
	// Config.Lab is true there too.
	RunsLab bool
	// LabDir is the lab's temporary directory, deleted when the wizard
	// ends unless the operator keeps it (quitting asks). Only with RunsLab.
	LabDir string
	// SavePlan writes the answers after each screen's inputs are accepted,
	// so a resumed session (and `ferry run --plan`) has them. May be nil.
	SavePlan func(*steps.PlanFile) error
	Now      func() time.Time
	// Session, when set, is a wizard attached to a running engine (see
	// Session); nil: the foreground wizard that owns its env.
	Session *Session
	// Recovered is what Env.RecoverInterruptedCutovers emitted before the
	// wizard opened (its rollback, by itself, of cutovers a killed ferry
	// left with the source down): the first screen and the cutover screen
	// say what it did to each VM, or that it failed.
	Recovered []steps.Event
}

// Feeds are the live streams and controls of replication and probes.
// Each channel is read by a re-arming command; nil channels are not read.
type Feeds struct {
	Replication <-chan ReplicationUpdate
	Probes      <-chan ProbeUpdate
	// ProbesErr says why Probes is nil although the plan has probes (a
	// probe that cannot be built: its guest's vCenter unreachable, ...):
	// the probe panel shows it instead of waiting for results.
	ProbesErr error
	// Pause and Resume ask the replication engine to stop or restart one
	// VM's passes. Nil: the keys are shown disabled, saying why.
	Pause  func(ctx context.Context, vm string) error
	Resume func(ctx context.Context, vm string) error
	// Verify asks for a full compare of one VM's replica as its next pass
	// (steps.Env.VerifyNow). Nil: the key is shown disabled.
	Verify func(ctx context.Context, vm string) error
}

// wiring is what the screens share with the root.
type wiring struct {
	// verifiedOrg and verifiedVDC are the org and VDC names a step found
	// in Cloud Director (rights: the org; trunk-network: both), as the
	// plan named them when it ran: the header shows the plan's names only
	// while they are these (an option changed since is not verified).
	verifiedOrg, verifiedVDC string
	ctx                      context.Context
	cfg                      *config.Config
	env                      *steps.Env
	it                       steps.Itinerary
	inventory                func(context.Context) ([]vsphere.VM, error)
	choices                  func(context.Context, string, map[string]string) ([]steps.Choice, error)
	readiness                func(context.Context) ([]steps.Item, error)
	feeds                    Feeds
	savePlan                 func(*steps.PlanFile) error
	readOnly                 bool
	runsLab                  bool
	labDir                   string
	session                  *Session
	dash                     *DashboardState
	now                      func() time.Time
	spinFrame                string
	runs                     inflight
	origin                   uint64 // this model, on the board of runs (SharedRun.Origin)
	// recovered are the automatic rollbacks at the start (Deps.Recovered).
	recovered []steps.AutoRollback
	// prompted: the wizard asked for a secret the environment lacked (a
	// retry asks again; the --config file's are read once, at the start).
	prompted bool
}

// cutoverStep is the cutover's step number in it.
func cutoverStep(it steps.Itinerary) int {
	step := len(it)
	for i, st := range it {
		if st.Kind == steps.KindCutover {
			step = i + 1
		}
	}
	return step
}

// autoRollbacks are the automatic rollbacks of the wizard's start that
// still hold: a VM rolled back, not cut over (nor begun) since; a VM
// whose rollback failed, or that the operator decided to go on with,
// still interrupted.
func (w *wiring) autoRollbacks() []steps.AutoRollback {
	var out []steps.AutoRollback
	for _, r := range w.recovered {
		if (r.Failed || r.Kept) && len(w.env.CutoverDecisions(r.VM)) > 0 || !r.Failed && !r.Kept && w.env.RecoveredNote(r.VM) != "" {
			out = append(out, r)
		}
	}
	return out
}

// autoRollbackLines is the notice of autoRollbacks: each VM's warning, in
// the wizard's words, and how to go on here; nil when none holds.
func (w *wiring) autoRollbackLines(width int) []string {
	step := cutoverStep(w.it)
	var out []string
	var kept []string // said once for them all (QA: a wave's read 8 lines a VM)
	for _, r := range w.autoRollbacks() {
		if r.Kept {
			kept = append(kept, r.VM)
			continue
		}
		msg, style := r.Message, sWarn
		// The CLI's flags give way to the wizard's keys.
		if i := strings.Index(msg, "; roll it back with `"); i >= 0 {
			msg = msg[:i]
		}
		if i := strings.Index(msg, "; cut over again with `"); i >= 0 {
			msg = msg[:i]
		}
		then := fmt.Sprintf("To cut %s over again: step %d (Cutover), type %s.", r.VM, step, r.VM)
		if w.readOnly {
			// Only the driver types names (QA: viewers were asked to).
			then = fmt.Sprintf("The driver cuts %s over again on step %d (Cutover).", r.VM, step)
		}
		if r.Failed {
			style = sErr
			then = fmt.Sprintf("Its cutover is still interrupted: on step %d (Cutover), ctrl+r and type %s to roll it back, or type %s to cut it over again.", step, r.VM, r.VM)
			if w.readOnly {
				then = fmt.Sprintf("Its cutover is still interrupted: the driver rolls it back or cuts it over again on step %d (Cutover).", step)
			}
		}
		out = append(out, wrapped("⚠ "+msg+".", width, 2, style)...)
		out = append(out, wrapped("  "+then, width, 2, style)...)
	}
	if len(kept) > 0 {
		out = append(out, w.keptLines(kept, step, width)...)
	}
	return out
}

// keptLines say, of the VMs whose interrupted cutovers the operator
// decided to go on with when the wizard started (AutoRollback.Kept), that
// their sources stay off and how to go on or roll back here.
func (w *wiring) keptLines(vms []string, step, width int) []string {
	offs := map[string]string{}
	for _, in := range w.env.InterruptedShutdowns() {
		offs[in.VM] = in.Off.UTC().Format("15:04:05")
	}
	var at, times []string // "WebApp2 at 18:33:23", or one time for all
	for _, vm := range vms {
		if offs[vm] != "" {
			at, times = append(at, vm+" at "+offs[vm]), append(times, offs[vm])
		}
	}
	if len(at) == len(vms) && len(slices.Compact(slices.Sorted(slices.Values(times)))) == 1 {
		at = []string{"at " + offs[vms[0]]}
	}
	when := ""
	if len(at) > 0 {
		when = " (" + steps.AndList(at) + " UTC)"
	}
	names, typed := steps.AndList(vms), strings.Join(vms, ",")
	msg := fmt.Sprintf("⚠ %s: left to go on, as decided: the source its interrupted cutover shut down%s stays off, its service down, until the cutover goes on.", names, when)
	then := fmt.Sprintf("To go on from there: step %d (Cutover), type %s (no new power cycle); to roll it back instead: ctrl+r there, type %s.", step, typed, typed)
	if len(vms) > 1 {
		msg = fmt.Sprintf("⚠ %s: left to go on, as decided: the sources their interrupted cutovers shut down%s stay off, their services down, until their cutovers go on.", names, when)
		then = fmt.Sprintf("To go on from there: step %d (Cutover), type %s (no new power cycle); to roll them back instead: ctrl+r there, type %s.", step, typed, typed)
	}
	if w.readOnly {
		then = fmt.Sprintf("The driver goes on from there, or rolls back, on step %d (Cutover).", step)
	}
	return append(wrapped(msg, width, 2, sWarn), wrapped("  "+then, width, 2, sWarn)...)
}

func (w *wiring) spin() string { return w.spinFrame }

// planSkip is the plan's own skip list (what the sidebar shows before a
// step is reached); skipReason adds the stage's predicate, evaluated when
// the step is reached because earlier screens fill in the answers it
// looks at (the VMs). Both are the steps' words.
func (w *wiring) planSkip(i int) string { return w.it[i].PlanSkip(w.env.Plan()) }

// status is step i's status for the plan as it is now: a step done before
// VMs were added to the plan (a second wave) is pending again.
func (w *wiring) status(i int) steps.Status {
	id := w.it[i].Step.ID()
	st := w.env.State.Status(id)
	if w.env.Stale(id) != "" || (st == steps.StatusSkipped && w.skipReason(i) == "") {
		return steps.StatusPending
	}
	return st
}

func (w *wiring) skipReason(i int) string { return w.it[i].SkipReason(w.env.Plan()) }

// save completes the answers with their defaults, as `ferry run` does
// before the first step, and writes them off the Update loop: a deep copy
// (steps.PlanFile.Clone) goes to the command, and a failure to write is
// shown, not fatal.
func (w *wiring) save() tea.Cmd {
	w.env.EditPlan(func(pf *steps.PlanFile) { pf.ApplyDefaults(w.it) })
	if w.savePlan == nil {
		return nil
	}
	snap, savePlan := w.env.Plan().Clone(), w.savePlan
	return func() tea.Msg {
		if err := savePlan(snap); err != nil {
			return flashMsg{Text: "could not save the answers: " + err.Error()}
		}
		return nil
	}
}

// screen is one step's page. Screens are pointers owned by the root; they
// change pages only by returning gotoStepMsg.
type screen interface {
	init() tea.Cmd
	update(msg tea.Msg) tea.Cmd
	view(width, height int) string
	keys() keyMap
	// busy says why quitting is refused now ("" = quitting is allowed).
	busy() string
	// capturing reports a focused text input: printable keys go to it.
	capturing() bool
	// running reports work in flight (the spinner animates only then).
	running() bool
	// reopen is called when the operator comes back to the screen: a
	// step done before VMs were added to the plan shows its inputs again.
	reopen() tea.Cmd
}

// fieldFocuser is a screen whose form can show one answer: its inputs
// opened at that field.
type fieldFocuser interface{ focusField(key string) }

// refusedField is the answer a failure names: a FieldError's key, the
// networks answer for a NetworksError (a NIC's port group mapped to no org
// VDC network), or the key its message starts with
// ("appliance.stretched_portgroup: ..."), when that is a field of the
// itinerary ("" otherwise).
func (w *wiring) refusedField(err error) string {
	if err == nil {
		return ""
	}
	var fe *steps.FieldError
	var ne *steps.NetworksError
	key := ""
	if errors.As(err, &fe) {
		key = fe.Key
	} else if errors.As(err, &ne) {
		key = steps.NetworksKey // a NIC's port group: the networks answer maps it
	} else if k, _, ok := strings.Cut(err.Error(), ": "); ok {
		key = k
	}
	if key != "" && w.stepOfField(key) >= 0 {
		return key
	}
	return ""
}

// conflictField is the answer that resolves the plan's first conflict that
// names one ("" if none does).
func (w *wiring) conflictField(p steps.Plan) string {
	for _, it := range p.Conflicts() {
		if it.Field != "" && w.stepOfField(it.Field) >= 0 {
			return it.Field
		}
	}
	return ""
}

// answerElsewhere goes to the answer a failed plan or apply of step idx
// refuses (refusedField), or its plan's first conflict names
// (conflictField), when another step's form asks it (nil: none does): the
// screens of steps that ask nothing themselves (replication, checks) send
// esc there, as their hint says (QA: step 6's plan refused
// provider.receiver_vm, "Press esc to correct it (it opens that answer)",
// and esc stayed on step 6).
func (w *wiring) answerElsewhere(idx int, r *stepRun) tea.Cmd {
	key := w.answerKey(r)
	if i := w.stepOfField(key); key != "" && i >= 0 && i != idx {
		return func() tea.Msg { return gotoStepMsg{Index: i, Field: key} }
	}
	return nil
}

// answerKey is the answer a failed plan or apply of a step refuses
// (refusedField), or its plan's first conflict names (conflictField); ""
// for none.
func (w *wiring) answerKey(r *stepRun) string {
	if key := w.refusedField(r.err); key != "" || r.phase != phasePlanned {
		return key
	}
	return w.conflictField(r.plan)
}

// stepOfField is the first step whose form asks key (-1: none).
func (w *wiring) stepOfField(key string) int {
	for i, st := range w.it {
		for _, f := range st.Step.Fields() {
			if f.Key == key {
				return i
			}
		}
	}
	return -1
}

// watcher is a screen with keys that change only what its own terminal
// shows (scrolling, a cursor over rows): a session that watches may use
// them, as the driver does.
type watcher interface {
	// watch handles such a key and reports whether it did.
	watch(msg tea.KeyMsg) bool
	// watchKeys are those keys as the screen allows them now.
	watchKeys() keyMap
}

// screenKeys are the current screen's keys for the help bar and the help:
// for a watching session only those it may use (watcher).
func (m *Model) screenKeys() keyMap {
	s := m.screens[m.cur]
	if !m.w.session.viewer() {
		return s.keys()
	}
	if w, ok := s.(watcher); ok {
		return w.watchKeys()
	}
	return nil
}

// Model is the root model.
type Model struct {
	w        *wiring
	screens  []screen
	inited   []bool
	cur      int
	width    int
	height   int
	showHelp bool
	// helpScroll scrolls the full help when it is taller than the panel.
	helpScroll scroller
	flash      string
	// flashBusy: the flash says why the screen is busy (quitting refused
	// during the cutover); it goes once the screen no longer is.
	flashBusy bool
	help      help.Model
	spinner   spinner.Model
	ticking   bool
	asks      chan secretAskMsg
	prompt    *secretPrompt
	// interrupted records a ctrl+c quit: Run reports it as an abort (exit
	// code 130), as gum does.
	interrupted bool
	started     bool
	// quitAsk, when set, asks whether to quit (replication or the lab
	// would stop); keepLab is the answer "keep the lab directory".
	quitAsk *quitAsk
	keepLab bool
	// watch is this session's view of the engine's runs (nil without
	// one); lastRun the newest run seen.
	watch   RunWatch
	lastRun uint64
	// attached is when this session began: a form the driver filled in
	// before then is not followed to.
	attached time.Time
	// A watching session follows the driver to the step of each run it
	// starts (liveStep: the step of the newest such run, -1 none), unless
	// it looked around ([ ]) away from it (lookedAround).
	liveStep     int
	lookedAround bool
	// opened is the screen the wizard opened on: it shows the automatic
	// rollbacks of the start (wiring.autoRollbackLines) above itself,
	// unless it is the cutover screen, which shows them itself.
	opened int
	// notice is the run the flash tells of (runNotice), so that the flash
	// follows its step's runs to their end ("applies" becomes "applied")
	// while nothing else took its place.
	notice struct {
		run      uint64
		step     int
		followed bool
		text     string
	}
	// replSeen is the replication step's record as this session last saw
	// it (replicationRecord): a run of it begun since, by this session or
	// another, lists the plan's VMs on the dashboard (replicationBegun).
	replSeen string
}

// New builds the root model. It starts at the first step that is not done
// (resume), with the replication dashboard fed as soon as Init runs.
func New(ctx context.Context, d Deps) *Model {
	if d.Now == nil {
		d.Now = time.Now
	}
	if len(d.Itinerary) == 0 {
		d.Itinerary = steps.NewItinerary()
	}
	if d.Config == nil {
		d.Config = d.Env.Config
	}
	if d.Config == nil {
		d.Config = &config.Config{}
	}
	w := &wiring{ctx: ctx, cfg: d.Config, env: d.Env, it: d.Itinerary, inventory: d.Inventory, choices: d.Choices, readiness: d.Readiness,
		feeds: d.Feeds, savePlan: d.SavePlan, readOnly: d.ReadOnly || d.Session.viewer(), runsLab: d.RunsLab, labDir: d.LabDir, session: d.Session, dash: &DashboardState{}, now: d.Now}
	if w.inventory == nil {
		w.inventory = d.Env.OnPremVMs
	}
	if w.choices == nil {
		w.choices = d.Env.Choices
	}
	if w.readiness == nil {
		w.readiness = d.Env.CutoverReadiness
	}
	m := &Model{w: w, width: 80, height: 24, help: help.New(), liveStep: -1,
		spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)), asks: make(chan secretAskMsg)}
	m.help.ShortSeparator = "  "
	m.help.Styles = helpStyles()
	w.spinFrame = m.spinner.View()
	w.origin = origins.Add(1)
	m.attached = w.now()
	if d.Session != nil && d.Session.Runs != nil {
		m.watch = d.Session.Runs.Watch()
		context.AfterFunc(ctx, m.watch.Close)
	}
	if d.Session == nil { // an engine's env is shared: its secrets are its own
		d.Env.Secret = promptSecret(ctx, d.Env.Secret, m.asks)
		d.Env.Prompts = true
	}
	for i := range d.Itinerary {
		m.screens = append(m.screens, newScreen(w, i))
	}
	m.inited = make([]bool, len(m.screens))
	m.cur = resumeAt(w)
	w.recovered = steps.AutoRollbacks(d.Recovered)
	m.opened = m.cur
	m.replSeen = m.replicationRecord()
	m.syncPhases()
	for _, id := range []string{"rights", "trunk-network"} {
		if w.env.State.Status(id) == steps.StatusDone {
			w.noteVerified(id)
		}
	}
	return m
}

func newScreen(w *wiring, i int) screen {
	st := w.it[i]
	switch st.Kind {
	case steps.KindVMSelection:
		return newVMScreen(w, i)
	case steps.KindReplication:
		return newReplicationScreen(w, i)
	case steps.KindChecks:
		return newChecksScreen(w, i)
	case steps.KindCutover:
		return newCutoverScreen(w, i)
	}
	return newStepScreen(w, i)
}

// resumeAt is the first step neither done nor skipped.
func resumeAt(w *wiring) int {
	for i := range w.it {
		switch w.status(i) {
		case steps.StatusDone, steps.StatusSkipped:
			continue
		}
		if w.planSkip(i) != "" {
			continue
		}
		return i
	}
	return max(0, len(w.it)-1)
}

// Init starts the streams and the current screen, once: a second call
// (a model handed to another program) would wait on every stream twice.
func (m *Model) Init() tea.Cmd {
	if m.started {
		return nil
	}
	m.started = true
	f := m.w.feeds
	return tea.Batch(
		waitForEvent(f.Replication, asReplication),
		waitForProbes(f.Probes),
		waitForEvent(m.asks, asSecret),
		m.loadStatus(),
		m.waitRuns(),
		m.enter(m.cur),
	)
}

// loadStatus reads the persisted replication status when replication has
// run before, so a resumed wizard shows it at once.
func (m *Model) loadStatus() tea.Cmd {
	env := m.w.env
	if len(env.Plan().VMs) == 0 || env.State.Status("replication") == steps.StatusPending {
		return nil
	}
	now := m.w.now()
	// The step runs in this process (this session's run, or another's of
	// the same engine): a VM with no pass yet waits for its first.
	running := env.State.Status("replication") == steps.StatusRunning && !env.State.Interrupted("replication")
	return func() tea.Msg {
		sts, err := env.ReplicationStatus(now)
		if err != nil {
			env.Log.Warn("replication status", "err", err)
			return nil
		}
		return statusMsg(statusRows(sts, running))
	}
}

// replicationRecord is the replication step's status and start, as the
// state records them.
func (m *Model) replicationRecord() string {
	st := m.w.env.State.Get("replication")
	key := string(st.Status)
	if st.Started != nil {
		key += " " + st.Started.String()
	}
	return key
}

// replicationBegun reads the replication status again when the step's
// record changed since this session last looked (a run of it began, by
// this session or by the driver of the engine it watches): the dashboard
// lists every VM of the plan at once, each waiting for its first pass
// until the engine reports it (QA: a session attached before a VM's first
// event had no row for it until then).
func (m *Model) replicationBegun() tea.Cmd {
	key := m.replicationRecord()
	if key == m.replSeen {
		return nil
	}
	m.replSeen = key
	return m.loadStatus()
}

// enter shows screen i, initializing it the first time.
func (m *Model) enter(i int) tea.Cmd {
	if i < 0 || i >= len(m.screens) {
		return nil
	}
	m.cur = i
	reopen := m.screens[i].reopen()
	if m.inited[i] {
		return reopen
	}
	m.inited[i] = true
	return tea.Batch(reopen, m.screens[i].init())
}

// syncPhases shows on the dashboard the VMs the steps say are cut over.
func (m *Model) syncPhases() {
	for _, vm := range m.w.env.CutOverVMs() {
		if !m.w.dash.cutOver[vm] {
			m.w.dash.MarkCutOver(vm)
		}
	}
}

// Update routes messages: the window size once here, keys to the global
// bindings then the current screen, step messages to their screen, streams
// into the dashboard.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := tea.Batch(m.handle(msg), m.replicationBegun())
	if m.flashBusy && m.screens[m.cur].busy() == "" {
		m.flash, m.flashBusy = "", false // the cutover ended: no longer true
	}
	var refresh tea.Cmd
	if r, ok := m.screens[m.cur].(refresher); ok {
		refresh = r.refresh()
	}
	return m, tea.Batch(cmd, m.animate(), refresh)
}

// refresher is a screen that reads what it shows in the background, again
// once it is old: the model asks after every message (what used to be read
// by the view, at a frame).
type refresher interface{ refresh() tea.Cmd }

func (m *Model) handle(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return nil
	case DriverChanged:
		if m.w.session.viewer() && msg.Viewer != "" {
			if m.flash == watchingRefusal(m.w.session.Viewer) {
				// (QA: it still named the driver who had left)
				m.flash = watchingRefusal(msg.Viewer)
			}
			m.w.session.Viewer = msg.Viewer
		}
		if msg.Left != "" {
			for _, sc := range m.screens {
				if c, ok := sc.(*cutoverScreen); ok && c.driver.by == msg.Left {
					c.driver.by = "" // (QA: "> WebAp" stayed after the driver's kill -9)
				}
			}
		}
		return nil
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && !msg.Paste && len(msg.Runes) > 1 {
			// bubbletea reports the printable keys it read at once (a fast
			// typist, key repeat, an SSH link that delivers several
			// keystrokes in one packet) as one message: each is a key
			// (QA: "jj" moved nothing over SSH).
			cmds := make([]tea.Cmd, 0, len(msg.Runes))
			for _, r := range msg.Runes {
				cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
			}
			return tea.Batch(cmds...)
		}
		return m.key(msg)
	case spinner.TickMsg:
		if !m.animating() {
			m.ticking = false // let the tick die: nothing to animate
			return nil
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		m.w.spinFrame = m.spinner.View()
		return cmd
	case replicationMsg:
		m.w.dash.Replicate(ReplicationUpdate(msg))
		return waitForEvent(m.w.feeds.Replication, asReplication)
	case statusMsg:
		// With an engine feed, its live updates win over the file.
		for _, u := range msg {
			if _, ok := m.w.dash.Row(u.VM); !ok || m.w.feeds.Replication == nil {
				m.w.dash.Replicate(u)
				continue
			}
			// What the record keeps of the last pass, for a row the engine
			// has reported no pass figures for yet.
			m.w.dash.SetRecorded(u.VM, u.Recorded)
		}
		return nil
	case refreshStatusMsg:
		return m.loadStatus()
	case probeMsg:
		m.probe(ProbeUpdate(msg))
		return waitForProbes(m.w.feeds.Probes)
	case probesMsg:
		for _, u := range msg {
			m.probe(u)
		}
		return waitForProbes(m.w.feeds.Probes)
	case secretAskMsg:
		m.prompt = newSecretPrompt(msg)
		m.w.prompted = true
		return nil
	case runsMsg:
		return m.mirrorRuns(msg)
	case gotoStepMsg:
		cmd := m.enter(msg.Index)
		if f, ok := m.screens[m.cur].(fieldFocuser); ok && msg.Field != "" {
			f.focusField(msg.Field)
		}
		return cmd
	case flashMsg:
		m.flash, m.flashBusy = msg.Text, false
		return nil
	case routed:
		if i := msg.step(); i >= 0 && i < len(m.screens) {
			cmd := m.screens[i].update(msg)
			if _, ok := msg.(applyDoneMsg); ok {
				m.syncPhases()
			}
			return cmd
		}
		return nil
	}
	return m.screens[m.cur].update(msg)
}

// probe shows one probe sample, or the plan's new set of probes.
func (m *Model) probe(u ProbeUpdate) {
	if u.Set != nil {
		// The plan's probes changed (step 5): the panel says why the
		// new ones cannot run, or waits for their results.
		m.w.feeds.ProbesErr = u.Set.Err
	}
	m.w.dash.Probe(u)
}

// Interrupted reports whether the operator quit with ctrl+c (Run then
// returns ErrInterrupted).
func (m *Model) Interrupted() bool { return m.interrupted }

// KeepLab reports whether the operator, quitting, chose to keep the lab's
// directory (Run then calls Options.KeepLabDir).
func (m *Model) KeepLab() bool { return m.keepLab }

// animating reports whether anything moves on screen: a step at work or a
// replication pass moving data. When nothing does, no tick is re-armed, so
// an idle wizard costs no CPU.
func (m *Model) animating() bool {
	if m.w.dash.Replicating() {
		return true
	}
	for _, s := range m.screens {
		if s.running() {
			return true
		}
	}
	return false
}

// animate starts the spinner tick when something starts moving.
func (m *Model) animate() tea.Cmd {
	if m.ticking || !m.animating() {
		return nil
	}
	m.ticking = true
	return m.spinner.Tick
}

// keys are the current screen's bindings followed by the global ones.
func (m *Model) keys() keyMap {
	return append(append(keyMap{}, m.screenKeys()...), m.globalKeys()...)
}

func (m *Model) globalKeys() keyMap {
	s := m.screens[m.cur]
	if m.w.session.viewer() {
		// A watching session moves between steps freely and quitting
		// only detaches it (viewerKey).
		return keyMap{keyPrevSt.when(m.cur > 0, "this is the first step"), keyNextSt.when(m.cur < len(m.screens)-1, "this is the last step"), keyHelp, keyQuit}
	}
	why := s.busy()
	prev := keyPrevSt.when(m.cur > 0, "this is the first step").when(why == "", why)
	next := keyNextSt.when(m.cur < len(m.screens)-1, "this is the last step").when(m.finished(m.cur), "finish this step first").when(why == "", why)
	help, quit := keyHelp, keyQuit.when(why == "", why)
	if s.capturing() {
		// Letters go to the input: esc leaves it (then ?, q, [ and ] work),
		// ctrl+c quits from anywhere.
		quit.SetHelp("ctrl+c", "quit")
		typing := "keys go to the field (esc leaves it)"
		prev, next = prev.when(false, typing), next.when(false, typing)
		// ? goes to the field too; f1 opens the help from anywhere.
		help.SetHelp("f1", "help")
		if slices.ContainsFunc(s.keys(), func(k Key) bool { return k.Matches(tea.KeyMsg{Type: tea.KeyEsc}) }) {
			return keyMap{prev, next, help, quit} // the screen says what esc does
		}
		return keyMap{prev, next, keyLeave, help, quit}
	}
	return keyMap{prev, next, help, quit}
}

// finished reports a step that is done or skipped (later steps build on it).
func (m *Model) finished(i int) bool {
	switch m.w.status(i) {
	case steps.StatusDone, steps.StatusSkipped:
		return true
	}
	return m.w.planSkip(i) != ""
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	m.flash, m.flashBusy = "", false
	if m.prompt != nil {
		if msg.Type == tea.KeyCtrlC {
			msg = tea.KeyMsg{Type: tea.KeyEsc} // cancel the prompt first
		}
		done, cmd := m.prompt.update(msg)
		if done {
			m.prompt = nil
			return tea.Batch(cmd, waitForEvent(m.asks, asSecret))
		}
		return cmd
	}
	if m.quitAsk != nil {
		return m.answerQuit(msg)
	}
	if m.w.session.viewer() {
		return m.viewerKey(msg)
	}
	s := m.screens[m.cur]
	capturing := s.capturing()
	if keyQuit.Matches(msg) && (!capturing || msg.Type == tea.KeyCtrlC) {
		if why := s.busy(); why != "" {
			m.flash, m.flashBusy = "Quitting is refused: "+why, true
			return nil
		}
		if m.quitAsk = m.quitQuestion(msg.Type == tea.KeyCtrlC); m.quitAsk != nil {
			return nil
		}
		m.interrupted = msg.Type == tea.KeyCtrlC
		return tea.Quit
	}
	// f1 opens the help even while typing; ? is a character then.
	if keyHelp.Matches(msg) && (!capturing || msg.Type == tea.KeyF1) {
		m.showHelp, m.helpScroll.top = !m.showHelp, 0
		return nil
	}
	if m.showHelp && keyBack.Matches(msg) {
		m.showHelp = false
		return nil
	}
	if m.showHelp && m.helpScroll.key(msg) {
		return nil
	}
	if k, ok := m.keys().pressedDisabled(msg); ok && !capturing {
		m.flash = k.Help().Key + " " + k.Help().Desc + ": " + k.Why
		m.flashBusy = k.Why != "" && k.Why == s.busy()
		return nil
	}
	if !capturing {
		switch {
		case keyPrevSt.Matches(msg):
			m.lookAround(m.cur - 1)
			return m.enter(m.cur - 1)
		case keyNextSt.Matches(msg):
			m.lookAround(m.cur + 1)
			return m.enter(m.cur + 1)
		}
	}
	return s.update(msg)
}

// Layout sizes.
const (
	minSidebar  = 60 // below this width the sidebar is hidden
	sidebarNarr = 22
	sidebarWide = 28
)

func (m *Model) sidebarWidth() int {
	switch {
	case m.width < minSidebar:
		return 0
	case m.width >= 140:
		return sidebarWide
	}
	return sidebarNarr
}

// View draws header, sidebar, main panel, notice and help bar, clipped to
// the window.
func (m *Model) View() string {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return ""
	}
	sw := m.sidebarWidth()
	mainW := w
	if sw > 0 {
		mainW = w - sw - 3
	}
	// The help bar's height depends on the keys, and the keys on what the
	// screen drew last (a plan that scrolls adds the scroll key): draw
	// again when the help bar's height changed.
	// The notice line wraps (at most 3 lines): a refusal's end says why.
	notice := []string{""}
	if m.flash != "" {
		notice = notice[:0]
		for _, l := range wrap(m.flash, w) {
			notice = append(notice, sWarn.Render(l))
		}
		notice = notice[:min(len(notice), 3)]
	}
	footer := m.footer(w)
	bodyH := max(0, h-1-len(notice)-len(footer))
	main := m.main(mainW, bodyH)
	if f := m.footer(w); len(f) != len(footer) {
		bodyH = max(0, h-1-len(notice)-len(f))
		main = m.main(mainW, bodyH)
	}
	footer = m.footer(w)
	out := make([]string, 0, h)
	out = append(out, m.header(w))
	ml := lines(main)
	side := m.sidebar(sw, bodyH)
	for i := 0; i < bodyH; i++ {
		l := ""
		if i < len(ml) {
			l = ml[i]
		}
		if sw > 0 {
			l = fit(side[i], sw) + " " + sDim.Render("│") + " " + l
		}
		out = append(out, l)
	}
	out = append(append(out, notice...), footer...)
	return box(out, w, h)
}

// main is the panel beside the sidebar: a question, the help or the screen.
func (m *Model) main(width, height int) string {
	switch {
	case m.prompt != nil:
		return m.prompt.view(width, height)
	case m.quitAsk != nil:
		return m.quitAsk.view(width, height)
	case m.showHelp:
		return m.helpView(width, height)
	}
	if _, cutover := m.screens[m.cur].(*cutoverScreen); m.cur == m.opened && !cutover {
		if notice := m.w.autoRollbackLines(width); len(notice) > 0 {
			notice = append(notice[:min(len(notice), height/2)], "")
			return strings.Join(notice, "\n") + "\n" + m.screens[m.cur].view(width, max(0, height-len(notice)))
		}
	}
	return m.screens[m.cur].view(width, height)
}

// helpView is the full help: one column per group, stacked (side by side
// they would not fit at 80 columns), every key padded to the same width so
// that enabled and disabled (✗) rows line up across the groups.
func (m *Model) helpView(width, height int) string {
	groups := m.keys().FullHelp()
	keyW := 0
	for _, g := range groups {
		for _, b := range g {
			keyW = max(keyW, ansiWidth(b.Help().Key))
		}
	}
	var out []string
	for _, g := range groups {
		out = append(out, "")
		for _, b := range g {
			// A long description (a disabled key's reason) wraps under
			// itself, beside the key column.
			for j, l := range wrap(b.Help().Desc, max(1, width-keyW-1)) {
				k := fit(b.Help().Key, keyW)
				if j > 0 {
					k = strings.Repeat(" ", keyW)
				}
				out = append(out, sBold.Render(k)+" "+sDim.Render(l))
			}
		}
	}
	out = append(out, "", sBold.Render("Marks"))
	// Each mark whole on its line (the glyph beside its word).
	marks := []string{"✓ done", "▶ current", "· pending", "✗ failed", "↷ skipped", "↺ rolled back", "✗key: not available now, and why"}
	line := ""
	for _, mk := range marks {
		if line != "" && ansiWidth(line+"  "+mk) > width {
			out, line = append(out, line), ""
		}
		if line != "" {
			line += "  "
		}
		line += mk
	}
	out = append(out, line)
	out = append(out, wrap("RPO: ● ok  ▲ at risk  ✗ missed  ○ no complete pass yet  ✓ cut over", width)...)
	return box(m.helpScroll.view([]string{sTitle.Render("Keys")}, out, height), width, height)
}

var keyCloseHelp = newKey("esc", "close help", "esc")

// footer is the help bar: the screen's keys, then help and quit ([ and ]
// are in the full help), each binding whole, on one line or two. When two
// are not enough, the last disabled keys drop their reason, which ? and
// pressing them show.
func (m *Model) footer(width int) []string {
	km := append(append(keyMap{}, m.screenKeys()...), m.globalKeys()[2:]...)
	switch {
	case m.prompt != nil:
		km = m.prompt.keys() // the screen's keys, ? and q are typed into it
	case m.quitAsk != nil:
		km = m.quitAsk.keys()
	case m.showHelp && m.prompt == nil:
		// The help lists the screen's keys; here, how to read and leave it.
		km = nil
		if m.helpScroll.scrollable() {
			km = keyMap{keyScroll}
		}
		g := m.globalKeys()
		km = append(km, keyCloseHelp, g[len(g)-1])
	}
	for n := len(km); ; n-- {
		if ls := m.helpLines(km.short(n), width); len(ls) <= 2 || n == 0 {
			return ls
		}
	}
}

// helpLines lays bindings out in lines of at most width cells (a binding
// wider than that gets a line of its own), each drawn by bubbles/help.
func (m *Model) helpLines(bs []key.Binding, width int) []string {
	m.help.Width = 0 // no truncation: the lines are cut here, between bindings
	sep := ansiWidth(m.help.ShortSeparator)
	var out []string
	var line []key.Binding
	used := 0
	for _, b := range bs {
		bw := ansiWidth(m.help.ShortHelpView([]key.Binding{b}))
		if len(line) > 0 && used+sep+bw > width {
			out = append(out, m.help.ShortHelpView(line))
			line, used = nil, 0
		}
		if len(line) > 0 {
			used += sep
		}
		line, used = append(line, b), used+bw
	}
	if len(line) > 0 {
		out = append(out, m.help.ShortHelpView(line))
	}
	return out
}

// header says where ferry works: the lab, the session, what is unsafe, the
// endpoints and the tenant. When it does not fit, the endpoints' addresses
// go first (the VCD's, then the vCenter's: they do not change during a
// session and the tenant names the cloud side); the org and VDC stay whole.
func (m *Model) header(width int) string {
	c := m.w.cfg
	parts := []string{sTitle.Render("ferry")}
	if c.Lab {
		parts = append(parts, sBadge.Render(" LAB "))
	}
	sess := -1 // the session's part, shortened when too wide
	if p := m.w.session.headerPart(false); p != "" {
		sess, parts = len(parts), append(parts, p)
	}
	if len(c.Unverified()) > 0 {
		parts = append(parts, sErr.Render("TLS NOT VERIFIED"))
	}
	if ign := c.IgnoredEnv(); len(ign) > 0 {
		// The shell names other endpoints than --config: say which won,
		// first, so that even 80 columns show it.
		parts = append(parts, sWarn.Render("--config wins over "+strings.Join(ign, ", ")))
	}
	vcenter, vcd := -1, -1 // the parts that give way when too wide
	if h := host(c.OnPrem.URL); h != "" {
		vcenter, parts = len(parts), append(parts, "vCenter "+h)
	}
	if h := host(c.VCD.URL); h != "" {
		vcd, parts = len(parts), append(parts, "VCD "+h)
	}
	// The org and VDC show once a step has found them in Cloud Director,
	// so a mistyped name never looks accepted.
	// A name changed since (a job's Target VDC) shows again once a step
	// found it.
	if org := m.w.env.Plan().Org; org != "" && org == m.w.verifiedOrg {
		ov := "org " + org
		if v := m.w.env.Plan().VDC; v != "" && v == m.w.verifiedVDC {
			ov += " / " + v
		}
		parts = append(parts, ov)
	}
	if len(parts) == 1 || (len(parts) == 2 && c.Lab) {
		// A new user with nothing configured learns both ways forward.
		parts = append(parts, sWarn.Render("no endpoints configured: ferry --config FILE, or `ferry lab` for a complete demo"))
	}
	for _, i := range []int{vcd, vcenter} { // vcd after vcenter: deleting it moves nothing
		if i >= 0 && ansiWidth(strings.Join(parts, " · ")) > width {
			parts = slices.Delete(parts, i, i+1)
		}
	}
	if sess >= 0 && ansiWidth(strings.Join(parts, " · ")) > width {
		// Then the session's own details: who drives, without how
		// they attached, and no hint after it (QA: at 80 columns a
		// watching session read "WATCHING no one drives now: attach
		// again to drive · org Company / Compa…"; a key pressed says
		// it whole).
		parts[sess] = m.w.session.headerPart(true)
	}
	return trunc(strings.Join(parts, " · "), width)
}

// noteVerified records the names the done step id found in Cloud
// Director: the plan's org (rights, trunk-network) and VDC (trunk-network).
func (w *wiring) noteVerified(id string) {
	switch id {
	case "trunk-network":
		w.verifiedVDC = w.env.Plan().VDC
		fallthrough
	case "rights":
		w.verifiedOrg = w.env.Plan().Org
	}
}

func host(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Host
}

// stepGlyph is the sidebar mark of step i.
func (m *Model) stepGlyph(i int) string {
	st := m.w.status(i)
	if m.screens[i].running() {
		st = steps.StatusRunning
	}
	// A finished step keeps its mark when it is the current one; its row
	// is highlighted instead.
	switch {
	case (st == steps.StatusFailed || st == steps.StatusPending) && m.w.it[i].Step.ID() == "cutover" && m.w.env.LastCutoverDecided():
		return sWarn.Render("↺") // rolled back as the operator decided
	case st == steps.StatusFailed:
		return sErr.Render("✗")
	case st == steps.StatusDone:
		return sOK.Render("✓")
	case st == steps.StatusSkipped || m.w.planSkip(i) != "":
		return sDim.Render("↷")
	case i == m.cur:
		return sTitle.Render("▶")
	}
	return sDim.Render("·")
}

func (m *Model) sidebar(width, height int) []string {
	if width == 0 {
		return nil
	}
	out := []string{sBold.Render("Itinerary")}
	for i, st := range m.w.it {
		l := m.stepGlyph(i) + " " + trunc(strconv.Itoa(i+1)+" "+st.Step.Title(), width-2)
		if i == m.cur {
			l = sCursor.Render(l)
		}
		out = append(out, l)
	}
	if d := m.w.dash; len(d.VMs) > 0 {
		out = append(out, "", sBold.Render("Replication"))
		for _, r := range d.VMs {
			// The name whole: one wider than the row goes on under
			// itself, indented (broken after a hyphen where it can be).
			name := strings.Split(ansi.Wrap(r.VM, max(1, width-2), "-"), "\n")
			if len(out)+len(name) > height-1 {
				out = append(out, sDim.Render("…"))
				break
			}
			glyph := healthGlyph(r.Health)
			if r.CutOver() {
				glyph = sOK.Render("✓")
			}
			for i, part := range name {
				if i == 0 {
					name[i] = glyph + " " + part
				} else {
					name[i] = "  " + part
				}
			}
			// The phase after the name's last line: shortened first, then gone.
			l := &name[len(name)-1]
			if phase, room := r.phaseWord(), width-ansiWidth(*l)-1; phase != "" && room >= min(4, ansiWidth(phase)) {
				*l += " " + sDim.Render(trunc(phase, room))
			}
			out = append(out, name...)
		}
	}
	return append(out, make([]string, max(0, height-len(out)))...)
}
