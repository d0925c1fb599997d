package steps

import (
	"context"
	"strings"
	"testing"
)

// TestCutoverOfAVMNoProbeWatches (QA: the probes-green phase of a VM no
// probe watches said "no probe watches this VM alone (judged with the
// wave)", as if a probe of several VMs watched it): the report says its
// downtime is not measured and where a probe of it goes.
func TestCutoverOfAVMNoProbeWatches(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	var webApp1 string
	for _, r := range l.Reach.Plan() {
		if r.Name == "WebApp1" {
			webApp1 = r.Addr
		}
	}
	env.EditPlan(func(pf *PlanFile) {
		pf.Probes = []ProbePlan{{Name: "tcp WebApp1", VM: "WebApp1", TCP: webApp1}}
	})
	r := replicateToCutover(t, env)
	env.CutoverVMs, r.Confirmed = []string{"WebApp2"}, true
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	md := reportOf(t, env)
	if !strings.Contains(md, "no probe watches this VM: its downtime is not measured") || strings.Contains(md, "judged") {
		t.Errorf("the report of a VM no probe watches:\n%s", md)
	}
	// Its figures (the report's table, ferry status, the wizard's report)
	// say why there is none (QA: "measured downtime -").
	if !strings.Contains(md, "| not measured (no probe watches this VM) |") {
		t.Errorf("the report's table of a VM no probe watches:\n%s", md)
	}
	rep, _, err := env.LastCutoverReport()
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.VMs[0].Figures(); !strings.Contains(f, "migrated · downtime not measured (no probe watches this VM) · shutdown to power-on ") {
		t.Errorf("figures of a VM no probe watches: %q", f)
	}
}
