package cbt

import (
	"fmt"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Snapshot deltas in the VM's configuration. When ESXi takes a snapshot of
// a VM, each disk that is not independent goes on in a new delta disk
// (<disk>-000001.vmdk; SEsparse on VMFS6), and the VM's configuration says
// so: the disk's backing names the delta, whose parent names the disk below
// it, down to the base; the snapshot's own configuration keeps the backing
// as it was when the snapshot was taken. Removing a snapshot consolidates a
// delta: with no snapshot left the disk's backing is the base again. vcsim
// leaves backings alone, so the tracker plays it: after each change of a
// VM's snapshot tree (a create has copied the configuration into the
// snapshot by then) each disk's chain is made as deep as the current
// snapshot is, its top carrying the disk's UUID and changeId. A client that
// takes a VM's current disk file for the disk's identity sees another file
// while a snapshot is open, as against ESXi.
//
// The lab keeps a disk's content in the base's flat file (and freeze's
// images); readers follow a backing to its base (BaseFile). The deltas'
// descriptors and extents are not written: nothing may read them.

// deltaSuffix is the name a disk's n-th snapshot delta gets: <disk>-00000n.vmdk.
func deltaSuffix(n int) string { return fmt.Sprintf("-%06d", n) }

// BaseFile is the file of the base of the disk chain whose top is b: b's
// own file for a disk without a parent ("" for a backing with no file).
func BaseFile(b types.BaseVirtualDeviceBackingInfo) string {
	for {
		var parent types.BaseVirtualDeviceBackingInfo
		switch x := b.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			if x.Parent != nil {
				parent = x.Parent
			}
		case *types.VirtualDiskSeSparseBackingInfo:
			if x.Parent != nil {
				parent = x.Parent
			}
		case *types.VirtualDiskSparseVer2BackingInfo:
			if x.Parent != nil {
				parent = x.Parent
			}
		}
		if parent == nil {
			fb, ok := b.(types.BaseVirtualDeviceFileBackingInfo)
			if !ok {
				return ""
			}
			return fb.GetVirtualDeviceFileBackingInfo().FileName
		}
		b = parent
	}
}

// snapshotDepth is the number of snapshots from the root of vm's tree to
// its current one (0 without a snapshot).
func snapshotDepth(info *types.VirtualMachineSnapshotInfo) int {
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

// deltaHandler keeps the disk chains of a model's VMs as deep as their
// current snapshots (a registry handler: it sees every update). made holds
// the deltas it named: a disk's chain below them (a linked clone's
// parent) is left as it is.
type deltaHandler struct {
	t    *Tracker
	mu   sync.Mutex
	made map[string]bool
}

func (h *deltaHandler) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "FerryLabSnapshotDeltas", Value: "snapshot-deltas"}
}

func (*deltaHandler) PutObject(*simulator.Context, mo.Reference)                    {}
func (*deltaHandler) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// UpdateObject runs inside the update of the VM's snapshot tree (its lock
// held by the updater).
func (h *deltaHandler) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	if obj.Reference().Type != "VirtualMachine" {
		return
	}
	relevant := false
	for _, c := range changes {
		switch c.Name {
		case "snapshot", "snapshot.currentSnapshot", "snapshot.rootSnapshotList":
			relevant = true
		}
	}
	if !relevant {
		return
	}
	if vm, ok := ctx.Map.Get(obj.Reference()).(*simulator.VirtualMachine); ok {
		h.sync(ctx, vm)
	}
}

// install adds h to reg and gives the VMs that have snapshots already
// their deltas.
func (h *deltaHandler) install(reg *simulator.Registry) {
	reg.AddHandler(h)
	ctx := &simulator.Context{Map: reg}
	for _, o := range reg.All("VirtualMachine") {
		if vm, ok := o.(*simulator.VirtualMachine); ok {
			reg.WithLock(ctx, vm, func() { h.sync(ctx, vm) })
		}
	}
}

// sync makes vm's disk chains as deep as its current snapshot (vm locked).
func (h *deltaHandler) sync(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t.mu.Lock()
	// A delta a failed consolidation left stays under the snapshots'.
	depth := snapshotDepth(vm.Snapshot) + h.t.left[vm.Self]
	if h.t.snapped == nil {
		h.t.snapped = map[types.ManagedObjectReference]bool{}
	}
	if depth > 0 {
		h.t.snapped[vm.Self] = true
	} else {
		delete(h.t.snapped, vm.Self)
	}
	h.t.mu.Unlock()
	devices := make([]types.BaseVirtualDevice, len(vm.Config.Hardware.Device))
	copy(devices, vm.Config.Hardware.Device)
	changed := false
	for i, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		top, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || top.DiskMode == string(types.VirtualDiskModeIndependent_persistent) || top.DiskMode == string(types.VirtualDiskModeIndependent_nonpersistent) {
			continue
		}
		base, have := top, 0
		for base.Parent != nil && h.made[base.FileName] {
			base, have = base.Parent, have+1
		}
		if have == depth {
			continue
		}
		// The new chain over base: base itself for depth 0, else depth
		// deltas, the top keeping the disk's UUID and changeId.
		cur := base
		stem := strings.TrimSuffix(base.FileName, ".vmdk")
		for n := 1; n <= depth; n++ {
			d := *cur
			d.FileName = stem + deltaSuffix(n) + ".vmdk"
			d.Parent = cur
			d.DeltaDiskFormat = string(types.VirtualDiskDeltaDiskFormatSeSparseFormat)
			h.made[d.FileName] = true
			cur = &d
		}
		if cur != base {
			cur.Uuid, cur.ChangeId = top.Uuid, top.ChangeId
		} else {
			b := *base
			b.ChangeId = top.ChangeId
			cur = &b
		}
		nd := *disk
		nd.Backing = cur
		devices[i] = &nd
		changed = true
	}
	if changed {
		ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
	}
}

// A snapshot removal whose consolidation fails (a backup proxy still holds
// the base disk hot-added: FileLocked, "Unable to access file ... since it
// is locked") takes the snapshot out of the VM's snapshot tree but leaves
// its delta in use: the VM runs on base and delta with no snapshot listed,
// vCenter sets runtime.consolidationNeeded ("Virtual machine disks
// consolidation is needed"), and the base stays frozen as the snapshot
// left it until ConsolidateVMDisks_Task merges the delta (VMware KB
// 2003638). LeaveDelta and Consolidate play that for the lab's vCenter
// (lab/consolidation.go).

// LeaveDelta keeps one delta of vm's disks that no snapshot accounts for
// from the next change of its snapshot tree on (called before the removal
// whose consolidation fails): its disk chains stay one delta deeper than
// its snapshot depth, and its base stays frozen (Reader, DeltaBytes).
func (t *Tracker) LeaveDelta(vm types.ManagedObjectReference) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.left == nil {
		t.left = map[types.ManagedObjectReference]int{}
	}
	t.left[vm]++
}

// Unconsolidated is how many deltas failed consolidations left under vm's
// disks.
func (t *Tracker) Unconsolidated(vm types.ManagedObjectReference) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.left[vm]
}

// Consolidate merges the deltas failed consolidations left under vm's
// disks (vm locked by ctx): its disk chains are as deep as its snapshot
// again, and without a snapshot its base is the disk the guest writes.
func (t *Tracker) Consolidate(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	t.mu.Lock()
	n := t.left[vm.Self]
	delete(t.left, vm.Self)
	t.mu.Unlock()
	if n > 0 {
		t.deltas.sync(ctx, vm)
	}
}

// DeltaBytes is what the snapshot deltas of the disks whose flat files are
// under the local directory dir take beyond their flat files: ESXi's delta
// takes every block the guest writes while the VM has a snapshot, on the
// datastore of the VM's snapshot directory (here the disk's own), so a long
// pass's snapshot eats the datastore's free space as the guest writes. The
// lab's guest writes the flat file in place (a write into a hole grows the
// file, which the datastore counts already) and keeps the blocks it
// overwrote in freeze's images: a delta counts the BlockSize blocks that
// held data and were overwritten since the first snapshot of the VM's
// current chain (ESXi's grains are smaller: a guest's scattered small
// writes take less there).
func (t *Tracker) DeltaBytes(dir string) int64 {
	dir = path.Clean(dir) + "/"
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for p, fz := range t.frozen {
		if !strings.HasPrefix(p, dir) || !t.snapped[fz.vm] {
			continue
		}
		for i := len(fz.images) - 1; i >= 0; i-- {
			if fz.images[i].chain {
				n += fz.images[i].overwritten * BlockSize
				break
			}
		}
	}
	return n
}

// Growth is how many bytes a guest write of n bytes at off into the flat
// file would add to its datastore: the VMFS file blocks (FileBlock) it
// allocates in the thin disk, those it touches that hold no data yet; and,
// while the disk's VM has a snapshot, the blocks its delta takes instead
// (held blocks not yet overwritten since the chain began, and holes), as
// DeltaBytes counts them.
func (t *Tracker) Growth(file string, off, n int64) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var chain *image
	if fz := t.frozen[path.Clean(file)]; fz != nil && t.snapped[fz.vm] {
		for i := len(fz.images) - 1; i >= 0; i-- {
			if fz.images[i].chain {
				chain = fz.images[i]
				break
			}
		}
	}
	var g int64
	if chain == nil {
		for b := off / FileBlock; b*FileBlock < off+n; b++ {
			if d, ok := NextData(f, b*FileBlock); !ok || d >= (b+1)*FileBlock {
				g += FileBlock
			}
		}
		return g, nil
	}
	for b := off / BlockSize; b*BlockSize < off+n; b++ {
		d, ok := NextData(f, b*BlockSize)
		held := ok && d < (b+1)*BlockSize
		if !held {
			g += BlockSize
		} else if _, saved := chain.saved[b]; !saved {
			g += BlockSize
		}
	}
	return g, nil
}
