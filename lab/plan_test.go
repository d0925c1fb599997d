package lab_test

import (
	"os"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/steps"
)

// TestWritePlan: the lab's plan file is a valid plan for the whole
// itinerary, with every answer filled in, and holds no secret.
func TestWritePlan(t *testing.T) {
	l := &lab.Lab{Dir: t.TempDir()}
	path, err := l.WritePlan()
	if err != nil {
		t.Fatal(err)
	}
	if path != l.PlanPath() {
		t.Errorf("WritePlan wrote %s, PlanPath says %s", path, l.PlanPath())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("plan file %s: %v %v", path, fi.Mode(), err)
	}
	pf, err := steps.LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.Validate(steps.NewItinerary()); err != nil {
		t.Fatal(err)
	}
	for key, got := range map[string]string{
		"org": pf.Org, "vdc": pf.VDC, "edge_gateway": pf.EdgeGateway,
		"network.name": pf.Network.Name, "network.gateway_cidr": pf.Network.GatewayCIDR,
		"appliance.stretched_portgroup": pf.Appliance.StretchedPortgroup, "appliance.uplink_portgroup": pf.Appliance.UplinkPortgroup,
		"appliance.sink_portgroup": pf.Appliance.SinkPortgroup, "appliance.ip": pf.Appliance.IP, "rpo": pf.RPO,
	} {
		if got == "" {
			t.Errorf("%s is empty", key)
		}
	}
	if len(pf.VMs) != 1 || pf.VMs[0].Name != "WebApp2" {
		t.Errorf("vms: %+v", pf.VMs)
	}
}
