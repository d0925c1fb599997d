package vsphere

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"
)

// The replica disks at the provider are made by vCenter (thin virtual
// disks, VirtualDiskManager), attached to the receiver appliance by
// reconfiguring it with the existing file (no file operation), and handed
// to the migrated VM by detaching them again: ferry never writes a
// datastore file.

// EnableUUIDKey is the advanced setting without which a Linux guest lists
// no disk UUIDs under /dev/disk/by-id.
const EnableUUIDKey = "disk.EnableUUID"

// CreateReplicaDisks makes sure every disk exists: a thin virtual disk of
// its capacity, created by vCenter in its datastore folder (created first).
// A disk that exists already is kept as it is.
func (c *Client) CreateReplicaDisks(ctx context.Context, datacenter string, disks []DiskFile) error {
	dc, err := c.Finder().Datacenter(ctx, datacenter)
	if err != nil {
		return fmt.Errorf("replica disks: datacenter %s: %w", datacenter, err)
	}
	fm := object.NewFileManager(c.Client.Client)
	vdm := object.NewVirtualDiskManager(c.Client.Client)
	made := map[string]bool{}
	for _, d := range disks {
		var p DatastorePath
		if !p.FromString(d.Path) || p.Datastore == "" || p.Path == "" {
			return fmt.Errorf("replica disk %q: not a datastore path", d.Path)
		}
		if dir := path.Dir(p.Path); !made[dir] {
			folder := fmt.Sprintf("[%s] %s", p.Datastore, dir)
			if err := fm.MakeDirectory(ctx, folder, dc, true); err != nil && !fault.Is(err, &types.FileAlreadyExists{}) {
				return fmt.Errorf("replica folder %s: %w", folder, err)
			}
			made[dir] = true
		}
		spec := &types.FileBackedVirtualDiskSpec{
			VirtualDiskSpec: types.VirtualDiskSpec{
				DiskType:    string(types.VirtualDiskTypeThin),
				AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic),
			},
			CapacityKb: (d.Capacity + 1023) / 1024,
		}
		task, err := vdm.CreateVirtualDisk(ctx, d.Path, dc, spec)
		if err == nil {
			_, err = WaitTask(ctx, task)
		}
		if err != nil && !fault.Is(err, &types.FileAlreadyExists{}) {
			return fmt.Errorf("create replica disk %s: %w", d.Path, err)
		}
	}
	return nil
}

// descriptorMax bounds a descriptor read (ESXi's are below 1 KiB).
const descriptorMax = 64 << 10

// DiskCapacity is the capacity in bytes the descriptor of the disk at the
// datastore path p declares (the sum of its extents), read through the
// vCenter's datastore /folder: the disk's size whether or not a VM has it.
func (c *Client) DiskCapacity(ctx context.Context, datacenter, p string) (int64, error) {
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return 0, err
	}
	var dp DatastorePath
	if !dp.FromString(p) || dp.Datastore == "" || dp.Path == "" {
		return 0, fmt.Errorf("disk %q: not a datastore path", p)
	}
	ds, err := c.datastoreIn(ctx, f, dc, dp.Datastore)
	if err != nil {
		return 0, fmt.Errorf("disk %s: %w", p, err)
	}
	rc, _, err := ds.Download(ctx, dp.Path, &soap.DefaultDownload)
	if err != nil {
		return 0, fmt.Errorf("disk %s: descriptor: %w", p, err)
	}
	defer rc.Close()
	d, err := vmdk.ParseDescriptor(io.LimitReader(rc, descriptorMax))
	if err != nil {
		return 0, fmt.Errorf("disk %s: descriptor: %w", p, err)
	}
	var n int64
	for _, x := range d.Extent {
		n += x.Size * vmdk.SectorSize
	}
	return n, nil
}

// ExtendDisk extends the disk at the datastore path p to capacity bytes
// (VirtualDiskManager.ExtendVirtualDisk; thin: the new area reads as
// zeros), unless it holds that much already. No running VM may have the
// disk open: vSphere refuses (the file is locked) and extends a running
// VM's disk only through a reconfigure of that VM.
func (c *Client) ExtendDisk(ctx context.Context, datacenter, p string, capacity int64) error {
	have, err := c.DiskCapacity(ctx, datacenter, p)
	if err != nil || have >= capacity {
		return err
	}
	dc, err := c.Finder().Datacenter(ctx, datacenter)
	if err != nil {
		return fmt.Errorf("datacenter %s: %w", datacenter, err)
	}
	task, err := object.NewVirtualDiskManager(c.Client.Client).ExtendVirtualDisk(ctx, p, dc, (capacity+1023)/1024, nil)
	if err == nil {
		_, err = WaitTask(ctx, task)
	}
	if fault.Is(err, &types.FileLocked{}) {
		return fmt.Errorf("extend disk %s to %s: the disk is locked, open in a running VM (vSphere extends a running VM's disk only through a reconfigure of that VM): %w", p, fmtBytes(capacity), err)
	}
	if err != nil {
		return fmt.Errorf("extend disk %s to %s: %w", p, fmtBytes(capacity), err)
	}
	return nil
}

// DiskFilesFound says which of the datastore paths exist (e.g. replica
// disks made by an earlier run, which CreateReplicaDisks keeps). It changes
// nothing: a plan reads it.
func (c *Client) DiskFilesFound(ctx context.Context, datacenter string, paths []string) (map[string]bool, error) {
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, s := range paths {
		var p DatastorePath
		if !p.FromString(s) || p.Datastore == "" || p.Path == "" {
			return nil, fmt.Errorf("disk %q: not a datastore path", s)
		}
		ds, err := c.datastoreIn(ctx, f, dc, p.Datastore)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", s, err)
		}
		_, err = ds.Stat(ctx, p.Path)
		var noFile object.DatastoreNoSuchFileError
		var noDir object.DatastoreNoSuchDirectoryError
		switch {
		case err == nil:
			found[s] = true
		case errors.As(err, &noFile), errors.As(err, &noDir):
		default:
			return nil, fmt.Errorf("disk %s: %w", s, err)
		}
	}
	return found, nil
}

// findVMIn returns the VM named name in datacenter, and a finder set to it.
func (c *Client) findVMIn(ctx context.Context, datacenter, name string) (*object.VirtualMachine, *find.Finder, error) {
	f := c.Finder()
	dc, err := f.Datacenter(ctx, datacenter)
	if err != nil {
		return nil, nil, fmt.Errorf("datacenter %s: %w", datacenter, err)
	}
	f.SetDatacenter(dc)
	vm, err := f.VirtualMachine(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("VM %s: %w", name, err)
	}
	return vm, f, nil
}

// AttachDisks hot-adds the existing disks to the VM named vmName (the
// receiver appliance), without a file operation, and returns each disk's
// UUID by path. Disks attached already stay as they are. The VM must have
// disk.EnableUUID=TRUE (otherwise its guest cannot find the disks by UUID):
// it is set on a powered-off VM and refused on a running one, where the
// change would only take effect after a power cycle.
func (c *Client) AttachDisks(ctx context.Context, datacenter, vmName string, disks []DiskFile) (map[string]string, error) {
	vm, f, err := c.findVMIn(ctx, datacenter, vmName)
	if err != nil {
		return nil, fmt.Errorf("receiver appliance: %w", err)
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.hardware.device", "config.extraConfig", "config.version", "runtime.powerState"}, &m); err != nil {
		return nil, fmt.Errorf("receiver appliance %s: %w", vmName, err)
	}
	if m.Config == nil {
		return nil, fmt.Errorf("receiver appliance %s: no configuration readable", vmName)
	}
	var spec types.VirtualMachineConfigSpec
	if !enableUUID(m.Config.ExtraConfig) {
		if m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return nil, fmt.Errorf("receiver appliance %s runs without %s=TRUE, so its guest lists no disk UUIDs: power it off, set %s=TRUE in its advanced configuration, power it on", vmName, EnableUUIDKey, EnableUUIDKey)
		}
		spec.ExtraConfig = []types.BaseOptionValue{&types.OptionValue{Key: EnableUUIDKey, Value: "TRUE"}}
	}
	devices := object.VirtualDeviceList(m.Config.Hardware.Device)
	attached := diskFiles(devices)
	for _, d := range disks {
		if _, ok := attached[d.Path]; ok {
			continue
		}
		var p DatastorePath
		p.FromString(d.Path)
		ds, err := f.Datastore(ctx, p.Datastore)
		if err != nil {
			return nil, fmt.Errorf("replica disk %s: datastore %s: %w", d.Path, p.Datastore, err)
		}
		ctrl, unit, ok := freeSCSISlot(devices, m.Config.Version)
		if !ok && len(scsiControllers(devices)) > 0 && len(scsiControllers(devices)) < maxSCSIControllers {
			// Every controller is full: hot-add another (paravirtual) one.
			if devices, err = addSCSIController(ctx, vm, devices); err != nil {
				return nil, fmt.Errorf("receiver appliance %s: hot-add a SCSI controller for %s: %w", vmName, d.Path, err)
			}
			for _, dev := range spec.DeviceChange { // the disks of this call so far
				devices = append(devices, dev.GetVirtualDeviceConfigSpec().Device)
			}
			ctrl, unit, ok = freeSCSISlot(devices, m.Config.Version)
		}
		if !ok {
			return nil, scsiFull(vmName, m.Config.Version, devices, d.Path)
		}
		// Not CreateDisk(ctrl, ...): govmomi's unit picking indexes 30
		// units and panics on a controller with a device on unit 30 or on,
		// which a paravirtual controller at vmx-14+ has.
		disk := devices.CreateDisk(nil, ds.Reference(), d.Path)
		disk.Key, disk.ControllerKey, disk.UnitNumber = devices.NewKey(), ctrl.GetVirtualController().Key, &unit
		disk.CapacityInKB = d.Capacity / 1024
		disk.CapacityInBytes = d.Capacity
		devices = append(devices, disk) // so the next disk takes the next unit
		// No file operation: the disk exists and stays when detached.
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk})
	}
	if spec.ExtraConfig != nil || spec.DeviceChange != nil {
		_, err := RunTask(ctx, func() (*object.Task, error) { return vm.Reconfigure(ctx, spec) })
		if err != nil {
			return nil, fmt.Errorf("hot-add replica disks to receiver appliance %s: %w", vmName, err)
		}
		if devices, err = vm.Device(ctx); err != nil {
			return nil, fmt.Errorf("receiver appliance %s: %w", vmName, err)
		}
		attached = diskFiles(devices)
	}
	out := map[string]string{}
	for _, d := range disks {
		uuid := attached[d.Path]
		if uuid == "" {
			return nil, fmt.Errorf("receiver appliance %s: replica disk %s is not attached, or has no UUID", vmName, d.Path)
		}
		out[d.Path] = uuid
	}
	return out, nil
}

// DetachDiskFiles removes the disks with the given files from the VM named
// vmName without a file operation (the files stay). Disks not attached are
// skipped.
func (c *Client) DetachDiskFiles(ctx context.Context, datacenter, vmName string, paths []string) error {
	vm, _, err := c.findVMIn(ctx, datacenter, vmName)
	if err != nil {
		return fmt.Errorf("receiver appliance: %w", err)
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		return fmt.Errorf("receiver appliance %s: %w", vmName, err)
	}
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok && want[b.GetVirtualDeviceFileBackingInfo().FileName] {
			changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: d})
			continue
		}
		// Frozen by a snapshot of the appliance: vSphere does not detach a
		// disk a snapshot holds, and detaching the delta would lose the
		// writes made since.
		if chain := chainFiles(d.GetVirtualDevice().Backing); len(chain) > 1 {
			for _, f := range chain[1:] {
				if want[f] {
					return fmt.Errorf("replica disk %s of receiver appliance %s is frozen by a snapshot of the appliance (a test migration's, while its copy runs): remove the snapshot first (`ferry run --test-cleanup`)", f, vmName)
				}
			}
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err = RunTask(ctx, func() (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
	})
	if err != nil {
		return fmt.Errorf("detach replica disks from receiver appliance %s: %w", vmName, err)
	}
	return nil
}

// diskFiles maps the file of each flat disk of devices to its UUID. A disk
// frozen by a snapshot of the VM is a delta whose parent is that file: each
// file of its chain maps to the disk's UUID (the guest's device is the same).
func diskFiles(devices object.VirtualDeviceList) map[string]string {
	out := map[string]string{}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		b := d.GetVirtualDevice().Backing
		for _, f := range chainFiles(b) {
			out[f] = diskUUID(b)
		}
	}
	return out
}

// SetsEnableUUID says whether AttachDisks would set disk.EnableUUID=TRUE on
// the VM vm (the receiver appliance): it is powered off without it. That
// reconfigure needs VirtualMachine.Config.AdvancedConfig besides the
// disks' privileges.
func (c *Client) SetsEnableUUID(ctx context.Context, vm Ref) (bool, error) {
	var m mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, vm.Reference(), []string{"config.extraConfig", "runtime.powerState"}, &m); err != nil {
		return false, fmt.Errorf("vCenter %s: VM %s: %w", c.Endpoint, vm.Value, err)
	}
	return m.Config != nil && !enableUUID(m.Config.ExtraConfig) && m.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff, nil
}

func enableUUID(opts []types.BaseOptionValue) bool {
	for _, o := range opts {
		if v := o.GetOptionValue(); v.Key == EnableUUIDKey {
			s, _ := v.Value.(string)
			return strings.EqualFold(s, "TRUE")
		}
	}
	return false
}

// DiskUsers lists, for each of the datastore paths, the VMs whose disk
// chain holds that file (as a disk, or a parent of one), powered on or not,
// sorted. It reads the VMs of each path's datastore (Datastore.vm); it
// changes nothing.
func (c *Client) DiskUsers(ctx context.Context, datacenter string, paths []string) (map[string][]string, error) {
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	byDS := map[string][]string{}
	for _, s := range paths {
		var p DatastorePath
		if !p.FromString(s) || p.Datastore == "" || p.Path == "" {
			return nil, fmt.Errorf("disk %q: not a datastore path", s)
		}
		byDS[p.Datastore] = append(byDS[p.Datastore], s)
	}
	pc := property.DefaultCollector(c.Client.Client)
	out := map[string][]string{}
	for name, files := range byDS {
		ds, err := c.datastoreIn(ctx, f, dc, name)
		if err != nil {
			return nil, err
		}
		var dsm mo.Datastore
		if err := ds.Properties(ctx, ds.Reference(), []string{"vm"}, &dsm); err != nil {
			return nil, fmt.Errorf("datastore %s: its VMs: %w", name, err)
		}
		if len(dsm.Vm) == 0 {
			continue
		}
		var vms []mo.VirtualMachine
		if err := pc.Retrieve(ctx, dsm.Vm, []string{"name", "config.hardware.device"}, &vms); err != nil {
			return nil, fmt.Errorf("datastore %s: its VMs' disks: %w", name, err)
		}
		for _, vm := range vms {
			if vm.Config == nil {
				continue
			}
			held := diskFiles(object.VirtualDeviceList(vm.Config.Hardware.Device))
			for _, file := range files {
				if _, ok := held[file]; ok {
					out[file] = append(out[file], vm.Name)
				}
			}
		}
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out, nil
}
