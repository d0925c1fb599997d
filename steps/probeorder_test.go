package steps

import (
	"context"
	"maps"
	"slices"
	"testing"
)

// TestPlanVMProbes: the probes that watch a VM of the plan are those that
// name it (a guest ping names the guest it runs in); the probes naming no
// VM count only while a VM of the plan has no probe of its own (they watch
// it in its cutover).
func TestPlanVMProbes(t *testing.T) {
	pf := &PlanFile{}
	pf.VMs = []VMPlan{{Name: "WebApp2"}}
	pf.Probes = []ProbePlan{
		{Name: "WebApp1 -> WebApp2 (guest ping)", From: "WebApp1", To: "172.16.10.12"},
		{Name: "WebApp1 (tcp)", VM: "WebApp1"},
		{Name: "WebApp2 (tcp)", VM: "WebApp2"},
		{Name: "tier", VMs: []string{"WebApp1", "WebApp2"}},
	}
	got := slices.Sorted(maps.Keys(pf.PlanVMProbes()))
	if want := []string{"WebApp2 (tcp)", "tier"}; !slices.Equal(got, want) {
		t.Fatalf("PlanVMProbes = %q, want %q", got, want)
	}
	pf.VMs = append(pf.VMs, VMPlan{Name: "WebApp1"})
	got = slices.Sorted(maps.Keys(pf.PlanVMProbes()))
	if want := []string{"WebApp1 (tcp)", "WebApp1 -> WebApp2 (guest ping)", "WebApp2 (tcp)", "tier"}; !slices.Equal(got, want) {
		t.Fatalf("with WebApp1: PlanVMProbes = %q, want %q", got, want)
	}
	pf.Probes = append(pf.Probes, ProbePlan{Name: "site", ICMP: "172.16.10.1"})
	pf.VMs = append(pf.VMs, VMPlan{Name: "LinuxDB1"}) // no probe names it
	got = slices.Sorted(maps.Keys(pf.PlanVMProbes()))
	if want := []string{"WebApp1 (tcp)", "WebApp1 -> WebApp2 (guest ping)", "WebApp2 (tcp)", "site", "tier"}; !slices.Equal(got, want) {
		t.Fatalf("with an unnamed VM: PlanVMProbes = %q, want %q", got, want)
	}
}

// TestGuestPingWatchesItsGuest (QA: a cold VM no probe named, Archive1, was
// reported "probes green, 1 probe(s) answering" 3 ms after its power-on,
// by the guest ping from WebApp1, which ran on elsewhere): a guest ping
// depends on the guest it runs in, so it watches that VM's cutover and no
// other's; a VM no probe names, when only such probes exist, has none.
func TestGuestPingWatchesItsGuest(t *testing.T) {
	pf := &PlanFile{}
	pf.VMs = []VMPlan{{Name: "WebApp1"}, {Name: "Archive1"}}
	pf.Probes = []ProbePlan{
		{Name: "WebApp1 -> WebApp2 (guest ping)", From: "WebApp1", To: "172.16.10.12"},
		{Name: "WebApp1 (tcp)", VM: "WebApp1"},
	}
	env := NewEnv(nil, pf, nil)
	names := func(vm string) []string {
		return (&vmCutover{env: env, plan: VMPlan{Name: vm}}).probeNames()
	}
	if got, want := names("WebApp1"), []string{"WebApp1 -> WebApp2 (guest ping)", "WebApp1 (tcp)"}; !slices.Equal(got, want) {
		t.Errorf("WebApp1's cutover probes %q, want %q", got, want)
	}
	if got := names("Archive1"); len(got) != 0 {
		t.Errorf("Archive1's cutover probes %q, want none (no probe names it)", got)
	}
}

// TestGuestPingFindsAVMAddedAfterItWasBuilt (QA: WebApp1, added in VM
// selection after the wizard had built its probes, was cut over, and the
// guest ping from it kept pinging from the on-prem VM, powered off:
// "InvalidPowerState"): where a guest ping's VM moved is looked up in the
// plan as it is when the probe runs.
func TestGuestPingFindsAVMAddedAfterItWasBuilt(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	vms := env.Plan().VMs
	env.EditPlan(func(pf *PlanFile) { pf.VMs = nil })
	moved := env.movedVM("WebApp2") // built while the plan does not migrate it
	env.EditPlan(func(pf *PlanFile) { pf.VMs = vms })
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}, Confirmed: true}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if moved == nil {
		t.Fatal("no lookup of where WebApp2 moved")
	}
	_, ref, ok, err := moved(ctx)
	if err != nil || !ok || ref.Value == "" {
		t.Errorf("where WebApp2 moved: %v %v %v; want its target at the provider", ref, ok, err)
	}
}
