package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// Snapshots and child disks at the provider, as ESXi keeps them.
//
// A snapshot of a provider VM (the receiver appliance) freezes every disk
// that is not independent, hot-added replica disks included: the VM's disk
// becomes a delta (<disk>-000001.vmdk, createType vmfsSparse, its parent the
// base) that takes the guest's writes, transparently to the guest's block
// device, and the base no longer changes. Removing the snapshot consolidates:
// the delta is merged into the base and the VM's disk is the base again. A
// base that is the parent of another VM's child disk cannot be consolidated
// (ESXi would have to write a disk another chain reads): the removal fails.
//
// A VM may be created (or reconfigured) with a child disk of an existing
// disk (fileOperation create, a backing whose parent is that disk): a linked
// clone. Its parent must not be written by a running VM (ESXi holds the
// top of a running VM's chain open for writing; a disk frozen by a snapshot
// is only read). Deleting the child (vCD deleting the VM, fileOperation
// destroy) deletes the child's own files and never its parent; deleting a
// disk that is a parent of another chain, or attached to another VM, fails.
//
// The lab keeps every disk's content, seen through its chain, in the top
// descriptor's extent file (a delta extent holds the whole disk, sparse),
// so readers (the appliance's block devices, the guest model) read one file.
// At a snapshot the lab copies the base's allocated data to freeze it (ESXi
// starts an empty delta instead: the lab's snapshot takes time proportional
// to the disk's data, ESXi's consolidation to what the delta holds), and the
// file the guest has open keeps taking its writes: its inode becomes the
// delta's extent, and the base's flat file again at consolidation.

// snapshotSuffix is the name ESXi gives a disk's first snapshot delta.
const snapshotSuffix = "-000001"

func independentMode(mode string) bool {
	return mode == string(types.VirtualDiskModeIndependent_persistent) || mode == string(types.VirtualDiskModeIndependent_nonpersistent)
}

// descriptorOf parses the descriptor at local path p.
func descriptorOf(p string) (*vmdk.Descriptor, []byte, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, err
	}
	d, err := vmdk.ParseDescriptor(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("descriptor %s: %w", filepath.Base(p), err)
	}
	return d, raw, nil
}

// parentHint reads a delta descriptor's parentFileNameHint ("" if none).
func parentHint(raw []byte) string {
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "parentFileNameHint="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// contentFile is the file holding the content of the disk whose descriptor
// is at local path p, seen through its chain: its extent (a base disk's
// flat file, a delta's extent).
func contentFile(p string) (string, error) {
	if reason := esxDescriptorFault(p); reason != "" {
		return "", errors.New(reason)
	}
	d, _, err := descriptorOf(p)
	if err != nil {
		return "", err
	}
	if len(d.Extent) != 1 {
		return "", fmt.Errorf("descriptor %s: %d extents, want one", filepath.Base(p), len(d.Extent))
	}
	return filepath.Join(filepath.Dir(p), d.Extent[0].Info), nil
}

// copyData writes src's data (its allocated MiB) into a new sparse file dst
// of src's size.
func copyData(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	const mib = 1 << 20
	buf := make([]byte, mib)
	for off := int64(0); off < fi.Size(); off += mib {
		d, ok := cbt.NextData(in, off)
		if !ok {
			break
		}
		off = d - d%mib
		n, err := in.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			out.Close()
			return err
		}
		if n == 0 {
			break
		}
		if bytes.Count(buf[:n], []byte{0}) == n {
			continue
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			out.Close()
			return err
		}
	}
	err = out.Truncate(fi.Size())
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeDelta writes a delta descriptor at local path p whose extent is
// extent (in p's folder), of sectors, child of the disk with content ID
// parentCID whose descriptor the datastore path hint names.
func writeDelta(p, extent string, sectors int64, parentCID vmdk.DiskContentID, hint, uuid string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%s\nparentCID=%s\ncreateType=\"vmfsSparse\"\nparentFileNameHint=%q\n\n", randHex(4), parentCID, hint)
	fmt.Fprintf(&b, "# Extent description\nRW %d VMFSSPARSE %q\n\n# The Disk Data Base\n#DDB\n\n", sectors, extent)
	fmt.Fprintf(&b, "ddb.longContentID = %q\nddb.uuid = %q\nddb.virtualHWVersion = \"19\"\n", randHex(16), uuid)
	return os.WriteFile(p, []byte(b.String()), 0o600)
}

// volumePath is how ESXi names a datastore file in a descriptor's
// parentFileNameHint.
func volumePath(name string) string {
	var p object.DatastorePath
	p.FromString(name)
	return "/vmfs/volumes/" + p.Datastore + "/" + p.Path
}

func sectorsOf(file string) (int64, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return (fi.Size() + vmdk.SectorSize - 1) / vmdk.SectorSize, nil
}

// diskChains lists, for every VM of the provider other than self, the
// files of its disks' chains: top first.
func diskChains(ctx *simulator.Context, self types.ManagedObjectReference) map[string][][]string {
	out := map[string][][]string{}
	for _, o := range ctx.Map.All("VirtualMachine") {
		vm, ok := o.(*simulator.VirtualMachine)
		if !ok || vm.Self == self || vm.Config == nil {
			continue
		}
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			if chain := chainOf(disk); len(chain) > 0 {
				out[vm.Name] = append(out[vm.Name], chain)
			}
		}
	}
	return out
}

// parentOf names a VM (other than self) one of whose disks is a child of
// file, i.e. has it below the top of its chain ("" if none).
func parentOf(ctx *simulator.Context, self types.ManagedObjectReference, file string) string {
	for vm, chains := range diskChains(ctx, self) {
		for _, c := range chains {
			for _, f := range c[1:] {
				if f == file {
					return vm
				}
			}
		}
	}
	return ""
}

// attachedTo names a VM (other than self) with file in one of its disks'
// chains ("" if none).
func attachedTo(ctx *simulator.Context, self types.ManagedObjectReference, file string) string {
	for vm, chains := range diskChains(ctx, self) {
		for _, c := range chains {
			for _, f := range c {
				if f == file {
					return vm
				}
			}
		}
	}
	return ""
}

// createChild creates the child disk named by backing b (its Parent set)
// as ESXi does for fileOperation create: a delta descriptor whose parent
// is b.Parent's disk, with a new UUID.
func (e *esxDisks) createChild(ctx *simulator.Context, self types.ManagedObjectReference, b *types.VirtualDiskFlatVer2BackingInfo, files *fileChanges) types.BaseMethodFault {
	parent := b.Parent.FileName
	if b.Parent.Parent != nil {
		return e.refuse(fmt.Sprintf("child disk %s: the parent backing must name only its disk (%s); its own chain is read from its descriptor", b.FileName, parent))
	}
	if vm := lockedBy(ctx, self, parent, false); vm != "" {
		return e.refuseWith(fmt.Sprintf("child disk %s of %s: the parent is written by running VM %s (take a snapshot of it to freeze the disk)", b.FileName, parent, vm),
			&types.FileLocked{FileFault: types.FileFault{File: parent}})
	}
	pdesc, err := e.localPath(ctx, parent)
	if err != nil {
		return e.refuse(err.Error())
	}
	pcontent, err := contentFile(pdesc)
	if err != nil {
		return e.refuse(fmt.Sprintf("child disk %s: parent %s: %v", b.FileName, parent, err))
	}
	pd, _, err := descriptorOf(pdesc)
	if err != nil {
		return e.refuse(err.Error())
	}
	desc, err := e.localPath(ctx, b.FileName)
	if err != nil {
		return e.refuse(err.Error())
	}
	if !strings.HasSuffix(desc, ".vmdk") {
		return &types.InvalidArgument{InvalidProperty: "backing.fileName"}
	}
	if _, err := os.Stat(desc); err == nil {
		return &types.FileAlreadyExists{FileFault: types.FileFault{File: b.FileName}}
	}
	if err := files.mkdirAll(filepath.Dir(desc)); err != nil {
		return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
	}
	extent := strings.TrimSuffix(filepath.Base(desc), ".vmdk") + "-delta.vmdk"
	files.made(desc, filepath.Join(filepath.Dir(desc), extent))
	if err := copyData(filepath.Join(filepath.Dir(desc), extent), pcontent); err != nil {
		return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
	}
	sectors, err := sectorsOf(pcontent)
	if err == nil {
		err = writeDelta(desc, extent, sectors, pd.CID, volumePath(parent), uuidText(randHex(16)))
	}
	if err != nil {
		return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
	}
	b.DeltaDiskFormat = string(types.VirtualDiskDeltaDiskFormatRedoLogFormat)
	return nil
}

// uuidText spaces 32 hex digits in pairs, as ddb.uuid is written.
func uuidText(h string) string {
	var parts []string
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, " ")
}

func (e *esxDisks) refuseWith(reason string, f types.BaseMethodFault) types.BaseMethodFault {
	e.refuse(reason)
	return f
}

// snapshotDisks freezes vm's disks for a snapshot about to be taken: each
// disk that is not independent goes on in a delta whose parent is the base.
// Called with vm's lock held.
func (e *esxDisks) snapshotDisks(ctx *simulator.Context, vm *simulator.VirtualMachine) types.BaseMethodFault {
	if vm.Snapshot != nil && len(vm.Snapshot.RootSnapshotList) > 0 {
		return e.refuseWith(fmt.Sprintf("snapshot of %s: it has a snapshot already (the lab's provider models one level)", vm.Name), &types.NotSupported{})
	}
	devices := make([]types.BaseVirtualDevice, len(vm.Config.Hardware.Device))
	copy(devices, vm.Config.Hardware.Device)
	changed := false
	for i, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || independentMode(b.DiskMode) {
			continue
		}
		if b.Parent != nil {
			return e.refuseWith(fmt.Sprintf("snapshot of %s: disk %s is a child disk already (the lab's provider models one level)", vm.Name, b.FileName), &types.NotSupported{})
		}
		desc, err := e.localPath(ctx, b.FileName)
		if err != nil {
			return e.refuse(err.Error())
		}
		flat, err := flatExtent(desc)
		if err != nil {
			return e.refuse(fmt.Sprintf("snapshot of %s: %s: %v", vm.Name, b.FileName, err))
		}
		bd, _, err := descriptorOf(desc)
		if err != nil {
			return e.refuse(err.Error())
		}
		stem := strings.TrimSuffix(desc, ".vmdk") + snapshotSuffix
		deltaDesc, deltaExt := stem+".vmdk", stem+"-delta.vmdk"
		sectors, err := sectorsOf(flat)
		if err != nil {
			return e.refuse(err.Error())
		}
		// The file the guest has open goes on as the delta's extent; the
		// base's path gets a frozen copy.
		frozen := flat + ".freezing"
		if err := os.Link(flat, deltaExt); err != nil {
			return &types.CannotCreateFile{FileFault: types.FileFault{File: deltaExt}}
		}
		if err := copyData(frozen, flat); err != nil {
			_ = os.Remove(deltaExt)
			return &types.CannotCreateFile{FileFault: types.FileFault{File: frozen}}
		}
		if err := os.Rename(frozen, flat); err != nil {
			return &types.CannotCreateFile{FileFault: types.FileFault{File: flat}}
		}
		if err := writeDelta(deltaDesc, filepath.Base(deltaExt), sectors, bd.CID, filepath.Base(desc), bd.DDB["uuid"]); err != nil {
			return &types.CannotCreateFile{FileFault: types.FileFault{File: deltaDesc}}
		}
		base := *b
		nb := *b
		nb.FileName = strings.TrimSuffix(b.FileName, ".vmdk") + snapshotSuffix + ".vmdk"
		nb.Parent = &base
		nb.DeltaDiskFormat = string(types.VirtualDiskDeltaDiskFormatRedoLogFormat)
		nd := *disk
		nd.Backing = &nb
		devices[i] = &nd
		changed = true
	}
	if changed {
		ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
	}
	return nil
}

// consolidate merges the snapshot deltas of vm's disks into their bases
// (the snapshot is being removed): refused, changing nothing, when a base
// is the parent of another VM's disk. Called with vm's lock held.
func (e *esxDisks) consolidate(ctx *simulator.Context, vm *simulator.VirtualMachine) types.BaseMethodFault {
	type merge struct {
		i                         int
		deltaDesc, deltaExt, flat string
		base                      *types.VirtualDiskFlatVer2BackingInfo
		disk                      *types.VirtualDisk
	}
	var merges []merge
	for i, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || b.Parent == nil || !strings.HasSuffix(b.FileName, snapshotSuffix+".vmdk") {
			continue
		}
		if other := parentOf(ctx, vm.Self, b.Parent.FileName); other != "" {
			return e.refuseWith(fmt.Sprintf("remove the snapshot of %s: %s is the parent of a disk of VM %s: it cannot be consolidated", vm.Name, b.Parent.FileName, other),
				&types.FileLocked{FileFault: types.FileFault{File: b.Parent.FileName}})
		}
		deltaDesc, err := e.localPath(ctx, b.FileName)
		if err != nil {
			return e.refuse(err.Error())
		}
		deltaExt, err := contentFile(deltaDesc)
		if err != nil {
			return e.refuse(err.Error())
		}
		baseDesc, err := e.localPath(ctx, b.Parent.FileName)
		if err != nil {
			return e.refuse(err.Error())
		}
		flat, err := flatExtent(baseDesc)
		if err != nil {
			return e.refuse(err.Error())
		}
		merges = append(merges, merge{i: i, deltaDesc: deltaDesc, deltaExt: deltaExt, flat: flat, base: b.Parent, disk: disk})
	}
	if len(merges) == 0 {
		return nil
	}
	devices := make([]types.BaseVirtualDevice, len(vm.Config.Hardware.Device))
	copy(devices, vm.Config.Hardware.Device)
	for _, m := range merges {
		// Merge: the base reads what the delta holds (its extent, the file
		// the guest writes, becomes the base's flat file again).
		if err := os.Rename(m.deltaExt, m.flat); err != nil {
			return &types.CannotDeleteFile{FileFault: types.FileFault{File: m.deltaExt}}
		}
		_ = os.Remove(m.deltaDesc)
		nd := *m.disk
		nb := *m.base
		nd.Backing = &nb
		devices[m.i] = &nd
	}
	ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
	return nil
}

// deleteFault says why deleting the disk file (or a folder holding it)
// must fail: it is a parent of another chain, or attached to a VM other
// than self.
func deleteFault(ctx *simulator.Context, e *esxDisks, self types.ManagedObjectReference, name string) types.BaseMethodFault {
	for vm, chains := range diskChains(ctx, self) {
		for _, c := range chains {
			for j, f := range c {
				if f != name && !strings.HasPrefix(f, strings.TrimSuffix(name, "/")+"/") {
					continue
				}
				what := "attached to"
				if j > 0 {
					what = "the parent of a disk of"
				}
				return e.refuseWith(fmt.Sprintf("delete %s: %s is %s VM %s", name, f, what, vm), &types.FileLocked{FileFault: types.FileFault{File: f}})
			}
		}
	}
	return nil
}

// esxSnapshot wraps a provider VM's snapshot: its removal consolidates.
type esxSnapshot struct {
	*simulator.VirtualMachineSnapshot
	e *esxDisks
	simwrap.Own
}

func (s *esxSnapshot) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	vm, ok := ctx.Map.Get(s.Vm).(*simulator.VirtualMachine)
	if !ok {
		return s.VirtualMachineSnapshot.RemoveSnapshotTask(ctx, req)
	}
	var f types.BaseMethodFault
	ctx.WithLock(vm, func() { f = s.e.consolidate(ctx, vm) })
	if f != nil {
		return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: failedTask(vm, "removeSnapshot", f).Run(ctx)}}
	}
	return s.VirtualMachineSnapshot.RemoveSnapshotTask(ctx, req)
}

func (vm *esxVM) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	if f := vm.e.snapshotDisks(ctx, vm.VirtualMachine); f != nil {
		return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "createSnapshot", f).Run(ctx)}}
	}
	return vm.VirtualMachine.CreateSnapshotTask(ctx, req)
}

func (vm *esxVM) CreateSnapshotExTask(ctx *simulator.Context, req *types.CreateSnapshotEx_Task) soap.HasFault {
	if f := vm.e.snapshotDisks(ctx, vm.VirtualMachine); f != nil {
		return &methods.CreateSnapshotEx_TaskBody{Res: &types.CreateSnapshotEx_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "createSnapshotEx", f).Run(ctx)}}
	}
	return vm.VirtualMachine.CreateSnapshotExTask(ctx, req)
}

// RemoveAllSnapshotsTask consolidates as the removal of the one snapshot.
func (vm *esxVM) RemoveAllSnapshotsTask(ctx *simulator.Context, req *types.RemoveAllSnapshots_Task) soap.HasFault {
	if f := vm.e.consolidate(ctx, vm.VirtualMachine); f != nil {
		return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "removeAllSnapshots", f).Run(ctx)}}
	}
	return vm.VirtualMachine.RemoveAllSnapshotsTask(ctx, req)
}

// DestroyTask refuses to destroy a VM one of whose disks is the parent of
// another VM's disk (vCenter would delete a disk another chain reads).
func (vm *esxVM) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		for b, _ := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); b != nil; b = b.Parent {
			if other := parentOf(ctx, vm.Self, b.FileName); other != "" {
				f := vm.e.refuseWith(fmt.Sprintf("destroy %s: its disk %s is the parent of a disk of VM %s", vm.Name, b.FileName, other), &types.FileLocked{FileFault: types.FileFault{File: b.FileName}})
				return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "destroy", f).Run(ctx)}}
			}
		}
	}
	return vm.VirtualMachine.DestroyTask(ctx, req)
}

// inOwnChain reports whether file is in one of self's disks' chains below
// the top (a base frozen by self's snapshot): it cannot be attached again.
func inOwnChain(ctx *simulator.Context, self types.ManagedObjectReference, file string) bool {
	vm, ok := ctx.Map.Get(self).(*simulator.VirtualMachine)
	if !ok || vm.Config == nil {
		return false
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			for b, _ := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); b != nil; b = b.Parent {
				if b.FileName == file && b != disk.Backing {
					return true
				}
			}
		}
	}
	return false
}

// DeleteVirtualDiskTask refuses to delete a disk another VM uses.
func (m *esxDiskManager) DeleteVirtualDiskTask(ctx *simulator.Context, req *types.DeleteVirtualDisk_Task) soap.HasFault {
	task := simulator.CreateTask(m, "deleteVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if f := deleteFault(ctx, m.e, types.ManagedObjectReference{}, req.Name); f != nil {
			return nil, f
		}
		return nil, m.e.deleteDisk(ctx, req.Name)
	})
	return &methods.DeleteVirtualDisk_TaskBody{Res: &types.DeleteVirtualDisk_TaskResponse{Returnval: task.Run(ctx)}}
}

type esxFileManager struct {
	*simulator.FileManager
	e *esxDisks
	simwrap.Own
}

// DeleteDatastoreFileTask refuses to delete a disk (or a folder holding
// one) that a VM uses.
func (m *esxFileManager) DeleteDatastoreFileTask(ctx *simulator.Context, req *types.DeleteDatastoreFile_Task) soap.HasFault {
	if f := deleteFault(ctx, m.e, types.ManagedObjectReference{}, req.Name); f != nil {
		return &methods.DeleteDatastoreFile_TaskBody{Res: &types.DeleteDatastoreFile_TaskResponse{Returnval: failedTask(m.FileManager, "deleteDatastoreFile", f).Run(ctx)}}
	}
	return m.FileManager.DeleteDatastoreFileTask(ctx, req)
}

// hasSnapshot reports whether the VM self has a snapshot.
func hasSnapshot(ctx *simulator.Context, self types.ManagedObjectReference) bool {
	vm, ok := ctx.Map.Get(self).(*simulator.VirtualMachine)
	return ok && vm.Snapshot != nil && len(vm.Snapshot.RootSnapshotList) > 0
}

// deletable says why deleteDisk would fail to delete the disk name (nil if
// it would delete it).
func (e *esxDisks) deletable(ctx *simulator.Context, name string) types.BaseMethodFault {
	_, _, f := e.diskToDelete(ctx, name)
	return f
}

// diskToDelete is the local path and descriptor of the disk name, or why
// it cannot be deleted.
func (e *esxDisks) diskToDelete(ctx *simulator.Context, name string) (string, *vmdk.Descriptor, types.BaseMethodFault) {
	desc, err := e.localPath(ctx, name)
	if err != nil {
		return "", nil, &types.InvalidDatastorePath{DatastorePath: name}
	}
	d, _, err := descriptorOf(desc)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, &types.FileNotFound{FileFault: types.FileFault{File: name}}
	}
	if err != nil {
		return "", nil, e.refuse(err.Error())
	}
	return desc, d, nil
}

// deleteDisk deletes a disk as ESXi does: its descriptor and the extents
// the descriptor names (a child's own delta, never its parent).
func (e *esxDisks) deleteDisk(ctx *simulator.Context, name string) types.BaseMethodFault {
	desc, d, f := e.diskToDelete(ctx, name)
	if f != nil {
		return f
	}
	for _, x := range d.Extent {
		if strings.ContainsAny(x.Info, `/\`) {
			continue
		}
		if err := os.Remove(filepath.Join(filepath.Dir(desc), x.Info)); err != nil && !os.IsNotExist(err) {
			return &types.CannotDeleteFile{FileFault: types.FileFault{File: x.Info}}
		}
	}
	if err := os.Remove(desc); err != nil {
		return &types.CannotDeleteFile{FileFault: types.FileFault{File: name}}
	}
	return nil
}
