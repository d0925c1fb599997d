package vcdsim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	vim "github.com/vmware/govmomi/vim25/types"
)

// TestImportedVMAsCloudDirectorShowsIt: a VM imported from the provider
// vCenter reads back as vCD 10.5 shows it, through go-vcloud-director calls
// that failed or panicked against the simulator before: the
// VirtualHardwareSection (CPU and cores, memory, the disks on their real
// controller, bus and unit, the NIC with its type and MAC) for
// GetVMByHref/FindVMByHREF/GetParentVApp; a NIC on a provider port group
// that backs no org VDC network shows "none", and an unchanged
// NetworkConnectionSection PUT is accepted; connecting it checks the
// address as vCD does; Vdc.GetOrgVdcNetworkByName follows the VDC's link
// to the XML network.
func TestImportedVMAsCloudDirectorShowsIt(t *testing.T) {
	vcCfg, vc := providerVC(t)
	env := start(t, Config{ProviderVC: vcCfg})
	c := env.provider(t)
	ctx := context.Background()
	_, ds, pool, folder := vcParts(t, vc)

	// A provider VM: 4 vCPUs as 2 sockets of 2 cores, two disks on a
	// paravirtual controller at units 0 and 1, an E1000E NIC on a port group.
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("pvscsi")
	devices = append(devices, scsi)
	ctrl, _ := devices.FindDiskController("scsi")
	for i, kb := range []int64{2048, 4096} {
		d := devices.CreateDisk(ctrl, ds.Reference(), ds.Path(fmt.Sprintf("App1/App1_%d.vmdk", i)))
		d.CapacityInKB = kb
		devices.AssignController(d, ctrl)
		devices = append(devices, d)
	}
	pg, err := find.NewFinder(vc.Client).Network(ctx, "VM Network")
	if err != nil {
		t.Fatal(err)
	}
	backing, err := pg.EthernetCardBackingInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nic, err := devices.CreateEthernetCard("e1000e", backing)
	if err != nil {
		t.Fatal(err)
	}
	const mac = "00:50:56:01:02:03"
	card := nic.(vim.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	card.AddressType, card.MacAddress = string(vim.VirtualEthernetCardMacTypeManual), mac
	devices = append(devices, nic)
	changes, _ := devices.ConfigSpec(vim.VirtualDeviceConfigSpecOperationAdd)
	cores := int32(2)
	task, err := folder.CreateVM(ctx, vim.VirtualMachineConfigSpec{Name: "App1", GuestId: "otherGuest64", NumCPUs: 4, NumCoresPerSocket: &cores,
		MemoryMB: 2048, Files: &vim.VirtualMachineFileInfo{VmPathName: "[" + ds.Name() + "]"}, DeviceChange: changes}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	moref := info.Result.(vim.ManagedObjectReference).Value

	org := must(c.GetOrgByName("Company"))(t)
	vdc := must(org.GetVDCByName("Company-VDC", false))(t)
	vcs := must(c.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointVirtualCenters))(t)
	var centers []*types.VSphereVirtualCenter
	if err := c.Client.OpenApiGetAllItems("37.0", vcs, nil, &centers, nil); err != nil || len(centers) != 1 {
		t.Fatalf("virtual centers %v %v", centers, err)
	}
	ext := strings.TrimSuffix(env.srv.URL(), "/api") + "/api/admin/extension/vimServer/" + bareID(centers[0].VcId)
	var created types.VApp
	if _, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost, "application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s",
		&importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud, Name: "App1", SourceMove: true,
			VMMoRef: moref, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}}, &created); err != nil {
		t.Fatal(err)
	}
	tk := govcd.NewTask(&c.Client)
	tk.Task = created.Tasks.Task[0]
	if err := tk.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	vapp := must(vdc.GetVAppByName("App1", true))(t)
	href := vapp.VApp.Children.VM[0].HREF

	// Item 8: the VirtualHardwareSection.
	vm := must(c.Client.GetVMByHref(href))(t)
	hw := vm.VM.VirtualHardwareSection
	if hw == nil || hw.Item == nil {
		t.Fatal("VM without VirtualHardwareSection items")
	}
	old, err := c.Client.FindVMByHREF(href)
	if err != nil || old.VM.VirtualHardwareSection == nil {
		t.Fatalf("FindVMByHREF: %v", err)
	}
	if parent, err := vm.GetParentVApp(); err != nil || parent.VApp.Name != "App1" {
		t.Fatalf("GetParentVApp: %v", err)
	}
	if sec, err := vm.GetVirtualHardwareSection(); err != nil || len(sec.Item) != len(hw.Item) {
		t.Fatalf("GetVirtualHardwareSection: %v", err)
	}
	items := map[int][]*types.VirtualHardwareItem{}
	for _, it := range hw.Item {
		items[it.ResourceType] = append(items[it.ResourceType], it)
	}
	if p := items[types.ResourceTypeProcessor]; len(p) != 1 || p[0].VirtualQuantity != 4 || p[0].CoresPerSocket != 2 {
		t.Errorf("processor items %+v", p)
	}
	if m := items[types.ResourceTypeMemory]; len(m) != 1 || m[0].VirtualQuantity != 2048 {
		t.Errorf("memory items %+v", m)
	}
	ctl, disks := items[6], items[types.ResourceTypeDisk]
	if len(ctl) != 1 || ctl[0].ResourceSubType != "VirtualSCSI" || len(disks) != 2 {
		t.Fatalf("controllers %+v, disks %+v", ctl, disks)
	}
	for i, d := range disks {
		if d.Parent != ctl[0].InstanceID || d.AddressOnParent != i || len(d.HostResource) != 1 ||
			d.HostResource[0].BusSubType != "VirtualSCSI" || d.HostResource[0].Capacity != []int{2, 4}[i] {
			t.Errorf("disk %d: %+v %+v", i, d, d.HostResource)
		}
	}
	if n := items[types.ResourceTypeEthernet]; len(n) != 1 || n[0].ResourceSubType != "E1000E" || n[0].Address != mac {
		t.Errorf("NIC items %+v", n)
	}
	for i, ds := range vm.VM.VmSpecSection.DiskSection.DiskSettings {
		if ds.AdapterType != "4" || ds.BusNumber != 0 || ds.UnitNumber != i {
			t.Errorf("DiskSettings %d: adapter %s bus %d unit %d, want 4 (paravirtual) 0 %d", i, ds.AdapterType, ds.BusNumber, ds.UnitNumber, i)
		}
	}

	// Item 2: the NIC is on "none"; an unchanged PUT is accepted.
	ncs := must(vm.GetNetworkConnectionSection())(t)
	if len(ncs.NetworkConnection) != 1 {
		t.Fatalf("NICs %+v", ncs.NetworkConnection)
	}
	if n := ncs.NetworkConnection[0]; n.Network != "none" || n.IsConnected || n.IPAddressAllocationMode != "NONE" || n.MACAddress != mac || n.NetworkAdapterType != "E1000E" {
		t.Fatalf("imported NIC %+v", n)
	}
	if err := vm.UpdateNetworkConnectionSection(ncs); err != nil {
		t.Fatalf("unchanged NetworkConnectionSection: %v", err)
	}

	// Connecting it (once the vApp has the network): MANUAL addresses are
	// checked against the network.
	newTrunk(t, c).attach(t, c, vapp)
	put := func(mode, ip string) error {
		t.Helper()
		s := must(vm.GetNetworkConnectionSection())(t)
		n := s.NetworkConnection[0]
		n.Network, n.IsConnected, n.IPAddressAllocationMode, n.IPAddress = "company-network", true, mode, ip
		return vm.UpdateNetworkConnectionSection(s)
	}
	for _, bad := range []struct{ mode, ip, want string }{
		{"MANUAL", "10.9.9.9", "not in a subnet"},
		{"MANUAL", "172.16.10.1", "gateway"},
		{"MANUAL", "", "needs an IP address"},
		{"STATIC", "172.16.10.12", "must be POOL, DHCP, MANUAL or NONE"},
	} {
		if err := put(bad.mode, bad.ip); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s %q: %v, want an error saying %q", bad.mode, bad.ip, err, bad.want)
		}
	}
	if err := put("MANUAL", "172.16.10.12"); err != nil {
		t.Fatal(err)
	}
	ncs = must(vm.GetNetworkConnectionSection())(t)
	if n := ncs.NetworkConnection[0]; n.Network != "company-network" || n.IPAddress != "172.16.10.12" || !n.IsConnected || n.MACAddress != mac {
		t.Fatalf("connected NIC %+v", n)
	}
	if err := put("POOL", ""); err != nil {
		t.Fatal(err)
	}
	ncs = must(vm.GetNetworkConnectionSection())(t)
	if ip := ncs.NetworkConnection[0].IPAddress; ip != "172.16.10.200" {
		t.Fatalf("POOL gave %q, want the pool's first address 172.16.10.200", ip)
	}
	if err := vm.UpdateNetworkConnectionSection(ncs); err != nil {
		t.Fatal(err)
	}
	if ip := must(vm.GetNetworkConnectionSection())(t).NetworkConnection[0].IPAddress; ip != "172.16.10.200" {
		t.Fatalf("an unchanged PUT moved the POOL address to %q", ip)
	}

	// Item 3: the VDC's network links answer (provider and tenant).
	for _, cl := range []*govcd.VCDClient{c, env.tenant(t)} {
		v := must(must(cl.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", true))(t)
		n, err := v.GetOrgVdcNetworkByName("company-network", true)
		if err != nil {
			t.Fatalf("GetOrgVdcNetworkByName: %v", err)
		}
		x := n.OrgVDCNetwork
		if !strings.HasPrefix(x.ID, "urn:vcloud:network:") || x.Configuration == nil || x.Configuration.FenceMode != "natRouted" ||
			len(x.Configuration.IPScopes.IPScope) != 1 || x.Configuration.IPScopes.IPScope[0].Netmask != "255.255.255.0" ||
			x.Configuration.IPScopes.IPScope[0].Gateway != "172.16.10.1" {
			t.Fatalf("network %+v", x)
		}
		if _, err := v.GetOrgVdcNetworkById(x.ID, false); err != nil {
			t.Fatalf("GetOrgVdcNetworkById: %v", err)
		}
	}
	adminOrg := must(c.GetAdminOrgByName("Company"))(t)
	if adminOrg.AdminOrg.Networks == nil || len(adminOrg.AdminOrg.Networks.Networks) == 0 {
		t.Fatal("AdminOrg lists no networks")
	}
	for _, ref := range adminOrg.AdminOrg.Networks.Networks {
		var x types.OrgVDCNetwork
		if _, err := c.Client.ExecuteRequest(ref.HREF, http.MethodGet, "", "network: %s", nil, &x); err != nil || x.Name != ref.Name {
			t.Fatalf("AdminOrg network link %s: %v", ref.HREF, err)
		}
	}
}
