package vcdsim

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	vim "github.com/vmware/govmomi/vim25/types"
)

// The tenant's catalog, its item and vApp template, through the client's
// own lookups (query service, AdminOrg lists, hrefs), and the catalog's
// creation task in the task query.
func TestCatalogTemplate(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	org := must(c.GetOrgByName("Company"))(t)
	cat := must(org.GetCatalogByName(CatalogName, false))(t)
	if _, err := org.GetCatalogByName("no-such-catalog", false); !govcd.ContainsNotFound(err) {
		t.Fatalf("unknown catalog: %v", err)
	}
	item := must(cat.GetCatalogItemByName(TemplateName, false))(t)
	tmpl := must(item.GetVAppTemplate())(t)
	if tmpl.VAppTemplate.Status != 8 || tmpl.VAppTemplate.Children == nil || len(tmpl.VAppTemplate.Children.VM) != 1 {
		t.Fatalf("template %+v", tmpl.VAppTemplate)
	}
	if !strings.Contains(tmpl.VAppTemplate.Children.VM[0].HREF, "/api/vAppTemplate/vm-") {
		t.Fatalf("template VM href %s", tmpl.VAppTemplate.Children.VM[0].HREF)
	}
	// the template's VM is in the vm query as a template VM only
	vms := must(govcd.QueryVmList(types.VmQueryFilterOnlyTemplates, &c.Client, nil))(t)
	if len(vms) != 1 || vms[0].Name != TemplateName || !vms[0].VAppTemplate {
		t.Fatalf("template VMs %+v", vms)
	}
	if vms := must(govcd.QueryVmList(types.VmQueryFilterOnlyDeployed, &c.Client, nil))(t); len(vms) != 0 {
		t.Fatalf("deployed VMs in a fresh lab: %+v", vms)
	}

	p := env.provider(t)
	adminOrg := must(p.GetAdminOrgByName("Company"))(t)
	ac := must(adminOrg.GetAdminCatalogByName(CatalogName, false))(t)
	if ac.AdminCatalog.ID != cat.Catalog.ID {
		t.Fatalf("admin catalog %s, catalog %s", ac.AdminCatalog.ID, cat.Catalog.ID)
	}
	// Globex sees none of Company's catalog
	other := must(p.GetAdminOrgByName("Globex"))(t)
	if _, err := other.GetAdminCatalogByName(CatalogName, false); !govcd.ContainsNotFound(err) {
		t.Fatalf("Globex sees Company's catalog: %v", err)
	}
	tasks := must(p.Client.QueryTaskList(map[string]string{"name": "catalogCreateCatalog", "objectName": CatalogName}))(t)
	if len(tasks) != 1 || tasks[0].ObjectType != "catalog" || tasks[0].OrgName != "Company" {
		t.Fatalf("catalog creation tasks %+v", tasks)
	}
	byCat := must(ac.QueryTaskList(map[string]string{"name": "catalogCreateCatalog"}))(t)
	if len(byCat) != 1 || byCat[0].HREF != tasks[0].HREF {
		t.Fatalf("tasks by catalog %+v", byCat)
	}
	none := must(p.Client.QueryTaskList(map[string]string{"status": "running,queued"}))(t)
	if len(none) != 0 {
		t.Fatalf("running tasks in an idle lab: %+v", none)
	}
}

// composeVApp, recompose from the template and from a VM specification,
// power, guest customization and deletion, with the VMs created in (and
// deleted from) the provider vCenter.
func TestComposeVApp(t *testing.T) {
	vcCfg, vcc := providerVC(t)
	// the org VDC's resource pool and the provider VDC's datastores
	ctx := context.Background()
	finder := find.NewFinder(vcc.Client, true)
	finder.SetDatacenter(must(finder.DefaultDatacenter(ctx))(t))
	rp := must(must(finder.ResourcePool(ctx, "DC0_C0/Resources"))(t).Create(ctx, "company-vdc", vim.DefaultResourceConfigSpec()))(t)
	dss := must(finder.DatastoreList(ctx, "*"))(t)
	vcCfg.ResourcePool, vcCfg.Datastores = "company-vdc", []string{"no-such-datastore", dss[len(dss)-1].Name()}
	env := start(t, Config{ProviderVC: vcCfg})
	c := env.tenant(t)
	tr := newTrunk(t, c)
	vdc := tr.vdc

	vapp := must(vdc.CreateRawVApp("composed", "a composed vApp"))(t)
	if st := must(vapp.GetStatus())(t); st != "RESOLVED" {
		t.Fatalf("new empty vApp: %s", st)
	}
	if _, err := vdc.CreateRawVApp("composed", ""); err == nil {
		t.Fatal("duplicate vApp name accepted")
	}
	task := must(vapp.PowerOn())(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := must(vapp.GetStatus())(t); st != "POWERED_ON" {
		t.Fatalf("deployed empty vApp: %s", st)
	}

	org := must(c.GetOrgByName("Company"))(t)
	cat := must(org.GetCatalogByName(CatalogName, false))(t)
	tmpl := must(must(cat.GetCatalogItemByName(TemplateName, false))(t).GetVAppTemplate())(t)

	// a NIC on a network the vApp does not have is refused
	bad := &types.NetworkConnectionSection{NetworkConnection: []*types.NetworkConnection{{
		Network: "company-network", NetworkConnectionIndex: 0, IsConnected: true, IPAddressAllocationMode: "POOL"}}}
	if task, err := vapp.AddNewVM("web", tmpl, bad, true); err == nil {
		if err = task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err == nil {
			t.Fatal("NIC on a network that is not a vApp network accepted")
		}
	}
	netCfg := must(vapp.AddOrgNetwork(&govcd.VappNetworkSettings{}, must(vdc.GetOrgVdcNetworkByName("company-network", false))(t).OrgVDCNetwork, false))(t)
	if len(netCfg.NetworkConfig) != 1 || netCfg.NetworkConfig[0].NetworkName != "company-network" {
		t.Fatalf("vApp networks %+v", netCfg.NetworkConfig)
	}
	task = must(vapp.AddNewVM("web", tmpl, bad, true))(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	web := must(vapp.GetVMByName("web", true))(t)
	if st := must(web.GetStatus())(t); st != "POWERED_OFF" {
		t.Fatalf("new VM: %s", st)
	}
	ncs := must(web.GetNetworkConnectionSection())(t)
	if ip := ncs.NetworkConnection[0].IPAddress; ip != "172.16.10.200" {
		t.Fatalf("POOL address %q", ip)
	}
	if gc := must(web.GetGuestCustomizationStatus())(t); gc != types.GuestCustStatusPending {
		t.Fatalf("customization before first boot: %s", gc)
	}
	empty := must(vapp.AddEmptyVm(&types.RecomposeVAppParamsForEmptyVm{CreateItem: &types.CreateItem{
		Name: "blank", VmSpecSection: &types.VmSpecSection{OsType: "debian10Guest", NumCpus: addr(2), NumCoresPerSocket: addr(1),
			MemoryResourceMb: &types.MemoryResourceMb{Configured: 512}, HardwareVersion: &types.HardwareVersion{Value: "vmx-13"},
			DiskSection: &types.DiskSection{DiskSettings: []*types.DiskSettings{{AdapterType: "5", SizeMb: 100}}}},
	}, AllEULAsAccepted: true}))(t)

	// both exist in the provider vCenter under vCD's names
	recs := must(govcd.QueryVmList(types.VmQueryFilterOnlyDeployed, &c.Client, map[string]string{"containerName": "composed"}))(t)
	if len(recs) != 2 {
		t.Fatalf("VMs of the vApp: %+v", recs)
	}
	for _, r := range recs {
		ref := vim.ManagedObjectReference{Type: "VirtualMachine", Value: r.Moref}
		name, err := object.NewVirtualMachine(vcc.Client, ref).ObjectName(ctx)
		if err != nil || name != r.VmNameInVc || !strings.HasPrefix(name, r.Name+" (") {
			t.Fatalf("VM %s: vCenter name %q (%v), VmNameInVc %q", r.Name, name, err, r.VmNameInVc)
		}
		var o mo.VirtualMachine
		if err := property.DefaultCollector(vcc.Client).RetrieveOne(ctx, ref, []string{"resourcePool", "datastore"}, &o); err != nil {
			t.Fatal(err)
		}
		if o.ResourcePool == nil || *o.ResourcePool != rp.Reference() || len(o.Datastore) != 1 || o.Datastore[0] != dss[len(dss)-1].Reference() {
			t.Fatalf("VM %s placed in pool %v on %v, want %v on %v", r.Name, o.ResourcePool, o.Datastore, rp.Reference(), dss[len(dss)-1].Reference())
		}
	}

	// power on: the vCenter VM powers on; customization runs in the guest
	task = must(web.PowerOn())(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	webRef := vim.ManagedObjectReference{Type: "VirtualMachine", Value: recsByName(recs, "web").Moref}
	if ps := must(object.NewVirtualMachine(vcc.Client, webRef).PowerState(ctx))(t); ps != vim.VirtualMachinePowerStatePoweredOn {
		t.Fatalf("vCenter VM after power on: %s", ps)
	}
	if gc := must(web.GetGuestCustomizationStatus())(t); gc != types.GuestCustStatusPending {
		t.Fatalf("customization right after power on: %s", gc)
	}
	env.srv.mu.Lock()
	for _, a := range env.srv.m.vapps {
		for _, v := range a.vms {
			if v.gc.status == types.GuestCustStatusPending && !v.gc.doneAt.IsZero() {
				v.gc.doneAt = time.Now() // the guest finished
			}
		}
	}
	env.srv.mu.Unlock()
	if gc := must(web.GetGuestCustomizationStatus())(t); gc != types.GuestCustStatusComplete {
		t.Fatalf("customization after the guest ran it: %s", gc)
	}
	if gc := must(empty.GetGuestCustomizationStatus())(t); gc != types.GuestCustStatusPending {
		t.Fatalf("empty VM (no OS): %s", gc)
	}
	// forcing customization needs the VM undeployed
	if err := web.PowerOnAndForceCustomization(); err == nil {
		t.Fatal("forced customization of a deployed VM accepted")
	}
	task = must(web.Undeploy())(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if must(web.IsDeployed())(t) {
		t.Fatal("undeployed VM still deployed")
	}
	if err := web.PowerOnAndForceCustomization(); err != nil {
		t.Fatal(err)
	}
	if gc := must(web.GetGuestCustomizationStatus())(t); gc != types.GuestCustStatusPending || !must(web.IsDeployed())(t) {
		t.Fatalf("after forced customization: %s", gc)
	}

	// a vApp network in use cannot be removed; a powered-on vApp cannot be deleted
	if task, err := vapp.RemoveAllNetworks(); err == nil {
		if err = task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err == nil {
			t.Fatal("vApp network in use removed")
		}
	}
	if _, err := vapp.Delete(); err == nil {
		t.Fatal("powered-on vApp deleted")
	}
	task = must(vapp.Undeploy())(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// isolated vApp networks: checked, listed by the vAppNetwork query
	iso := &govcd.VappNetworkSettings{Name: "isolated", Gateway: "192.168.0.1", NetMask: "255.255.255.0",
		StaticIPRanges: []*types.IPRange{{StartAddress: "192.168.1.10", EndAddress: "192.168.1.20"}}}
	if _, err := vapp.CreateVappNetwork(iso, nil); err == nil {
		t.Fatal("static range outside the isolated network's subnet accepted")
	}
	if err := vapp.Refresh(); err != nil { // the client adds to the section it last read
		t.Fatal(err)
	}
	iso.StaticIPRanges[0] = &types.IPRange{StartAddress: "192.168.0.10", EndAddress: "192.168.0.20"}
	must(vapp.CreateVappNetwork(iso, nil))(t)
	if l := must(vapp.QueryVappNetworks(nil))(t); len(l) != 1 || l[0].Name != "isolated" || l[0].Gateway != "192.168.0.1" {
		t.Fatalf("isolated vApp networks %+v", l)
	}
	if l := must(vapp.QueryVappOrgNetworks(nil))(t); len(l) != 1 || l[0].Name != "company-network" {
		t.Fatalf("vApp org networks %+v", l)
	}
	// undeployed, the vApp's networks can go: the NIC is left on "none"
	task = must(vapp.RemoveAllNetworks())(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := must(web.GetNetworkConnectionSection())(t).NetworkConnection[0]; n.Network != "none" || n.IPAddress != "" {
		t.Fatalf("NIC after its network was removed: %+v", n)
	}
	task = must(vapp.Delete())(t)
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := object.NewVirtualMachine(vcc.Client, webRef).ObjectName(ctx); err == nil {
		t.Fatal("the vCenter VM survived the vApp's deletion")
	}
}

func recsByName(recs []*types.QueryResultVMRecordType, name string) *types.QueryResultVMRecordType {
	for _, r := range recs {
		if r.Name == name {
			return r
		}
	}
	return &types.QueryResultVMRecordType{}
}

func addr[T any](v T) *T { return &v }

// testConnection probes for real: the simulator's own listener answers a
// TCP connection and a TLS handshake whose certificate the system roots do
// not trust; a name that does not resolve is reported as such, with 200.
func TestTestConnection(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	u := must(c.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointTestConnection))(t)
	lab := must(url.Parse(env.srv.URL()))(t)
	host := lab.Hostname()
	port := must(strconv.Atoi(lab.Port()))(t)
	var res types.TestConnectionResult
	in := types.TestConnection{Host: host, Port: port, Secure: addr(true), Timeout: 5}
	if err := c.Client.OpenApiPostItemSync("37.0", u, nil, in, &res); err != nil {
		t.Fatal(err)
	}
	if p := res.TargetProbe; p == nil || !p.CanConnect || !p.SSLHandshake || p.SSLResult != "ERROR_UNTRUSTED_CERTIFICATE" || p.CertificateChain == "" {
		t.Fatalf("probe of the lab itself: %+v", res.TargetProbe)
	}
	in.Host = "no-such-host.invalid"
	res = types.TestConnectionResult{}
	if err := c.Client.OpenApiPostItemSync("37.0", u, nil, in, &res); err != nil {
		t.Fatal(err)
	}
	if p := res.TargetProbe; p == nil || p.CanConnect || p.ConnectionResult != "ERROR_CANNOT_RESOLVE_IP" {
		t.Fatalf("probe of an unknown host: %+v", res.TargetProbe)
	}
}
