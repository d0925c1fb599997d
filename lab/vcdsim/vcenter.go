package vcdsim

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	vimsession "github.com/vmware/govmomi/session"
	vimtask "github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	vim "github.com/vmware/govmomi/vim25/types"
)

// vcenter is the provider vCenter registered in vCD (a "vimServer").
type vcenter struct {
	cfg *ProviderVC
	id  string // uuid of urn:vcloud:vimserver:<uuid>
	c   *vim25.Client
}

func newVCenter(cfg *ProviderVC) *vcenter {
	return &vcenter{cfg: cfg, id: nameUUID("vimserver", cfg.URL)}
}

// client logs in on first use (and again after a failure).
func (v *vcenter) client(ctx context.Context) (*vim25.Client, error) {
	if v.c != nil {
		return v.c, nil
	}
	u, err := soap.ParseURL(v.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("provider vCenter URL %q: %w", v.cfg.URL, err)
	}
	sc := soap.NewClient(u, false)
	if v.cfg.RootCAs != nil {
		sc.DefaultTransport().TLSClientConfig.RootCAs = v.cfg.RootCAs
	}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to provider vCenter %s: %w", u.Host, err)
	}
	if err := vimsession.NewManager(c).Login(ctx, url.UserPassword(v.cfg.Username, v.cfg.Password)); err != nil {
		return nil, fmt.Errorf("log in to provider vCenter %s as %s: %w", u.Host, v.cfg.Username, err)
	}
	v.c = c
	return c, nil
}

// call runs f against the provider vCenter. A transport failure drops the
// session so that the next call logs in again; an expired session is
// renewed and f retried once.
func (v *vcenter) call(f func(ctx context.Context, c *vim25.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c, err := v.client(ctx)
		if err != nil {
			return err
		}
		err = f(ctx, c)
		switch {
		case err == nil:
			return nil
		case fault.Is(err, &vim.NotAuthenticated{}) && attempt == 0:
			v.c = nil
			continue
		case !soap.IsSoapFault(err) && !soap.IsVimFault(err) && !fault.Is(err, &vim.ManagedObjectNotFound{}):
			v.c = nil
		}
		return err
	}
}

// closeVC logs out of the provider vCenter.
func (m *model) closeVC() {
	if m.vc == nil || m.vc.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = vimsession.NewManager(m.vc.c).Logout(ctx)
	m.vc.c = nil
}

// backingVM is what an import reads from the provider vCenter.
type backingVM struct {
	moref, name, uuid, guestOS, ip string
	poweredOn                      bool
	pool                           string   // resource pool moref
	datastores                     []string // datastore morefs of its files
	cpus, coresPerSocket, memMB    int
	disks                          []vmDisk
	nics                           []vmNIC
}

type vmDisk struct {
	Path       string // datastore path, e.g. "[datastore1] WebApp1/WebApp1.vmdk"
	CapacityKB int64
	Adapter    diskAdapter // the controller the disk is on
	Bus, Unit  int         // the controller's bus number, the disk's unit on it
}

// diskAdapter is a disk controller as vCD names it: the adapter type code of
// DiskSettings (VmSpecSection) and the OVF ResourceType / ResourceSubType of
// the controller's Item in the VirtualHardwareSection.
type diskAdapter struct {
	Code         string // 1 BusLogic, 2 LSI Logic, 3 LSI Logic SAS, 4 Paravirtual, 5 IDE, 6 SATA, 7 NVMe
	ResourceType int    // 5 IDE, 6 SCSI, 20 other storage (SATA, NVMe)
	SubType      string
}

// adapterOf maps a vSphere controller to the adapter vCD reports.
func adapterOf(c vim.BaseVirtualDevice) (diskAdapter, bool) {
	switch c.(type) {
	case *vim.VirtualBusLogicController:
		return diskAdapter{"1", 6, "buslogic"}, true
	case *vim.VirtualLsiLogicController:
		return diskAdapter{"2", 6, "lsilogic"}, true
	case *vim.VirtualLsiLogicSASController:
		return diskAdapter{"3", 6, "lsilogicsas"}, true
	case *vim.ParaVirtualSCSIController:
		return diskAdapter{"4", 6, "VirtualSCSI"}, true
	case *vim.VirtualIDEController:
		return diskAdapter{"5", 5, "ide"}, true
	case *vim.VirtualAHCIController:
		return diskAdapter{"6", 20, "vmware.sata.ahci"}, true
	case *vim.VirtualNVMEController:
		return diskAdapter{"7", 20, "vmware.nvme.controller"}, true
	}
	return diskAdapter{}, false
}

// nicType is the NetworkAdapterType vCD reports for a vSphere NIC.
func nicType(d vim.BaseVirtualDevice) string {
	switch d.(type) {
	case *vim.VirtualVmxnet3:
		return "VMXNET3"
	case *vim.VirtualVmxnet2:
		return "VMXNET2"
	case *vim.VirtualE1000:
		return "E1000"
	case *vim.VirtualE1000e:
		return "E1000E"
	case *vim.VirtualPCNet32:
		return "PCNet32"
	case *vim.VirtualSriovEthernetCard:
		return "SRIOVETHERNETCARD"
	}
	return "VMXNET3"
}

type vmNIC struct {
	MAC       string
	Type      string // NetworkAdapterType: VMXNET3, E1000E, ...
	Network   string // the org VDC network, or "none"
	IP        string
	Mode      string // IpAddressAllocationMode
	Connected bool
}

func (v *vcenter) readVM(moref string) (*backingVM, error) {
	var out *backingVM
	err := v.call(func(ctx context.Context, c *vim25.Client) error {
		var o mo.VirtualMachine
		ref := vim.ManagedObjectReference{Type: "VirtualMachine", Value: moref}
		err := property.DefaultCollector(c).RetrieveOne(ctx, ref,
			[]string{"name", "config", "runtime.powerState", "guest.ipAddress", "resourcePool", "datastore"}, &o)
		if err != nil {
			return fmt.Errorf("read VM %s from the provider vCenter: %w", moref, err)
		}
		if o.Config == nil {
			return fmt.Errorf("VM %s has no configuration", moref)
		}
		if o.Config.Template {
			return fmt.Errorf("%s (%s) is a template, not a VM", o.Name, moref)
		}
		b := &backingVM{
			moref: moref, name: o.Name, uuid: o.Config.InstanceUuid, guestOS: o.Config.GuestId,
			poweredOn: o.Runtime.PowerState == vim.VirtualMachinePowerStatePoweredOn,
			cpus:      int(o.Config.Hardware.NumCPU), memMB: int(o.Config.Hardware.MemoryMB),
			coresPerSocket: 1,
		}
		if o.ResourcePool != nil {
			b.pool = o.ResourcePool.Value
		}
		for _, ds := range o.Datastore {
			b.datastores = append(b.datastores, ds.Value)
		}
		if n := o.Config.Hardware.NumCoresPerSocket; n != nil && *n > 0 {
			b.coresPerSocket = int(*n)
		}
		if o.Guest != nil {
			b.ip = o.Guest.IpAddress
		}
		controllers := map[int32]vim.BaseVirtualDevice{}
		for _, d := range o.Config.Hardware.Device {
			controllers[d.GetVirtualDevice().Key] = d
		}
		for _, d := range o.Config.Hardware.Device {
			switch dev := d.(type) {
			case *vim.VirtualDisk:
				disk := vmDisk{CapacityKB: dev.CapacityInKB}
				if fb, ok := dev.Backing.(vim.BaseVirtualDeviceFileBackingInfo); ok {
					disk.Path = fb.GetVirtualDeviceFileBackingInfo().FileName
				}
				ctl, ok := controllers[dev.ControllerKey]
				if disk.Adapter, ok = adapterOf(ctl); !ok {
					return fmt.Errorf("VM %s: disk %d is on a controller (key %d) Cloud Director does not manage", moref, dev.Key, dev.ControllerKey)
				}
				if bc, ok := ctl.(vim.BaseVirtualController); ok {
					disk.Bus = int(bc.GetVirtualController().BusNumber)
				}
				if dev.UnitNumber != nil {
					disk.Unit = int(*dev.UnitNumber)
				}
				b.disks = append(b.disks, disk)
			case vim.BaseVirtualEthernetCard:
				// vCD shows a NIC on a port group that backs none of the
				// VDC's org VDC networks as connected to "none" (the lab's
				// org VDC networks are NSX-T segments, not port groups of
				// the provider vCenter): ferry has to connect it.
				card := dev.GetVirtualEthernetCard()
				b.nics = append(b.nics, vmNIC{MAC: card.MacAddress, Type: nicType(d), Network: "none", Mode: "NONE"})
			}
		}
		out = b
		return nil
	})
	return out, err
}

// networkName is the port group a NIC is connected to.
func networkName(ctx context.Context, c *vim25.Client, card *vim.VirtualEthernetCard) string {
	switch b := card.Backing.(type) {
	case *vim.VirtualEthernetCardNetworkBackingInfo:
		return b.DeviceName
	case *vim.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		var pg mo.DistributedVirtualPortgroup
		ref := vim.ManagedObjectReference{Type: "DistributedVirtualPortgroup", Value: b.Port.PortgroupKey}
		if err := property.DefaultCollector(c).RetrieveOne(ctx, ref, []string{"name"}, &pg); err == nil {
			return pg.Name
		}
		return b.Port.PortgroupKey
	}
	if card.DeviceInfo != nil {
		return card.DeviceInfo.GetDescription().Summary
	}
	return ""
}

// powerStates reads the provider vCenter's power state of the VMs morefs
// (true: poweredOn), in one property retrieval, or one per VM when some VM is
// gone (vCenter refuses the retrieval); a VM vCenter no longer has is left
// out.
func (v *vcenter) powerStates(morefs []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := v.call(func(ctx context.Context, c *vim25.Client) error {
		pc := property.DefaultCollector(c)
		read := func(morefs []string) error {
			var refs []vim.ManagedObjectReference
			for _, m := range morefs {
				refs = append(refs, vim.ManagedObjectReference{Type: "VirtualMachine", Value: m})
			}
			var vms []mo.VirtualMachine
			if err := pc.Retrieve(ctx, refs, []string{"runtime.powerState"}, &vms); err != nil {
				return err
			}
			for _, vm := range vms {
				out[vm.Self.Value] = vm.Runtime.PowerState == vim.VirtualMachinePowerStatePoweredOn
			}
			return nil
		}
		if err := read(morefs); err == nil || len(morefs) == 1 {
			return err
		}
		for _, m := range morefs {
			_ = read([]string{m})
		}
		return nil
	})
	return out, err
}

// power switches a provider VM on or off; it is a no-op when the VM is
// already in that state.
func (v *vcenter) power(moref string, on bool) error {
	return v.call(func(ctx context.Context, c *vim25.Client) error {
		vm := object.NewVirtualMachine(c, vim.ManagedObjectReference{Type: "VirtualMachine", Value: moref})
		st, err := vm.PowerState(ctx)
		if err != nil {
			return fmt.Errorf("power state of %s: %w", moref, err)
		}
		if (st == vim.VirtualMachinePowerStatePoweredOn) == on {
			return nil
		}
		var task *object.Task
		if on {
			task, err = vm.PowerOn(ctx)
		} else {
			task, err = vm.PowerOff(ctx)
		}
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("power %s %s in the provider vCenter: %s%w", map[bool]string{true: "on", false: "off"}[on], moref, reasonOf(err), err)
		}
		return nil
	})
}

// reasonOf is the reason a vCenter task's fault gives, and ": " (vCenter's
// task error says it; vcsim's says only the fault's type); "" when none.
func reasonOf(err error) string {
	var te vimtask.Error
	if errors.As(err, &te) {
		if f, ok := te.Fault().(*vim.GenericVmConfigFault); ok && f.Reason != "" {
			return f.Reason + ": "
		}
	}
	return ""
}

// listVMs lists the provider vCenter's VMs (not templates).
func (v *vcenter) listVMs() ([]mo.VirtualMachine, error) {
	var out []mo.VirtualMachine
	err := v.call(func(ctx context.Context, c *vim25.Client) error {
		cv, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
		if err != nil {
			return err
		}
		defer func() { _ = cv.Destroy(ctx) }()
		var vms []mo.VirtualMachine
		if err := cv.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config.template", "runtime.powerState"}, &vms); err != nil {
			return fmt.Errorf("list VMs of the provider vCenter: %w", err)
		}
		for _, vm := range vms {
			if vm.Config != nil && vm.Config.Template {
				continue
			}
			out = append(out, vm)
		}
		return nil
	})
	return out, err
}

func (c *reqCtx) vcFromPath() *vcenter {
	if c.m.vc == nil || c.r.PathValue("vc") != c.m.vc.id {
		c.fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "vCenter server %s is not registered", c.r.PathValue("vc"))
		return nil
	}
	return c.m.vc
}

func (c *reqCtx) vcView(v *vcenter) *types.VSphereVirtualCenter {
	return &types.VSphereVirtualCenter{
		VcId: urn("vimserver", v.id), Name: v.cfg.Name, Description: "provider vCenter", Username: v.cfg.Username,
		Url: v.cfg.URL, IsEnabled: true, IsConnected: true, Mode: "CLOUD_DIRECTOR", ListenerState: "CONNECTED",
		ClusterHealthStatus: "GREEN", VcVersion: "8.0.2", BuildNumber: "22617221", Uuid: v.id,
		TenantVisibleName: v.cfg.Name, RootFolder: "group-d1",
	}
}

func handleVirtualCenters(c *reqCtx) {
	var items []any
	if c.m.vc != nil {
		items = append(items, c.vcView(c.m.vc))
	}
	c.writePage(items, jsonField)
}

func handleVirtualCenter(c *reqCtx) {
	if c.m.vc == nil || bareID(c.r.PathValue("id")) != c.m.vc.id {
		c.notFound("virtualCenter", c.r.PathValue("id"))
		return
	}
	c.json(http.StatusOK, c.vcView(c.m.vc))
}

type vimServerRef struct {
	HREF string `xml:"href,attr"`
	Name string `xml:"name,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type vmObjectRef struct {
	Name          string       `xml:"name,attr"`
	VimServerRef  vimServerRef `xml:"VimServerRef"`
	MoRef         string       `xml:"MoRef"`
	VimObjectType string       `xml:"VimObjectType"`
}

type vmObjectRefsList struct {
	Page          int           `xml:"page,attr"`
	PageSize      int           `xml:"pageSize,attr"`
	NumberOfPages int           `xml:"numberOfPages,attr"`
	VmObjectRef   []vmObjectRef `xml:"VmObjectRef"`
}

// handleVmsList lists the provider VMs that vCD does not manage yet.
func handleVmsList(c *reqCtx) {
	v := c.vcFromPath()
	if v == nil {
		return
	}
	vms, err := v.listVMs()
	if err != nil {
		c.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "%v", err)
		return
	}
	l := vmObjectRefsList{Page: 1, NumberOfPages: 1}
	for _, vm := range vms {
		if c.m.vmByMoref(vm.Self.Value) != nil {
			continue
		}
		l.VmObjectRef = append(l.VmObjectRef, vmObjectRef{
			Name: vm.Name, MoRef: vm.Self.Value, VimObjectType: "VIRTUAL_MACHINE",
			VimServerRef: vimServerRef{HREF: c.abs("/api/admin/extension/vimServer/" + v.id), Name: v.cfg.Name, Type: "application/vnd.vmware.admin.vmwvirtualcenter+xml"},
		})
	}
	l.PageSize = max(len(l.VmObjectRef), 1)
	c.xml(http.StatusOK, "application/vnd.vmware.admin.vmsObjectRefsList+xml", "VmObjectRefsList", &l)
}

type hrefRef struct {
	HREF string `xml:"href,attr"`
}

// importParams covers ImportVmAsVAppParams and ImportVmIntoExistingVAppParams.
// The body is checked against the type's schema first (importschema.go).
type importParams struct {
	Name           string   `xml:"name,attr"`
	SourceMove     bool     `xml:"sourceMove,attr"`
	VMName         string   `xml:"VmName"`
	VMMoRef        string   `xml:"VmMoRef"`
	StorageProfile *hrefRef `xml:"VdcStorageProfile"`
	Vdc            *hrefRef `xml:"Vdc"`
	VApp           *hrefRef `xml:"VApp"`
	Description    string   `xml:"Description"`
}

// ImportRecord describes one import from the provider vCenter, for tests
// and demos to check what vCD did with the source VM.
type ImportRecord struct {
	VApp       string   // vApp name
	VM         string   // VM name in vCD
	MoRef      string   // provider vCenter moref
	SourceMove bool     // sourceMove was asked: adopt the VM where it is
	DiskCopied bool     // vCD copied the disks (sourceMove=false, or a datastore outside the storage policy)
	Relocated  bool     // vCD moved the VM into the VDC's resource pool or storage policy
	Why        string   // why it copied or moved ("" when it adopted the VM in place)
	Copied     int64    // bytes copied
	Disks      []string // datastore paths of the VM's disks
	// StorageProfile is the org VDC storage profile the import named
	// (VdcStorageProfile; "": none, the VDC's default).
	StorageProfile string
	// Policy is the storage policy the VM was placed in: the one named, or
	// the VDC's default at the import.
	Policy string
	At     time.Time
}

// importMove is what an import must do to a provider VM before vCD can
// adopt it, as real Cloud Director does: a VM outside the org VDC's
// resource pool is moved into it, disks on a datastore outside the VDC's
// storage policy (or any disk, without sourceMove) are copied, which takes
// the disks' size over Config.CopyRate. Nothing is checked when the
// simulator knows no resource pool (no placement configured).
type importMove struct {
	relocate, copyDisks bool
	why                 []string
	bytes               int64
	policy              string // the storage policy the VM is placed in
}

func (c *reqCtx) placement(b *backingVM, in *importParams) importMove {
	var mv importMove
	if !in.SourceMove {
		mv.copyDisks = true
		mv.why = append(mv.why, "sourceMove=false: the disks are copied")
	}
	// The storage policy named, or the VDC's default.
	sp, _ := c.m.policyNamed(c.m.defaultPolicy())
	if in.StorageProfile != nil {
		sp, _ = c.m.policyByHref(in.StorageProfile.HREF)
	}
	mv.policy = sp.Name
	if pools, err := c.m.vdcPools(); err == nil {
		if !slices.Contains(pools, b.pool) {
			mv.relocate = true
			mv.why = append(mv.why, fmt.Sprintf("the VM is in resource pool %s, not the org VDC's %s: moved into it", b.pool, pools[0]))
		}
		dss, err := c.m.policyDatastores(sp)
		for _, ds := range b.datastores {
			if err == nil && !slices.Contains(dss, ds) {
				mv.relocate, mv.copyDisks = true, true
				mv.why = append(mv.why, fmt.Sprintf("its files are on datastore %s, outside storage policy %s: its disks are copied", ds, sp.Name))
				break
			}
		}
	}
	if mv.copyDisks {
		for _, d := range b.disks {
			mv.bytes += d.CapacityKB << 10
		}
	}
	return mv
}

// duration is how long the import's task runs.
func (mv importMove) duration(rate int64) time.Duration {
	d := time.Duration(float64(mv.bytes) / float64(rate) * float64(time.Second))
	if mv.relocate && d < 500*time.Millisecond {
		d = 500 * time.Millisecond // a vMotion of the VM's memory and state
	}
	return d
}

// Imports lists the imports done so far.
func (s *Server) Imports() []ImportRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ImportRecord(nil), s.m.imports...)
}

func (c *reqCtx) readImport(v *vcenter, schema importSchema) (*importParams, *backingVM, bool) {
	var in importParams
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 8<<20))
	if err == nil {
		err = schema.validate(body)
	}
	if err == nil {
		err = xml.Unmarshal(body, &in)
	}
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
		return nil, nil, false
	}
	if in.VMMoRef == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VmMoRef: required")
		return nil, nil, false
	}
	if c.m.vmByMoref(in.VMMoRef) != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VM %s is already managed by Cloud Director", in.VMMoRef)
		return nil, nil, false
	}
	b, err := v.readVM(in.VMMoRef)
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
		return nil, nil, false
	}
	if in.Name == "" {
		in.Name = b.name
	}
	if sp := in.StorageProfile; sp != nil {
		p, ok := c.m.policyByHref(sp.HREF)
		if !ok {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "VdcStorageProfile: %s is not a storage profile of org VDC %s", sp.HREF, c.m.vdc.name)
			return nil, nil, false
		}
		if c.m.disabledSP[p.Name] {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "VdcStorageProfile: storage policy %s of org VDC %s is disabled", p.Name, c.m.vdc.name)
			return nil, nil, false
		}
	}
	// The VM's disks count against its policy's storage limit.
	policy := c.m.defaultPolicy()
	if in.StorageProfile != nil {
		p, _ := c.m.policyByHref(in.StorageProfile.HREF)
		policy = p.Name
	}
	if limit := c.m.policyLimit(policy); limit > 0 {
		var kb int64
		for _, d := range b.disks {
			kb += d.CapacityKB
		}
		if used := c.m.policyUsedMB(policy); used+kb/1024 > limit {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "The requested operation will exceed the VDC's storage quota: storage policy %s of org VDC %s has %d MB of %d MB left, VM %s needs %d MB", policy, c.m.vdc.name, max(0, limit-used), limit, b.name, kb/1024)
			return nil, nil, false
		}
	}
	return &in, b, true
}

func (m *model) recordImport(a *vapp, v *vm, in *importParams, mv importMove) {
	rec := ImportRecord{VApp: a.name, VM: v.name, MoRef: v.moref, SourceMove: in.SourceMove, DiskCopied: mv.copyDisks,
		Relocated: mv.relocate, Why: strings.Join(mv.why, "; "), Copied: mv.bytes, At: time.Now()}
	for _, d := range v.disks {
		rec.Disks = append(rec.Disks, d.Path)
	}
	if in.StorageProfile != nil {
		p, _ := m.policyByHref(in.StorageProfile.HREF)
		rec.StorageProfile = p.Name
	}
	rec.Policy = mv.policy
	v.policy = mv.policy
	m.imports = append(m.imports, rec)
}

// adopt does in the provider vCenter what Cloud Director does to a VM it
// imports, once the import's time is over: it moves the VM into the org
// VDC's resource pool (when it was outside it, mv.relocate) and into the
// vApp's VM folder, and renames it as Cloud Director names the VMs it
// manages, "<name> (<uuid>)" (createVM names the VMs it composes so): a VM
// Cloud Director manages "has a name that includes its UUID", and Cloud
// Director keeps tracking it "even if it changes its name, location and
// MoRef ID" (Tomas Fojtik, "How to Export Running VM from vCloud
// Director", fojta.wordpress.com). VMware's mass-import guidance: a VM
// outside the provider VDC's resource pool is relocated by the import
// (real-world.md). The folder layout, "<org VDC> (<id>)/<vApp> (<id>)"
// under the datacenter's VM folder (vappFolder), is as operators see it in
// the vSphere client (unverified in a public source). Whoever looks for the
// VM afterwards finds it by its moref, not by the name, folder or pool it
// had.
func (m *model) adopt(a *vapp, x *vm, mv importMove) error {
	name := fmt.Sprintf("%s (%s)", x.name, x.id)
	if m.vc == nil || x.moref == "" {
		return nil
	}
	vdcPool := ""
	if mv.relocate {
		p, _, _, err := m.backing()
		if err != nil {
			return fmt.Errorf("move imported VM %s (%s) into the org VDC's resource pool: %w", x.vcName, x.moref, err)
		}
		vdcPool = p
	}
	err := m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		vmo := object.NewVirtualMachine(c, vim.ManagedObjectReference{Type: "VirtualMachine", Value: x.moref})
		folder, err := m.vappFolder(ctx, c, a, true)
		if err != nil {
			return err
		}
		var o mo.VirtualMachine
		if err := vmo.Properties(ctx, vmo.Reference(), []string{"parent"}, &o); err != nil {
			return err
		}
		spec := vim.VirtualMachineRelocateSpec{}
		if ref := folder.Reference(); o.Parent == nil || *o.Parent != ref {
			spec.Folder = &ref
		}
		if vdcPool != "" {
			spec.Pool = &vim.ManagedObjectReference{Type: "ResourcePool", Value: vdcPool}
		}
		if spec.Folder != nil || spec.Pool != nil {
			t, err := vmo.Relocate(ctx, spec, vim.VirtualMachineMovePriorityDefaultPriority)
			if err == nil {
				err = t.Wait(ctx)
			}
			if err != nil {
				return fmt.Errorf("move it into %s: %w", folder.InventoryPath, err)
			}
		}
		if x.vcName == name {
			return nil
		}
		t, err := vmo.Rename(ctx, name)
		if err == nil {
			err = t.Wait(ctx)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("adopt imported VM %s (%s) in the provider vCenter: %s%w", x.vcName, x.moref, reasonOf(err), err)
	}
	x.vcName = name
	return nil
}

// vappFolder is a's VM folder in the provider vCenter, "<vApp name> (<vApp
// id>)" in the org VDC's folder "<VDC name> (<VDC id>)" in the first
// datacenter's VM folder; made (with the VDC's folder) when create is set
// and it is missing, else nil.
func (m *model) vappFolder(ctx context.Context, c *vim25.Client, a *vapp, create bool) (*object.Folder, error) {
	dcs, err := find.NewFinder(c, true).DatacenterList(ctx, "*")
	if err != nil {
		return nil, err
	}
	folders, err := dcs[0].Folders(ctx)
	if err != nil {
		return nil, err
	}
	f := folders.VmFolder
	for _, name := range []string{fmt.Sprintf("%s (%s)", m.vdc.name, m.vdc.id), fmt.Sprintf("%s (%s)", a.name, a.id)} {
		child, err := object.NewSearchIndex(c).FindChild(ctx, f, name)
		if err != nil {
			return nil, err
		}
		switch sub, ok := child.(*object.Folder); {
		case ok:
			sub.InventoryPath = f.InventoryPath + "/" + name
			f = sub
		case child != nil:
			return nil, fmt.Errorf("%s/%s is a %s, not a folder", f.InventoryPath, name, child.Reference().Type)
		case !create:
			return nil, nil
		default:
			sub, err := f.CreateFolder(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("create folder %s/%s: %w", f.InventoryPath, name, err)
			}
			sub.InventoryPath = f.InventoryPath + "/" + name
			f = sub
		}
	}
	return f, nil
}

// removeVAppFolder removes a's VM folder from the provider vCenter once
// the vApp is deleted, when it holds nothing (any other object in it
// stays, and so does the folder).
func (m *model) removeVAppFolder(a *vapp) error {
	if m.vc == nil {
		return nil
	}
	return m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		f, err := m.vappFolder(ctx, c, a, false)
		if err != nil || f == nil {
			return err
		}
		var o mo.Folder
		if err := f.Properties(ctx, f.Reference(), []string{"childEntity"}, &o); err != nil || len(o.ChildEntity) > 0 {
			return err
		}
		t, err := f.Destroy(ctx)
		if err == nil {
			err = t.Wait(ctx)
		}
		return err
	})
}

// handleImportAsVApp creates a vApp around a provider VM. The answer is the
// vApp (status 0, "being created") with its task; the vApp reaches its
// final status when the task completes.
func handleImportAsVApp(c *reqCtx) {
	v := c.vcFromPath()
	if v == nil {
		return
	}
	in, b, ok := c.readImport(v, importAsVAppSchema)
	if !ok {
		return
	}
	if in.Vdc == nil || normHref(in.Vdc.HREF) != c.m.vdc.href() {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "Vdc: %v is not an org VDC", in.Vdc)
		return
	}
	for _, a := range c.m.vapps {
		if a.name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A vApp named %q already exists in %s", in.Name, c.m.vdc.name)
			return
		}
	}
	a := &vapp{id: newUUID(), name: in.Name, description: in.Description, org: c.m.vdc.org, created: time.Now(), importing: true}
	v2 := newVM(b, a)
	if in.VMName != "" {
		v2.name = in.VMName
	}
	a.vms = append(a.vms, v2)
	c.m.vapps = append(c.m.vapps, a)
	mv := c.placement(b, in)
	c.m.recordImport(a, v2, in, mv)
	t := c.m.newTask(c, "vdcImportVmAsVApp", fmt.Sprintf("Importing VM %s (%s) as vApp %s", b.name, b.moref, a.name), a.ref(),
		func() error { a.importing = false; v2.importing = false; return c.m.adopt(a, v2, mv) })
	t.runsAtLeast(mv.duration(c.s.cfg.CopyRate))
	c.w.Header().Set("Location", c.abs(a.href()))
	x := c.vappXML(a)
	x.Tasks = c.tasksInProgress(t)
	c.xml(http.StatusCreated, mimeVApp, "VApp", x)
}

func handleImportIntoVApp(c *reqCtx) {
	v := c.vcFromPath()
	if v == nil {
		return
	}
	in, b, ok := c.readImport(v, importIntoVAppSchema)
	if !ok {
		return
	}
	var a *vapp
	if in.VApp != nil {
		a = c.m.vappByID(strings.TrimPrefix(normHref(in.VApp.HREF), "/api/vApp/vapp-"))
	}
	if a == nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VApp: %v is not an existing vApp", in.VApp)
		return
	}
	if c.refuseBusy(a.urn()) {
		return
	}
	v2 := newVM(b, a)
	if in.VMName != "" {
		v2.name = in.VMName
	}
	for _, o := range a.vms {
		if o.name == v2.name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A VM named %q already exists in vApp %s", v2.name, a.name)
			return
		}
	}
	a.vms = append(a.vms, v2)
	mv := c.placement(b, in)
	c.m.recordImport(a, v2, in, mv)
	t := c.m.newTask(c, "vappImportVm", fmt.Sprintf("Importing VM %s (%s) into vApp %s", b.name, b.moref, a.name), a.ref(),
		func() error { v2.importing = false; return c.m.adopt(a, v2, mv) })
	t.runsAtLeast(mv.duration(c.s.cfg.CopyRate))
	c.taskResponse(t)
}
