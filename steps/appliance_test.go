package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
)

// onprem is a vcsim vCenter with a DVS "onprem-vds" carrying the port group
// "company-network" on every host (built here with govmomi: package lab is
// not a dependency of steps, not even in tests).
type onprem struct {
	cfg *config.Config
	c   *govmomi.Client
	dc  *object.Datacenter
}

func newOnPrem(t *testing.T) *onprem {
	t.Helper()
	ctx := context.Background()
	m := simulator.VPX()
	m.Machine = 1
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	m.Service.TLS = new(tls.Config) // ferry talks to vCenter over TLS only
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	c, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := view.NewManager(c.Client).CreateContainerView(ctx, dc.Reference(), []string{"HostSystem"}, true)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := v.Find(ctx, []string{"HostSystem"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := types.DVSCreateSpec{ConfigSpec: &types.VMwareDVSConfigSpec{DVSConfigSpec: types.DVSConfigSpec{Name: "onprem-vds"}}}
	task, err := folders.NetworkFolder.CreateDVS(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dvs := object.NewDistributedVirtualSwitch(c.Client, info.Result.(types.ManagedObjectReference))
	members := &types.DVSConfigSpec{}
	for _, h := range hosts {
		members.Host = append(members.Host, types.DistributedVirtualSwitchHostMemberConfigSpec{Operation: string(types.ConfigSpecOperationAdd), Host: h})
	}
	if task, err = dvs.Reconfigure(ctx, members); err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	task, err = dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{Name: "company-network", Type: "earlyBinding", NumPorts: 16}})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	u := *s.URL
	u.User = nil
	return &onprem{
		cfg: &config.Config{OnPrem: config.Endpoint{URL: u.String(), Username: "user", Password: "pass", CAFile: ca},
			Edge: config.Endpoint{Username: "admin", Password: testEdgePassword}},
		c:  c,
		dc: dc,
	}
}

// portgroup reads a port group's config straight from vCenter.
func (o *onprem) portgroup(t *testing.T, name string) *mo.DistributedVirtualPortgroup {
	t.Helper()
	ctx := context.Background()
	net, err := find.NewFinder(o.c.Client, true).SetDatacenter(o.dc).Network(ctx, name)
	if errors.As(err, new(*find.NotFoundError)) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var pg mo.DistributedVirtualPortgroup
	if err := o.c.PropertyCollector().RetrieveOne(ctx, net.Reference(), []string{"name", "config"}, &pg); err != nil {
		t.Fatal(err)
	}
	return &pg
}

func (o *onprem) vm(t *testing.T, name string) *mo.VirtualMachine {
	t.Helper()
	ctx := context.Background()
	vm, err := find.NewFinder(o.c.Client, true).SetDatacenter(o.dc).VirtualMachine(ctx, name)
	if errors.As(err, new(*find.NotFoundError)) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var m mo.VirtualMachine
	if err := o.c.PropertyCollector().RetrieveOne(ctx, vm.Reference(), []string{"name", "runtime.powerState", "network", "config.vAppConfig"}, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// appliancePlan deploys the lab's vendor-shaped autonomous edge OVA (one
// file for the test binary: OVAs are read, never changed).
func appliancePlan() *PlanFile {
	edgeOVAOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-steps-edge-ova-")
		if err == nil {
			edgeOVAPath = filepath.Join(dir, "edge.ova")
			err = lab.WriteEdgeOVA(edgeOVAPath, lab.EdgeOVF())
		}
		if err != nil {
			panic(err)
		}
	})
	return appliancePlanAt(edgeOVAPath)
}

var (
	edgeOVAOnce sync.Once
	edgeOVAPath string
)

func appliancePlanOVF(t *testing.T, descriptor string) *PlanFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.ova")
	if err := lab.WriteEdgeOVA(path, descriptor); err != nil {
		t.Fatal(err)
	}
	return appliancePlanAt(path)
}

func appliancePlanAt(path string) *PlanFile {
	return &PlanFile{
		Network: NetworkPlan{Name: "company-network", GatewayCIDR: "172.16.10.1/24"},
		Appliance: AppliancePlan{
			OVF: path, IP: "172.16.10.250", Prefix: "24", Gateway: "172.16.10.1", EgressGateway: "172.16.10.1",
		},
	}
}

// testEdgePassword is the edge password the tests' configuration gives.
const testEdgePassword = "Appliance-pass-123"

func newApplianceEnv(t *testing.T, o *onprem, pf *PlanFile) *Env {
	env := NewEnv(o.cfg, pf, NewState(""))
	t.Cleanup(func() { env.Close(context.Background()) })
	return env
}

func collect(evs *[]Event) Emit { return func(e Event) { *evs = append(*evs, e) } }

func TestApplianceApplyCreatesSinkAndApplianceThenNoChanges(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	env := newApplianceEnv(t, o, appliancePlan())
	step := &Appliance{}

	var evs []Event
	res, err := step.Apply(ctx, env, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Summary(); got != "2 changes" {
		t.Errorf("first apply: %s, want 2 changes: %+v", got, res.Changes)
	}

	// Read back through govmomi, not through ferry's own code.
	pg := o.portgroup(t, "ferry-sink")
	if pg == nil {
		t.Fatal("sink port group ferry-sink was not created")
	}
	ps := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting)
	if sp := ps.SecurityPolicy; sp == nil || !*sp.AllowPromiscuous.Value || !*sp.ForgedTransmits.Value {
		t.Errorf("sink security policy not Accept: %+v", sp)
	}
	if _, ok := ps.Vlan.(*types.VmwareDistributedVirtualSwitchTrunkVlanSpec); !ok {
		t.Errorf("sink VLAN is %T, want a trunk", ps.Vlan)
	}
	vm := o.vm(t, "ferry-l2vpn-client")
	if vm == nil {
		t.Fatal("appliance VM was not created")
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("appliance is %s, want poweredOn", vm.Runtime.PowerState)
	}
	props := map[string]string{}
	for _, p := range vm.Config.VAppConfig.(*types.VmConfigInfo).Property {
		props[p.Id] = p.Value
	}
	// The vendor's keys, mapped by ApplianceOVFMap.
	for k, want := range map[string]string{"nsx_ip_0": "172.16.10.250", "nsx_netmask_0": "255.255.255.0", "nsx_gateway_0": "172.16.10.1",
		"nsx_hostname": "ferry-l2vpn-client", "is_autonomous_edge": "True", "nsx_passwd_0": testEdgePassword, "nsx_cli_passwd_0": testEdgePassword} {
		if props[k] != want {
			t.Errorf("OVF property %s = %q, want %q", k, props[k], want)
		}
	}
	if n := len(slices.Compact(slices.SortedFunc(slices.Values(vm.Network), func(a, b types.ManagedObjectReference) int { return strings.Compare(a.Value, b.Value) }))); len(vm.Network) != 4 || n != 2 {
		t.Errorf("appliance NICs on %v, want its 4 NICs on the uplink and the trunk", vm.Network)
	}
	var sawProgress, sawChange bool
	for _, e := range evs {
		sawProgress = sawProgress || e.Kind == EventProgress
		sawChange = sawChange || e.Kind == EventChange && e.Item.Resource != nil && e.Item.Resource.ID != ""
	}
	if !sawProgress || !sawChange {
		t.Errorf("events lack progress (%v) or changes with resource ids (%v)", sawProgress, sawChange)
	}
	if err := step.Verify(ctx, env); err != nil {
		t.Errorf("verify after apply: %v", err)
	}

	// Second apply: finds both, changes nothing.
	res, err = step.Apply(ctx, env, collect(new([]Event)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary() != "no changes" {
		t.Errorf("second apply: %s, want no changes: %+v", res.Summary(), res.Changes)
	}
	plan, err := step.Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Changes() != 0 {
		t.Errorf("plan after apply has changes:\n%s", plan)
	}
}

func TestAppliancePlanChangesNothing(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	env := newApplianceEnv(t, o, appliancePlan())
	plan, err := (&Appliance{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	s := plan.String()
	for _, want := range []string{`+ create port group "ferry-sink"`, "onprem-vds", `+ create VM "ferry-l2vpn-client"`, "172.16.10.250/24"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
	if plan.Changes() != 2 {
		t.Errorf("plan has %d changes, want 2:\n%s", plan.Changes(), s)
	}
	if o.portgroup(t, "ferry-sink") != nil || o.vm(t, "ferry-l2vpn-client") != nil {
		t.Error("plan created something")
	}
}

func TestApplianceUnknownPortgroup(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	pf := appliancePlan()
	pf.Appliance.StretchedPortgroup = "no-such-network"
	env := newApplianceEnv(t, o, pf)
	_, err := (&Appliance{}).Apply(ctx, env, collect(new([]Event)))
	if err == nil {
		t.Fatal("apply with an unknown port group succeeded")
	}
	for _, want := range []string{"appliance.stretched_portgroup", `"no-such-network"`, "company-network"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if o.portgroup(t, "ferry-sink") != nil || o.vm(t, "ferry-l2vpn-client") != nil {
		t.Error("a failed apply created something")
	}

	pf = appliancePlan()
	pf.Appliance.DVS = "no-such-switch"
	_, err = (&Appliance{}).Apply(ctx, newApplianceEnv(t, o, pf), collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), "onprem-vds") {
		t.Errorf("unknown DVS: error %v does not list onprem-vds", err)
	}
	if o.portgroup(t, "ferry-sink") != nil {
		t.Error("a failed apply created the port group")
	}
}

func TestApplianceBadAddressChangesNothing(t *testing.T) {
	o := newOnPrem(t)
	pf := appliancePlan()
	pf.Appliance.IP = "172.16.10.300"
	pf.Appliance.Prefix = "33"
	_, err := (&Appliance{}).Apply(context.Background(), newApplianceEnv(t, o, pf), collect(new([]Event)))
	if err == nil {
		t.Fatal("apply with a bad IP succeeded")
	}
	for _, want := range []string{"appliance.ip", "172.16.10.300", "appliance.prefix", "1 to 30"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if o.portgroup(t, "ferry-sink") != nil || o.vm(t, "ferry-l2vpn-client") != nil {
		t.Error("a failed apply created something")
	}
}

func TestApplianceReappliesDriftedSinkPolicy(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	env := newApplianceEnv(t, o, appliancePlan())
	step := &Appliance{}
	if _, err := step.Apply(ctx, env, collect(new([]Event))); err != nil {
		t.Fatal(err)
	}

	// Someone resets the port group with a partial spec: vCenter replaces
	// the whole config, the security policy is gone.
	pg := o.portgroup(t, "ferry-sink")
	task, err := object.NewDistributedVirtualPortgroup(o.c.Client, pg.Self).Reconfigure(ctx, types.DVPortgroupConfigSpec{
		Name: "ferry-sink", ConfigVersion: pg.Config.ConfigVersion, Type: pg.Config.Type, NumPorts: pg.Config.NumPorts,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := step.Verify(ctx, env); err == nil || !strings.Contains(err.Error(), "promiscuous") {
		t.Errorf("verify of a drifted port group: %v, want an error about promiscuous mode", err)
	}
	plan, err := step.Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Changes() != 1 || plan.Items[1].Action != ActionUpdate {
		t.Errorf("plan of a drifted port group:\n%s", plan)
	}

	var evs []Event
	res, err := step.Apply(ctx, env, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Action != ActionUpdate {
		t.Errorf("apply after drift: %+v", res.Changes)
	}
	var warned bool
	for _, e := range evs {
		warned = warned || e.Kind == EventWarning && strings.Contains(e.Message, "drifted")
	}
	if !warned {
		t.Error("no drift warning")
	}
	ps := o.portgroup(t, "ferry-sink").Config.DefaultPortConfig.(*types.VMwareDVSPortSetting)
	if sp := ps.SecurityPolicy; sp == nil || !*sp.AllowPromiscuous.Value || !*sp.ForgedTransmits.Value {
		t.Errorf("after re-apply the security policy is %+v", sp)
	}
	if err := step.Verify(ctx, env); err != nil {
		t.Errorf("verify after re-apply: %v", err)
	}
}

func TestApplianceConflictingAddress(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	if _, err := (&Appliance{}).Apply(ctx, newApplianceEnv(t, o, appliancePlan()), collect(new([]Event))); err != nil {
		t.Fatal(err)
	}
	pf := appliancePlan()
	pf.Appliance.IP = "172.16.10.251"
	env := newApplianceEnv(t, o, pf)
	plan, err := (&Appliance{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Conflicts()) != 1 || !strings.Contains(plan.String(), `nsx_ip_0 is "172.16.10.250", the plan says "172.16.10.251" (appliance.ip)`) {
		t.Errorf("plan with another IP:\n%s", plan)
	} else if f := plan.Conflicts()[0].Field; f != "appliance.ip" {
		t.Errorf("conflict of another IP names the answer %q, want appliance.ip (the wizard's esc opens it)", f)
	}
	_, err = (&Appliance{}).Apply(ctx, env, collect(new([]Event)))
	if !errors.Is(err, ErrConflict) {
		t.Errorf("apply with another IP: %v, want ErrConflict", err)
	}
}

// TestApplianceOnAnotherUplinkNamesTheAnswer (QA walk from an empty plan:
// the appliance deployed on uplink-network, the wizard's Uplink port group
// defaulted to the stretched port group, and the conflict said "not
// connected to company-network (networks: ferry-sink, uplink-network,
// uplink-network, uplink-network); fix the plan, ..." without the answer
// to change; the wizard's esc opened the field last typed in): the
// conflict names the plan's answer, lists each network once, and carries
// it as the answer that resolves it.
func TestApplianceOnAnotherUplinkNamesTheAnswer(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	if _, err := (&Appliance{}).Apply(ctx, newApplianceEnv(t, o, appliancePlan()), collect(new([]Event))); err != nil {
		t.Fatal(err)
	}
	pf := appliancePlan()
	pf.Appliance.UplinkPortgroup = "VM Network"
	plan, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf))
	if err != nil {
		t.Fatal(err)
	}
	c := plan.Conflicts()
	if len(c) != 1 || c[0].Field != "appliance.uplink_portgroup" {
		t.Fatalf("plan with the appliance on another uplink: conflicts %+v, want one whose answer is appliance.uplink_portgroup:\n%s", c, plan)
	}
	const want = "not connected to VM Network, the plan's appliance.uplink_portgroup (its networks: "
	if !strings.Contains(c[0].Detail, want) || strings.Count(c[0].Detail, "company-network") != 1 {
		t.Errorf("conflict %q: want %q and each of its networks named once", c[0].Detail, want)
	}
}

func TestApplianceUplinkOnStandardPortgroupAndPowerOn(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	pf := appliancePlan()
	pf.Appliance.UplinkPortgroup = "VM Network"
	env := newApplianceEnv(t, o, pf)
	step := &Appliance{}
	if _, err := step.Apply(ctx, env, collect(new([]Event))); err != nil {
		t.Fatal(err)
	}
	vm := o.vm(t, "ferry-l2vpn-client")
	if vm == nil || len(vm.Network) != 4 {
		t.Fatalf("appliance on VM Network: %+v", vm)
	}

	// Someone powers the appliance off: the plan says so, apply powers it on.
	task, err := object.NewVirtualMachine(o.c.Client, vm.Self).PowerOff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := step.Verify(ctx, env); err == nil || !strings.Contains(err.Error(), "poweredOff") {
		t.Errorf("verify of a powered-off appliance: %v", err)
	}
	res, err := step.Apply(ctx, env, collect(new([]Event)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Action != ActionPower {
		t.Errorf("apply on a powered-off appliance: %+v", res.Changes)
	}
	if o.vm(t, "ferry-l2vpn-client").Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		t.Error("appliance still off")
	}

	pf = appliancePlan()
	pf.Appliance.Name = "other"
	pf.Appliance.UplinkPortgroup = "no-such-uplink"
	_, err = step.Apply(ctx, newApplianceEnv(t, o, pf), collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), "appliance.uplink_portgroup") || !strings.Contains(err.Error(), "VM Network") {
		t.Errorf("unknown uplink: %v", err)
	}
	if o.vm(t, "other") != nil {
		t.Error("a failed apply created a VM")
	}
}

// Another version of the appliance names its trunk network differently:
// refused by name until the plan maps it.
func TestApplianceOVFNetworksMappedOrRefused(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	other := strings.ReplaceAll(lab.EdgeOVF(), "Network 2", "Network 9")
	pf := appliancePlanOVF(t, other)
	_, err := (&Appliance{}).Apply(ctx, newApplianceEnv(t, o, pf), collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), `"Network 9"`) || !strings.Contains(err.Error(), "appliance.ovf_networks") {
		t.Errorf("OVF with an unknown network: %v", err)
	}
	if o.portgroup(t, "ferry-sink") != nil {
		t.Error("a failed apply created the port group")
	}
	pf.Appliance.OVFNetworks = map[string]string{"Network 9": "sink"}
	plan, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf))
	if err != nil || plan.Changes() != 2 {
		t.Errorf("plan with the network mapped: %v\n%s", err, plan)
	}
	pf.Appliance.OVFNetworks = map[string]string{"Network 9": "trunk"}
	if _, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf)); err == nil || !strings.Contains(err.Error(), "appliance.ovf_networks.Network 9") {
		t.Errorf("a role that does not exist: %v", err)
	}
}

// An OVF property that needs a value ferry's table does not give is refused
// by name (headless), and deployed once the plan gives it; a password is
// never taken from the plan.
func TestApplianceRequiredPropertyByName(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	extra := `<Property ovf:key="nsx_license" ovf:type="string" ovf:userConfigurable="true" vmw:qualifiers="MinLen(1)"><Label>License key</Label></Property>
      <Category>Network Properties</Category>`
	other := strings.Replace(lab.EdgeOVF(), "<Category>Network Properties</Category>", extra, 1)
	pf := appliancePlanOVF(t, other)
	_, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf))
	if err == nil || !strings.Contains(err.Error(), "appliance.properties") || !strings.Contains(err.Error(), "nsx_license (License key)") {
		t.Fatalf("missing required property: %v", err)
	}
	pf.Appliance.Properties = map[string]string{"nsx_license": "ABC-123"}
	if _, err := (&Appliance{}).Apply(ctx, newApplianceEnv(t, o, pf), collect(new([]Event))); err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, p := range o.vm(t, "ferry-l2vpn-client").Config.VAppConfig.(*types.VmConfigInfo).Property {
		props[p.Id] = p.Value
	}
	if props["nsx_license"] != "ABC-123" {
		t.Errorf("nsx_license = %q", props["nsx_license"])
	}

	pf = appliancePlan()
	pf.Appliance.Name = "other"
	pf.Appliance.Properties = map[string]string{"nsx_cli_passwd_0": "in-the-plan-123"}
	if _, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf)); !errors.Is(err, ErrSecretInPlan) {
		t.Errorf("a password in appliance.properties: %v", err)
	}
}

// The edge password the appliance gets must be long enough for the OVF:
// the plan says so (a conflict, so a run's preflight refuses before step 1)
// and the apply changes nothing, not even the sink port group.
func TestApplianceShortEdgePasswordRefused(t *testing.T) {
	o, env, p := planWithEdgePassword(t, "tiny-pw")
	if c := p.Conflicts(); len(c) != 1 || !strings.Contains(c[0].Detail, "has 7 characters") || !strings.Contains(c[0].Detail, "at least 12") || strings.Contains(p.String(), "tiny-pw") {
		t.Errorf("plan with a short edge password:\n%s", p)
	}
	_, err := (&Appliance{}).Apply(context.Background(), env, collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), "at least 12") || strings.Contains(err.Error(), "tiny-pw") {
		t.Errorf("short edge password: %v", err)
	}
	if o.vm(t, "ferry-l2vpn-client") != nil {
		t.Error("deployed with a short password")
	}
	if o.portgroup(t, "ferry-sink") != nil {
		t.Error("the sink port group was created although the deploy could not run")
	}
}

// TestApplianceEdgePasswordMissingWithoutATerminal: a run that cannot ask
// for the edge password (ferry run, ferry serve) and finds none set is
// refused by the plan, so its preflight stops before step 1 changes
// anything (it used to fail at the deploy, after steps 1 and 2 and the sink
// port group); the wizard, which asks at the deploy, is not refused.
func TestApplianceEdgePasswordMissingWithoutATerminal(t *testing.T) {
	o := newOnPrem(t)
	o.cfg.Edge.Password = ""
	t.Setenv("FERRY_EDGE_PASSWORD", "")
	env := newApplianceEnv(t, o, appliancePlan())
	p, err := (&Appliance{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Conflicts(); len(c) != 1 || !strings.Contains(c[0].Detail, "FERRY_EDGE_PASSWORD") || !strings.Contains(c[0].Detail, "edge.password") {
		t.Errorf("plan without an edge password, nobody to ask:\n%s", p)
	}
	_, err = (&Appliance{}).Apply(context.Background(), env, collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), "FERRY_EDGE_PASSWORD") {
		t.Errorf("apply without an edge password: %v", err)
	}
	if o.portgroup(t, "ferry-sink") != nil {
		t.Error("the sink port group was created although the deploy could not run")
	}
	env.Prompts = true
	if p, err := (&Appliance{}).Plan(context.Background(), env); err != nil || len(p.Conflicts()) != 0 {
		t.Errorf("plan of the wizard, which asks for the password at the deploy: %v\n%s", err, p)
	}
	// The wizard's prompt gets a password too short for the OVF: refused
	// before anything changes, saying where it came from (QA: the sink
	// port group was created first, and the error named the config and
	// the environment).
	env.Secret = func(name, what string) (string, error) { return "tiny-pw", nil }
	_, err = (&Appliance{}).Apply(context.Background(), env, collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), "the one typed at the prompt") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("apply with a short password typed at the prompt: %v", err)
	}
	if o.portgroup(t, "ferry-sink") != nil {
		t.Error("the sink port group was created before the typed password was refused")
	}
}

// MAC learning needs VDS 6.6 (vcsim's switch is 6.5); a sink VLAN range
// without the stretched VLAN is refused at planning.
func TestApplianceSinkPreconditions(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	pf := appliancePlan()
	pf.Appliance.MACLearning = "true"
	if _, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf)); err == nil || !strings.Contains(err.Error(), "appliance.mac_learning") || !strings.Contains(err.Error(), "6.6") {
		t.Errorf("MAC learning on a 6.5 switch: %v", err)
	}
	pf = appliancePlan()
	pf.Appliance.SinkVLANs = "10-30"
	if _, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf)); err == nil || !strings.Contains(err.Error(), "appliance.sink_vlans") || !strings.Contains(err.Error(), "VLAN 0") {
		t.Errorf("sink range without VLAN 0: %v", err)
	}
	pf.Appliance.SinkVLANs = "0,10-30"
	plan, err := (&Appliance{}).Plan(ctx, newApplianceEnv(t, o, pf))
	if err != nil || !strings.Contains(plan.String(), "promiscuous mode") {
		t.Errorf("sink range with VLAN 0 on a 6.5 switch: %v\n%s", err, plan)
	}
}

func TestApplianceSinkMustNotBeTheStretchedPortgroup(t *testing.T) {
	o := newOnPrem(t)
	pf := appliancePlan()
	pf.Appliance.SinkPortgroup = "company-network"
	pf.Appliance.UplinkPortgroup = "VM Network"
	_, err := (&Appliance{}).Apply(context.Background(), newApplianceEnv(t, o, pf), collect(new([]Event)))
	if err == nil || !strings.Contains(err.Error(), "appliance.sink_portgroup") {
		t.Fatalf("sink = stretched port group: %v", err)
	}
	ps := o.portgroup(t, "company-network").Config.DefaultPortConfig.(*types.VMwareDVSPortSetting)
	if ps.SecurityPolicy != nil && ps.SecurityPolicy.AllowPromiscuous != nil && *ps.SecurityPolicy.AllowPromiscuous.Value {
		t.Error("the stretched port group was reconfigured")
	}
}

// TestApplianceUnknownDatastoreRefusedByThePlan: a datastore the uplink's
// hosts do not have is found by the plan, before the sink port group is
// created (it used to pass the plan and fail in apply after creating it).
func TestApplianceUnknownDatastoreRefusedByThePlan(t *testing.T) {
	o := newOnPrem(t)
	ctx := context.Background()
	pf := appliancePlan()
	pf.Appliance.Datastore = "nope-ds"
	env := newApplianceEnv(t, o, pf)
	if _, err := (&Appliance{}).Plan(ctx, env); err == nil || !strings.Contains(err.Error(), "appliance.datastore") || !strings.Contains(err.Error(), `"nope-ds"`) {
		t.Errorf("plan with an unknown datastore: %v", err)
	}
	_, err := (&Appliance{}).Apply(ctx, env, collect(new([]Event)))
	if err == nil {
		t.Fatal("apply with an unknown datastore succeeded")
	}
	if o.portgroup(t, "ferry-sink") != nil || o.vm(t, "ferry-l2vpn-client") != nil {
		t.Error("a refused apply created something")
	}
}

// The duplicate gateway: step 3's plan shows how it is handled (local
// egress optimisation). The vendor's OVA takes no egress gateway, so the
// plan says so in a warning and the apply warns; an appliance version with
// such a property, mapped in the plan, gets the gateway and no warning.
func TestApplianceDuplicateGateway(t *testing.T) {
	t.Parallel()
	o := newOnPrem(t)
	ctx := context.Background()
	item := func(p Plan, kind string) Item {
		t.Helper()
		for _, it := range p.Items {
			if it.Kind == kind {
				return it
			}
		}
		t.Fatalf("the plan has no %s:\n%s", kind, p)
		return Item{}
	}
	egress := func(p Plan) Item { t.Helper(); return item(p, "duplicate gateway") }
	vmItem := func(p Plan) Item { t.Helper(); return item(p, "VM") }
	warned := func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(e Event) bool {
			return e.Kind == EventWarning && strings.Contains(e.Message, "duplicate gateway 172.16.10.1") && strings.Contains(e.Message, "across the tunnel")
		})
	}

	env := newApplianceEnv(t, o, appliancePlan())
	p, err := (&Appliance{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	it := egress(p)
	if it.Name != "172.16.10.1" || !strings.Contains(it.Detail, "local egress optimisation") || !strings.Contains(it.Detail, "WARNING: local egress optimisation is not set up: the appliance OVF takes no egress gateway") ||
		!strings.Contains(it.Detail, "appliance.ovf_properties") || !strings.Contains(p.String(), "duplicate gateway") {
		t.Errorf("duplicate gateway with the vendor's OVA: %+v", it)
	}
	// The VM it deploys does not get the gateway either: the plan says
	// nothing that contradicts the warning.
	if it := vmItem(p); strings.Contains(it.Detail, "egress gateway") {
		t.Errorf("the appliance's line promises an egress gateway the OVF does not take: %s", it.Detail)
	}
	var evs []Event
	if _, err := (&Appliance{}).Apply(ctx, env, collect(&evs)); err != nil {
		t.Fatal(err)
	}
	if !warned(evs) {
		t.Errorf("apply did not warn about the duplicate gateway: %+v", evs)
	}

	withEgress := strings.Replace(lab.EdgeOVF(), "<Category>DNS</Category>",
		`<Property ovf:key="edge_egress_gw" ovf:type="string" ovf:userConfigurable="true" ovf:value=""><Label>Local egress gateway</Label></Property>
      <Category>DNS</Category>`, 1)
	pf := appliancePlanOVF(t, withEgress)
	pf.Appliance.Name = "edge-with-egress"
	pf.Appliance.OVFProperties = map[string]string{"edge_egress_gw": "egress_gateway"}
	env = newApplianceEnv(t, o, pf)
	if p, err = (&Appliance{}).Plan(ctx, env); err != nil {
		t.Fatal(err)
	}
	if it := egress(p); strings.Contains(it.Detail, "WARNING") || !strings.Contains(it.Detail, "the appliance gets it as edge_egress_gw") {
		t.Errorf("duplicate gateway with a mapped property: %+v", it)
	}
	if it := vmItem(p); !strings.Contains(it.Detail, "egress gateway 172.16.10.1") {
		t.Errorf("the appliance's line does not name the egress gateway it gets: %s", it.Detail)
	}
	evs = nil
	if _, err := (&Appliance{}).Apply(ctx, env, collect(&evs)); err != nil {
		t.Fatal(err)
	}
	if warned(evs) {
		t.Error("apply warned although the appliance takes the egress gateway")
	}
	props := map[string]string{}
	for _, p := range o.vm(t, "edge-with-egress").Config.VAppConfig.(*types.VmConfigInfo).Property {
		props[p.Id] = p.Value
	}
	if props["edge_egress_gw"] != "172.16.10.1" {
		t.Errorf("edge_egress_gw = %q, want the stretched network's gateway", props["edge_egress_gw"])
	}
}

// TestBytesApart (QA: "datastore onprem-ds has 4.0 GiB free; the appliance
// needs 4.0 GiB there" read as a contradiction): sizes that round alike are
// said in MiB, the need rounded up.
func TestBytesApart(t *testing.T) {
	if h, n := bytesApart(4096<<20+900<<10, 4097<<20); h != "4096 MiB" || n != "4097 MiB" {
		t.Errorf("alike: %s, %s", h, n)
	}
	if h, n := bytesApart(2<<30, 4<<30); h != "2.0 GiB" || n != "4.0 GiB" {
		t.Errorf("apart: %s, %s", h, n)
	}
}

// TestEdgePasswordRule: an edge password NSX would refuse for its
// appliance users (one lowercase, uppercase, numeric and special character
// each, no palindrome) is refused before the upload, saying what it lacks
// without quoting it (the OVF checks only the length).
func TestEdgePasswordRule(t *testing.T) {
	for pass, want := range map[string]string{
		"Appliance-pass-123": "",
		"appliance-pass-123": "lacks an uppercase letter",
		"APPLIANCEPASS123":   "lacks a lowercase letter, a special character",
		"Aa1-xyzzyx-1aA":     "is a palindrome",
		`Appliance"pass"123`: "lacks a special character",
	} {
		if got := edgePasswordLacks(pass); !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("edgePasswordLacks(%q) = %q, want %q", pass, got, want)
		}
	}
	_, _, p := planWithEdgePassword(t, "appliance-pass-123")
	if c := p.Conflicts(); len(c) != 1 || !strings.Contains(c[0].Detail, "lacks an uppercase letter") || strings.Contains(p.String(), "appliance-pass-123") {
		t.Errorf("plan with an edge password without an uppercase letter:\n%s", p)
	}
}

// planWithEdgePassword plans step 3 with the edge password pass.
func planWithEdgePassword(t *testing.T, pass string) (*onprem, *Env, Plan) {
	t.Helper()
	o := newOnPrem(t)
	o.cfg.Edge.Password = pass
	env := newApplianceEnv(t, o, appliancePlan())
	p, err := (&Appliance{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return o, env, p
}
