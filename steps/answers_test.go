package steps

import "testing"

// TestDerivedDefaultFollowsItsAnswer (QA: the wizard wrote the rights
// bundle's default, named after the org, into the plan at the first plan;
// the operator fixed a typo in the org and the bundle kept the typo): an
// answer that holds the default derived from another follows it when that
// answer changes; one the operator set otherwise stays.
func TestDerivedDefaultFollowsItsAnswer(t *testing.T) {
	env := NewEnv(nil, &PlanFile{Org: "Compnay"}, NewState(""))
	env.EditPlan(func(pf *PlanFile) { pf.ApplyDefaults(NewItinerary()) })
	if got := env.Plan().Rights.Bundle; got != "ferry L2 VPN (Compnay)" {
		t.Fatalf("bundle after the defaults: %q", got)
	}
	env.EditPlan(func(pf *PlanFile) { pf.Org = "Company" })
	if got := env.Plan().Rights.Bundle; got != "ferry L2 VPN (Company)" {
		t.Errorf("bundle after the org's typo was fixed: %q, want it to follow the org", got)
	}
	env.EditPlan(func(pf *PlanFile) { pf.Rights.Bundle = "our bundle" })
	env.EditPlan(func(pf *PlanFile) { pf.Org = "Globex" })
	if got := env.Plan().Rights.Bundle; got != "our bundle" {
		t.Errorf("a bundle the operator named: %q after the org changed", got)
	}
}
