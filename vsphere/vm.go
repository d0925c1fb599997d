package vsphere

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// PowerState reads a VM's power state.
func (c *Client) PowerState(ctx context.Context, ref types.ManagedObjectReference) (types.VirtualMachinePowerState, error) {
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref, []string{"runtime.powerState"}, &vm); err != nil {
		return "", fmt.Errorf("power state of %s: %w", ref.Value, err)
	}
	return vm.Runtime.PowerState, nil
}

// EnsurePoweredOn powers a VM on (no-op if it is on).
func (c *Client) EnsurePoweredOn(ctx context.Context, ref types.ManagedObjectReference) error {
	st, err := c.PowerState(ctx, ref)
	if err != nil || st == types.VirtualMachinePowerStatePoweredOn {
		return err
	}
	task, err := object.NewVirtualMachine(c.Client.Client, ref).PowerOn(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("power on %s: %w", vmName(ctx, c, ref), err)
	}
	return nil
}

// PowerOff powers a VM off hard (no-op if it is off).
func (c *Client) PowerOff(ctx context.Context, ref types.ManagedObjectReference) error {
	st, err := c.PowerState(ctx, ref)
	if err != nil || st == types.VirtualMachinePowerStatePoweredOff {
		return err
	}
	task, err := object.NewVirtualMachine(c.Client.Client, ref).PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("power off %s: %w", vmName(ctx, c, ref), err)
	}
	return nil
}

// ErrShutdownTimeout says a guest did not shut down in time.
var ErrShutdownTimeout = errors.New("guest did not shut down in time")

// Shutdown asks the guest OS to shut down and waits up to timeout for the VM
// to be powered off. With hard set, it then powers the VM off; otherwise it
// returns ErrShutdownTimeout. It reports whether a hard power-off was needed.
func (c *Client) Shutdown(ctx context.Context, ref types.ManagedObjectReference, timeout time.Duration, hard bool) (forced bool, err error) {
	vm := object.NewVirtualMachine(c.Client.Client, ref)
	name := vmName(ctx, c, ref)
	if err := vm.ShutdownGuest(ctx); err != nil {
		if !hard {
			return false, fmt.Errorf("shut down guest %s: %w", name, err)
		}
		return true, c.PowerOff(ctx, ref)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = property.Wait(wctx, property.DefaultCollector(c.Client.Client), ref, []string{"runtime.powerState"}, func(pc []types.PropertyChange) bool {
		for _, ch := range pc {
			if ch.Val == types.VirtualMachinePowerStatePoweredOff {
				return true
			}
		}
		return false
	})
	if err == nil {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !hard {
		return false, fmt.Errorf("shut down guest %s: %w after %v", name, ErrShutdownTimeout, timeout)
	}
	return true, c.PowerOff(ctx, ref)
}

// DiskFile is an existing virtual disk to attach.
type DiskFile struct {
	Path     string // "[provider-ds] WebApp2/WebApp2.vmdk"
	Capacity int64  // bytes
}

// VMOverDisks describes a VM to create over existing disk files (a replica).
type VMOverDisks struct {
	Name       string
	Datacenter string
	Pool       string // resource pool path or name
	Datastore  string // for the VM's own files
	Network    string // port group name
	MAC        string // keep the source's MAC on the stretched network
	GuestID    string
	CPUs       int32
	MemoryMB   int64
	Disks      []DiskFile
}

// CreateVMOverDisks creates a powered-off VM whose disks are the given
// existing files: nothing is copied.
func (c *Client) CreateVMOverDisks(ctx context.Context, spec VMOverDisks) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	f := c.Finder()
	dc, err := f.Datacenter(ctx, spec.Datacenter)
	if err != nil {
		return none, fmt.Errorf("create VM %s: datacenter %s: %w", spec.Name, spec.Datacenter, err)
	}
	f.SetDatacenter(dc)
	pool, err := f.ResourcePool(ctx, spec.Pool)
	if err != nil {
		return none, fmt.Errorf("create VM %s: resource pool %s: %w", spec.Name, spec.Pool, err)
	}
	ds, err := f.Datastore(ctx, spec.Datastore)
	if err != nil {
		return none, fmt.Errorf("create VM %s: datastore %s: %w", spec.Name, spec.Datastore, err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return none, err
	}
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return none, err
	}
	devices = append(devices, scsi)
	ctrl, err := devices.FindDiskController("scsi")
	if err != nil {
		return none, err
	}
	for _, d := range spec.Disks {
		disk := devices.CreateDisk(ctrl, ds.Reference(), d.Path)
		disk.CapacityInKB = d.Capacity / 1024
		disk.CapacityInBytes = d.Capacity
		devices = append(devices, disk)
	}
	if spec.Network != "" {
		pg, err := f.Network(ctx, spec.Network)
		if err != nil {
			return none, fmt.Errorf("create VM %s: port group %s: %w", spec.Name, spec.Network, err)
		}
		backing, err := pg.EthernetCardBackingInfo(ctx)
		if err != nil {
			return none, err
		}
		nic, err := devices.CreateEthernetCard("vmxnet3", backing)
		if err != nil {
			return none, err
		}
		if spec.MAC != "" {
			card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
			card.AddressType = string(types.VirtualEthernetCardMacTypeManual)
			card.MacAddress = spec.MAC
		}
		devices = append(devices, nic)
	}
	// Add devices without a file operation: the disks exist already.
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return none, err
	}
	for _, ch := range changes {
		ch.GetVirtualDeviceConfigSpec().FileOperation = ""
	}
	guest := spec.GuestID
	if guest == "" {
		guest = string(types.VirtualMachineGuestOsIdentifierOtherGuest64)
	}
	cfg := types.VirtualMachineConfigSpec{
		Name: spec.Name, GuestId: guest, NumCPUs: spec.CPUs, MemoryMB: spec.MemoryMB,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", spec.Datastore)},
		DeviceChange: changes,
	}
	task, err := folders.VmFolder.CreateVM(ctx, cfg, pool, nil)
	if err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	return info.Result.(types.ManagedObjectReference), nil
}

// DetachDisks powers a VM off and removes every virtual disk from it
// without a file operation: the files stay on the datastore, and no later
// Destroy of the VM (by vCenter or by Cloud Director, which deletes a VM's
// attached disks with it) can delete them. It returns the detached files. A
// VM that no longer exists has nothing attached: no error.
func (c *Client) DetachDisks(ctx context.Context, ref types.ManagedObjectReference) ([]string, error) {
	if err := c.PowerOff(ctx, ref); err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, err
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref)
	devices, err := vm.Device(ctx)
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("devices of %s: %w", ref.Value, err)
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	var files []string
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: d})
		if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			files = append(files, b.GetVirtualDeviceFileBackingInfo().FileName)
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("detach disks of %s: %w", ref.Value, err)
	}
	// Check: a destroy must find no disk left.
	devices, err = vm.Device(ctx)
	if err != nil {
		return nil, fmt.Errorf("devices of %s: %w", ref.Value, err)
	}
	if left := devices.SelectByType((*types.VirtualDisk)(nil)); len(left) > 0 {
		return nil, fmt.Errorf("detach disks of %s: %d disk(s) still attached", ref.Value, len(left))
	}
	return files, nil
}

// DestroyKeepDisks detaches a VM's disks without deleting their files
// (DetachDisks), then destroys the VM: the replica disks survive a rollback.
// A VM already gone is not an error.
func (c *Client) DestroyKeepDisks(ctx context.Context, ref types.ManagedObjectReference) error {
	if _, err := c.DetachDisks(ctx, ref); err != nil {
		return err
	}
	task, err := object.NewVirtualMachine(c.Client.Client, ref).Destroy(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil && !gone(err) {
		return fmt.Errorf("destroy %s: %w", ref.Value, err)
	}
	return nil
}

// gone reports whether err says the managed object no longer exists.
func gone(err error) bool {
	return fault.Is(err, &types.ManagedObjectNotFound{})
}

// FindVM returns the VM named name, or ok=false.
func (c *Client) FindVM(ctx context.Context, name string) (types.ManagedObjectReference, bool, error) {
	vms, err := c.VMs(ctx)
	if err != nil {
		return types.ManagedObjectReference{}, false, err
	}
	for _, v := range vms {
		if v.Name == name {
			return v.Ref, true, nil
		}
	}
	return types.ManagedObjectReference{}, false, nil
}
