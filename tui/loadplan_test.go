package tui

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWizardPlanVMsGetDefaults (QA: the wizard opened on a plan ferry run
// had taken through step 7 never replicated: its VM has no rpo of its own,
// warm replication refused "0s is out of range" in the log only, and the
// cutover screen read "WebApp2 → Company-VDC / —"): the wizard's plan gives
// each VM the plan's RPO, network and a vApp of its name, as ferry run does.
func TestWizardPlanVMsGetDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.yaml")
	text := "org: Company\nvdc: Company-VDC\nnetwork:\n  name: company-network\n  gateway_cidr: 172.16.10.1/24\nvms:\n  - name: WebApp2\nrpo: 5m\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := loadPlan(Options{PlanPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if vm := pf.VMs[0]; vm.RPO.Duration() != 5*time.Minute || vm.TargetNetwork != "company-network" || vm.TargetVApp != "WebApp2" {
		t.Errorf("the wizard's plan VM: RPO %v, network %q, vApp %q; want 5m, company-network, WebApp2", vm.RPO.Duration(), vm.TargetNetwork, vm.TargetVApp)
	}
}
