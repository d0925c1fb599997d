package vsphere

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Snapshots of a provider VM (the receiver appliance). A snapshot freezes
// every disk of the VM that is not independent, the replica disks hot-added
// to it included: the VM's disks go on in deltas that take its writes, and
// the bases no longer change, so other VMs may have child disks (linked
// clones) of them. Removing the snapshot consolidates the deltas into the
// bases, which vSphere cannot do while a base is the parent of another
// VM's disk.

// findSnapshot returns the snapshot named name of vm (false if none).
func findSnapshot(info *types.VirtualMachineSnapshotInfo, name string) (types.ManagedObjectReference, bool) {
	if info == nil {
		return types.ManagedObjectReference{}, false
	}
	var walk func([]types.VirtualMachineSnapshotTree) (types.ManagedObjectReference, bool)
	walk = func(tree []types.VirtualMachineSnapshotTree) (types.ManagedObjectReference, bool) {
		for _, t := range tree {
			if t.Name == name {
				return t.Snapshot, true
			}
			if r, ok := walk(t.ChildSnapshotList); ok {
				return r, true
			}
		}
		return types.ManagedObjectReference{}, false
	}
	return walk(info.RootSnapshotList)
}

// snapshotOf finds the VM named vmName and its snapshot named name (ok
// false when it has none).
func (c *Client) snapshotOf(ctx context.Context, datacenter, vmName, name string) (*object.VirtualMachine, types.ManagedObjectReference, bool, error) {
	var none types.ManagedObjectReference
	vm, _, err := c.findVMIn(ctx, datacenter, vmName)
	if err != nil {
		return nil, none, false, err
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"snapshot"}, &m); err != nil {
		return nil, none, false, fmt.Errorf("VM %s: %w", vmName, err)
	}
	ref, ok := findSnapshot(m.Snapshot, name)
	return vm, ref, ok, nil
}

// HasSnapshot reports whether the VM named vmName has a snapshot named name.
func (c *Client) HasSnapshot(ctx context.Context, datacenter, vmName, name string) (bool, error) {
	_, _, ok, err := c.snapshotOf(ctx, datacenter, vmName, name)
	return ok, err
}

// SnapshotVM takes a snapshot named name of the VM named vmName (no memory,
// no quiescing), unless it has one of that name already.
func (c *Client) SnapshotVM(ctx context.Context, datacenter, vmName, name, description string) error {
	vm, _, ok, err := c.snapshotOf(ctx, datacenter, vmName, name)
	if err != nil || ok {
		return err
	}
	_, err = RunTask(ctx, func() (*object.Task, error) { return vm.CreateSnapshot(ctx, name, description, false, false) })
	if err != nil {
		return fmt.Errorf("snapshot %q of VM %s: %w", name, vmName, err)
	}
	return nil
}

// RemoveSnapshot removes (consolidates) the snapshot named name of the VM
// named vmName; a VM without it has nothing to remove. It reports whether
// a snapshot was removed.
func (c *Client) RemoveSnapshot(ctx context.Context, datacenter, vmName, name string) (bool, error) {
	_, ref, ok, err := c.snapshotOf(ctx, datacenter, vmName, name)
	if err != nil || !ok {
		return false, err
	}
	_, err = RunTask(ctx, func() (*object.Task, error) {
		res, err := methods.RemoveSnapshot_Task(ctx, c.Client.Client, &types.RemoveSnapshot_Task{This: ref, Consolidate: types.NewBool(true)})
		if err != nil {
			return nil, err
		}
		return object.NewTask(c.Client.Client, res.Returnval), nil
	})
	if err != nil {
		return false, fmt.Errorf("remove snapshot %q of VM %s (consolidate its disks): %w", name, vmName, err)
	}
	return true, nil
}

// DiskChain is a VM's disk: its file and, for a child disk (a snapshot
// delta, a linked clone), the disk below it.
type DiskChain struct {
	File   string
	Parent string // "" for a base disk
}

// DiskChains lists the disks of a VM, in device order.
func (c *Client) DiskChains(ctx context.Context, ref Ref) ([]DiskChain, error) {
	devices, err := object.NewVirtualMachine(c.Client.Client, ref.Reference()).Device(ctx)
	if err != nil {
		return nil, fmt.Errorf("VM %s: %w", ref.Value, err)
	}
	var out []DiskChain
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		chain := chainFiles(d.GetVirtualDevice().Backing)
		if len(chain) == 0 {
			continue
		}
		dc := DiskChain{File: chain[0]}
		if len(chain) > 1 {
			dc.Parent = chain[1]
		}
		out = append(out, dc)
	}
	return out, nil
}

// DestroyLinkedClone powers off and deletes a VM that has no snapshot and
// all of whose disks are child disks of one of parents, with those children
// (never their parents): the disks are removed with fileOperation destroy,
// then the VM. Any other VM is refused, changing nothing: one of its disks
// could be a replica. A VM that no longer exists is not an error.
func (c *Client) DestroyLinkedClone(ctx context.Context, ref Ref, parents []string) error {
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	var m mo.VirtualMachine
	err := vm.Properties(ctx, ref.Reference(), []string{"name", "snapshot", "config.hardware.device"}, &m)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("VM %s: %w", ref.Value, err)
	}
	if m.Snapshot != nil && len(m.Snapshot.RootSnapshotList) > 0 {
		return fmt.Errorf("VM %s has snapshots: it is not a linked clone ferry made; not deleting it", m.Name)
	}
	if m.Config == nil {
		return fmt.Errorf("VM %s: no configuration readable", m.Name)
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, d := range object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		chain := chainFiles(d.GetVirtualDevice().Backing)
		if len(chain) < 2 || !slices.Contains(parents, chain[1]) {
			name := "a disk"
			if len(chain) > 0 {
				name = chain[0]
			}
			return fmt.Errorf("VM %s: %s is not a child disk of %s: not deleting the VM (its disk could be a replica)", m.Name, name, strings.Join(parents, ", "))
		}
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove,
			FileOperation: types.VirtualDeviceConfigSpecFileOperationDestroy, Device: d})
	}
	if err := c.PowerOff(ctx, ref); err != nil && !gone(err) {
		return err
	}
	if len(changes) > 0 {
		_, err := RunTask(ctx, func() (*object.Task, error) {
			return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
		})
		if err != nil {
			return fmt.Errorf("delete the child disks of VM %s: %w", ref.Value, err)
		}
	}
	_, err = RunTask(ctx, func() (*object.Task, error) { return vm.Destroy(ctx) })
	if err != nil && !gone(err) {
		return fmt.Errorf("delete VM %s: %w", ref.Value, err)
	}
	return nil
}
