package engine

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/steps"
)

// TestStatusOfSecondWave (QA: ferry status read step 8 "done" while the VMs
// added for a second wave waited for their cutover): a step done before
// VMs were added is pending again, saying which, as in the wizard.
func TestStatusOfSecondWave(t *testing.T) {
	state := steps.NewState(filepath.Join(t.TempDir(), "plan.state.json"))
	if err := state.Begin("cutover"); err != nil {
		t.Fatal(err)
	}
	if err := state.SetOutput("cutover", "cutover.WebApp2", "done"); err != nil {
		t.Fatal(err)
	}
	if err := state.Finish("cutover", steps.Result{Changes: []steps.Item{{Action: steps.ActionCreate, Kind: "VM", Name: "WebApp2"}}}); err != nil {
		t.Fatal(err)
	}
	status := func(vms ...string) StepStatus {
		t.Helper()
		pf := &steps.PlanFile{}
		for _, vm := range vms {
			pf.VMs = append(pf.VMs, steps.VMPlan{Name: vm})
		}
		st, _ := StatusOf(steps.NewEnv(&config.Config{}, pf, state), steps.NewItinerary(), time.Now())
		for _, s := range st.Steps {
			if s.Step == "cutover" {
				return s
			}
		}
		t.Fatal("no cutover step in the status")
		return StepStatus{}
	}
	if s := status("WebApp2"); s.Status != string(steps.StatusDone) {
		t.Errorf("cutover of the first wave alone: %+v; want done", s)
	}
	if s := status("WebApp2", "WebApp1"); s.Status != string(steps.StatusPending) || !strings.Contains(s.Summary, "WebApp1 added to the plan since this step ran: it runs again for it") {
		t.Errorf("cutover with WebApp1 added: %+v; want pending, naming WebApp1", s)
	}
}
