package vcd_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

func TestConnectErrors(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	ctx := context.Background()
	_, err := vcd.Connect(ctx, vcd.Config{URL: cfg.VCD.URL, User: cfg.VCD.Username, Password: "wrong", Org: "System", CAFile: cfg.VCD.CAFile})
	if !errors.Is(err, vcd.ErrLogin) {
		t.Errorf("wrong password: %v", err)
	}
	_, err = vcd.Connect(ctx, vcd.Config{URL: cfg.VCD.URL, User: cfg.VCD.Username, Password: cfg.VCD.Password, Org: "System"})
	if !errors.Is(err, vcd.ErrUntrusted) {
		t.Errorf("no CA: %v", err)
	}
	_, err = vcd.Connect(ctx, vcd.Config{URL: "https://127.0.0.1:1/api", User: "u", Password: "p", Org: "System", CAFile: cfg.VCD.CAFile})
	if !errors.Is(err, vcd.ErrUnreachable) {
		t.Errorf("unreachable: %v", err)
	}
	// A wrong address says where it is set, as a wrong password does
	// (QA walk hB).
	if err == nil || !strings.HasSuffix(err.Error(), "(check the address: VCD_URL or vcd.url in the --config file)") {
		t.Errorf("unreachable: %v, want it to say where the address is set", err)
	}
	_, err = vcd.Connect(ctx, vcd.Config{URL: cfg.VCD.URL, User: cfg.VCD.Username, Org: "System"})
	if err == nil || !strings.Contains(err.Error(), "VCD_PASSWORD") {
		t.Errorf("missing password: %v", err)
	}
}

func TestRightsPlanApplyIdempotent(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	sys := labtest.VCD(t, l.Config().VCD)
	spec := vcd.RightsSpec{Org: "Company", User: l.Config().Tenant.Username}
	p, err := sys.PlanRights(spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Empty() {
		t.Fatal("fresh lab: rights plan is empty")
	}
	if len(p.Warnings()) == 0 || !strings.Contains(strings.Join(p.Warnings(), "\n"), "Hybrid Cloud Operations: View from-the-cloud tunnel") {
		t.Errorf("warnings %v: want the dropped Hybrid Cloud right", p.Warnings())
	}
	t.Logf("plan (%s mode, reaching %s):\n%s", p.Mode, p.Reach(), strings.Join(p.Changes(), "\n"))
	// Planning changed nothing.
	p2, err := sys.PlanRights(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Changes()) != len(p.Changes()) {
		t.Errorf("plan changed something: %d then %d changes", len(p.Changes()), len(p2.Changes()))
	}
	if err := sys.ApplyRights(p); err != nil {
		t.Fatal(err)
	}
	p3, err := sys.PlanRights(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !p3.Empty() {
		t.Errorf("after apply, plan still has changes: %v", p3.Changes())
	}
	// The tenant can now see the L2 VPN right through its role.
	if _, err := sys.Client.GetRightByName("Organization vDC Gateway: Configure L2 VPN"); err != nil {
		t.Error(err)
	}
}

func TestRightsLegacyMode(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	sys := labtest.VCD(t, l.Config().VCD)
	spec := vcd.RightsSpec{Org: "Company", User: l.Config().Tenant.Username, Mode: vcd.RightsLegacyMode}
	p, err := sys.PlanRights(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.LegacyAdd) == 0 {
		t.Fatal("legacy plan adds nothing on a fresh lab")
	}
	if err := sys.ApplyRights(p); err != nil {
		t.Fatal(err)
	}
	if p, err = sys.PlanRights(spec); err != nil || !p.Empty() {
		t.Errorf("after legacy apply: %v %v", p.Changes(), err)
	}
}

func TestRightsNeedsProvider(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	tenant := labtest.VCD(t, l.Config().Tenant)
	if _, err := tenant.PlanRights(vcd.RightsSpec{Org: "Company"}); err == nil || !strings.Contains(err.Error(), "System") {
		t.Errorf("tenant planning rights: %v", err)
	}
	sys := labtest.VCD(t, l.Config().VCD)
	if _, err := sys.PlanRights(vcd.RightsSpec{Org: "Nope"}); !errors.Is(err, vcd.ErrNotFound) || !strings.Contains(err.Error(), "Company") {
		t.Errorf("unknown org: %v", err)
	}
}

func TestNetworkAndTunnel(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	sys := labtest.VCD(t, l.Config().VCD)
	rp, err := sys.PlanRights(vcd.RightsSpec{Org: "Company", User: l.Config().Tenant.Username})
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.ApplyRights(rp); err != nil {
		t.Fatal(err)
	}
	tenant := labtest.VCD(t, l.Config().Tenant)
	if org, err := tenant.OrgByName("Company"); err != nil || org.Name != "Company" || org.ID == "" {
		t.Errorf("org Company: %+v, %v", org, err)
	}
	if _, err := tenant.OrgByName("Nope"); !errors.Is(err, vcd.ErrNotFound) || !strings.Contains(err.Error(), "Company") {
		t.Errorf("unknown org: %v", err)
	}
	if _, err := tenant.VDCByName("Company", "Nope-VDC"); !errors.Is(err, vcd.ErrNotFound) || !strings.Contains(err.Error(), "Company-VDC") {
		t.Errorf("unknown VDC: %v", err)
	}
	vdc, err := tenant.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tenant.EdgeGatewayByName(vdc, "nope"); !errors.Is(err, vcd.ErrNotFound) || !strings.Contains(err.Error(), "company-edge") {
		t.Errorf("unknown edge: %v", err)
	}
	egw, err := tenant.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	spec := vcd.NetworkSpec{Name: "company-network", GatewayCIDR: "172.16.10.1/24"}
	if n, err := vcd.FindNetwork(vdc, egw, spec); err != nil || n != nil {
		t.Fatalf("fresh lab: %v %v", n, err)
	}
	net, err := vcd.CreateRoutedNetwork(vdc, egw, spec)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := vcd.FindNetwork(vdc, egw, spec); err != nil || n == nil {
		t.Fatalf("after create: %v %v", n, err)
	}
	if _, err := vcd.FindNetwork(vdc, egw, vcd.NetworkSpec{Name: "company-network", GatewayCIDR: "10.9.9.1/24"}); !errors.Is(err, vcd.ErrConflict) {
		t.Errorf("same name, other subnet: %v", err)
	}

	ip, err := vcd.ChooseLocalEndpointIP(egw)
	if err != nil || ip == "" {
		t.Fatalf("local endpoint: %q %v", ip, err)
	}
	tun, err := vcd.CreateServerTunnel(egw, vcd.TunnelSpec{Name: "ferry-l2vpn", RemoteEndpointIP: "198.51.100.7", Networks: []*vcd.Network{net}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if vcd.PeerCode(tun) == "" || len(vcd.TunnelIDs(tun)) != 1 {
		t.Fatalf("tunnel %+v", tun)
	}
	st, err := tenant.TunnelStatus(egw.ID, tun.ID)
	if err != nil || st.Up || st.Reason == "" {
		t.Fatalf("status before the client: %+v %v", st, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := tenant.WaitTunnelUp(ctx, egw.ID, tun.ID, 50*time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), st.Reason) {
		t.Errorf("wait without a client: %v", err)
	}
	l.Fabric.PutClient(stretch.ClientSession{ID: "c", PeerCode: vcd.PeerCode(tun), Enabled: true, TunnelIDs: vcd.TunnelIDs(tun)})
	// Cloud Director stumbles twice (a 503 from its proxy): the wait goes
	// on, as the edge side's does, and sees the tunnel UP.
	if _, err := l.VCD.Faults.Add(vcdsim.Fault{Method: "GET", Path: "/status", Status: 503, Message: "busy", Times: 2}); err != nil {
		t.Fatal(err)
	}
	if st, err := tenant.WaitTunnelUp(context.Background(), egw.ID, tun.ID, 50*time.Millisecond, nil); err != nil || !st.Up {
		t.Errorf("with a matching client, after two failed status requests: %+v %v", st, err)
	}
	// A refusal that will not pass ends the wait at once.
	if _, err := l.VCD.Faults.Add(vcdsim.Fault{Method: "GET", Path: "/status", Status: 403, Code: "ACCESS_TO_RESOURCE_IS_FORBIDDEN", Message: "no right", Times: 1}); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if _, err := tenant.WaitTunnelUp(ctx2, egw.ID, tun.ID, 50*time.Millisecond, nil); err == nil || ctx2.Err() != nil {
		t.Errorf("a forbidden status request: %v (waited: %v)", err, ctx2.Err())
	}
}

func TestParseGatewayCIDR(t *testing.T) {
	for _, bad := range []string{"172.16.10.0/24", "172.16.10.255/24", "nonsense", "172.16.10.1", "172.16.10.1/31", "fe80::1/64"} {
		if _, _, err := vcd.ParseGatewayCIDR(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if gw, bits, err := vcd.ParseGatewayCIDR("172.16.10.1/24"); err != nil || gw.String() != "172.16.10.1" || bits != 24 {
		t.Errorf("good CIDR: %v %d %v", gw, bits, err)
	}
}

// importLab starts a lab and connects to its Cloud Director (as the
// provider), its provider vCenter (directly and as Cloud Director knows it)
// and Company-VDC, for imports.
func importLab(t *testing.T) (*lab.Lab, *vcd.Client, *vsphere.Client, vcd.VirtualCenter, *vcd.VDC) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	sys := labtest.VCD(t, l.Config().VCD)
	pv, err := vsphere.Connect(ctx, vsphere.Config{URL: l.Provider.URL, Username: l.Provider.Username, Password: l.Provider.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pv.Close(context.Background()) })
	u, _ := url.Parse(l.Provider.URL)
	vc, err := sys.VirtualCenterFor(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	return l, sys, pv, vc, vdc
}

// importWebApp2 creates a provider VM WebApp2 and imports it as vApp
// WebApp2-vapp.
func importWebApp2(t *testing.T, sys *vcd.Client, pv *vsphere.Client, vc vcd.VirtualCenter, vdc *vcd.VDC) (vsphere.Ref, *vcd.VApp) {
	t.Helper()
	ref, err := pv.CreateVMOverDisks(context.Background(), vsphere.VMOverDisks{Name: "WebApp2", Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds", Network: "vcd-company-network"})
	if err != nil {
		t.Fatal(err)
	}
	vapp, err := sys.ImportVMAsVApp(vc, ref.Value, vdc, "WebApp2-vapp")
	if err != nil {
		t.Fatal(err)
	}
	return ref, vapp
}

func TestImportPowerOnRemove(t *testing.T) {
	t.Parallel()
	l, sys, pv, vc, vdc := importLab(t)
	ctx := context.Background()
	ref, vapp := importWebApp2(t, sys, pv, vc, vdc)
	if err := sys.PowerOnVM(vapp, "WebApp2"); err != nil {
		t.Fatal(err)
	}
	if st, _ := pv.PowerState(ctx, ref); st != "poweredOn" {
		t.Errorf("provider VM after vCD power on: %s", st)
	}
	// The tenant sees the VM running in its VDC.
	tenant := labtest.VCD(t, l.Config().Tenant)
	tvdc, err := tenant.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	tapp, err := tvdc.VApp("WebApp2-vapp")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := tenant.VMStatus(tapp, "WebApp2"); err != nil || st != "POWERED_ON" {
		t.Errorf("tenant sees WebApp2 %s", st)
	}
	if _, err := sys.ImportVMAsVApp(vc, ref.Value, vdc, "again"); err == nil {
		t.Error("importing a VM twice succeeded")
	}
	if err := sys.RemoveVApp(vapp); err != nil {
		t.Fatal(err)
	}
	if _, err := tvdc.VApp("WebApp2-vapp"); !errors.Is(err, vcd.ErrNotFound) {
		t.Error("vApp still there after RemoveVApp")
	}
}

// TestRightsRefuseShared: step 1 never plans a change to what another org
// gets: a bundle published to other orgs (the Default Rights Bundle, shared
// with Globex) or a global role's tenant copy is refused with the reason,
// and an unknown user is not found, naming the org's users.
func TestRightsRefuseShared(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	sys := labtest.VCD(t, l.Config().VCD)
	user := l.Config().Tenant.Username
	_, err := sys.PlanRights(vcd.RightsSpec{Org: "Company", User: user, Bundle: "Default Rights Bundle"})
	if err == nil || !strings.Contains(err.Error(), "Globex") || !strings.Contains(err.Error(), "rights.bundle") {
		t.Errorf("shared bundle: %v", err)
	}
	_, err = sys.PlanRights(vcd.RightsSpec{Org: "Company", User: user, Role: "Organization Administrator"})
	if err == nil || !strings.Contains(err.Error(), "global role") || !strings.Contains(err.Error(), "rights.role") {
		t.Errorf("global role: %v", err)
	}
	_, err = sys.PlanRights(vcd.RightsSpec{Org: "Company", User: "nobody"})
	if !errors.Is(err, vcd.ErrNotFound) || !strings.Contains(err.Error(), user) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err = sys.PlanRights(vcd.RightsSpec{Org: "Company"}); err == nil || !strings.Contains(err.Error(), "FERRY_TENANT_USER") {
		t.Errorf("no user: %v", err)
	}
}

// TestRemoveVMPoweredOffButDeployed: a VM powered off through Cloud
// Director's powerOff, or in vCenter (its guest shut down), stays deployed,
// and Cloud Director deletes no deployed VM: UndeployVM undeploys it all the
// same, and RemoveVM removes it, leaving the vApp's other VM.
func TestRemoveVMPoweredOffButDeployed(t *testing.T) {
	t.Parallel()
	_, sys, pv, vc, vdc := importLab(t)
	ctx := context.Background()
	var vapp *vcd.VApp
	refs := map[string]vsphere.Ref{}
	for _, name := range []string{"Legacy", "OffInVCD", "OffInVCenter"} {
		ref, err := pv.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: name, Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds", Network: "vcd-company-network"})
		if err != nil {
			t.Fatal(err)
		}
		refs[name] = ref
		if vapp == nil {
			vapp, err = sys.ImportVMAsVApp(vc, ref.Value, vdc, "Shared")
		} else {
			err = sys.ImportVMIntoVApp(vc, ref.Value, vapp)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	org, err := sys.GetOrgByName("Company")
	if err != nil {
		t.Fatal(err)
	}
	gvdc, err := org.GetVDCByName("Company-VDC", true)
	if err != nil {
		t.Fatal(err)
	}
	gapp, err := gvdc.GetVAppByName("Shared", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"OffInVCD", "OffInVCenter"} {
		if err := sys.PowerOnVM(vapp, name); err != nil {
			t.Fatal(err)
		}
		vm, err := gapp.GetVMByName(name, true)
		if err != nil {
			t.Fatal(err)
		}
		if name == "OffInVCD" {
			// Cloud Director's powerOff, not undeploy.
			task, err := vm.PowerOff()
			if err == nil {
				err = task.WaitInspectTaskCompletion(nil, 20*time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
		} else if err := pv.PowerOff(ctx, refs[name]); err != nil {
			t.Fatal(err)
		}
		if st, err := sys.VMStatus(vapp, name); err != nil || st != "POWERED_OFF" {
			t.Fatalf("%s: Cloud Director says %s (%v), want POWERED_OFF", name, st, err)
		}
		if err := vm.Refresh(); err != nil || !vm.VM.Deployed {
			t.Fatalf("%s after its power-off: %v, deployed %v: want it still deployed", name, err, vm.VM.Deployed)
		}
		if err := sys.UndeployVM(vapp, name); err != nil {
			t.Fatal(err)
		}
		if err := sys.RemoveVM(vapp, name); err != nil {
			t.Fatalf("remove %s, powered off but deployed: %v", name, err)
		}
	}
	if err := gapp.Refresh(); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, x := range gapp.VApp.Children.VM {
		left = append(left, x.Name)
	}
	if len(left) != 1 || left[0] != "Legacy" {
		t.Errorf("vApp Shared holds %v, want only Legacy", left)
	}
}

// TestPowerOnRidesOutFailedTaskPolls: Cloud Director answers a few polls
// of a power-on's task with 503 (a cell or load balancer restarting); the
// task goes on whatever the client saw. PowerOnVM follows it through and
// returns once the VM runs: before, the first failed poll ended its wait
// with an error, and a cutover stopped for a decision on a target Cloud
// Director was powering on.
func TestPowerOnRidesOutFailedTaskPolls(t *testing.T) {
	t.Parallel()
	l, sys, pv, vc, vdc := importLab(t)
	ctx := context.Background()
	ref, vapp := importWebApp2(t, sys, pv, vc, vdc)
	l.VCD.SetTaskTime(300 * time.Millisecond) // polled while it runs
	if _, err := l.VCD.Faults.Add(vcdsim.Fault{Method: "GET", Path: "/api/task/", Status: 503, Message: "cell restarting", Times: 2}); err != nil {
		t.Fatal(err)
	}
	if err := sys.PowerOnVM(vapp, "WebApp2"); err != nil {
		t.Fatalf("power-on with failed task polls: %v", err)
	}
	if n := len(l.VCD.Faults.List()); n != 0 {
		t.Fatalf("%d fault rule(s) left: the power-on's task was not polled", n)
	}
	if st, _ := pv.PowerState(ctx, ref); st != "poweredOn" {
		t.Errorf("provider VM after the power-on: %s", st)
	}
}
