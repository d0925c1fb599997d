package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// Extending a disk, as ESXi does it: a reconfigure that raises a disk's
// capacity (hot-extend of a running VM's disk, or a powered-off one's), or
// VirtualDiskManager.ExtendVirtualDisk of a disk no running VM holds,
// rewrites the extent line of the disk's descriptor with the new size and
// grows its flat extent (thin: the new area reads as zeros). vcsim changes
// only the device's capacity (reconfigure) or rewrites the descriptor in
// its own format without the flat file (ExtendVirtualDisk); a reader of the
// extent would then find it shorter than the disk. As on ESXi:
//   - a disk of a VM that has snapshots cannot be extended ("Invalid
//     operation for device '0'": InvalidDeviceOperation);
//   - a disk cannot shrink;
//   - changed block tracking stays valid across the extension (ESXi 6.0 and
//     later): the new area is not reported as changed until the guest
//     writes it.

// extentLine matches a descriptor's extent line: access, size in sectors,
// type and file.
var extentLine = regexp.MustCompile(`(?m)^(RW|RDONLY|NOACCESS) ([0-9]+) (VMFS|FLAT) ("[^"]*")`)

const sectorSize = 512

// growDisk extends the disk whose descriptor is at local path desc to
// capacity bytes: the descriptor's extent line and the flat extent.
func growDisk(desc string, capacity int64) error {
	raw, err := os.ReadFile(desc)
	if err != nil {
		return err
	}
	m := extentLine.FindAllSubmatchIndex(raw, -1)
	if len(m) != 1 {
		return fmt.Errorf("descriptor %s: %d flat extents, want one", filepath.Base(desc), len(m))
	}
	sectors := (capacity + sectorSize - 1) / sectorSize
	old, err := strconv.ParseInt(string(raw[m[0][4]:m[0][5]]), 10, 64)
	if err != nil {
		return err
	}
	if sectors < old {
		return fmt.Errorf("descriptor %s: cannot shrink a disk from %d to %d sectors", filepath.Base(desc), old, sectors)
	}
	flat, err := dsfile.FlatOf(desc)
	if err != nil {
		return err
	}
	fi, err := os.Stat(flat)
	if err != nil {
		return err
	}
	if fi.Size() < sectors*sectorSize {
		if err := os.Truncate(flat, sectors*sectorSize); err != nil {
			return err
		}
	}
	out := append([]byte{}, raw[:m[0][4]]...)
	out = strconv.AppendInt(out, sectors, 10)
	out = append(out, raw[m[0][5]:]...)
	return os.WriteFile(desc, out, 0o600)
}

// grownDisk is a disk a reconfigure extends.
type grownDisk struct {
	file     string // datastore path of its descriptor
	capacity int64
}

// diskGrowth lists the disks of vm that changes extend; a fault when ESXi
// would refuse the extension (the VM has snapshots, or a disk would shrink).
// The caller holds vm's lock or knows nothing else changes it.
func diskGrowth(vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) ([]grownDisk, types.BaseMethodFault) {
	var out []grownDisk
	if vm.Config == nil {
		return nil, nil
	}
	for i, ch := range changes {
		spec := ch.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationEdit {
			continue
		}
		var old *types.VirtualDisk
		for _, d := range vm.Config.Hardware.Device {
			if vd, ok := d.(*types.VirtualDisk); ok && vd.Key == disk.Key {
				old = vd
			}
		}
		if old == nil {
			continue
		}
		want, have := diskBytes(disk), diskBytes(old)
		if want == 0 || want == have {
			continue
		}
		if want < have || vm.Snapshot != nil {
			return nil, &types.InvalidDeviceOperation{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)}}
		}
		b, ok := old.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			return nil, &types.InvalidDeviceOperation{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)}}
		}
		out = append(out, grownDisk{file: b.GetVirtualDeviceFileBackingInfo().FileName, capacity: want})
	}
	return out, nil
}

func diskBytes(d *types.VirtualDisk) int64 {
	if d.CapacityInBytes != 0 {
		return d.CapacityInBytes
	}
	return d.CapacityInKB * 1024
}

// applyGrowth grows the disks' files before the reconfigure records their
// new capacity; tracker (nil: none) follows the flat files' new size.
// files records each disk's descriptor and flat size as they were (and
// the tracker's record of it), for a refused reconfigure to put back.
func applyGrowth(m *simulator.Model, grown []grownDisk, tracker *cbt.Tracker, files *fileChanges) types.BaseMethodFault {
	for _, g := range grown {
		desc, err := dsfile.Local(m, g.file)
		if err == nil {
			err = files.keep(desc)
		}
		if err == nil && tracker != nil {
			// The tracker grows the flat file itself: an extension is not
			// a write behind its back. Its undo, recorded after keep's,
			// runs first (rollback goes newest first): the tracker shrinks
			// the file back, then keep's puts the descriptor back.
			var flat string
			var undo func()
			if flat, err = dsfile.FlatOf(desc); err == nil {
				if undo, err = tracker.Grow(flat, g.capacity); err == nil {
					files.onRollback(undo)
				}
			}
		}
		if err == nil {
			err = growDisk(desc, g.capacity)
		}
		if err != nil {
			return &types.FileFault{File: g.file + ": " + err.Error()}
		}
	}
	return nil
}

// installDiskExtend makes the on-prem vCenter extend disks as ESXi does
// (see above); tracker's changed block tracking follows. It makes the
// disks a reconfigure or a CreateVM_Task creates in ESXi's format
// (createAdded), and both calls all or nothing: one refused leaves no
// file it made (a VM's folder and files, its disks) and no disk grown.
func installDiskExtend(vc *VCenter, tracker *cbt.Tracker) {
	reg := vc.Model.Map()
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if method.This.Type == "VirtualMachine" && method.Name == "ReconfigVM_Task" {
				// This wrapper hides the method from the handlers before it:
				// vCenter's labels (installDeviceLabels).
				labelRequest(ctx, method)
				if vm, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachine); ok {
					w := &extendVM{OwnEntity: simwrap.Entity(ctx, vm), VirtualMachine: vm, model: vc.Model, tracker: tracker}
					simwrap.Put(ctx, w)
					return w, nil
				}
			} else if method.This.Type == "Folder" && method.Name == "CreateVM_Task" {
				labelRequest(ctx, method) // hidden from the labels' handler too
				if f, ok := ctx.Map.Get(method.This).(*simulator.Folder); ok {
					w := &createFolder{OwnEntity: simwrap.Entity(ctx, f), Folder: f, model: vc.Model}
					simwrap.Put(ctx, w)
					return w, nil
				}
			} else if ctx.Session != nil {
				switch ctx.Session.Registry.Get(method.This).(type) {
				case *extendVM, *createFolder:
					ctx.Session.Registry.Remove(ctx, method.This)
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}

type extendVM struct {
	*simulator.VirtualMachine
	model   *simulator.Model
	tracker *cbt.Tracker
	simwrap.OwnEntity
}

func (vm *extendVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	files := &fileChanges{}
	grown, f := diskGrowth(vm.VirtualMachine, req.Spec.DeviceChange)
	if f == nil {
		f = applyGrowth(vm.model, grown, vm.tracker, files)
	}
	if f == nil {
		f = createAdded(vm.model, req.Spec.DeviceChange, files)
	}
	if f != nil {
		files.rollback()
		return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "reconfigVm", f).Run(ctx)}}
	}
	return reconfigure(ctx, vm.VirtualMachine, req, files)
}

// createAdded creates the disks a reconfigure adds with a file operation
// create in ESXi's format (descriptor and flat extent, as createESXDisk
// does at the provider), where vcsim would write a descriptor of its own
// (CID 0, parentCID 0, no ddb.uuid) that no ESXi writes; the reconfigure
// then attaches the disk made. What it made is in files.
func createAdded(m *simulator.Model, changes []types.BaseVirtualDeviceConfigSpec, files *fileChanges) types.BaseMethodFault {
	for _, ch := range changes {
		spec := ch.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationAdd || spec.FileOperation != types.VirtualDeviceConfigSpecFileOperationCreate {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || b.Parent != nil {
			continue
		}
		local, err := dsfile.Local(m, b.FileName)
		if err != nil {
			continue // vcsim names the file itself
		}
		if err := files.mkdirAll(filepath.Dir(local)); err != nil {
			return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
		}
		if err := createESXDisk(local, diskBytes(disk), b.ThinProvisioned == nil || *b.ThinProvisioned); err != nil {
			if os.IsExist(err) {
				return &types.FileAlreadyExists{FileFault: types.FileFault{File: b.FileName}}
			}
			return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
		}
		files.made(local, esxFlat(local))
		spec.FileOperation = ""
	}
	return nil
}

// createFolder is an on-prem folder whose CreateVM_Task is all or nothing
// (createVMAtomic): vcsim left the VM's folder, configuration file and the
// disks made before the device it refused, so the corrected call failed
// on them or landed in "<name> (1)".
type createFolder struct {
	*simulator.Folder
	model *simulator.Model
	simwrap.OwnEntity
}

func (f *createFolder) CreateVMTask(ctx *simulator.Context, req *types.CreateVM_Task) soap.HasFault {
	files := &fileChanges{}
	if fault := createAdded(f.model, req.Config.DeviceChange, files); fault != nil {
		files.rollback()
		return &methods.CreateVM_TaskBody{Res: &types.CreateVM_TaskResponse{Returnval: failedTask(f.Folder, "createVm", fault).Run(ctx)}}
	}
	return createVMAtomic(ctx, f.Folder, req, files, func(name string) string {
		p, err := dsfile.Local(f.model, name)
		if err != nil {
			return ""
		}
		return p
	}, nil)
}
