package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/nsx"
)

// TestHeadlessMigrationOverVLAN is the whole journey through the binary on
// a VLAN-backed network: WebApp2's NIC is on the lab's VLAN 20 port group,
// the plan stretches that port group, and ferry deploys the vendor-shaped
// appliance, finds the edge at its management address, attaches the port
// with VLAN 20 and migrates WebApp2, whose probes are green in the cloud.
// Someone sets the edge port to VLAN 0: the migrated VM stops answering
// (the stretch no longer carries its network) and `ferry plan` names the
// drift; with VLAN 20 back it answers again.
func TestHeadlessMigrationOverVLAN(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	moveNIC(t, l, "WebApp2", lab.VLANPortgroup)
	editPlan(t, l.PlanPath(), "stretched_portgroup: company-network", "stretched_portgroup: "+lab.VLANPortgroup)

	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run without confirmation: exit %d\n%s", code, out)
	}
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover: exit %d\n%s", code, out)
	}
	if err := l.Carries(lab.VLANPortgroup); err != nil {
		t.Fatalf("VLAN 20 network not carried after the journey: %v", err)
	}
	addr := reachAddr(t, l, "WebApp2")
	if !answers(addr) {
		t.Fatalf("migrated WebApp2 does not answer at %s", addr)
	}

	cfg := l.Config()
	ctx := context.Background()
	c, err := nsx.Dial(ctx, nsx.Config{URL: l.EdgeURL(), Username: cfg.Edge.Username, Password: cfg.Edge.Password, CAFile: cfg.Edge.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sessions, err := c.ListSessions(ctx)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("edge sessions: %v %v", sessions, err)
	}
	atts, err := c.Attachments(ctx, sessions[0].ID)
	if err != nil || len(atts) != 1 || atts[0].VLAN != lab.VLANPortgroupID {
		t.Fatalf("edge ports: %+v %v", atts, err)
	}
	if _, err := c.AttachNetwork(ctx, sessions[0].ID, lab.VLANPortgroup, 0, atts[0].TunnelID); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return !answers(addr) }) {
		t.Fatalf("WebApp2 still answers at %s with its network's edge port on VLAN 0", addr)
	}
	// ferry plan reads both ends again and says what drifted (step 4's
	// apply puts the VLAN back: TestSetupVLANTaggedNetwork).
	out, code = run("plan", "--plan", l.PlanPath())
	if !strings.Contains(labtest.PlanUnwrapped(out), "its port carries VLAN 0, port group "+lab.VLANPortgroup+" is on VLAN 20") {
		t.Fatalf("plan after the VLAN change: exit %d\n%s", code, out)
	}
	if _, err := c.AttachNetwork(ctx, sessions[0].ID, lab.VLANPortgroup, lab.VLANPortgroupID, atts[0].TunnelID); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return answers(addr) }) {
		t.Fatalf("WebApp2 does not answer at %s with VLAN 20 back on its edge port", addr)
	}
}

// moveNIC connects the VM's network adapter to the port group, as an
// operator would in vCenter.
func moveNIC(t *testing.T, l *lab.Lab, vmName, portgroup string) {
	t.Helper()
	ctx := context.Background()
	c, f := labtest.OnPrem(t, l)
	defer c.Logout(ctx)
	vm, err := f.VirtualMachine(ctx, vmName)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := f.Network(ctx, portgroup)
	if err != nil {
		t.Fatal(err)
	}
	backing, err := pg.EthernetCardBackingInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nics := devices.SelectByType((*types.VirtualEthernetCard)(nil))
	if len(nics) != 1 {
		t.Fatalf("%s has %d network adapters", vmName, len(nics))
	}
	nic := nics[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	nic.Backing = backing
	if err := object.NewVirtualMachine(c.Client, vm.Reference()).EditDevice(ctx, nics[0]); err != nil {
		t.Fatal(err)
	}
}

func reachAddr(t *testing.T, l *lab.Lab, vm string) string {
	t.Helper()
	for _, r := range l.Reach.Plan() {
		if r.Name == vm {
			return r.Addr
		}
	}
	t.Fatalf("no reachability address for %s", vm)
	return ""
}

// answers says whether something accepts a TCP connection at addr.
func answers(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// eventually waits up to a minute for cond (the lab's reachability follows
// the stretch on its next poll).
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
