package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// t0 is the fixed clock of every test: relative times in golden files do
// not drift.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fakeStep is a scripted step: a plan, events, a result or an error.
type fakeStep struct {
	id, title string
	fields    []steps.Field
	plan      steps.Plan
	planErr   error
	events    []steps.Event
	result    steps.Result
	err       error
	// block, when set, holds Apply after its events until closed (or ctx
	// ends): a step that is still running.
	block chan struct{}
	// planBlock, when set, holds Plan until closed (or ctx ends); Plan
	// sends on planEntered (if set) first.
	planBlock, planEntered chan struct{}
	// after, when set, decides Apply's outcome from the environment.
	after func(env *steps.Env) error
}

func (f *fakeStep) ID() string            { return f.id }
func (f *fakeStep) Title() string         { return f.title }
func (f *fakeStep) Fields() []steps.Field { return f.fields }
func (f *fakeStep) Plan(ctx context.Context, _ *steps.Env) (steps.Plan, error) {
	p := f.plan
	p.Step = f.id
	if f.planEntered != nil {
		f.planEntered <- struct{}{}
	}
	if f.planBlock != nil {
		select {
		case <-f.planBlock:
		case <-ctx.Done():
			return steps.Plan{Step: f.id}, ctx.Err()
		}
	}
	return p, f.planErr
}
func (f *fakeStep) Apply(ctx context.Context, env *steps.Env, emit steps.Emit) (steps.Result, error) {
	for _, ev := range f.events {
		emit(ev)
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return steps.Result{}, ctx.Err()
		}
	}
	err := f.err
	if f.after != nil {
		err = f.after(env)
	}
	res := f.result
	if err == nil && (f.id == "vm-selection" || f.id == "replication") {
		// As the real steps: each VM handled is a resource of the step.
		kind := map[string]string{"vm-selection": "VM", "replication": "replica"}[f.id]
		res.Resources = nil
		for _, vm := range env.Migrating() {
			res.Resources = append(res.Resources, steps.Resource{Kind: kind, Name: vm.Name})
		}
		return res, nil
	}
	if f.id == "cutover" && env.CutoverDecision != steps.CutoverRollback && (err == nil || errors.Is(err, steps.ErrWaiting)) {
		// As the real cutover: each VM cut over is recorded (none by a
		// decided rollback).
		vms := env.CutoverVMs
		if len(vms) == 0 {
			for _, vm := range env.Plan().VMs {
				vms = append(vms, vm.Name)
			}
		}
		rep := &steps.CutoverReport{Job: env.Plan().Job, Started: t0, Finished: t0.Add(45 * time.Second)}
		for _, vm := range vms {
			if serr := env.State.SetOutput("cutover", "cutover."+vm, "done"); serr != nil {
				return f.result, serr
			}
			rep.VMs = append(rep.VMs, steps.VMReport{VM: vm, TargetVApp: vm, Outcome: "migrated", MeasuredDowntimeSeconds: 29.04, ServiceWindowSeconds: 19.2,
				FinalPass: &replication.Counters{Planned: 320 << 10, Sent: 321 << 10}})
		}
		// As the real cutover: the report beside the state, named in it.
		md, _, serr := rep.Save(filepath.Dir(env.State.Path()))
		if serr == nil {
			serr = env.State.SetOutput("cutover", "report", filepath.Base(md))
		}
		if serr != nil {
			return f.result, serr
		}
	}
	return f.result, err
}
func (f *fakeStep) Verify(context.Context, *steps.Env) error { return nil }

func field(key, title, desc string, req bool, p func(*steps.PlanFile) *string, v func(string, *steps.PlanFile) error, def string) steps.Field {
	f := steps.Field{Key: key, Title: title, Description: desc, Required: req, Validate: v,
		Get: func(pf *steps.PlanFile) string { return *p(pf) }, Set: func(pf *steps.PlanFile, s string) { *p(pf) = s }}
	if def != "" {
		f.Default = func(*steps.PlanFile) string { return def }
	}
	return f
}

func noVMs(pf *steps.PlanFile) string {
	if len(pf.VMs) == 0 {
		return "no VMs in the plan"
	}
	return ""
}

// fakeItinerary is the eight steps of docs/itinerary.md as scripted fakes, with
// fields validated by the steps validators.
func fakeItinerary() (steps.Itinerary, map[string]*fakeStep) {
	org := field("org", "Organization", "the tenant organization in Cloud Director", true, func(pf *steps.PlanFile) *string { return &pf.Org }, steps.ValidName, "")
	created := func(kind, name string) steps.Item {
		return steps.Item{Action: steps.ActionCreate, Kind: kind, Name: name, Resource: &steps.Resource{Kind: kind, Name: name, ID: "urn:" + name}}
	}
	fs := []*fakeStep{
		{id: "rights", fields: []steps.Field{org},
			plan:   steps.Plan{Items: []steps.Item{{Action: steps.ActionUpdate, Kind: "rights bundle", Name: "ferry-l2vpn", Detail: "publish to Company"}}},
			result: steps.Result{Changes: []steps.Item{{Action: steps.ActionUpdate, Kind: "rights bundle", Name: "ferry-l2vpn"}}}},
		{id: "trunk-network", fields: []steps.Field{
			org,
			field("vdc", "Org VDC", "the organization VDC that gets the network", true, func(pf *steps.PlanFile) *string { return &pf.VDC }, steps.ValidName, ""),
			field("edge_gateway", "Edge gateway", "the tenant edge gateway that runs the L2VPN server", true, func(pf *steps.PlanFile) *string { return &pf.EdgeGateway }, steps.ValidName, ""),
			field("network.name", "Network", "the org VDC network to stretch", true, func(pf *steps.PlanFile) *string { return &pf.Network.Name }, steps.ValidName, ""),
			field("network.gateway_cidr", "Gateway CIDR", "the network's gateway and prefix, e.g. 172.16.10.1/24", true, func(pf *steps.PlanFile) *string { return &pf.Network.GatewayCIDR }, steps.ValidGatewayCIDR, ""),
			field("tunnel.name", "Tunnel name", "the L2VPN server session's name", false, func(pf *steps.PlanFile) *string { return &pf.Tunnel.Name }, steps.ValidName, "ferry-l2vpn"),
		},
			plan: steps.Plan{Items: []steps.Item{
				{Action: steps.ActionExists, Kind: "edge gateway", Name: "company-edge"},
				created("org VDC network", "company-network"),
				created("L2VPN tunnel", "ferry-l2vpn"),
			}},
			events: []steps.Event{steps.Progress("creating network", 0.3), steps.Changed(created("org VDC network", "company-network")), steps.Progress("creating tunnel", 0.8), steps.Changed(created("L2VPN tunnel", "ferry-l2vpn"))},
			result: steps.Result{Changes: []steps.Item{created("org VDC network", "company-network"), created("L2VPN tunnel", "ferry-l2vpn")}}},
		{id: "appliance", fields: []steps.Field{
			field("appliance.stretched_portgroup", "Port group", "the on-prem port group to stretch", true, func(pf *steps.PlanFile) *string { return &pf.Appliance.StretchedPortgroup }, steps.ValidName, ""),
			field("appliance.ip", "Appliance IP", "the appliance's address on the stretched network", true, func(pf *steps.PlanFile) *string { return &pf.Appliance.IP }, steps.ValidIPv4, ""),
			field("appliance.prefix", "Prefix length", "e.g. 24", false, func(pf *steps.PlanFile) *string { return &pf.Appliance.Prefix }, steps.ValidPrefix, "24"),
		},
			plan: steps.Plan{Items: []steps.Item{created("port group", "ferry-sink"), {Action: steps.ActionConflict, Kind: "VM", Name: "ferry-l2-client", Detail: "exists with IP 172.16.10.9"}}}},
		{id: "dc-extension", err: steps.ErrNotBuilt, planErr: nil},
		{id: "vm-selection", result: steps.Result{}},
		{id: "replication", result: steps.Result{Changes: []steps.Item{{Action: steps.ActionCreate, Kind: "replication job", Name: "WebApp2"}}}},
		{id: "checks", events: []steps.Event{
			steps.Progress("probe round 1 of 1", 1),
			steps.Progress("WebApp1 → WebApp2: 3/3 answered, 1.2ms", -1),
		}},
		{id: "cutover", events: []steps.Event{
			{Kind: steps.EventProgress, Message: "final pass while running", Fraction: -1, Time: t0},
			{Kind: steps.EventProgress, Message: "shut down source", Fraction: -1, Time: t0.Add(12 * time.Second)},
			{Kind: steps.EventProgress, Message: "last pass, VM off", Fraction: -1, Time: t0.Add(20 * time.Second)},
			{Kind: steps.EventProgress, Message: "import into vApp", Fraction: -1, Time: t0.Add(26 * time.Second)},
			{Kind: steps.EventProgress, Message: "power on", Fraction: -1, Time: t0.Add(31 * time.Second)},
			{Kind: steps.EventChange, Message: `+ create VM "WebApp2": running in vApp WebApp2; measured downtime 29s`, Time: t0.Add(44 * time.Second)},
			{Kind: steps.EventProgress, Message: "downtime report: cutover-report.md (JSON: cutover-report.json)", Fraction: -1, Time: t0.Add(45 * time.Second)},
		}, result: steps.Result{Changes: []steps.Item{{Action: steps.ActionCreate, Kind: "VM", Name: "WebApp2"}}}},
	}
	// The real steps' titles: the sidebar and the headings show what the
	// operator sees (a title too long for 80 columns fails a test).
	titles := map[string]string{}
	for _, st := range steps.NewItinerary() {
		titles[st.Step.ID()] = st.Step.Title()
	}
	byID := map[string]*fakeStep{}
	var it steps.Itinerary
	for _, f := range fs {
		f.title = titles[f.id]
		byID[f.id] = f
		st := steps.Stage{Step: f}
		switch f.id {
		case "dc-extension":
			st.Kind = steps.KindExtension
		case "vm-selection":
			st.Skip, st.Kind = noVMs, steps.KindVMSelection // as steps.NewItinerary
		case "replication":
			st.Skip, st.Kind = noVMs, steps.KindReplication
		case "checks":
			st.Skip, st.Kind = noVMs, steps.KindChecks
		case "cutover":
			st.Skip, st.Confirm, st.Kind = noVMs, true, steps.KindCutover
		}
		it = append(it, st)
	}
	return it, byID
}

func vm(name, power, ip string, gib int64, disks int, cbt bool, snaps int) vsphere.VM {
	v := vsphere.VM{Name: name, PowerState: vsphere.PowerState(power), GuestIP: ip, CBT: cbt, Snapshots: snaps}
	for i := 0; i < disks; i++ {
		v.Disks = append(v.Disks, vsphere.Disk{Label: "Hard disk", Capacity: gib << 30 / int64(disks)})
	}
	return v
}

var fakeVMs = []vsphere.VM{
	vm("WebApp1", "poweredOn", "172.16.10.11", 20, 1, true, 0),
	vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0),
	vm("WebApp3", "poweredOn", "172.16.10.13", 40, 2, false, 1),
	vm("db01", "poweredOn", "172.16.10.21", 200, 3, true, 2),
	vm("legacy-ftp", "poweredOff", "", 16, 1, false, 0),
}

// fakeChoices answers as Cloud Director would for two tenants: the VDCs
// listed are the typed organization's.
func fakeChoices(_ context.Context, key string, answers map[string]string) ([]steps.Choice, error) {
	var names []string
	switch key {
	case "org":
		names = []string{"Company", "Company-Dev"}
	case "vdc":
		names = []string{"Company-VDC"}
		if answers["org"] == "Company-Dev" {
			names = []string{"Dev-VDC"}
		}
	case "storage_profile":
		return []steps.Choice{{Value: "*", Note: "the VDC's default (empty picks it)", Default: true}, {Value: "Gold", Note: "2 GiB left of 10 GiB"},
			{Value: "Bronze", Note: "not on provider-ds, the replica datastore: its import would copy the disks inside the downtime (pick a policy that holds provider-ds)"}}, nil
	case "edge_gateway":
		names = []string{"company-edge"}
	case steps.TestNetworkKey:
		names = []string{"test-bubble", "other-bubble"}
	case "appliance.stretched_portgroup", "target_network":
		names = []string{"backend-network", "company-network", "VM Network"}
	case steps.NetworksKey:
		names = []string{"backend-network=company-network", "backend-network=test-bubble", "dmz-network=company-network"}
	case "appliance.uplink_portgroup":
		for i := 1; i <= 8; i++ {
			names = append(names, fmt.Sprintf("uplink-%02d", i))
		}
	}
	var out []steps.Choice
	for _, n := range names {
		out = append(out, steps.Choice{Value: n})
	}
	return out, nil
}

type harness struct {
	m     *Model
	clock time.Time // what Deps.Now returns
	it    steps.Itinerary
	steps map[string]*fakeStep
	env   *steps.Env
	// inventory answers Deps.Inventory; a test may replace it (the
	// on-prem vCenter changed).
	inventory func(context.Context) ([]vsphere.VM, error)
	// watch is the model's view of the engine's runs, which the test
	// reads (pullRuns): the synchronous driver cannot wait on it.
	watch RunWatch
	// cancel ends the model's context: the session went away.
	cancel context.CancelFunc
}

type setup struct {
	pf    *steps.PlanFile
	done  []string // step IDs recorded done in the state before start
	feeds bool     // wire pause and resume (updates are sent as messages)
	lab   bool
	// runsLab: the wizard runs the lab itself (ferry lab), not attached
	// to one another process serves.
	runsLab bool
	// readOnly opens the wizard without the cutover (demos).
	readOnly bool
	mutate   func(map[string]*fakeStep)
	// lastPass records a complete pass per VM in the replication store
	// beside the state file, as an earlier session would have.
	lastPass map[string]time.Time
	// replicas records each VM's replication record in that store (its
	// passes, as the engine records them): what a projection reads.
	replicas map[string]replication.VMState
	// running are step IDs begun and never finished (a killed ferry).
	running []string
	// inFlight records, per VM, a pass a killed ferry left in flight on
	// its one disk: its durable watermark and the disk's size.
	inFlight map[string][2]int64
	// cutoverState records, per VM, the cutover state a killed ferry left
	// ("running", "power-on requested").
	cutoverState map[string]string
	// cfg replaces the fake endpoints.
	cfg *config.Config
	// cutOver are VMs whose cutover is recorded done (an earlier wave).
	cutOver []string
	// vms replaces the on-prem inventory; inventory replaces the lister.
	vms       []vsphere.VM
	inventory func(context.Context) ([]vsphere.VM, error)
	// readiness replaces Env.CutoverReadiness (default: nothing refuses).
	readiness func(context.Context) ([]steps.Item, error)
	// savePlan and labDir are Deps.SavePlan and Deps.LabDir.
	savePlan func(*steps.PlanFile) error
	labDir   string
	// session attaches the wizard to an engine (ferry serve).
	session *Session
	// testsRecorded are VMs whose test migration the state records as
	// running (started, not cleaned up).
	testsRecorded []string
	// probesErr is Feeds.ProbesErr: why the plan's probes cannot run.
	probesErr error
	// env, when set, is the env (another harness's: two sessions of one
	// engine) instead of one made from the fields above.
	env *steps.Env
	// recovered is Deps.Recovered: what the automatic rollback at the
	// start emitted.
	recovered []steps.Event
}

// killedPID is the process that began the steps of setup.running: a ferry
// killed since (any process but this one).
const killedPID = 1

func newHarness(t testing.TB, s setup) *harness {
	t.Helper()
	it, byID := fakeItinerary()
	if s.mutate != nil {
		s.mutate(byID)
	}
	state, err := steps.LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range s.done {
		// As the real steps do, the per-VM steps record each VM they
		// handled (steps.Env.Stale reads them).
		var res steps.Result
		if s.pf != nil {
			for _, vm := range s.pf.VMs {
				switch id {
				case "vm-selection":
					res.Resources = append(res.Resources, steps.Resource{Kind: "VM", Name: vm.Name})
				case "replication":
					res.Resources = append(res.Resources, steps.Resource{Kind: "replica", Name: vm.Name})
				case "checks":
					if err := state.SetOutput("checks", "checked:"+vm.Name, "2026-12-03T07:00:00Z"); err != nil {
						t.Fatal(err)
					}
				case "cutover":
					if err := state.SetOutput("cutover", "cutover."+vm.Name, "done"); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := state.Finish(id, res); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range s.running {
		if err := state.Begin(id); err != nil {
			t.Fatal(err)
		}
		// Begun by the killed ferry, not by this process.
		state.Steps[id].PID = killedPID
	}
	for _, vm := range s.testsRecorded {
		if err := state.SetOutput("test-migration", "test."+vm, "running"); err != nil {
			t.Fatal(err)
		}
	}
	for _, vm := range s.cutOver {
		if err := state.SetOutput("cutover", "cutover."+vm, "done"); err != nil {
			t.Fatal(err)
		}
	}
	for vm, st := range s.cutoverState {
		if err := state.SetOutput("cutover", "cutover."+vm, st); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.lastPass) > 0 || len(s.inFlight) > 0 || len(s.replicas) > 0 {
		store, err := replication.OpenState(state.Path() + ".replication.db")
		if err != nil {
			t.Fatal(err)
		}
		for vm, at := range s.lastPass {
			if err := store.PutVM(vm, replication.VMState{LastPass: at}); err != nil {
				t.Fatal(err)
			}
		}
		for vm, vs := range s.replicas {
			if err := store.PutVM(vm, vs); err != nil {
				t.Fatal(err)
			}
		}
		for vm, p := range s.inFlight {
			d := replication.DiskState{Pass: "snapshot-1", Base: replication.AllChanged, Target: "1", Kind: replication.PassInitial, Watermark: p[0], Size: p[1]}
			if err := store.PutDisk(vm+"/2000", d); err != nil {
				t.Fatal(err)
			}
		}
		store.Close()
	}
	pf := s.pf
	if pf == nil {
		pf = &steps.PlanFile{}
	}
	cfg := &config.Config{Lab: s.lab,
		OnPrem: config.Endpoint{URL: "https://127.0.0.1:8989/sdk"},
		VCD:    config.Endpoint{URL: "https://127.0.0.1:8443/api"},
		Tenant: config.Endpoint{Org: "Company"}}
	if s.cfg != nil {
		cfg = s.cfg
	}
	env := steps.NewEnv(cfg, pf, state)
	if s.env != nil {
		env = s.env
	}
	vms := fakeVMs
	if s.vms != nil {
		vms = s.vms
	}
	h := &harness{it: it, steps: byID, env: env, clock: t0, inventory: s.inventory}
	if h.inventory == nil {
		h.inventory = func(context.Context) ([]vsphere.VM, error) { return vms, nil }
	}
	d := Deps{Config: cfg, Env: env, Itinerary: it, Now: func() time.Time { return h.clock },
		Inventory: func(ctx context.Context) ([]vsphere.VM, error) { return h.inventory(ctx) },
		Readiness: h.readinessOf(s.readiness),
		Choices:   fakeChoices, ReadOnly: s.readOnly, SavePlan: s.savePlan, RunsLab: s.runsLab, LabDir: s.labDir, Session: s.session, Recovered: s.recovered}
	if s.feeds {
		d.Feeds = Feeds{
			Pause:  func(context.Context, string) error { return nil },
			Resume: func(context.Context, string) error { return nil },
			Verify: func(context.Context, string) error { return nil }}
	}
	d.Feeds.ProbesErr = s.probesErr
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.cancel = cancel
	h.m = New(ctx, d)
	// The synchronous driver cannot wait on the secret channel; secret
	// prompts are tested by delivering secretAskMsg.
	h.m.asks = nil
	h.watch, h.m.watch = h.m.watch, nil
	// One frame, so spinner frames cannot make golden files flaky.
	h.m.spinner.Spinner = spinner.Spinner{Frames: []string{"*"}, FPS: time.Second}
	h.m.w.spinFrame = "*"
	return h
}

// settle runs cmd and every command that follows, feeding their messages
// to the model, synchronously, until nothing is left. Spinner ticks are
// dropped (they would re-arm a timer) and the feeds' channels are nil
// (tests deliver updates as messages), so it terminates; it is the
// deterministic stand-in for the bubbletea loop.
func (h *harness) settle(cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 10000 {
			panic("settle: no quiescence")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		msg := c()
		switch msg := msg.(type) {
		case nil, spinner.TickMsg:
			continue
		case tea.BatchMsg:
			queue = append(queue, msg...)
			continue
		}
		_, next := h.m.Update(msg)
		queue = append(queue, next)
	}
}

// deliver gives msg to the model and drops what it asks to run next (a
// re-armed wait on a stream the test feeds by hand).
func (h *harness) deliver(msgs ...tea.Msg) {
	for _, msg := range msgs {
		h.m.Update(msg)
	}
}

// send delivers msg and settles what follows.
func (h *harness) send(msg tea.Msg) {
	_, cmd := h.m.Update(msg)
	h.settle(cmd)
}

func (h *harness) start(w, hgt int) {
	h.settle(h.m.Init())
	h.send(tea.WindowSizeMsg{Width: w, Height: hgt})
}

func (h *harness) keys(ks ...tea.KeyMsg) {
	for _, k := range ks {
		h.send(k)
	}
}

func press(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	case "end":
		return tea.KeyMsg{Type: tea.KeyEnd}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "ctrl+o":
		return tea.KeyMsg{Type: tea.KeyCtrlO}
	case "ctrl+s":
		return tea.KeyMsg{Type: tea.KeyCtrlS}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// typeText types s one rune at a time.
func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

// readinessOf is the harness's Deps.Readiness: f, or nothing refuses.
func (h *harness) readinessOf(f func(context.Context) ([]steps.Item, error)) func(context.Context) ([]steps.Item, error) {
	if f == nil {
		return func(context.Context) ([]steps.Item, error) { return nil, nil }
	}
	return f
}
