package steps

import (
	"context"
	"slices"
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

// TestProjectionOfAVMNoProbeWatchesEndsAtPowerOn: the cutover of a VM no
// probe watches waits for no probe ("probes green" takes no time) and its
// report measures the downtime from the shutdown to the power-on, so the
// projection, on the confirmation and in ferry plan, ends at the power-on
// too and says why, instead of adding a default 30 s boot the report never
// counts. That cutover's "probes green" is no record of a boot: once a
// probe watches the VM, its projection does not take it for one.
func TestProjectionOfAVMNoProbeWatchesEndsAtPowerOn(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	var webApp1, webApp2 string
	for _, r := range l.Reach.Plan() {
		switch r.Name {
		case "WebApp1":
			webApp1 = r.Addr
		case "WebApp2":
			webApp2 = r.Addr
		}
	}
	env.EditPlan(func(pf *PlanFile) {
		pf.Probes = []ProbePlan{{Name: "tcp WebApp1", VM: "WebApp1", TCP: webApp1}}
	})
	r := replicateToCutover(t, env)
	ctx := context.Background()

	// The confirmation's figures, and ferry plan's.
	est, err := env.ProjectDowntime("WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if c := est.Compact(); strings.Contains(c, "probes green 30s") || !strings.Contains(c, "power on 5.0s* · probes green: none") {
		t.Errorf("confirmation's projection of a VM no probe watches: %q, want it to end at the power-on, saying why", c)
	}
	var sum float64
	for _, p := range est.Parts {
		sum += p.Seconds
		if p.Phase == "probes green" {
			t.Errorf("projection of a VM no probe watches counts %q %s (%s): its cutover waits for no probe", p.Phase, p.Figure(), p.From)
		}
	}
	if est.TotalSeconds != sum {
		t.Errorf("projected total %.1fs, its parts %.1fs", est.TotalSeconds, sum)
	}
	plan, err := (&Cutover{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(plan.Items, func(it Item) bool { return it.Name == "WebApp2" }); i < 0 ||
		!strings.Contains(plan.Items[i].Detail, "projected downtime ~"+roundSecs(est.TotalSeconds)) ||
		!strings.Contains(plan.Items[i].Detail, "no probes green: no probe watches this VM, so the cutover waits for none and its downtime is measured from the shutdown to the power-on") {
		t.Errorf("ferry plan's cutover of a VM no probe watches: %+v", plan.Items)
	}

	env.CutoverVMs, r.Confirmed = []string{"WebApp2"}, true
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rep, _, err := env.LastCutoverReport()
	if err != nil {
		t.Fatal(err)
	}
	v := rep.VMs[0]
	if v.ProjectedDowntimeSeconds != est.TotalSeconds || v.Projection == nil || v.Projection.Unwatched != "no probe watches this VM" {
		t.Errorf("report's projection of a VM no probe watches: %.1fs %+v, want the confirmed %.1fs, ending at the power-on", v.ProjectedDowntimeSeconds, v.Projection, est.TotalSeconds)
	}
	if md := reportOf(t, env); !strings.Contains(md, "(shutdown to power-on; no probe watches this VM). Projection: shutdown ") || !strings.Contains(md, "; no probes green: no probe watches this VM") {
		t.Errorf("report of a VM no probe watches: want its projection and measured figure both to the power-on:\n%s", md)
	}

	// Watched now: its probes green is projected, not from that cutover's.
	env.EditPlan(func(pf *PlanFile) {
		pf.Probes = append(pf.Probes, ProbePlan{Name: "tcp WebApp2", VM: "WebApp2", TCP: webApp2})
	})
	if est, err = env.ProjectDowntime("WebApp2"); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(est.Parts, func(p EstimatePart) bool { return p.Phase == "probes green" })
	if i < 0 || !est.Parts[i].Default || est.Parts[i].Seconds != 30 || est.Unwatched != "" {
		t.Errorf("projection of WebApp2 watched by a probe after a cutover no probe watched: %s, want probes green at its default (no boot recorded)", est.Compact())
	}
}
