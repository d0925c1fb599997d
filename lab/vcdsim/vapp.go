package vcdsim

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	vim "github.com/vmware/govmomi/vim25/types"
)

// vApp and VM status codes of the vCD API.
const (
	statusUnresolved = 0 // being created (import in progress)
	statusPoweredOn  = 4
	statusMixed      = 10 // some VMs on and some off, or a deployed vApp with a VM off
	statusPoweredOff = 8
)

type vapp struct {
	id, name, description string
	org                   *org
	vms                   []*vm
	created               time.Time
	importing             bool
	deployed              bool                             // an empty vApp, once deployed, is POWERED_ON
	networks              []types.VAppNetworkConfiguration // its NetworkConfigSection (compose.go)
}

// vm is a VM managed by vCD, backed by a provider vCenter VM (moref).
type vm struct {
	id, name  string
	policy    string // its storage policy ("": the VDC's default)
	vapp      *vapp
	moref     string
	uuid      string
	poweredOn bool
	deployed  bool
	importing bool
	cpus      int
	cores     int // per socket
	memMB     int
	guestOS   string
	disks     []vmDisk
	nics      []vmNIC

	// composed VMs (compose.go): created by vCD in the provider vCenter
	composed    bool
	description string
	vcName      string // the VM's name in the provider vCenter
	gc          guestCust
	// gcs is an imported VM's guest customization setting (guestcust.go).
	gcs gcSection
}

func newVM(b *backingVM, a *vapp) *vm {
	return &vm{
		id: newUUID(), name: b.name, vapp: a, moref: b.moref, uuid: b.uuid,
		poweredOn: b.poweredOn, deployed: b.poweredOn, importing: true,
		cpus: b.cpus, cores: b.coresPerSocket, memMB: b.memMB, guestOS: b.guestOS, disks: b.disks, nics: b.nics,
		vcName: b.name,
	}
}

func (a *vapp) href() string { return "/api/vApp/vapp-" + a.id }
func (a *vapp) urn() string  { return urn("vapp", a.id) }
func (a *vapp) ref() types.Reference {
	return types.Reference{HREF: a.href(), ID: a.urn(), Name: a.name, Type: mimeVApp}
}

// status of a vApp: never 0 once created (a 0 blocks the client's PowerOn).
// An empty vApp is RESOLVED, or POWERED_ON once deployed; otherwise
// POWERED_ON when all its VMs are on, POWERED_OFF when all are off and the
// vApp is not deployed, MIXED in between (a VM off in a deployed vApp).
func (a *vapp) status() int {
	if a.importing {
		return statusUnresolved
	}
	if len(a.vms) == 0 && a.deployed {
		return statusPoweredOn
	} else if len(a.vms) == 0 {
		return statusResolved
	}
	on := 0
	for _, v := range a.vms {
		if v.poweredOn {
			on++
		}
	}
	switch {
	case on == len(a.vms):
		return statusPoweredOn
	case on == 0 && !a.deployed:
		return statusPoweredOff
	}
	return statusMixed
}

// isDeployed is the vApp's Deployed: it or one of its VMs is.
func (a *vapp) isDeployed() bool {
	for _, v := range a.vms {
		if v.deployed {
			return true
		}
	}
	return a.deployed
}

func (v *vm) href() string { return "/api/vApp/vm-" + v.id }
func (v *vm) urn() string  { return urn("vm", v.id) }
func (v *vm) ref() types.Reference {
	return types.Reference{HREF: v.href(), ID: v.urn(), Name: v.name, Type: mimeVM}
}

func (v *vm) status() int {
	switch {
	case v.importing:
		return statusUnresolved
	case v.poweredOn:
		return statusPoweredOn
	default:
		return statusPoweredOff
	}
}

func (m *model) vappByID(id string) *vapp {
	for _, a := range m.vapps {
		if a.id == id {
			return a
		}
	}
	return nil
}

func (m *model) vmByMoref(moref string) *vm {
	for _, a := range m.vapps {
		for _, v := range a.vms {
			if v.moref == moref {
				return v
			}
		}
	}
	return nil
}

func (c *reqCtx) powerLinks(self string, on bool) types.LinkList {
	var l types.LinkList
	ops := []string{"powerOn", "deploy"}
	if on {
		ops = []string{"powerOff", "shutdown", "reboot", "reset", "undeploy"}
	}
	for _, op := range ops {
		p := self + "/power/action/" + op
		if op == "deploy" || op == "undeploy" {
			p = self + "/action/" + op
		}
		l = append(l, &types.Link{Rel: op, HREF: c.abs(p)})
	}
	return l
}

func (c *reqCtx) vappXML(a *vapp) *types.VApp {
	st := a.status()
	x := &types.VApp{
		HREF: c.abs(a.href()), Type: mimeVApp, ID: a.urn(), Name: a.name, Status: st,
		Deployed: a.isDeployed(), Description: a.description,
		DateCreated: a.created.UTC().Format(time.RFC3339),
		Link: append(types.LinkList{
			{Rel: "up", Type: mimeVdc, HREF: c.abs(c.m.vdc.href())},
			{Rel: "remove", HREF: c.abs(a.href())},
		}, c.powerLinks(a.href(), st == statusPoweredOn)...),
		Children:             &types.VAppChildren{},
		NetworkConfigSection: c.networkConfigXML(a),
	}
	for _, v := range a.vms {
		x.Children.VM = append(x.Children.VM, c.vmXML(v))
	}
	return x
}

func (c *reqCtx) vmXML(v *vm) *types.Vm {
	cpus, mem := v.cpus, int64(v.memMB)
	desc := fmt.Sprintf("imported from the provider vCenter (%s)", v.moref)
	if v.composed {
		desc = v.description
	}
	x := &types.Vm{
		HREF: c.abs(v.href()), Type: mimeVM, ID: v.urn(), Name: v.name, Status: v.status(), Deployed: v.deployed,
		Description:              desc,
		VAppParent:               &types.Reference{HREF: c.abs(v.vapp.href()), Name: v.vapp.name, Type: mimeVApp},
		Link:                     append(types.LinkList{{Rel: "up", Type: mimeVApp, HREF: c.abs(v.vapp.href())}}, c.powerLinks(v.href(), v.poweredOn)...),
		NetworkConnectionSection: c.ncsXML(v),
		VmSpecSection: &types.VmSpecSection{
			Info: "Virtual Machine specification", OsType: v.guestOS, NumCpus: &cpus,
			MemoryResourceMb: &types.MemoryResourceMb{Configured: mem},
			DiskSection:      &types.DiskSection{},
		},
		StorageProfile:         c.vmStorageProfile(v),
		VirtualHardwareSection: c.hardwareXML(v),
	}
	for i, d := range v.disks {
		size := d.CapacityKB * 1024
		x.VmSpecSection.DiskSection.DiskSettings = append(x.VmSpecSection.DiskSection.DiskSettings, &types.DiskSettings{
			DiskId: fmt.Sprint(2000 + i), SizeMb: d.CapacityKB / 1024, UnitNumber: d.Unit, BusNumber: d.Bus,
			AdapterType: d.Adapter.Code, VirtualQuantity: &size, VirtualQuantityUnit: "byte",
		})
	}
	return x
}

// OVF (CIM) resource types of VirtualHardwareSection items.
const (
	rtProcessor = 3
	rtMemory    = 4
	rtNIC       = 10
	rtDisk      = 17
)

// hardwareXML is the VM's ovf:VirtualHardwareSection as vCD renders it:
// CPU, memory, one item per disk controller, disk and NIC (instance ids
// from vCD's numbering: controllers from 1 up, disks 2000 up, NICs by
// index), read from what the import found on the provider VM.
func (c *reqCtx) hardwareXML(v *vm) *types.VirtualHardwareSection {
	self := c.abs(v.href() + "/virtualHardwareSection/")
	x := &types.VirtualHardwareSection{
		Info: "Virtual hardware requirements", HREF: self, Type: types.MimeVirtualHardwareSection,
		Link: []*types.Link{{Rel: "edit", Type: types.MimeVirtualHardwareSection, HREF: self}},
	}
	cores := max(v.cores, 1)
	x.Item = append(x.Item,
		&types.VirtualHardwareItem{ResourceType: rtProcessor, ElementName: fmt.Sprintf("%d virtual CPU(s)", v.cpus),
			Description: "Number of Virtual CPUs", InstanceID: 4, AllocationUnits: "hertz * 10^6",
			VirtualQuantity: int64(v.cpus), CoresPerSocket: cores},
		&types.VirtualHardwareItem{ResourceType: rtMemory, ElementName: fmt.Sprintf("%d MB of memory", v.memMB),
			Description: "Memory Size", InstanceID: 5, AllocationUnits: "byte * 2^20", VirtualQuantity: int64(v.memMB)})
	ctlID := map[diskAdapter]map[int]int{}
	next := 100
	for i, d := range v.disks {
		if ctlID[d.Adapter] == nil {
			ctlID[d.Adapter] = map[int]int{}
		}
		id, ok := ctlID[d.Adapter][d.Bus]
		if !ok {
			id, next = next, next+1
			ctlID[d.Adapter][d.Bus] = id
			x.Item = append(x.Item, &types.VirtualHardwareItem{ResourceType: d.Adapter.ResourceType, ResourceSubType: d.Adapter.SubType,
				ElementName: fmt.Sprintf("%s controller %d", d.Adapter.SubType, d.Bus), Description: "Disk controller",
				InstanceID: id, Address: fmt.Sprint(d.Bus)})
		}
		x.Item = append(x.Item, &types.VirtualHardwareItem{ResourceType: rtDisk, ElementName: fmt.Sprintf("Hard disk %d", i+1),
			Description: "Hard disk", InstanceID: 2000 + i, AddressOnParent: d.Unit, Parent: id,
			HostResource: []*types.VirtualHardwareHostResource{{BusType: d.Adapter.ResourceType, BusSubType: d.Adapter.SubType,
				Capacity: int(d.CapacityKB / 1024)}}})
	}
	for i, n := range v.nics {
		x.Item = append(x.Item, &types.VirtualHardwareItem{ResourceType: rtNIC, ResourceSubType: n.Type,
			ElementName: fmt.Sprintf("Network adapter %d", i), Description: n.Type + " ethernet adapter on \"" + n.Network + "\"",
			InstanceID: 10 + i, Address: n.MAC, AddressOnParent: i, AutomaticAllocation: n.Connected,
			Connection: []*types.VirtualHardwareConnection{{NetworkName: n.Network, IPAddress: n.IP, IpAddressingMode: n.Mode, PrimaryConnection: i == 0}}})
	}
	return x
}

func handleGetHardware(c *reqCtx) {
	if _, v := c.entityFromPath(); v != nil {
		c.xml(http.StatusOK, types.MimeVirtualHardwareSection, "VirtualHardwareSection", c.hardwareXML(v))
	}
}

func (c *reqCtx) ncsXML(v *vm) *types.NetworkConnectionSection {
	x := &types.NetworkConnectionSection{
		Info: "Specifies the available VM network connections", HREF: c.abs(v.href() + "/networkConnectionSection/"),
		Type: types.MimeNetworkConnectionSection,
		Link: &types.Link{Rel: "edit", Type: types.MimeNetworkConnectionSection, HREF: c.abs(v.href() + "/networkConnectionSection/")},
	}
	for i, n := range v.nics {
		x.NetworkConnection = append(x.NetworkConnection, &types.NetworkConnection{
			Network: n.Network, NetworkConnectionIndex: i, IsConnected: n.Connected, MACAddress: n.MAC,
			IPAddress: n.IP, IPAddressAllocationMode: n.Mode, NetworkAdapterType: n.Type,
		})
	}
	return x
}

func handleGetNCS(c *reqCtx) {
	if _, v := c.entityFromPath(); v != nil {
		c.xml(http.StatusOK, types.MimeNetworkConnectionSection, "NetworkConnectionSection", c.ncsXML(v))
	}
}

// handlePutNCS reconnects a VM's NICs, checked as vCD checks them: each
// names a network of the VM's vApp (an org VDC network the vApp was given,
// bridged), or "none" (no network, no address);
// the allocation mode is POOL (an address of the network's static pool is
// given out), DHCP, MANUAL (an address of the network's subnet that is not
// its gateway and no other NIC has) or NONE. NICs are matched by index;
// MACs stay unless given. An unchanged section is accepted.
func handlePutNCS(c *reqCtx) {
	_, v := c.entityFromPath()
	if v == nil {
		return
	}
	var in types.NetworkConnectionSection
	if !c.readXML(&in) {
		return
	}
	bad := func(format string, args ...any) {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", format, args...)
	}
	nics := append([]vmNIC(nil), v.nics...)
	seen := map[int]bool{}
	for _, nc := range in.NetworkConnection {
		i := nc.NetworkConnectionIndex
		if i < 0 || i >= len(nics) {
			bad("NetworkConnectionIndex %d: the VM has %d NICs", i, len(nics))
			return
		}
		if seen[i] {
			bad("NetworkConnectionIndex %d is given twice", i)
			return
		}
		seen[i] = true
		n := &nics[i]
		if nc.MACAddress != "" {
			n.MAC = nc.MACAddress
		}
		if nc.Network == "none" || nc.Network == "" {
			n.Network, n.Connected, n.IP, n.Mode = "none", false, "", "NONE"
			continue
		}
		// A NIC connects to a network of its vApp: an org VDC network
		// reaches a VM once the vApp has it (bridged), as vCD answers
		// "The VCD entity network ... does not exist" otherwise.
		var net *network
		for _, cfg := range v.vapp.networks {
			if cfg.NetworkName != nc.Network {
				continue
			}
			if cfg.Configuration == nil || cfg.Configuration.ParentNetwork == nil {
				bad("NIC %d: reconnecting to isolated vApp network %s is not simulated (bridged vApp networks are)", i, nc.Network)
				return
			}
			net = c.m.networkByHref(cfg.Configuration.ParentNetwork.HREF)
		}
		if net == nil {
			bad("The VCD entity network %q does not exist: NIC %d can connect to a network of vApp %s (%s) or to \"none\"; add the org VDC network to the vApp's networks (NetworkConfigSection) first",
				nc.Network, i, v.vapp.name, strings.Join(v.vapp.networkNames(), ", "))
			return
		}
		n.Network, n.Connected, n.IP = nc.Network, nc.IsConnected, ""
		switch mode := nc.IPAddressAllocationMode; mode {
		case "NONE", "DHCP":
			n.Mode = mode
		case "MANUAL":
			err := c.checkManualIP(net, nc.IPAddress, v, i)
			for j, o := range nics {
				if err == nil && j != i && seen[j] && o.Network == net.Name && o.IP == nc.IPAddress {
					err = fmt.Errorf("IpAddress %s is given to NIC %d too", nc.IPAddress, j)
				}
			}
			if err != nil {
				bad("NIC %d: %v", i, err)
				return
			}
			n.Mode, n.IP = mode, nc.IPAddress
		case "POOL":
			if old := v.nics[i]; old.Network == net.Name && old.Mode == "POOL" && old.IP != "" {
				n.Mode, n.IP = mode, old.IP // keeps its address
				break
			}
			ip, err := c.poolIP(net, v, i, nics)
			if err != nil {
				bad("NIC %d: %v", i, err)
				return
			}
			n.Mode, n.IP = mode, ip
		default:
			bad("NIC %d: IpAddressAllocationMode %q: must be POOL, DHCP, MANUAL or NONE", i, mode)
			return
		}
	}
	for i := range nics {
		if o, n := v.nics[i], nics[i]; o.Network != n.Network || o.IP != n.IP || o.Mode != n.Mode || o.MAC != n.MAC {
			v.gcs.changed(fmt.Sprintf("NIC %d changed in Cloud Director (%s %s %s -> %s %s %s)", i, o.Network, o.Mode, o.IP, n.Network, n.Mode, n.IP))
			break
		}
	}
	v.nics = nics
	t := c.m.newTask(c, "vappUpdateVm", "Updating network connections of "+v.name, v.ref(), nil)
	c.taskResponse(t)
}

// inUse reports whether another NIC (not NIC idx of self) on network name
// has address ip.
func (c *reqCtx) inUse(name, ip string, self *vm, idx int) bool {
	for _, a := range c.m.vapps {
		for _, o := range a.vms {
			for j, n := range o.nics {
				if (o != self || j != idx) && n.Network == name && n.IP == ip {
					return true
				}
			}
		}
	}
	return false
}

func (c *reqCtx) checkManualIP(net *network, ip string, self *vm, idx int) error {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return fmt.Errorf("IpAddress %q: MANUAL allocation needs an IP address", ip)
	}
	for _, sn := range net.Subnets.Values {
		gw, err := netip.ParseAddr(sn.Gateway)
		if err != nil {
			continue
		}
		p := netip.PrefixFrom(gw, sn.PrefixLength).Masked()
		switch {
		case !p.Contains(a):
			continue
		case a == gw:
			return fmt.Errorf("IpAddress %s is the gateway of network %s", ip, net.Name)
		case a == p.Addr():
			return fmt.Errorf("IpAddress %s is the address of subnet %s", ip, p)
		case c.inUse(net.Name, ip, self, idx):
			return fmt.Errorf("IpAddress %s is already in use on network %s", ip, net.Name)
		}
		return nil
	}
	return fmt.Errorf("IpAddress %s is not in a subnet of network %s", ip, net.Name)
}

// poolIP gives out the first free address of the network's static pool;
// pending are the VM's NICs as this request leaves them so far.
func (c *reqCtx) poolIP(net *network, self *vm, idx int, pending []vmNIC) (string, error) {
	for _, sn := range net.Subnets.Values {
		for _, r := range sn.IPRanges.Values {
			start, err1 := netip.ParseAddr(r.StartAddress)
			end, err2 := netip.ParseAddr(r.EndAddress)
			if err1 != nil || err2 != nil {
				continue
			}
			for a := start; a.IsValid() && a.Compare(end) <= 0; a = a.Next() {
				ip, taken := a.String(), false
				for j, n := range pending {
					taken = taken || (j != idx && n.Network == net.Name && n.IP == ip)
				}
				if !taken && !c.inUse(net.Name, ip, self, idx) {
					return ip, nil
				}
			}
		}
	}
	return "", fmt.Errorf("POOL allocation: the static IP pool of network %s has no free address", net.Name)
}

// entityFromPath resolves /api/vApp/{id} to a vApp or a VM.
// syncPower takes the power state of vms from the provider vCenter, as
// Cloud Director follows vCenter: a VM whose guest shut down, or that an
// admin powered off in vCenter, reads POWERED_OFF and stays deployed (it
// must be undeployed before it can be deleted); one powered on in vCenter
// reads POWERED_ON, deployed. VMs being imported are left as they are, and
// so is everything when vCenter does not answer.
func (m *model) syncPower(vms []*vm) {
	if m.vc == nil {
		return
	}
	var morefs []string
	for _, v := range vms {
		if v.moref != "" && !v.importing {
			morefs = append(morefs, v.moref)
		}
	}
	if len(morefs) == 0 {
		return
	}
	on, err := m.vc.powerStates(morefs)
	if err != nil {
		return
	}
	for _, v := range vms {
		if st, ok := on[v.moref]; ok && !v.importing && st != v.poweredOn {
			v.poweredOn = st
			v.deployed = v.deployed || st
		}
	}
}

func (c *reqCtx) entityFromPath() (*vapp, *vm) {
	id := c.r.PathValue("id")
	for _, a := range c.m.vapps {
		if !c.canSeeOrg(a.org) {
			continue
		}
		if id == "vapp-"+a.id {
			c.m.syncPower(a.vms)
			return a, nil
		}
		for _, v := range a.vms {
			if id == "vm-"+v.id {
				c.m.syncPower(a.vms)
				return a, v
			}
		}
	}
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vapp:%s\".", id)
	return nil, nil
}

func handleVApp(c *reqCtx) {
	a, v := c.entityFromPath()
	switch {
	case v != nil:
		c.xml(http.StatusOK, mimeVM, "Vm", c.vmXML(v))
	case a != nil:
		c.xml(http.StatusOK, mimeVApp, "VApp", c.vappXML(a))
	}
}

// handlePower runs power/action/{op} and action/deploy|undeploy on a vApp
// (all its VMs) or a VM, forwarding to the provider vCenter. A vCenter
// failure makes the task fail, as in vCD.
func handlePower(c *reqCtx) {
	a, v := c.entityFromPath()
	if a == nil {
		return
	}
	op := c.r.PathValue("op")
	vms, owner := a.vms, a.ref()
	if v != nil {
		vms, owner = []*vm{v}, v.ref()
	}
	on, force, ok := c.powerIntent(op, vms) // compose.go: deploy/undeploy parameters
	if !ok {
		return
	}
	for _, x := range vms {
		if x.importing {
			c.fail(http.StatusBadRequest, "BUSY_ENTITY", "VM %s is busy: it is being imported", x.name)
			return
		}
	}
	var err error
	if on {
		// Cloud Director's quota: nothing powers on past the VDC's limits.
		err = c.m.admitPowerOn(vms)
	}
	for _, x := range vms {
		if err != nil {
			break
		}
		on := on
		if op == "deploy" && !on {
			on = x.poweredOn // deploy with powerOn=false leaves the power state
		}
		if c.m.vc != nil && x.moref != "" {
			if err = c.m.vc.power(x.moref, on); err != nil {
				break
			}
		}
		if on && !x.poweredOn {
			c.m.poweredOn(x)
		}
		x.poweredOn = on
		x.deployed = op == "deploy" || on || (op != "undeploy" && x.deployed)
		x.gc.powered(on, force)
	}
	if v == nil && err == nil {
		a.deployed = op == "deploy" || on // a vApp's powerOff or undeploy leaves it POWERED_OFF
	}
	t := c.m.newTask(c, "vappPower"+strings.ToUpper(op[:1])+op[1:], fmt.Sprintf("%s %s", op, owner.Name), owner,
		func() error { return err })
	c.taskResponse(t)
}

// handleDeleteVApp deletes a powered-off vApp (or, for /api/vApp/vm-…, one
// VM) as Cloud Director does: each VM is destroyed in the provider vCenter
// together with every disk still attached to it. A vCenter failure fails the
// task and leaves the vApp in place.
func handleDeleteVApp(c *reqCtx) {
	a, v := c.entityFromPath()
	if a == nil {
		return
	}
	if v != nil {
		deleteVM(c, a, v)
		return
	}
	if st := a.status(); st == statusPoweredOn || st == statusMixed {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "vApp %s is %s: undeploy it first", a.name, statusName(st))
		return
	}
	var err error
	for _, x := range a.vms {
		if err = c.m.destroyBacking(x); err != nil {
			break
		}
	}
	if err == nil {
		for i, x := range c.m.vapps {
			if x == a {
				c.m.vapps = append(c.m.vapps[:i], c.m.vapps[i+1:]...)
				break
			}
		}
		// Its VM folder in the provider vCenter goes with it; the vApp
		// is gone whatever comes of that (a folder left is only clutter).
		_ = c.m.removeVAppFolder(a)
	}
	t := c.m.newTask(c, "vdcDeleteVapp", "Deleting vApp "+a.name, a.ref(), func() error { return err })
	c.taskResponse(t)
}

// deleteVM deletes one undeployed VM of a vApp; like a vApp's, its backing
// VM and attached disks are destroyed in the provider vCenter. A VM powered
// off without an undeploy (powerOff, not undeploy) is still deployed, and
// Cloud Director refuses to delete it until it is undeployed.
func deleteVM(c *reqCtx, a *vapp, v *vm) {
	if v.poweredOn {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s is powered on: undeploy it first", v.name)
		return
	}
	if v.deployed {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s is powered off but still deployed (partially powered off): undeploy it first", v.name)
		return
	}
	err := c.m.destroyBacking(v)
	if err == nil {
		for i, x := range a.vms {
			if x == v {
				a.vms = append(a.vms[:i], a.vms[i+1:]...)
				break
			}
		}
	}
	t := c.m.newTask(c, "vdcDeleteVm", "Deleting VM "+v.name, v.ref(), func() error { return err })
	c.taskResponse(t)
}

// destroyBacking destroys a VM's backing VM in the provider vCenter with
// every disk attached to it at that moment (vSphere binds an attached disk's
// file to its VM: Destroy deletes it). A backing VM already gone is not an
// error. The lab's vcsim does not delete attached disks that live outside the
// VM's own folder on Destroy, so the disks are removed with
// fileOperation=destroy first, which is what vCenter does to them anyway.
func (m *model) destroyBacking(v *vm) error {
	if m.vc == nil || v.moref == "" {
		return nil
	}
	return m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		ref := vim.ManagedObjectReference{Type: "VirtualMachine", Value: v.moref}
		obj := object.NewVirtualMachine(c, ref)
		devices, err := obj.Device(ctx)
		if fault.Is(err, &vim.ManagedObjectNotFound{}) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read VM %s in the provider vCenter: %w", v.moref, err)
		}
		var changes []vim.BaseVirtualDeviceConfigSpec
		for _, d := range devices.SelectByType((*vim.VirtualDisk)(nil)) {
			changes = append(changes, &vim.VirtualDeviceConfigSpec{
				Operation: vim.VirtualDeviceConfigSpecOperationRemove, FileOperation: vim.VirtualDeviceConfigSpecFileOperationDestroy, Device: d})
		}
		if len(changes) > 0 {
			task, err := obj.Reconfigure(ctx, vim.VirtualMachineConfigSpec{DeviceChange: changes})
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				return fmt.Errorf("delete the disks of VM %s in the provider vCenter: %w", v.moref, err)
			}
		}
		task, err := obj.Destroy(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("destroy VM %s in the provider vCenter: %w", v.moref, err)
		}
		return nil
	})
}

func (c *reqCtx) vappRecords() []queryRecord {
	var out []queryRecord
	for _, a := range c.m.vapps {
		if !c.canSeeOrg(a.org) {
			continue
		}
		rec := &types.QueryResultVAppRecordType{
			HREF: c.abs(a.href()), Name: a.name, Status: statusName(a.status()), VdcHREF: c.abs(c.m.vdc.href()),
			VdcName: c.m.vdc.name, NumberOfVMs: len(a.vms), Deployed: a.isDeployed(), Enabled: true,
			CreationDate: a.created.UTC().Format(time.RFC3339),
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{"name": a.name, "vdc": rec.VdcHREF, "vdcName": rec.VdcName, "status": rec.Status, "isDeployed": strconv.FormatBool(rec.Deployed)}})
	}
	return out
}

func (c *reqCtx) vmRecords() []queryRecord {
	var out []queryRecord
	for _, a := range c.m.vapps {
		if !c.canSeeOrg(a.org) {
			continue
		}
		c.m.syncPower(a.vms)
		for _, v := range a.vms {
			rec := &types.QueryResultVMRecordType{
				HREF: c.abs(v.href()), ID: v.urn(), Moref: v.moref, Name: v.name, Type: mimeVM,
				ContainerName: a.name, ContainerID: c.abs(a.href()), VdcHREF: c.abs(c.m.vdc.href()), VdcName: c.m.vdc.name,
				Status: statusName(v.status()), Deployed: v.deployed, GuestOS: v.guestOS, Cpus: v.cpus, MemoryMB: v.memMB,
				VmNameInVc: v.vcName,
			}
			if len(v.nics) > 0 {
				rec.NetworkName, rec.IpAddress = v.nics[0].Network, v.nics[0].IP
			}
			out = append(out, queryRecord{rec: rec, fields: map[string]string{
				"name": v.name, "containerName": a.name, "container": rec.ContainerID, "vdc": rec.VdcHREF,
				"isVAppTemplate": "false", "status": rec.Status, "moref": v.moref, "isDeployed": strconv.FormatBool(v.deployed),
			}})
		}
	}
	return out
}

func statusName(st int) string {
	switch st {
	case statusPoweredOn:
		return "POWERED_ON"
	case statusPoweredOff:
		return "POWERED_OFF"
	case statusResolved:
		return "RESOLVED"
	case statusMixed:
		return "MIXED"
	default:
		return "UNRESOLVED"
	}
}
