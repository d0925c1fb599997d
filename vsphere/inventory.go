package vsphere

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/internal/nearname"
)

// Disk is one virtual disk of a VM.
type Disk struct {
	Key       int32  // device key (QueryChangedDiskAreas needs it)
	Label     string // "Hard disk 1"
	File      string // "[datastore] vm/vm.vmdk": the base disk's, also while a snapshot's delta takes the writes
	Capacity  int64  // bytes
	ChangeID  string // CBT change id of the current backing, if any
	Datastore string // datastore name
	// DatastoreRef is the base file's datastore (zero if vCenter did not say).
	DatastoreRef Ref
}

// VM is what ferry needs to know about a virtual machine.
type VM struct {
	Name        string
	Ref         Ref
	PowerState  PowerState
	GuestIP     string
	ToolsStatus string // guestToolsRunning, guestToolsNotRunning, ...
	Disks       []Disk
	CBT         bool // changeTrackingEnabled
	Snapshots   int  // number of snapshots in the tree
	MACs        []string
	Networks    []string // port group / network names
	UUID        string   // BIOS uuid
	Template    bool
	// Unreadable says, per disk ferry's transport cannot read (independent,
	// RDM, vSAN/vVols, encrypted, delta), why and what to do (DiskRefusal).
	Unreadable []string
	// SnapshotNames are the names in the snapshot tree.
	SnapshotNames []string
	// BootTime is when the VM was last powered on (zero: powered off, or
	// not reported).
	BootTime time.Time
}

// PoweredOn reports whether the VM runs.
func (v VM) PoweredOn() bool { return v.PowerState == PoweredOn }

// DiskBytes is the total capacity of the VM's disks.
func (v VM) DiskBytes() int64 {
	var n int64
	for _, d := range v.Disks {
		n += d.Capacity
	}
	return n
}

var vmProps = []string{
	"name", "runtime.powerState", "runtime.consolidationNeeded", "guest.ipAddress", "guest.toolsRunningStatus",
	"config.hardware.device", "config.changeTrackingEnabled", "config.uuid", "config.template",
	"snapshot", "network", "config.keyId", "summary.runtime.bootTime",
}

// VMs lists every virtual machine in the inventory, sorted by name.
func (c *Client) VMs(ctx context.Context) ([]VM, error) {
	mvms, err := c.retrieveVMs(ctx, vmProps)
	if err != nil {
		return nil, err
	}
	return c.toVMs(ctx, mvms)
}

// retrieveVMs reads props of every VM in the inventory.
func (c *Client) retrieveVMs(ctx context.Context, props []string) ([]mo.VirtualMachine, error) {
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list VMs: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var mvms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, props, &mvms); err != nil {
		return nil, fmt.Errorf("vCenter %s: list VMs: %w", c.Endpoint, err)
	}
	return mvms, nil
}

// VMsNamed returns the VMs with these names (sorted by name; a name no VM
// has is left out) and the names of every VM: it reads every VM's name,
// then the devices, snapshots and the rest of only the VMs named (a vCenter
// of thousands of VMs answers their devices in megabytes).
func (c *Client) VMsNamed(ctx context.Context, names ...string) (vms []VM, all []string, err error) {
	for attempt := 0; ; attempt++ {
		vms, all, err = c.vmsNamed(ctx, names)
		// A VM removed between the two reads: read again, once.
		if attempt > 0 || !fault.Is(err, &types.ManagedObjectNotFound{}) {
			return vms, all, err
		}
	}
}

func (c *Client) vmsNamed(ctx context.Context, names []string) (vms []VM, all []string, err error) {
	byName, err := c.retrieveVMs(ctx, []string{"name"})
	if err != nil {
		return nil, nil, err
	}
	var refs []types.ManagedObjectReference
	for _, m := range byName {
		all = append(all, m.Name)
		if slices.Contains(names, m.Name) {
			refs = append(refs, m.Self)
		}
	}
	sort.Strings(all)
	if len(refs) == 0 {
		return nil, all, nil
	}
	var mvms []mo.VirtualMachine
	if err := c.PropertyCollector().Retrieve(ctx, refs, vmProps, &mvms); err != nil {
		return nil, nil, fmt.Errorf("vCenter %s: read VMs %s: %w", c.Endpoint, strings.Join(names, ", "), err)
	}
	vms, err = c.toVMs(ctx, mvms)
	return vms, all, err
}

// toVMs turns what retrieveVMs read with vmProps into VMs, sorted by name.
func (c *Client) toVMs(ctx context.Context, mvms []mo.VirtualMachine) ([]VM, error) {
	netNames, err := c.networkNames(ctx, mvms)
	if err != nil {
		return nil, err
	}
	dsTypes, err := c.DiskDatastoreTypes(ctx, mvms)
	if err != nil {
		return nil, err
	}
	vms := make([]VM, 0, len(mvms))
	for i := range mvms {
		vm := toVM(&mvms[i], netNames)
		vm.Unreadable = UnreadableDisks(&mvms[i], dsTypes)
		vms = append(vms, vm)
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
	return vms, nil
}

// VMByName returns the VM with this name, or an error listing what exists.
func (c *Client) VMByName(ctx context.Context, name string) (VM, error) {
	vms, names, err := c.VMsNamed(ctx, name)
	if err != nil {
		return VM{}, err
	}
	if len(vms) > 0 {
		return vms[0], nil
	}
	return VM{}, fmt.Errorf("VM %q%s not found on vCenter %s (VMs there: %s)", name, nearname.Hint(name, names), c.Endpoint, list(names))
}

func (c *Client) networkNames(ctx context.Context, vms []mo.VirtualMachine) (map[types.ManagedObjectReference]string, error) {
	seen := map[types.ManagedObjectReference]bool{}
	var refs []types.ManagedObjectReference
	for _, vm := range vms {
		for _, n := range vm.Network {
			if !seen[n] {
				seen[n] = true
				refs = append(refs, n)
			}
		}
	}
	out := map[types.ManagedObjectReference]string{}
	if len(refs) == 0 {
		return out, nil
	}
	var nets []mo.Network
	if err := c.PropertyCollector().Retrieve(ctx, refs, []string{"name"}, &nets); err != nil {
		return nil, fmt.Errorf("vCenter %s: network names: %w", c.Endpoint, err)
	}
	for _, n := range nets {
		out[n.Self] = n.Name
	}
	return out, nil
}

func toVM(m *mo.VirtualMachine, netNames map[types.ManagedObjectReference]string) VM {
	vm := VM{Name: m.Name, Ref: refOf(m.Self), PowerState: PowerState(m.Runtime.PowerState)}
	if bt := m.Summary.Runtime.BootTime; bt != nil && vm.PoweredOn() {
		vm.BootTime = *bt
	}
	if m.Guest != nil {
		vm.GuestIP = m.Guest.IpAddress
		vm.ToolsStatus = m.Guest.ToolsRunningStatus
	}
	if m.Config != nil {
		vm.UUID = m.Config.Uuid
		vm.Template = m.Config.Template
		if m.Config.ChangeTrackingEnabled != nil {
			vm.CBT = *m.Config.ChangeTrackingEnabled
		}
		for _, dev := range m.Config.Hardware.Device {
			switch d := dev.(type) {
			case *types.VirtualDisk:
				vm.Disks = append(vm.Disks, toDisk(d))
			case types.BaseVirtualEthernetCard:
				if mac := d.GetVirtualEthernetCard().MacAddress; mac != "" {
					vm.MACs = append(vm.MACs, mac)
				}
			}
		}
		// By device key, which a disk keeps for life (a disk added later
		// gets a higher one), not in the order vSphere lists the devices
		// (after a reconfigure that edits one it lists that disk last):
		// the replicas of a VM whose replica numbers are not recorded yet
		// are numbered by their disk's place in this list.
		slices.SortStableFunc(vm.Disks, func(a, b Disk) int { return cmp.Compare(a.Key, b.Key) })
	}
	if m.Snapshot != nil {
		vm.Snapshots = countSnapshots(m.Snapshot.RootSnapshotList)
		vm.SnapshotNames = snapshotNames(m.Snapshot.RootSnapshotList, nil)
	}
	for _, n := range m.Network {
		if name := netNames[n]; name != "" {
			vm.Networks = append(vm.Networks, name)
		}
	}
	return vm
}

func toDisk(d *types.VirtualDisk) Disk {
	disk := Disk{Key: d.Key, Capacity: d.CapacityInBytes}
	if disk.Capacity == 0 {
		disk.Capacity = d.CapacityInKB * 1024
	}
	if info := d.GetVirtualDevice().DeviceInfo; info != nil {
		disk.Label = info.GetDescription().Label
	}
	if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
		disk.ChangeID = b.ChangeId
	}
	// The disk's base file, also while a snapshot's delta takes the writes.
	if b, ok := baseOf(d.Backing).(types.BaseVirtualDeviceFileBackingInfo); ok {
		disk.File = b.GetVirtualDeviceFileBackingInfo().FileName
		if ds := b.GetVirtualDeviceFileBackingInfo().Datastore; ds != nil {
			disk.DatastoreRef = refOf(*ds)
		}
	}
	var p DatastorePath
	if p.FromString(disk.File) {
		disk.Datastore = p.Datastore
	}
	return disk
}

func snapshotNames(tree []types.VirtualMachineSnapshotTree, out []string) []string {
	for _, s := range tree {
		out = snapshotNames(s.ChildSnapshotList, append(out, s.Name))
	}
	return out
}

func countSnapshots(tree []types.VirtualMachineSnapshotTree) int {
	n := 0
	for _, s := range tree {
		n += 1 + countSnapshots(s.ChildSnapshotList)
	}
	return n
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// VMRunState is whether a VM runs: powered on, and the question vCenter
// has pending on it ("": none; ESXi pauses a VM until its question is
// answered, e.g. when its thin disk cannot grow on a full datastore).
type VMRunState struct {
	Ref      types.ManagedObjectReference
	On       bool
	Question string
}

// VMRunStateOf reads the run state of the VM ref, or, when ref is the zero
// value or names no VM any more, of the VM named name.
func (c *Client) VMRunStateOf(ctx context.Context, ref types.ManagedObjectReference, name string) (VMRunState, error) {
	var m mo.VirtualMachine
	props := []string{"name", "runtime.powerState", "runtime.question"}
	err := fmt.Errorf("no VM %q", name)
	if ref.Value != "" {
		err = c.PropertyCollector().RetrieveOne(ctx, ref, props, &m)
	}
	if err != nil || m.Name != name {
		byName, lerr := c.retrieveVMs(ctx, []string{"name"})
		if lerr != nil {
			return VMRunState{}, lerr
		}
		ref = types.ManagedObjectReference{}
		for _, v := range byName {
			if v.Name == name {
				ref = v.Self
			}
		}
		if ref.Value == "" {
			return VMRunState{}, fmt.Errorf("VM %q not found on vCenter %s", name, c.Endpoint)
		}
		if err := c.PropertyCollector().RetrieveOne(ctx, ref, props, &m); err != nil {
			return VMRunState{}, fmt.Errorf("VM %s: %w", name, err)
		}
	}
	st := VMRunState{Ref: ref, On: m.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn}
	if q := m.Runtime.Question; q != nil {
		st.Question = cmp.Or(q.Text, q.Id)
	}
	return st, nil
}
