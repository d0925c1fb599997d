package vcdsim

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	vim "github.com/vmware/govmomi/vim25/types"
)

// vApp composition (POST /api/vdc/{id}/action/composeVApp and
// /api/vApp/{id}/action/recomposeVApp), vApp networks and guest
// customization, as Cloud Director 10.5 does them:
//   - composeVApp makes a vApp (status RESOLVED until it is deployed; an
//     empty vApp can be deployed and is then POWERED_ON); its name is unique
//     in the VDC;
//   - recompose adds VMs from a vApp template VM of a visible catalog
//     (SourcedItem) or from a VM specification (CreateItem), or deletes a
//     powered-off VM (DeleteItem). Each new VM is created in the provider
//     vCenter (when the lab has one), powered off; its NICs connect to
//     "none" or to a network of the vApp's NetworkConfigSection;
//   - a VM from a template gets guest customization: GC_PENDING until it
//     has run powered on for guestCustomizationTime (the guest tools then
//     report GC_COMPLETE); a forced customization (deploy with
//     forceCustomization) needs the VM undeployed and starts it over. An
//     empty VM has no OS and stays GC_PENDING.

// guestCustomizationTime is how long the simulated guest takes to run its
// customization after power-on.
const guestCustomizationTime = 10 * time.Second

const statusResolved = 1

func (s *Server) catalogRoutes() {
	s.handle("GET /api/catalog/{id}", handleCatalog)
	s.handle("GET /api/admin/catalog/{id}", handleAdminCatalog)
	s.handle("GET /api/catalogItem/{id}", handleCatalogItem)
	s.handle("GET /api/vAppTemplate/{id}", handleVAppTemplate)
	s.handle("POST /api/vdc/{id}/action/composeVApp", handleComposeVApp)
	s.handle("POST /api/vApp/{id}/action/recomposeVApp", handleRecomposeVApp)
	s.handle("GET /api/vApp/{id}/networkConfigSection", handleGetNetworkConfig)
	s.handle("GET /api/vApp/{id}/networkConfigSection/{$}", handleGetNetworkConfig)
	s.handle("PUT /api/vApp/{id}/networkConfigSection", handlePutNetworkConfig)
	s.handle("PUT /api/vApp/{id}/networkConfigSection/{$}", handlePutNetworkConfig)
	s.handle("GET /api/vApp/{id}/guestcustomizationstatus", handleGuestCustStatus)
	s.handle("GET /api/vApp/{id}/guestcustomizationstatus/{$}", handleGuestCustStatus)
	s.handle("POST /cloudapi/1.0.0/testConnection", handleTestConnection)
	s.handle("POST /cloudapi/1.0.0/testConnection/{$}", handleTestConnection)
	s.handle("GET /network/orgvdcnetworks/importableswitches", handleImportableSwitches)
	s.handle("GET /network/orgvdcnetworks/importableswitches/{$}", handleImportableSwitches)
}

// guestCust is a VM's guest customization state.
type guestCust struct {
	status string    // "" (customization not enabled: reported GC_COMPLETE), GC_PENDING, GC_COMPLETE
	doneAt time.Time // while pending and powered on: when the guest finishes
	noOS   bool      // an empty VM: nothing in the guest ever runs it
}

func (g *guestCust) current(poweredOn bool) string {
	switch {
	case g.status == "":
		return types.GuestCustStatusComplete
	case g.status == types.GuestCustStatusPending && poweredOn && !g.doneAt.IsZero() && !time.Now().Before(g.doneAt):
		g.status = types.GuestCustStatusComplete
	}
	return g.status
}

// guestPowered tells the guest model about a power change of v.
func (g *guestCust) powered(on, force bool) {
	if force {
		g.status = types.GuestCustStatusPending
	}
	switch {
	case g.status != types.GuestCustStatusPending || g.noOS:
	case on:
		g.doneAt = time.Now().Add(guestCustomizationTime)
	default:
		g.doneAt = time.Time{} // interrupted: it runs again at the next power-on
	}
}

func handleGuestCustStatus(c *reqCtx) {
	if _, v := c.entityFromPath(); v != nil {
		c.xml(http.StatusOK, types.MimeGuestCustomizationStatus, "GuestCustomizationStatusSection",
			&types.GuestCustomizationStatusSection{Xmlns: xmlnsVcloud, GuestCustStatus: v.gc.current(v.poweredOn)})
	}
}

// powerIntent reads what a power request asks: deploy takes
// DeployVAppParams (powerOn defaults to true; forceCustomization needs the
// VM undeployed), undeploy UndeployVAppParams (powerOff is the default
// action; suspend is not simulated).
func (c *reqCtx) powerIntent(op string, vms []*vm) (on, force, ok bool) {
	switch op {
	case "powerOn", "reboot", "reset":
		return true, false, true
	case "powerOff", "shutdown", "suspend":
		return false, false, true
	case "deploy":
		p := struct {
			PowerOn            *bool `xml:"powerOn,attr"`
			ForceCustomization bool  `xml:"forceCustomization,attr"`
		}{}
		if c.r.ContentLength != 0 && !c.readXML(&p) {
			return false, false, false
		}
		if p.ForceCustomization {
			for _, v := range vms {
				if v.deployed {
					c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s is deployed: undeploy it before forcing guest customization", v.name)
					return false, false, false
				}
			}
		}
		return p.PowerOn == nil || *p.PowerOn, p.ForceCustomization, true
	case "undeploy":
		p := struct {
			UndeployPowerAction string `xml:"UndeployPowerAction"`
		}{}
		if c.r.ContentLength != 0 && !c.readXML(&p) {
			return false, false, false
		}
		switch p.UndeployPowerAction {
		case "", "default", "powerOff", "shutdown":
			return false, false, true
		}
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "UndeployPowerAction %q is not supported by this simulator", p.UndeployPowerAction)
		return false, false, false
	}
	c.fail(http.StatusBadRequest, "BAD_REQUEST", "unsupported power operation %q", op)
	return false, false, false
}

// --- compose ----------------------------------------------------------------

func handleComposeVApp(c *reqCtx) {
	v := c.vdcFromPath()
	if v == nil {
		return
	}
	if v != c.m.vdc {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VDC %s has no compute in the provider vCenter of the lab (only %s has); vcdsim composes vApps there only", v.name, c.m.vdc.name)
		return
	}
	var in types.ComposeVAppParams
	if !c.readXML(&in) {
		return
	}
	if strings.TrimSpace(in.Name) == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "ComposeVAppParams: the vApp name is required")
		return
	}
	for _, a := range c.m.vapps {
		if a.name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "The VMware Cloud Director entity %s already exists.", in.Name)
			return
		}
	}
	if in.SourcedItem != nil || in.InstantiationParams != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "composeVApp with SourcedItem or InstantiationParams is not simulated: compose an empty vApp, then recompose it")
		return
	}
	a := &vapp{id: newUUID(), name: in.Name, description: in.Description, org: v.org, created: time.Now(), importing: true}
	c.m.vapps = append(c.m.vapps, a)
	t := c.m.newTask(c, "vdcComposeVapp", "Creating Virtual Application "+a.name+"("+a.id+")", a.ref(), func() error {
		a.importing = false
		return nil
	})
	x := c.vappXML(a)
	x.Tasks = c.tasksInProgress(t)
	c.w.Header().Set("Location", c.abs(a.href()))
	c.xml(http.StatusCreated, mimeVApp, "VApp", x)
}

// recomposeParams covers RecomposeVAppParams with SourcedItem, CreateItem
// (RecomposeVAppParamsForEmptyVm) and DeleteItem.
type recomposeParams struct {
	SourcedItem []struct {
		Source struct {
			HREF string `xml:"href,attr"`
			Name string `xml:"name,attr"`
		} `xml:"Source"`
		VMGeneralParams *struct {
			Name        string `xml:"Name"`
			Description string `xml:"Description"`
		} `xml:"VmGeneralParams"`
		InstantiationParams *struct {
			NetworkConnectionSection *types.NetworkConnectionSection `xml:"NetworkConnectionSection"`
		} `xml:"InstantiationParams"`
	} `xml:"SourcedItem"`
	CreateItem []struct {
		Name                     string                          `xml:"name,attr"`
		Description              string                          `xml:"Description"`
		NetworkConnectionSection *types.NetworkConnectionSection `xml:"NetworkConnectionSection"`
		VmSpecSection            *types.VmSpecSection            `xml:"VmSpecSection"`
	} `xml:"CreateItem"`
	DeleteItem []struct {
		HREF string `xml:"href,attr"`
	} `xml:"DeleteItem"`
}

// newVMSpec is a VM to create in a vApp.
type newVMSpec struct {
	name, description, guestOS string
	cpus, cores, memMB         int
	disks                      []vmDisk
	nics                       []vmNIC
	fromTemplate               bool
}

func handleRecomposeVApp(c *reqCtx) {
	a, v := c.entityFromPath()
	if a == nil {
		return
	}
	if v != nil || a.importing {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "%s cannot be recomposed now", c.r.PathValue("id"))
		return
	}
	var in recomposeParams
	if !c.readXML(&in) {
		return
	}
	var specs []newVMSpec
	for _, si := range in.SourcedItem {
		_, tv := c.templateByPathID(lastPathElem(si.Source.HREF))
		if tv == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "SourcedItem %s is not a VM of a vApp template this organization can use", si.Source.HREF)
			return
		}
		sp := newVMSpec{name: si.Source.Name, guestOS: tv.guestOS, cpus: tv.cpus, cores: 1, memMB: tv.memMB, fromTemplate: true,
			disks: []vmDisk{{CapacityKB: tv.diskMB * 1024, Adapter: adapterByCode("4")}},
			nics:  []vmNIC{{Type: tv.nicType, MAC: newMAC(), Network: "none", Mode: "NONE"}}}
		if sp.name == "" {
			sp.name = tv.name
		}
		if g := si.VMGeneralParams; g != nil {
			if g.Name != "" {
				sp.name = g.Name
			}
			sp.description = g.Description
		}
		if ip := si.InstantiationParams; ip != nil && ip.NetworkConnectionSection != nil && len(ip.NetworkConnectionSection.NetworkConnection) > 0 {
			nics, err := c.composeNICs(a, ip.NetworkConnectionSection, tv.nicType)
			if err != nil {
				c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s: %v", sp.name, err)
				return
			}
			sp.nics = nics
		}
		specs = append(specs, sp)
	}
	for _, ci := range in.CreateItem {
		vs := ci.VmSpecSection
		if ci.Name == "" || vs == nil || vs.MemoryResourceMb == nil || vs.MemoryResourceMb.Configured <= 0 || vs.NumCpus == nil || *vs.NumCpus <= 0 {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "CreateItem: name, VmSpecSection.NumCpus and MemoryResourceMb are required")
			return
		}
		sp := newVMSpec{name: ci.Name, description: ci.Description, guestOS: vs.OsType, cpus: *vs.NumCpus, cores: 1, memMB: int(vs.MemoryResourceMb.Configured)}
		if vs.NumCoresPerSocket != nil && *vs.NumCoresPerSocket > 0 {
			sp.cores = *vs.NumCoresPerSocket
		}
		if vs.DiskSection != nil {
			for _, d := range vs.DiskSection.DiskSettings {
				ad := adapterByCode(d.AdapterType)
				if ad.Code == "" || d.SizeMb <= 0 {
					c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s: disk adapter type %q or size %d MB is not valid", ci.Name, d.AdapterType, d.SizeMb)
					return
				}
				sp.disks = append(sp.disks, vmDisk{CapacityKB: d.SizeMb * 1024, Adapter: ad, Bus: d.BusNumber, Unit: d.UnitNumber})
			}
		}
		if ci.NetworkConnectionSection != nil && len(ci.NetworkConnectionSection.NetworkConnection) > 0 {
			nics, err := c.composeNICs(a, ci.NetworkConnectionSection, "VMXNET3")
			if err != nil {
				c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s: %v", ci.Name, err)
				return
			}
			sp.nics = nics
		}
		specs = append(specs, sp)
	}
	seen := map[string]bool{}
	for _, x := range a.vms {
		seen[x.name] = true
	}
	for _, sp := range specs {
		if seen[sp.name] {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "vApp %s already has a VM named %s", a.name, sp.name)
			return
		}
		seen[sp.name] = true
	}
	var del []*vm
	for _, d := range in.DeleteItem {
		var found *vm
		for _, x := range a.vms {
			if lastPathElem(d.HREF) == "vm-"+x.id {
				found = x
			}
		}
		if found == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "DeleteItem %s is not a VM of vApp %s", d.HREF, a.name)
			return
		}
		if found.poweredOn {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s is powered on: power it off before deleting it", found.name)
			return
		}
		del = append(del, found)
	}
	var err error
	for _, sp := range specs {
		var x *vm
		if x, err = c.m.createVM(a, sp); err != nil {
			break
		}
		a.vms = append(a.vms, x)
	}
	for _, x := range del {
		if err != nil {
			break
		}
		if err = c.m.destroyBacking(x); err == nil {
			for i, y := range a.vms {
				if y == x {
					a.vms = append(a.vms[:i], a.vms[i+1:]...)
					break
				}
			}
		}
	}
	t := c.m.newTask(c, "vdcRecomposeVapp", "Updating Virtual Application "+a.name+"("+a.id+")", a.ref(), func() error { return err })
	c.taskResponse(t)
}

func lastPathElem(href string) string {
	href = strings.TrimSuffix(href, "/")
	return href[strings.LastIndex(href, "/")+1:]
}

// adapterByCode is the diskAdapter of a DiskSettings AdapterType code.
func adapterByCode(code string) diskAdapter {
	ctl, err := newController(code, 0, 0)
	if code == "5" {
		ctl, err = &vim.VirtualIDEController{}, nil
	}
	if err != nil {
		return diskAdapter{}
	}
	ad, _ := adapterOf(ctl)
	return ad
}

// composeNICs checks a new VM's NICs: each connects to "none" or to a vApp
// network of a (the vApp's NetworkConfigSection), with an allocation mode
// vCD accepts there; POOL and MANUAL addresses come from the org VDC
// network the vApp network is bridged to.
func (c *reqCtx) composeNICs(a *vapp, ncs *types.NetworkConnectionSection, defType string) ([]vmNIC, error) {
	var nics []vmNIC
	for i, nc := range ncs.NetworkConnection {
		if nc.NetworkConnectionIndex != i {
			return nil, fmt.Errorf("NetworkConnectionIndex %d: NICs must be numbered 0 to %d in order", nc.NetworkConnectionIndex, len(ncs.NetworkConnection)-1)
		}
		n := vmNIC{Type: nc.NetworkAdapterType, MAC: nc.MACAddress, Network: "none", Mode: "NONE"}
		if n.Type == "" {
			n.Type = defType
		}
		if n.MAC == "" {
			n.MAC = newMAC()
		}
		if nc.Network != "" && nc.Network != "none" {
			var net *network
			var isolated *types.VAppNetworkConfiguration
			for i, cfg := range a.networks {
				switch {
				case cfg.NetworkName != nc.Network:
				case cfg.Configuration.FenceMode == types.FenceModeIsolated:
					isolated = &a.networks[i]
				case cfg.Configuration.ParentNetwork != nil:
					net = c.m.networkByHref(cfg.Configuration.ParentNetwork.HREF)
				}
			}
			if isolated != nil {
				if m := nc.IPAddressAllocationMode; m != "NONE" && m != "DHCP" {
					return nil, fmt.Errorf("NIC %d: %s addresses on isolated vApp network %s are not simulated (NONE or DHCP are)", i, m, nc.Network)
				}
				n.Network, n.Connected, n.Mode = nc.Network, nc.IsConnected, nc.IPAddressAllocationMode
				nics = append(nics, n)
				continue
			}
			if net == nil {
				return nil, fmt.Errorf("NIC %d: network %q is not a network of vApp %s", i, nc.Network, a.name)
			}
			n.Network, n.Connected = net.Name, nc.IsConnected
			switch nc.IPAddressAllocationMode {
			case "NONE", "DHCP":
				n.Mode = nc.IPAddressAllocationMode
			case "POOL":
				ip, err := c.poolIP(net, nil, i, nics)
				if err != nil {
					return nil, fmt.Errorf("NIC %d: %w", i, err)
				}
				n.Mode, n.IP = "POOL", ip
			case "MANUAL":
				if err := c.checkManualIP(net, nc.IPAddress, nil, i); err != nil {
					return nil, fmt.Errorf("NIC %d: %w", i, err)
				}
				n.Mode, n.IP = "MANUAL", nc.IPAddress
			default:
				return nil, fmt.Errorf("NIC %d: IpAddressAllocationMode %q: must be POOL, DHCP, MANUAL or NONE", i, nc.IPAddressAllocationMode)
			}
		}
		nics = append(nics, n)
	}
	return nics, nil
}

// networkByHref finds an org VDC network from an XML href
// (/api/admin/network/{uuid} or /api/network/{uuid}).
func (m *model) networkByHref(href string) *network {
	id := lastPathElem(href)
	for _, n := range m.networks {
		if bareID(n.ID) == id {
			return n
		}
	}
	return nil
}

// createVM creates a VM of a in the provider vCenter (named as vCD names
// them, "<name> (<uuid>)") and returns it powered off.
func (m *model) createVM(a *vapp, sp newVMSpec) (*vm, error) {
	x := &vm{id: newUUID(), name: sp.name, vapp: a, cpus: sp.cpus, cores: sp.cores, memMB: sp.memMB,
		guestOS: sp.guestOS, disks: sp.disks, nics: sp.nics, description: sp.description}
	x.vcName, x.composed = fmt.Sprintf("%s (%s)", sp.name, x.id), true
	if sp.fromTemplate {
		x.gc.status = types.GuestCustStatusPending
	} else {
		x.gc = guestCust{status: types.GuestCustStatusPending, noOS: true}
	}
	if m.vc == nil {
		return x, nil
	}
	pool := ""
	if m.vc.cfg.ResourcePool != "" { // the org VDC's resource pool (pvdc.go)
		p, _, _, err := m.backing()
		if err != nil {
			return nil, fmt.Errorf("create VM %s: %w", x.vcName, err)
		}
		pool = p
	}
	err := m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		moref, uuid, err := createBacking(ctx, c, x, pool, m.vc.cfg.Datastores)
		x.moref, x.uuid = moref, uuid
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create VM %s in the provider vCenter: %w", x.vcName, err)
	}
	return x, nil
}

// createBacking creates the vCenter VM of x, powered off, in the org VDC's
// resource pool (pool, a moref) on the first of the provider VDC's
// datastores (dsNames) that exists; without them (a provider vCenter
// configured without its VDC placement) in the first resource pool and
// datastore of the first datacenter:
// CPU, memory and disks (thin, on the controllers vCD names; IDE disks on
// the VM's built-in IDE controllers). The NICs stay vCD's: the lab's org VDC
// networks are NSX-T segments that the provider vCenter does not have.
func createBacking(ctx context.Context, c *vim25.Client, x *vm, pool string, dsNames []string) (string, string, error) {
	f := find.NewFinder(c, true)
	dcs, err := f.DatacenterList(ctx, "*")
	if err != nil {
		return "", "", err
	}
	f.SetDatacenter(dcs[0])
	folders, err := dcs[0].Folders(ctx)
	if err != nil {
		return "", "", err
	}
	pools, err := f.ResourcePoolList(ctx, "*")
	if err != nil {
		return "", "", err
	}
	rp := pools[0]
	if pool != "" {
		rp = object.NewResourcePool(c, vim.ManagedObjectReference{Type: "ResourcePool", Value: pool})
	}
	dsName := ""
	for _, n := range dsNames {
		if _, err := f.Datastore(ctx, n); err == nil {
			dsName = n
			break
		}
	}
	if dsName == "" && len(dsNames) > 0 {
		return "", "", fmt.Errorf("none of the provider VDC's datastores %v exists", dsNames)
	}
	if dsName == "" {
		dss, err := f.DatastoreList(ctx, "*")
		if err != nil {
			return "", "", err
		}
		dsName = dss[0].Name()
	}
	ds := "[" + dsName + "]"
	cores := int32(x.cores)
	spec := vim.VirtualMachineConfigSpec{
		Name: x.vcName, GuestId: x.guestOS, NumCPUs: int32(x.cpus), NumCoresPerSocket: &cores, MemoryMB: int64(x.memMB),
		Files: &vim.VirtualMachineFileInfo{VmPathName: ds},
	}
	ctlKeys := map[string]int32{}
	next := int32(-100)
	for i, d := range x.disks {
		id := d.Adapter.Code + "/" + fmt.Sprint(d.Bus)
		ck, ok := ctlKeys[id]
		if !ok && d.Adapter.Code == "5" {
			ck, ok = 200+int32(d.Bus), true // the VM's built-in IDE controllers
		}
		if !ok {
			next--
			ck = next
			ctl, err := newController(d.Adapter.Code, ck, int32(d.Bus))
			if err != nil {
				return "", "", err
			}
			spec.DeviceChange = append(spec.DeviceChange, &vim.VirtualDeviceConfigSpec{Operation: vim.VirtualDeviceConfigSpecOperationAdd, Device: ctl})
		}
		ctlKeys[id] = ck
		unit := int32(d.Unit)
		spec.DeviceChange = append(spec.DeviceChange, &vim.VirtualDeviceConfigSpec{
			Operation: vim.VirtualDeviceConfigSpecOperationAdd, FileOperation: vim.VirtualDeviceConfigSpecFileOperationCreate,
			Device: &vim.VirtualDisk{
				VirtualDevice: vim.VirtualDevice{Key: int32(-1 - i), ControllerKey: ck, UnitNumber: &unit,
					Backing: &vim.VirtualDiskFlatVer2BackingInfo{ThinProvisioned: vim.NewBool(true),
						VirtualDeviceFileBackingInfo: vim.VirtualDeviceFileBackingInfo{FileName: ds}, DiskMode: string(vim.VirtualDiskModePersistent)}},
				CapacityInKB: d.CapacityKB,
			},
		})
	}
	task, err := folders.VmFolder.CreateVM(ctx, spec, rp, nil)
	if err != nil {
		return "", "", err
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return "", "", err
	}
	ref, ok := info.Result.(vim.ManagedObjectReference)
	if !ok {
		return "", "", fmt.Errorf("CreateVM returned %T", info.Result)
	}
	var o mo.VirtualMachine
	if err := property.DefaultCollector(c).RetrieveOne(ctx, ref, []string{"config.instanceUuid"}, &o); err != nil {
		return "", "", err
	}
	uuid := ""
	if o.Config != nil {
		uuid = o.Config.InstanceUuid
	}
	return ref.Value, uuid, nil
}

// newController is a disk controller of vCD's adapter type code.
func newController(code string, key, bus int32) (vim.BaseVirtualDevice, error) {
	sc := vim.VirtualSCSIController{VirtualController: vim.VirtualController{VirtualDevice: vim.VirtualDevice{Key: key}, BusNumber: bus},
		SharedBus: vim.VirtualSCSISharingNoSharing}
	switch code {
	case "1":
		return &vim.VirtualBusLogicController{VirtualSCSIController: sc}, nil
	case "2":
		return &vim.VirtualLsiLogicController{VirtualSCSIController: sc}, nil
	case "3":
		return &vim.VirtualLsiLogicSASController{VirtualSCSIController: sc}, nil
	case "4":
		return &vim.ParaVirtualSCSIController{VirtualSCSIController: sc}, nil
	case "6":
		return &vim.VirtualAHCIController{VirtualSATAController: vim.VirtualSATAController{VirtualController: sc.VirtualController}}, nil
	case "7":
		return &vim.VirtualNVMEController{VirtualController: sc.VirtualController}, nil
	}
	return nil, fmt.Errorf("disk adapter type %q", code)
}

// --- vApp networks ---------------------------------------------------------

func (c *reqCtx) networkConfigXML(a *vapp) *types.NetworkConfigSection {
	self := c.abs(a.href() + "/networkConfigSection/")
	x := &types.NetworkConfigSection{Info: "The configuration parameters for logical networks", HREF: self, Type: types.MimeNetworkConfigSection,
		Link: &types.Link{Rel: "edit", Type: types.MimeNetworkConfigSection, HREF: self}}
	x.NetworkConfig = append(x.NetworkConfig, a.networks...)
	return x
}

func handleGetNetworkConfig(c *reqCtx) {
	a, v := c.entityFromPath()
	if a == nil || v != nil {
		if v != nil {
			c.forbidden("vApp", c.r.PathValue("id"))
		}
		return
	}
	c.xml(http.StatusOK, types.MimeNetworkConfigSection, "NetworkConfigSection", c.networkConfigXML(a))
}

// handlePutNetworkConfig replaces a vApp's networks (the whole section, as
// vCD does). Simulated: vApp networks bridged to an org VDC network of the
// vApp's VDC (named as that network, as the UI and the client name them)
// and isolated vApp networks (one IP scope: gateway, netmask or prefix,
// static ranges inside the subnet and off the gateway). Fenced (natRouted)
// vApp networks are not simulated. Removing a network a VM of the vApp uses
// needs the vApp undeployed; its NICs are then left on "none".
func handlePutNetworkConfig(c *reqCtx) {
	a, v := c.entityFromPath()
	if a == nil || v != nil {
		if v != nil {
			c.forbidden("vApp", c.r.PathValue("id"))
		}
		return
	}
	var in types.NetworkConfigSection
	if !c.readXML(&in) {
		return
	}
	bad := func(format string, args ...any) { c.fail(http.StatusBadRequest, "BAD_REQUEST", format, args...) }
	var out []types.VAppNetworkConfiguration
	names := map[string]bool{}
	for _, cfg := range in.NetworkConfig {
		if names[cfg.NetworkName] {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "vApp network %s is given twice", cfg.NetworkName)
			return
		}
		names[cfg.NetworkName] = true
		if cfg.NetworkName == "" || cfg.Configuration == nil {
			bad("vApp network %q: a name and a Configuration are required", cfg.NetworkName)
			return
		}
		id := nameUUID("vappnet", a.id, cfg.NetworkName)
		x := types.VAppNetworkConfiguration{
			HREF: c.abs("/api/admin/network/" + id), Type: "application/vnd.vmware.vcloud.vAppNetwork+xml", ID: urn("network", id),
			NetworkName: cfg.NetworkName, Description: cfg.Description, IsDeployed: a.isDeployed(),
			Link: &types.Link{Rel: "repair", Type: "application/vnd.vmware.admin.network+xml", HREF: c.abs("/api/admin/network/" + id + "/action/reset")},
		}
		switch cfg.Configuration.FenceMode {
		case types.FenceModeBridged:
			if cfg.Configuration.ParentNetwork == nil {
				bad("vApp network %s: a bridged network needs its ParentNetwork", cfg.NetworkName)
				return
			}
			n := c.m.networkByHref(cfg.Configuration.ParentNetwork.HREF)
			if n == nil || n.org != a.org {
				bad("vApp network %s: parent %s is not an org VDC network of %s", cfg.NetworkName, cfg.Configuration.ParentNetwork.HREF, c.m.vdc.name)
				return
			}
			if cfg.NetworkName != n.Name {
				bad("vApp network %s: a network bridged to %s must be named %s", cfg.NetworkName, n.Name, n.Name)
				return
			}
			x.Configuration = &types.NetworkConfiguration{FenceMode: types.FenceModeBridged,
				ParentNetwork:                  &types.Reference{HREF: c.abs(n.adminHref()), Name: n.Name, ID: n.ID, Type: "application/vnd.vmware.admin.network+xml"},
				RetainNetInfoAcrossDeployments: cfg.Configuration.RetainNetInfoAcrossDeployments}
		case types.FenceModeIsolated:
			if _, err := isolatedScope(cfg.Configuration); err != nil {
				bad("vApp network %s: %v", cfg.NetworkName, err)
				return
			}
			conf := *cfg.Configuration
			conf.ParentNetwork, conf.Xmlns = nil, ""
			x.Configuration = &conf
		default:
			bad("vApp network %s: FenceMode %q is not simulated (bridged and isolated are)", cfg.NetworkName, cfg.Configuration.FenceMode)
			return
		}
		out = append(out, x)
	}
	// The org VDC networks the vApp gains or loses are changed too: a
	// running task on one refuses this change, and this task holds them.
	var nets []string
	bridged := func(cfgs []types.VAppNetworkConfiguration) map[string]bool {
		ids := map[string]bool{}
		for _, cfg := range cfgs {
			if cfg.Configuration != nil && cfg.Configuration.ParentNetwork != nil {
				if n := c.m.networkByHref(cfg.Configuration.ParentNetwork.HREF); n != nil {
					ids[n.ID] = true
				}
			}
		}
		return ids
	}
	before, after := bridged(a.networks), bridged(out)
	for id := range after {
		if !before[id] {
			nets = append(nets, id)
		}
	}
	for id := range before {
		if !after[id] {
			nets = append(nets, id)
		}
	}
	if c.refuseBusy(nets...) {
		return
	}
	var orphan []*vmNIC
	for _, x := range a.vms {
		for i := range x.nics {
			n := &x.nics[i]
			if n.Network == "none" || n.Network == "" || names[n.Network] {
				continue
			}
			if a.isDeployed() {
				bad("vApp network %s is used by NIC %d of VM %s: undeploy vApp %s first", n.Network, i, x.name, a.name)
				return
			}
			orphan = append(orphan, n)
		}
	}
	for _, n := range orphan {
		n.Network, n.Connected, n.IP, n.Mode = "none", false, "", "NONE"
	}
	a.networks = out
	t := c.m.newTask(c, "vdcUpdateVappNetworkSection", "Updating the networks of Virtual Application "+a.name+"("+a.id+")", a.ref(), nil)
	t.lock(nets...)
	c.taskResponse(t)
}

// networkNames names the vApp's networks ("none yet" when it has none).
func (a *vapp) networkNames() []string {
	var out []string
	for _, cfg := range a.networks {
		out = append(out, cfg.NetworkName)
	}
	if len(out) == 0 {
		out = append(out, "none yet")
	}
	return out
}

// isolatedScope checks an isolated vApp network's IP scope and returns its
// subnet.
func isolatedScope(conf *types.NetworkConfiguration) (netip.Prefix, error) {
	if conf.IPScopes == nil || len(conf.IPScopes.IPScope) != 1 {
		return netip.Prefix{}, fmt.Errorf("an isolated network needs exactly one IpScope")
	}
	sc := conf.IPScopes.IPScope[0]
	gw, err := netip.ParseAddr(sc.Gateway)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("gateway %q is not an IP address", sc.Gateway)
	}
	bits := -1
	switch {
	case sc.SubnetPrefixLength != "" && sc.Netmask != "":
		return netip.Prefix{}, fmt.Errorf("give a netmask or a prefix length, not both")
	case sc.SubnetPrefixLength != "":
		bits, err = strconv.Atoi(sc.SubnetPrefixLength)
		if err != nil {
			bits = -1
		}
	case sc.Netmask != "":
		if m, err := netip.ParseAddr(sc.Netmask); err == nil && m.Is4() {
			b := m.As4()
			ones, _ := net.IPv4Mask(b[0], b[1], b[2], b[3]).Size()
			if ones > 0 || sc.Netmask == "0.0.0.0" {
				bits = ones
			}
		}
	}
	p, err := gw.Prefix(bits)
	if bits < 0 || err != nil {
		return netip.Prefix{}, fmt.Errorf("netmask %q / prefix length %q is not valid for gateway %s", sc.Netmask, sc.SubnetPrefixLength, sc.Gateway)
	}
	inRange := func(what string, r *types.IPRange) error {
		lo, err1 := netip.ParseAddr(r.StartAddress)
		hi, err2 := netip.ParseAddr(r.EndAddress)
		switch {
		case err1 != nil || err2 != nil || hi.Less(lo):
			return fmt.Errorf("%s range %s-%s is not valid", what, r.StartAddress, r.EndAddress)
		case !p.Contains(lo) || !p.Contains(hi):
			return fmt.Errorf("%s range %s-%s is outside %s", what, r.StartAddress, r.EndAddress, p)
		case !gw.Less(lo) && !hi.Less(gw):
			return fmt.Errorf("%s range %s-%s contains the gateway %s", what, r.StartAddress, r.EndAddress, gw)
		}
		return nil
	}
	if sc.IPRanges != nil {
		for _, r := range sc.IPRanges.IPRange {
			if err := inRange("static IP", r); err != nil {
				return netip.Prefix{}, err
			}
		}
	}
	if f := conf.Features; f != nil && f.DhcpService != nil && f.DhcpService.IPRange != nil {
		if err := inRange("DHCP", f.DhcpService.IPRange); err != nil {
			return netip.Prefix{}, err
		}
	}
	return p, nil
}

// vappNetworkRecords is the vAppNetwork query: the networks of the visible
// vApps (isLinked: bridged to an org VDC network).
func (c *reqCtx) vappNetworkRecords() []queryRecord {
	var out []queryRecord
	for _, a := range c.m.vapps {
		if !c.canSeeOrg(a.org) {
			continue
		}
		for _, cfg := range a.networks {
			linked := cfg.Configuration.FenceMode == types.FenceModeBridged
			rec := &types.QueryResultVappNetworkRecordType{HREF: cfg.HREF, ID: cfg.ID, Name: cfg.NetworkName,
				Vapp: c.abs(a.href()), VappName: a.name, IsLinked: linked}
			if linked {
				rec.LinkNetworkName = cfg.Configuration.ParentNetwork.Name
			} else if sc := cfg.Configuration.IPScopes.IPScope[0]; sc != nil {
				rec.Gateway, rec.Netmask, rec.Dns1, rec.Dns2, rec.DnsSuffix = sc.Gateway, sc.Netmask, sc.DNS1, sc.DNS2, sc.DNSSuffix
			}
			out = append(out, queryRecord{rec: rec, fields: map[string]string{
				"name": cfg.NetworkName, "vApp": a.id, "vAppName": a.name, "isLinked": strconv.FormatBool(linked), "id": bareID(cfg.ID),
			}})
		}
	}
	return out
}

// newMAC is a MAC address from vCD's default pool (00:50:56, the VMware
// OUI, locally unique part).
func newMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("00:50:56:%02x:%02x:%02x", b[0]&0x3f, b[1], b[2])
}
