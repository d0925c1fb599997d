package steps_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestStretchOfAnotherSubnetNeedsAcknowledging: the on-prem port group
// carries 172.16.10.0/24; a cloud network 172.16.20.1/24 would join two
// subnets over the stretch. The plan says so, naming the VMs, and the run
// stops before anything changes unless the plan acknowledges it.
func TestStretchOfAnotherSubnetNeedsAcknowledging(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Network.GatewayCIDR = "172.16.20.1/24" })
	r := runner(t, l.Config(), plan, filepath.Join(t.TempDir(), "state.json"), nil)
	err := r.Preflight(ctx)
	if err == nil || !strings.Contains(err.Error(), "two subnets") || !strings.Contains(err.Error(), "WebApp1 172.16.10.11") ||
		!strings.Contains(err.Error(), "network.other_subnet_ok") {
		t.Fatalf("preflight with another subnet: %v", err)
	}
	// Acknowledged through step 2's toggle, as the wizard does.
	var ack steps.Field
	for _, f := range (&steps.Trunk{}).Fields() {
		if f.Key == "network.other_subnet_ok" {
			ack = f
		}
	}
	if !ack.Bool {
		t.Fatal("step 2 offers no network.other_subnet_ok toggle")
	}
	plan = labPlan(t, l, func(pf *steps.PlanFile) {
		pf.Network.GatewayCIDR = "172.16.20.1/24"
		ack.Set(pf, "true")
	})
	r = runner(t, l.Config(), plan, filepath.Join(t.TempDir(), "state.json"), nil)
	if err := r.Preflight(ctx); err != nil && strings.Contains(err.Error(), "two subnets") {
		t.Errorf("acknowledged, yet refused: %v", err)
	}
	plan = labPlan(t, l, nil)
	r = runner(t, l.Config(), plan, filepath.Join(t.TempDir(), "state.json"), nil)
	if err := r.Preflight(ctx); err != nil && strings.Contains(err.Error(), "subnet") {
		t.Errorf("the lab's own subnet refused: %v", err)
	}
}
