package main

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-migrate/ferry/vsphere"
)

// TestKilledDuringTheApplianceUpload: ferry killed while it uploads the L2
// appliance's OVF leaves a VM whose import lease is open; vCenter refuses
// to power it on while the lease is held and removes it only once the
// lease times out (minutes). The next run does not wait for that, nor fail
// on it: it aborts the import the killed run left (vCenter removes that VM)
// and deploys the appliance anew, which then runs.
func TestKilledDuringTheApplianceUpload(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	out, _ := runSignalled(t, l, []string{"run", "--plan", l.PlanPath()}, "", "importing ferry-l2vpn-client: vCenter made VM", syscall.SIGKILL)
	ctx := context.Background()
	onprem := connectVC(t, l, l.OnPrem)
	half, err := onprem.VMByName(ctx, "ferry-l2vpn-client")
	if err != nil {
		t.Fatalf("no appliance VM after a kill during its upload (%v):\n%s", err, out)
	}
	if !l.OnPrem.ImportHeld("ferry-l2vpn-client") {
		t.Skip("the kill landed after the appliance's upload")
	}
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 {
		t.Fatalf("the run after a kill during the appliance's upload: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "interrupted") {
		t.Errorf("the run does not say it found the appliance's interrupted deploy:\n%s", out)
	}
	app, err := onprem.VMByName(ctx, "ferry-l2vpn-client")
	if err != nil {
		t.Fatal(err)
	}
	if app.Ref == half.Ref || !app.PoweredOn() {
		t.Errorf("the appliance after the run: %s %s; want a new VM (not %s, left half-imported) powered on", app.Ref.Value, app.PowerState, half.Ref.Value)
	}
	if app.PowerState != vsphere.PoweredOn {
		t.Errorf("appliance %s", app.PowerState)
	}
}
