package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Datastore types on which a disk has no flat extent to read over /folder.
const (
	DatastoreTypeVSAN = "vsan"
	DatastoreTypeVVol = "VVOL"
)

// DiskRefusal says why ferry's transport (host-direct /folder reads of the
// snapshot's base flat extent) cannot replicate disk d, and what to do; ""
// when it can. dsType is the summary.type of the disk's datastore ("" if
// unknown); vmEncrypted says the VM itself is encrypted (config.keyId);
// snapDepth is the number of snapshots from the root to the VM's current
// one: each adds one delta disk (SEsparse on VMFS6) over the base, which
// is expected (ferry's own pass snapshot adds one); a chain longer than
// that (a linked clone) is refused. consolidationNeeded is the VM's
// runtime.consolidationNeeded: a snapshot removal whose consolidation
// failed (a backup proxy still held the base disk) left its delta under
// the VM's disks with no snapshot listed, which makes the chain longer
// too; that disk is refused as one that needs consolidating.
func DiskRefusal(d *types.VirtualDisk, dsType string, vmEncrypted bool, snapDepth int, consolidationNeeded bool) string {
	label := fmt.Sprintf("disk %d", d.Key)
	if info := d.GetVirtualDevice().DeviceInfo; info != nil && info.GetDescription().Label != "" {
		label = info.GetDescription().Label
	}
	backing := d.Backing
	deltas := 0
	for ; ; deltas++ {
		parent := ParentBacking(backing)
		if parent == nil {
			break
		}
		if deltas >= snapDepth {
			if consolidationNeeded {
				return fmt.Sprintf("%s runs on a delta disk a snapshot removal could not consolidate (usually a backup proxy still had the disk hot-added): the VM needs disk consolidation (vCenter: \"Virtual machine disks consolidation is needed\"); once the backup job is done, consolidate it in the vSphere Client (the VM's Snapshots > Consolidate)", label)
			}
			if _, ok := backing.(*types.VirtualDiskSeSparseBackingInfo); ok {
				return fmt.Sprintf("%s is an SEsparse delta disk over a parent (a linked clone): ferry reads only flat base disks; full-clone or consolidate the VM to a flat disk first", label)
			}
			return fmt.Sprintf("%s is a delta disk over a parent (a linked clone): ferry reads only flat base disks; full-clone or consolidate the VM to a flat disk first", label)
		}
		backing = parent
	}
	if sb, ok := backing.(*types.VirtualDiskSeSparseBackingInfo); ok && deltas > 0 {
		// The base under snapshot deltas: the API types a chain's
		// parents as its top (an SEsparse delta's parent is an SEsparse
		// backing) whatever the base's own format, which the disk's
		// descriptor tells when a pass reads it. Judge it as a base disk.
		backing = &types.VirtualDiskFlatVer2BackingInfo{VirtualDeviceFileBackingInfo: sb.VirtualDeviceFileBackingInfo, DiskMode: sb.DiskMode, KeyId: sb.KeyId}
	}
	switch b := backing.(type) {
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		mode := "physical"
		if b.CompatibilityMode == string(types.VirtualDiskCompatibilityModeVirtualMode) {
			mode = "virtual"
		}
		return fmt.Sprintf("%s is a %s-mode raw device mapping (RDM): its data is on a LUN, not in a file ferry can read; migrate it with the storage array, or convert it to a virtual disk (Storage vMotion to VMFS with a disk format change) first", label, mode)
	case *types.VirtualDiskSeSparseBackingInfo:
		return fmt.Sprintf("%s is an SEsparse disk (%s): ferry reads only flat base disks; clone the VM to a flat disk first", label, b.FileName)
	case *types.VirtualDiskSparseVer2BackingInfo, *types.VirtualDiskSparseVer1BackingInfo, *types.VirtualDiskFlatVer1BackingInfo:
		return fmt.Sprintf("%s is a hosted-format disk: ferry reads only flat (VMFS/NFS) base disks; convert it (Storage vMotion or clone) first", label)
	case *types.VirtualDiskFlatVer2BackingInfo:
		switch b.DiskMode {
		case string(types.VirtualDiskModeIndependent_persistent), string(types.VirtualDiskModeIndependent_nonpersistent):
			return fmt.Sprintf("%s is an independent disk (%s): snapshots do not freeze it, so no consistent copy can be read; change it to dependent (persistent) mode with the VM powered off first", label, b.DiskMode)
		}
		if b.KeyId != nil || vmEncrypted {
			return fmt.Sprintf("%s is encrypted (VM encryption): ferry would read ciphertext the provider cannot open; decrypt the VM (or migrate it with a transport that supports encryption) first", label)
		}
		switch dsType {
		case DatastoreTypeVSAN:
			return fmt.Sprintf("%s is on a vSAN datastore, which has no flat file to read over /folder; Storage vMotion the VM to a VMFS or NFS datastore first", label)
		case DatastoreTypeVVol:
			return fmt.Sprintf("%s is on a vVols datastore, which has no flat file to read over /folder; Storage vMotion the VM to a VMFS or NFS datastore first", label)
		}
		return ""
	default:
		return fmt.Sprintf("%s has a %T backing ferry cannot read; only flat base disks on VMFS or NFS are supported", label, d.Backing)
	}
}

// DiskDatastoreTypes returns summary.type of every datastore holding a disk
// of vms (which need config.hardware.device).
func (c *Client) DiskDatastoreTypes(ctx context.Context, vms []mo.VirtualMachine) (map[types.ManagedObjectReference]string, error) {
	return DatastoreTypes(ctx, c.Client.Client, vms)
}

// DatastoreTypes is DiskDatastoreTypes for any vim25 client.
func DatastoreTypes(ctx context.Context, c *vim25.Client, vms []mo.VirtualMachine) (map[types.ManagedObjectReference]string, error) {
	seen := map[types.ManagedObjectReference]bool{}
	var refs []types.ManagedObjectReference
	for _, vm := range vms {
		if vm.Config == nil {
			continue
		}
		for _, dev := range vm.Config.Hardware.Device {
			d, ok := dev.(*types.VirtualDisk)
			if !ok {
				continue
			}
			// The base's datastore: a snapshot's delta may be on another.
			if fb, ok := baseOf(d.Backing).(types.BaseVirtualDeviceFileBackingInfo); ok {
				if ds := fb.GetVirtualDeviceFileBackingInfo().Datastore; ds != nil && !seen[*ds] {
					seen[*ds] = true
					refs = append(refs, *ds)
				}
			}
		}
	}
	out := map[types.ManagedObjectReference]string{}
	if len(refs) == 0 {
		return out, nil
	}
	var dss []mo.Datastore
	if err := property.DefaultCollector(c).Retrieve(ctx, refs, []string{"summary.type"}, &dss); err != nil {
		return nil, fmt.Errorf("datastore types: %w", err)
	}
	for _, ds := range dss {
		out[ds.Self] = ds.Summary.Type
	}
	return out, nil
}

// UnreadableDisks lists DiskRefusal for every disk of vm (config.hardware.device,
// config.keyId, snapshot, runtime.consolidationNeeded) that ferry's
// transport cannot read.
func UnreadableDisks(vm *mo.VirtualMachine, dsTypes map[types.ManagedObjectReference]string) []string {
	if vm.Config == nil {
		return nil
	}
	var out []string
	for _, dev := range vm.Config.Hardware.Device {
		d, ok := dev.(*types.VirtualDisk)
		if !ok {
			continue
		}
		dsType := ""
		if fb, ok := baseOf(d.Backing).(types.BaseVirtualDeviceFileBackingInfo); ok {
			if ds := fb.GetVirtualDeviceFileBackingInfo().Datastore; ds != nil {
				dsType = dsTypes[*ds]
			}
		}
		if r := DiskRefusal(d, dsType, vm.Config.KeyId != nil, snapDepth(vm.Snapshot), vm.Runtime.ConsolidationNeeded); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// ParentBacking is the parent of a delta disk backing, nil for a base
// disk. While a VM has a snapshot its disks' backings are deltas (SEsparse
// on VMFS6, vmfsSparse before) whose chain ends at the base disk.
func ParentBacking(b types.BaseVirtualDeviceBackingInfo) types.BaseVirtualDeviceBackingInfo {
	switch b := b.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		if b.Parent != nil {
			return b.Parent
		}
	case *types.VirtualDiskSeSparseBackingInfo:
		if b.Parent != nil {
			return b.Parent
		}
	case *types.VirtualDiskSparseVer2BackingInfo:
		if b.Parent != nil {
			return b.Parent
		}
	}
	return nil
}

// chainFiles lists the files of a virtual disk's chain, its top first: a
// snapshot delta or a child disk (linked clone) names its parent, down to
// the base. The API types a delta as a flat (FlatVer2 with a
// deltaDiskFormat), SEsparse or sparse backing with a parent
// (ParentBacking); every form is followed. Nil for a backing that is not a
// virtual disk file of one of those kinds (an RDM, a vVol).
func chainFiles(b types.BaseVirtualDeviceBackingInfo) []string {
	var out []string
	for ; b != nil; b = ParentBacking(b) {
		switch b.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo, *types.VirtualDiskSeSparseBackingInfo, *types.VirtualDiskSparseVer2BackingInfo:
		default:
			return out
		}
		out = append(out, b.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName)
	}
	return out
}

// baseOf is the base of the disk chain whose top is b (b itself for a
// disk without a parent). A disk's identity is its base: while the VM has
// a snapshot its backing names the snapshot's delta, which changes with
// every snapshot taken and removed.
func baseOf(b types.BaseVirtualDeviceBackingInfo) types.BaseVirtualDeviceBackingInfo {
	for p := ParentBacking(b); p != nil; p = ParentBacking(b) {
		b = p
	}
	return b
}

// diskUUID is the UUID of a virtual disk backing ("" if it has none).
func diskUUID(b types.BaseVirtualDeviceBackingInfo) string {
	switch b := b.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		return b.Uuid
	case *types.VirtualDiskSeSparseBackingInfo:
		return b.Uuid
	case *types.VirtualDiskSparseVer2BackingInfo:
		return b.Uuid
	}
	return ""
}

// snapDepth is the number of snapshots from the root to the current one.
func snapDepth(info *types.VirtualMachineSnapshotInfo) int {
	if info == nil || info.CurrentSnapshot == nil {
		return 0
	}
	var walk func(tree []types.VirtualMachineSnapshotTree, depth int) int
	walk = func(tree []types.VirtualMachineSnapshotTree, depth int) int {
		for _, t := range tree {
			if t.Snapshot == *info.CurrentSnapshot {
				return depth
			}
			if n := walk(t.ChildSnapshotList, depth+1); n > 0 {
				return n
			}
		}
		return 0
	}
	return walk(info.RootSnapshotList, 1)
}
