package steps_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestChoicesFromTheLab: what the wizard offers for the fields that name
// something is what Cloud Director and the on-prem vCenter hold, read
// through the steps; the provider's own org is never offered as a tenant.
func TestChoicesFromTheLab(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	pf, err := steps.LoadPlanFile(labPlan(t, l, nil))
	if err != nil {
		t.Fatal(err)
	}
	env := steps.NewEnv(l.Config(), pf, nil)
	t.Cleanup(func() { env.Close(context.Background()) })
	ctx := context.Background()
	choices := func(key string) []string {
		t.Helper()
		got, err := env.Choices(ctx, key)
		if err != nil {
			t.Fatalf("Choices(%q): %v", key, err)
		}
		return got
	}
	if got := choices("org"); !slices.Contains(got, "Company") || slices.Contains(got, steps.ProviderOrg) {
		t.Errorf("org choices %v: want the tenant Company, never %s", got, steps.ProviderOrg)
	}
	if got := choices("vdc"); !slices.Contains(got, "Company-VDC") {
		t.Errorf("vdc choices %v: want Company-VDC", got)
	}
	if got := choices("edge_gateway"); !slices.Contains(got, "company-edge") {
		t.Errorf("edge_gateway choices %v: want company-edge", got)
	}
	for _, key := range []string{"appliance.stretched_portgroup", "appliance.uplink_portgroup", "appliance.sink_portgroup"} {
		if got := choices(key); !slices.Contains(got, "company-network") || !slices.Contains(got, "uplink-network") {
			t.Errorf("%s choices %v: want the on-prem port groups company-network and uplink-network", key, got)
		}
	}
	if got := choices("appliance.ip"); got != nil {
		t.Errorf("appliance.ip choices %v: want none (free text)", got)
	}
	vms, err := env.OnPremVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, vm := range vms {
		names = append(names, vm.Name)
	}
	if !slices.Contains(names, "WebApp2") {
		t.Errorf("on-prem VMs %v: want WebApp2", names)
	}
}
