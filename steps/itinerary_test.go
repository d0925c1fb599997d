package steps_test

import (
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestStageSkipReasons: the plan's skip list and the stages' predicates, in
// the words the wizard and `ferry run` both show.
func TestStageSkipReasons(t *testing.T) {
	it := steps.NewItinerary()
	pf := &steps.PlanFile{Skip: []string{"rights"}}
	byID := map[string]steps.Stage{}
	for _, st := range it {
		byID[st.Step.ID()] = st
	}
	if got, want := byID["rights"].PlanSkip(pf), "skipped by the plan (skip: rights)"; got != want {
		t.Errorf("rights: PlanSkip = %q, want %q", got, want)
	}
	if got, want := byID["rights"].SkipReason(pf), "skipped by the plan (skip: rights)"; got != want {
		t.Errorf("rights: SkipReason = %q, want %q", got, want)
	}
	// No VMs: the migration steps do not apply, but the plan did not say so.
	for _, id := range []string{"vm-selection", "replication", "checks", "cutover"} {
		if got := byID[id].PlanSkip(pf); got != "" {
			t.Errorf("%s: PlanSkip = %q, want none", id, got)
		}
		if got, want := byID[id].SkipReason(pf), "no VMs in the plan (infrastructure only)"; got != want {
			t.Errorf("%s: SkipReason = %q, want %q", id, got, want)
		}
	}
	pf.VMs = []steps.VMPlan{{Name: "WebApp2"}}
	for _, id := range []string{"trunk-network", "appliance", "dc-extension", "vm-selection", "cutover"} {
		if got := byID[id].SkipReason(pf); got != "" {
			t.Errorf("%s: SkipReason = %q with a VM in the plan, want none", id, got)
		}
	}
}

// TestItineraryKinds: a front end tells the steps apart by kind, not by ID.
func TestItineraryKinds(t *testing.T) {
	want := map[string]steps.Kind{
		"rights": steps.KindForm, "trunk-network": steps.KindForm, "appliance": steps.KindForm,
		"dc-extension": steps.KindExtension, "vm-selection": steps.KindVMSelection,
		"replication": steps.KindReplication, "checks": steps.KindChecks, "cutover": steps.KindCutover,
	}
	it := steps.NewItinerary()
	if len(it) != len(want) {
		t.Fatalf("itinerary has %d steps, want %d", len(it), len(want))
	}
	for _, st := range it {
		if k, ok := want[st.Step.ID()]; !ok || st.Kind != k {
			t.Errorf("%s: kind %d, want %d", st.Step.ID(), st.Kind, k)
		}
		if (st.Kind == steps.KindCutover) != st.Confirm {
			t.Errorf("%s: kind %d but Confirm %v: only the cutover is confirmed", st.Step.ID(), st.Kind, st.Confirm)
		}
	}
}
