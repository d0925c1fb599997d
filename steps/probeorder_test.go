package steps

import (
	"maps"
	"slices"
	"testing"
)

// TestPlanVMProbes: the probes that watch a VM of the plan are those that
// name it; the probes naming no VM count only while a VM of the plan has
// no probe of its own (they watch it in its cutover).
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
	pf.VMs = append(pf.VMs, VMPlan{Name: "LinuxDB1"}) // no probe names it
	got = slices.Sorted(maps.Keys(pf.PlanVMProbes()))
	if want := []string{"WebApp1 -> WebApp2 (guest ping)", "WebApp2 (tcp)", "tier"}; !slices.Equal(got, want) {
		t.Fatalf("with an unnamed VM: PlanVMProbes = %q, want %q", got, want)
	}
}
