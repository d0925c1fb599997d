package steps

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// waveEnv is a plan whose first wave (WebApp2) is cut over.
func waveEnv(t *testing.T) *Env {
	t.Helper()
	st, err := LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	pf := &PlanFile{VMs: []VMPlan{{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}}}
	for id, kind := range map[string]string{"vm-selection": "VM", "replication": "replica"} {
		if err := st.Finish(id, Result{Resources: []Resource{{Kind: kind, Name: "WebApp2"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetOutput("checks", checkedKey("WebApp2"), "2026-12-03T07:00:00Z"); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish("checks", Result{}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOutput("cutover", cutoverKey("WebApp2"), cutoverDone); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish("cutover", Result{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish("appliance", Result{Resources: []Resource{{Kind: "VM", Name: "edge-01"}}}); err != nil {
		t.Fatal(err)
	}
	return NewEnv(nil, pf, st)
}

func TestVMPhaseAndSecondWave(t *testing.T) {
	env := waveEnv(t)
	if p := env.VMPhase("WebApp2"); p != VMCutOver {
		t.Fatalf("WebApp2 %s, want cut over", p)
	}
	for _, id := range []string{"vm-selection", "replication", "checks", "cutover"} {
		if why := env.Stale(id); why != "" {
			t.Fatalf("%s stale before the second wave: %s", id, why)
		}
	}
	env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: "WebApp1", RPO: replication.RPO(replication.MinRPO)})
	if m := env.Migrating(); len(m) != 1 || m[0].Name != "WebApp1" {
		t.Fatalf("migrating %+v, want WebApp1 only", m)
	}
	for _, id := range []string{"vm-selection", "replication", "checks", "cutover"} {
		if why := env.Stale(id); !strings.Contains(why, "WebApp1 added") {
			t.Fatalf("%s: stale %q, want WebApp1 added", id, why)
		}
	}
	if why := env.Stale("rights"); why != "" {
		t.Fatalf("rights stale: %s", why)
	}
}

func TestPickRefusal(t *testing.T) {
	env := waveEnv(t)
	on := func(name string) vsphere.VM { return vsphere.VM{Name: name, PowerState: "poweredOn"} }
	for name, want := range map[string]string{
		"WebApp1":            "",
		"WebApp2":            "is cut over",
		"ferry-l2vpn-client": "ferry's L2 VPN client appliance",
		"edge-01":            "deployed by ferry",
	} {
		got := env.PickRefusal(on(name))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: refusal %q, want %q", name, got, want)
		}
	}
	snap := on("build")
	snap.SnapshotNames = []string{"before-upgrade"}
	if got := env.PickRefusal(snap); !strings.Contains(got, "has snapshots (before-upgrade)") {
		t.Errorf("a VM with its own snapshot: refusal %q", got)
	}
	off := vsphere.VM{Name: "WebApp2", PowerState: "poweredOff"}
	if got := env.PickRefusal(off); strings.Contains(got, "power it on") {
		t.Errorf("a cut-over VM's refusal advises powering it on: %q", got)
	}
	// A NIC on a port group the plan maps to no org VDC network: refused
	// in the table, with what to do (the wizard has no field for it).
	env.Plan().Network.Name = "company-network"
	win := on("WinSrv1")
	win.Networks = []string{"company-network", "backend-network"}
	if got := env.PickRefusal(win); !strings.Contains(got, `WinSrv1: port group "backend-network" maps to no org VDC network`) || !strings.Contains(got, "networks:") {
		t.Errorf("a VM on an unmapped port group: refusal %q", got)
	}
	env.Plan().Networks = map[string]string{"backend-network": "backend"}
	if got := env.PickRefusal(win); got != "" {
		t.Errorf("a VM whose port groups are mapped: refusal %q", got)
	}
}

// TestPickMode: a powered-off VM is picked for a cold migration, a running
// one for a warm one unless the plan says mode: cold; a suspended VM, and a
// powered-off one the plan marks warm, are refused with what to do.
func TestPickMode(t *testing.T) {
	env := waveEnv(t)
	env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: "batch", Mode: ModeCold}, VMPlan{Name: "db", Mode: ModeWarm})
	for _, tc := range []struct {
		name, power, mode, why, refusal string
	}{
		{"legacy", "poweredOff", ModeCold, "powered off: one pass without a snapshot", ""},
		{"web", "poweredOn", ModeWarm, "running: replicated while it runs", ""},
		{"batch", "poweredOn", ModeCold, "mode: cold in the plan: shut down at the start of its cutover window", ""},
		{"db", "poweredOff", "", "", "plan says mode: warm, which replicates a running VM; power it on, or set mode: cold"},
		{"paused", "suspended", "", "", "is suspended: its memory state would be lost"},
	} {
		vm := vsphere.VM{Name: tc.name, PowerState: vsphere.PowerState(tc.power)}
		mode, why := env.PickMode(vm)
		refusal := env.PickRefusal(vm)
		if mode != tc.mode || !strings.HasPrefix(why, tc.why) || (tc.refusal == "") != (refusal == "") || !strings.Contains(refusal, tc.refusal) {
			t.Errorf("%s %s: mode %q (%s), refusal %q; want %q (%s), refusal %q", tc.name, tc.power, mode, why, refusal, tc.mode, tc.why, tc.refusal)
		}
	}
}

// TestRunnerRunsAStaleStepAgain: `ferry run` after VMs were added runs the
// per-VM steps again instead of passing over them as done.
func TestRunnerRunsAStaleStepAgain(t *testing.T) {
	env := waveEnv(t)
	world := map[string]bool{}
	it, fakes := fakeItinerary(world, "vm-selection", "rights")
	if err := env.State.Finish("rights", Result{}); err != nil {
		t.Fatal(err)
	}
	env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: "WebApp1", RPO: replication.RPO(replication.MinRPO)})
	if _, err := (&Runner{Itinerary: it, Env: env}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fakes["vm-selection"].applies != 1 || fakes["rights"].applies != 0 {
		t.Fatalf("applies: vm-selection %d (want 1), rights %d (want 0)", fakes["vm-selection"].applies, fakes["rights"].applies)
	}
	// The cutover, done for WebApp2, waits for WebApp1's confirmation only.
	var warned []string
	cut := Itinerary{{Step: &fakeStep{id: "cutover", world: world}, Confirm: true}}
	out, err := (&Runner{Itinerary: cut, Env: env, Emit: func(ev Event) { warned = append(warned, ev.Message) }}).Run(context.Background())
	if err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("cutover: %+v %v, want stopped before it", out, err)
	}
	if w := strings.Join(warned, "\n"); !strings.Contains(w, "--confirm-cutover=WebApp1)") {
		t.Fatalf("the confirmation asked for is not WebApp1 alone:\n%s", w)
	}
}

// TestRunnerMarksCreatedResources: a resource reported by a create change
// is recorded as created by ferry, and stays so when found again.
func TestRunnerMarksCreatedResources(t *testing.T) {
	st, err := LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(nil, &PlanFile{}, st)
	it, _ := fakeItinerary(map[string]bool{}, "rights")
	if _, err := (&Runner{Itinerary: it, Env: env}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish("rights", Result{Resources: []Resource{{Kind: "thing", Name: "rights"}}}); err != nil {
		t.Fatal(err)
	}
	if rs := st.Get("rights").Resources; len(rs) != 1 || !rs[0].Created {
		t.Fatalf("resources %+v, want one created", rs)
	}
}

// TestChecksStaleOnlyForVMsNotChecked: step 7 runs again for a VM added
// after it ran, not for one whose cutover began (its source, shut down,
// would fail the probes before its rollback or finish could run), and not
// for a state from before the VMs checked were recorded.
func TestChecksStaleOnlyForVMsNotChecked(t *testing.T) {
	env := waveEnv(t)
	env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: "WebApp1", RPO: replication.RPO(replication.MinRPO)})
	if why := env.Stale("checks"); !strings.Contains(why, "WebApp1 added") {
		t.Fatalf("a second wave: checks stale %q, want WebApp1 added", why)
	}
	if err := env.State.SetOutput("cutover", cutoverKey("WebApp1"), cutoverRunning); err != nil {
		t.Fatal(err)
	}
	if why := env.Stale("checks"); why != "" {
		t.Errorf("WebApp1's cutover began: checks stale %q, want not", why)
	}

	legacy, err := LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Finish("checks", Result{}); err != nil {
		t.Fatal(err)
	}
	old := NewEnv(nil, &PlanFile{VMs: []VMPlan{{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}}}, legacy)
	if why := old.Stale("checks"); why != "" {
		t.Errorf("a state from before the VMs checked were recorded: checks stale %q, want not", why)
	}
}
