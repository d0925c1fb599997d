package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// The provider datastore behaves like VMFS: only vCenter (ESXi) creates and
// writes its files, and a running VM's disks are locked: no other VM can
// hot-add them or power on with them. The lab's provider vCenter writes descriptors as ESXi
// does (createType "vmfs", parentCID ffffffff, a ddb.uuid, a flat extent of
// the disk's size), and parses the descriptor of every existing disk it is
// asked to attach (CreateVM, ReconfigVM): one ESXi would refuse fails the
// call, so a disk made by anything but vCenter is unusable.

// esxDisks is the provider vCenter's disk behaviour.
type esxDisks struct {
	vc *VCenter

	mu       sync.Mutex
	refusals []string // why attaching a disk was refused, latest last
}

// Refusals lists why the provider vCenter refused to attach disks.
func (e *esxDisks) Refusals() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.refusals...)
}

func (e *esxDisks) refuse(reason string) types.BaseMethodFault {
	e.mu.Lock()
	e.refusals = append(e.refusals, reason)
	e.mu.Unlock()
	return &types.InvalidDiskFormat{}
}

// esxVMMethods are the VirtualMachine methods the provider wraps.
var esxVMMethods = []string{"ReconfigVM_Task", "PowerOnVM_Task", "CreateSnapshot_Task", "CreateSnapshotEx_Task", "RemoveAllSnapshots_Task", "Destroy_Task"}

// installESXDisks wraps the provider vCenter's disk calls.
func installESXDisks(vc *VCenter) *esxDisks {
	e := &esxDisks{vc: vc}
	reg := vc.Model.Map()
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			// Its wrappers of CreateVM_Task and ReconfigVM_Task hide them from
			// the handlers before it: vCenter's labels (installDeviceLabels).
			labelRequest(ctx, method)
			var w mo.Reference
			switch {
			case method.This.Type == "VirtualDiskManager" && (method.Name == "CreateVirtualDisk_Task" || method.Name == "DeleteVirtualDisk_Task" || method.Name == "ExtendVirtualDisk_Task"):
				if m, ok := ctx.Map.Get(method.This).(*simulator.VirtualDiskManager); ok {
					w = &esxDiskManager{VirtualDiskManager: m, e: e}
				}
			case method.This.Type == "FileManager" && method.Name == "DeleteDatastoreFile_Task":
				if m, ok := ctx.Map.Get(method.This).(*simulator.FileManager); ok {
					w = &esxFileManager{FileManager: m, e: e}
				}
			case method.This.Type == "VirtualMachineSnapshot" && method.Name == "RemoveSnapshot_Task":
				if s, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachineSnapshot); ok {
					w = &esxSnapshot{VirtualMachineSnapshot: s, e: e}
				}
			case method.This.Type == "VirtualMachine" && slices.Contains(esxVMMethods, method.Name):
				if vm, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachine); ok {
					w = &esxVM{OwnEntity: simwrap.Entity(ctx, vm), VirtualMachine: vm, e: e}
				}
			case method.This.Type == "Folder" && method.Name == "CreateVM_Task":
				if f, ok := ctx.Map.Get(method.This).(*simulator.Folder); ok {
					ef := &esxFolder{OwnEntity: simwrap.Entity(ctx, f), Folder: f, e: e}
					if h := e.vc.holds.createAnswer.Load(); h != nil {
						if req, ok := method.Body.(*types.CreateVM_Task); ok {
							ef.answer = ef.heldAnswer(ctx, req, h)
						}
					}
					w = ef
				}
			}
			if w != nil {
				// A logged-in session's registry wins over the handler.
				simwrap.Put(ctx, w)
				return w, nil
			}
			if ctx.Session != nil {
				switch ctx.Session.Registry.Get(method.This).(type) {
				case *esxDiskManager, *esxVM, *esxFolder, *esxFileManager, *esxSnapshot:
					ctx.Session.Registry.Remove(ctx, method.This)
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
	return e
}

// localPath maps "[ds] dir/x.vmdk" to the file behind it.
func (e *esxDisks) localPath(ctx *simulator.Context, name string) (string, error) {
	var p object.DatastorePath
	if !p.FromString(name) || p.Path == "" {
		return "", fmt.Errorf("%q is not a datastore path", name)
	}
	for _, o := range ctx.Map.All("Datastore") {
		if ds, ok := o.(*simulator.Datastore); ok && ds.Name == p.Datastore {
			return filepath.Join(ds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path)), nil
		}
	}
	return "", fmt.Errorf("no datastore %q", p.Datastore)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// esxFlat is the flat extent createESXDisk makes for the descriptor desc.
func esxFlat(desc string) string {
	return strings.TrimSuffix(desc, ".vmdk") + "-flat.vmdk"
}

// createESXDisk creates a base disk as ESXi does: the descriptor and a
// flat extent of the full size (sparse when thin).
func createESXDisk(desc string, capacity int64, thin bool) error {
	if _, err := os.Stat(desc); err == nil {
		return os.ErrExist
	}
	if fi, err := os.Stat(filepath.Dir(desc)); err != nil || !fi.IsDir() {
		return fmt.Errorf("folder %s: %w", filepath.Dir(desc), os.ErrNotExist)
	}
	flat := filepath.Base(esxFlat(desc))
	sectors := (capacity + vmdk.SectorSize - 1) / vmdk.SectorSize
	u := randHex(16)
	var uuid []string
	for i := 0; i < len(u); i += 2 {
		uuid = append(uuid, u[i:i+2])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%s\nparentCID=ffffffff\ncreateType=\"vmfs\"\n\n", randHex(4))
	fmt.Fprintf(&b, "# Extent description\nRW %d VMFS %q\n\n# The Disk Data Base\n#DDB\n\n", sectors, flat)
	fmt.Fprintf(&b, "ddb.adapterType = \"lsilogic\"\nddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n", sectors/(255*63))
	fmt.Fprintf(&b, "ddb.longContentID = %q\n", randHex(16))
	if thin {
		b.WriteString("ddb.thinProvisioned = \"1\"\n")
	}
	fmt.Fprintf(&b, "ddb.uuid = %q\nddb.virtualHWVersion = \"19\"\n", strings.Join(uuid, " "))
	f, err := os.OpenFile(filepath.Join(filepath.Dir(desc), flat), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(sectors * vmdk.SectorSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.WriteFile(desc, []byte(b.String()), 0o600)
}

// esxDescriptorFault says why ESXi would refuse to open the disk whose
// descriptor is at p ("" when it would open it): the descriptor must
// parse, name a known createType whose extents are of the matching kind, a
// base disk must have parentCID ffffffff, every disk a ddb.uuid, and its
// extents must be files in the descriptor's folder.
func esxDescriptorFault(p string) string {
	raw, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("descriptor %s: %v", filepath.Base(p), err)
	}
	d, err := vmdk.ParseDescriptor(bytes.NewReader(raw))
	if err != nil {
		return fmt.Sprintf("descriptor %s does not parse: %v", filepath.Base(p), err)
	}
	extentKind := map[string]string{
		"vmfs": "VMFS", "vmfsSparse": "VMFSSPARSE", "seSparse": "SESPARSE",
		"vmfsRawDeviceMap": "VMFSRDM", "vmfsPassthroughRawDeviceMap": "VMFSRDM",
	}
	want, ok := extentKind[d.Type]
	switch {
	case !bytes.Contains(raw, []byte("createType=")):
		return fmt.Sprintf("descriptor %s has no createType", filepath.Base(p))
	case !ok:
		return fmt.Sprintf("descriptor %s: createType %q is not a disk type of this datastore (a hosted-product disk must be imported with vmkfstools -i)", filepath.Base(p), d.Type)
	case len(d.Extent) == 0:
		return fmt.Sprintf("descriptor %s has no extent", filepath.Base(p))
	case d.DDB["uuid"] == "":
		return fmt.Sprintf("descriptor %s has no ddb.uuid", filepath.Base(p))
	}
	base := d.Type == "vmfs" || strings.HasSuffix(d.Type, "RawDeviceMap")
	if base && d.ParentCID != 0xffffffff {
		return fmt.Sprintf("descriptor %s: a base disk (createType %q) with parentCID %s, not ffffffff", filepath.Base(p), d.Type, d.ParentCID)
	}
	for _, x := range d.Extent {
		if x.Type != want {
			return fmt.Sprintf("descriptor %s: createType %q with a %s extent", filepath.Base(p), d.Type, x.Type)
		}
		if strings.ContainsAny(x.Info, `/\`) {
			return fmt.Sprintf("descriptor %s: extent %q outside its folder", filepath.Base(p), x.Info)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), x.Info)); err != nil {
			return fmt.Sprintf("descriptor %s: extent %s: %v", filepath.Base(p), x.Info, err)
		}
	}
	return ""
}

// flatExtent is the flat file of the base disk whose descriptor is at p.
func flatExtent(p string) (string, error) {
	if reason := esxDescriptorFault(p); reason != "" {
		return "", fmt.Errorf("%s", reason)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d, err := vmdk.ParseDescriptor(f)
	if err != nil {
		return "", err
	}
	if d.Type != "vmfs" || len(d.Extent) != 1 {
		return "", fmt.Errorf("descriptor %s: not a flat base disk", filepath.Base(p))
	}
	return filepath.Join(filepath.Dir(p), d.Extent[0].Info), nil
}

// prepare checks the disks of a device change as ESXi would: an existing
// disk's descriptor must be one ESXi opens; a disk to create is created
// here, in ESXi's format, and then attached as an existing one; a disk to
// delete is deleted once the call succeeded. What it made is in files, for
// the caller to undo when the call fails (by prepare's own refusal of a
// later change, too).
func (e *esxDisks) prepare(ctx *simulator.Context, self types.ManagedObjectReference, changes []types.BaseVirtualDeviceConfigSpec, files *fileChanges) types.BaseMethodFault {
	for _, ch := range changes {
		spec := ch.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || b.FileName == "" {
			continue
		}
		if spec.Operation == types.VirtualDeviceConfigSpecOperationRemove && b.Parent != nil && hasSnapshot(ctx, self) {
			// The disk's delta belongs to the VM's snapshot.
			return e.refuseWith(fmt.Sprintf("remove %s: the VM has a snapshot that holds this disk", b.FileName), &types.NotSupported{})
		}
		if spec.Operation == types.VirtualDeviceConfigSpecOperationRemove && spec.FileOperation == types.VirtualDeviceConfigSpecFileOperationDestroy {
			// Deletes the disk's own file, never its parents, once the
			// whole call went through.
			if f := deleteFault(ctx, e, self, b.FileName); f != nil {
				return f
			}
			if f := e.deletable(ctx, b.FileName); f != nil {
				return f
			}
			name := b.FileName
			if f := files.onCommit(func() types.BaseMethodFault { return e.deleteDisk(ctx, name) }); f != nil {
				return f
			}
			spec.FileOperation = ""
			continue
		}
		if spec.Operation != types.VirtualDeviceConfigSpecOperationAdd {
			continue
		}
		if spec.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate && b.Parent != nil {
			if f := e.createChild(ctx, self, b, files); f != nil {
				return f
			}
			spec.FileOperation = ""
			continue
		}
		if spec.FileOperation == "" && inOwnChain(ctx, self, b.FileName) {
			return e.refuseWith(fmt.Sprintf("%s is in a disk chain of this VM already", b.FileName), &types.FileLocked{FileFault: types.FileFault{File: b.FileName}})
		}
		var p object.DatastorePath
		if !p.FromString(b.FileName) || p.Path == "" {
			continue // vcsim names the file itself
		}
		local, err := e.localPath(ctx, b.FileName)
		if err != nil {
			return e.refuse(err.Error())
		}
		switch spec.FileOperation {
		case types.VirtualDeviceConfigSpecFileOperationCreate:
			// vCenter makes the VM's folder first.
			if err := files.mkdirAll(filepath.Dir(local)); err != nil {
				return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
			}
			capacity := disk.CapacityInBytes
			if capacity == 0 {
				capacity = disk.CapacityInKB * 1024
			}
			if err := createESXDisk(local, capacity, b.ThinProvisioned != nil && *b.ThinProvisioned); err != nil {
				if os.IsExist(err) {
					return &types.FileAlreadyExists{FileFault: types.FileFault{File: b.FileName}}
				}
				return &types.CannotCreateFile{FileFault: types.FileFault{File: b.FileName}}
			}
			files.made(local, esxFlat(local))
			spec.FileOperation = ""
		case "":
			if reason := esxDescriptorFault(local); reason != "" {
				return e.refuse(fmt.Sprintf("%s: %s", b.FileName, reason))
			}
		}
		// The disk's UUID is its descriptor's ddb.uuid, made at random
		// when the disk was created, as vCenter reports it (vcsim derives
		// it from the datacenter and the path: a disk deleted and made
		// again at the same path kept its UUID, and with it the receiver
		// appliance's device name, as if it were the same disk).
		if u := descriptorUUID(local); u != "" {
			b.Uuid = u
		}
	}
	return nil
}

// descriptorUUID is the ddb.uuid of the descriptor at p ("60 00 C2 9a ...")
// in the form vCenter gives a disk backing's uuid
// ("6000C29a-xxxx-xxxx-xxxx-xxxxxxxxxxxx"); "" if it has none.
func descriptorUUID(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	d, err := vmdk.ParseDescriptor(f)
	if err != nil {
		return ""
	}
	h := strings.ReplaceAll(d.DDB["uuid"], " ", "")
	if len(h) != 32 {
		return ""
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// lockedBy names a powered-on VM other than self that holds the disk file
// open so that self cannot open it: ESXi opens the top of a running VM's
// disk chain for writing (no other VM may open it) and the disks below it
// (a base frozen by a snapshot, the parent of a linked clone) for reading
// (others may read them, nobody may write them). top says whether self
// opens file as the top of a chain ("" if nothing is in the way).
func lockedBy(ctx *simulator.Context, self types.ManagedObjectReference, file string, top bool) string {
	for _, o := range ctx.Map.All("VirtualMachine") {
		vm, ok := o.(*simulator.VirtualMachine)
		if !ok || vm.Self == self || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || vm.Config == nil {
			continue
		}
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			for j, f := range chainOf(disk) {
				if f == file && (top || j == 0) {
					return vm.Name
				}
			}
		}
	}
	return ""
}

// chainOf lists the files of a disk's chain, top first.
func chainOf(disk *types.VirtualDisk) []string {
	var out []string
	switch b := disk.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		for ; b != nil; b = b.Parent {
			out = append(out, b.FileName)
		}
	case types.BaseVirtualDeviceFileBackingInfo:
		out = append(out, b.GetVirtualDeviceFileBackingInfo().FileName)
	}
	return out
}

func failedTask(obj mo.Reference, name string, f types.BaseMethodFault) *simulator.Task {
	return simulator.CreateTask(obj, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return nil, f })
}

type esxDiskManager struct {
	*simulator.VirtualDiskManager
	e *esxDisks
	simwrap.Own
}

// CreateVirtualDiskTask creates the disk in ESXi's format; the folder must
// exist (FileManager.MakeDirectory), as on ESXi.
func (m *esxDiskManager) CreateVirtualDiskTask(ctx *simulator.Context, req *types.CreateVirtualDisk_Task) soap.HasFault {
	task := simulator.CreateTask(m, "createVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		local, err := m.e.localPath(ctx, req.Name)
		if err != nil {
			return nil, &types.InvalidDatastorePath{DatastorePath: req.Name}
		}
		spec, ok := req.Spec.(*types.FileBackedVirtualDiskSpec)
		if !ok || spec.CapacityKb <= 0 {
			return nil, &types.InvalidArgument{InvalidProperty: "spec"}
		}
		if !strings.HasSuffix(local, ".vmdk") {
			return nil, &types.InvalidArgument{InvalidProperty: "name"}
		}
		thin := spec.DiskType == string(types.VirtualDiskTypeThin)
		if err := createESXDisk(local, spec.CapacityKb*1024, thin); err != nil {
			if os.IsExist(err) {
				return nil, &types.FileAlreadyExists{FileFault: types.FileFault{File: req.Name}}
			}
			return nil, &types.FileNotFound{FileFault: types.FileFault{File: path.Dir(req.Name)}}
		}
		return req.Name, nil
	})
	return &methods.CreateVirtualDisk_TaskBody{Res: &types.CreateVirtualDisk_TaskResponse{Returnval: task.Run(ctx)}}
}

// ExtendVirtualDiskTask extends a disk as ESXi does (extend.go), keeping
// its descriptor in ESXi's format; a disk a running VM holds is locked.
func (m *esxDiskManager) ExtendVirtualDiskTask(ctx *simulator.Context, req *types.ExtendVirtualDisk_Task) soap.HasFault {
	task := simulator.CreateTask(m, "extendVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		local, err := m.e.localPath(ctx, req.Name)
		if err != nil {
			return nil, &types.InvalidDatastorePath{DatastorePath: req.Name}
		}
		if _, err := os.Stat(local); err != nil {
			return nil, &types.FileNotFound{FileFault: types.FileFault{File: req.Name}}
		}
		if req.NewCapacityKb <= 0 {
			return nil, &types.InvalidArgument{InvalidProperty: "newCapacityKb"}
		}
		if holder := lockedBy(ctx, types.ManagedObjectReference{}, req.Name, true); holder != "" {
			return nil, m.e.refuseWith(fmt.Sprintf("extend %s: locked by running VM %s", req.Name, holder), &types.FileLocked{FileFault: types.FileFault{File: req.Name}})
		}
		if err := growDisk(local, req.NewCapacityKb*1024); err != nil {
			return nil, &types.FileFault{File: req.Name + ": " + err.Error()}
		}
		return req.Name, nil
	})
	return &methods.ExtendVirtualDisk_TaskBody{Res: &types.ExtendVirtualDisk_TaskResponse{Returnval: task.Run(ctx)}}
}

type esxVM struct {
	*simulator.VirtualMachine
	e *esxDisks
	simwrap.OwnEntity
}

func (vm *esxVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		// A hot-add opens the disk at once.
		for _, ch := range req.Spec.DeviceChange {
			spec := ch.GetVirtualDeviceConfigSpec()
			if disk, ok := spec.Device.(*types.VirtualDisk); ok && spec.Operation == types.VirtualDeviceConfigSpecOperationAdd && spec.FileOperation == "" {
				if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
					file := b.GetVirtualDeviceFileBackingInfo().FileName
					if other := lockedBy(ctx, vm.Self, file, true); other != "" {
						f := vm.e.refuse(fmt.Sprintf("%s: locked by running VM %s", file, other))
						return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "reconfigVm", f).Run(ctx)}}
					}
				}
			}
		}
	}
	files := &fileChanges{}
	f := vm.e.prepare(ctx, vm.Self, req.Spec.DeviceChange, files)
	if f == nil {
		var grown []grownDisk
		if grown, f = diskGrowth(vm.VirtualMachine, req.Spec.DeviceChange); f == nil {
			f = applyGrowth(vm.e.vc.Model, grown, nil, files)
		}
	}
	if f != nil {
		files.rollback()
		return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "reconfigVm", f).Run(ctx)}}
	}
	return reconfigure(ctx, vm.VirtualMachine, req, files)
}

// PowerOnVMTask fails, as ESXi does, when a disk of the VM is open in
// another running VM (a replica still attached to the receiver appliance),
// when a NIC has a static MAC address in VMware's reserved ranges
// (refuseStaticMACs), or without room for the swap file.
func (vm *esxVM) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	if vm.Config != nil && vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			for j, file := range chainOf(disk) {
				if other := lockedBy(ctx, vm.Self, file, j == 0); other != "" {
					vm.e.refuse(fmt.Sprintf("power on %s: %s is locked by running VM %s", vm.Name, file, other))
					return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "powerOnVm", &types.FileLocked{FileFault: types.FileFault{File: file}}).Run(ctx)}}
				}
			}
		}
	}
	if f := refuseStaticMACs(vm.VirtualMachine); f != nil {
		vm.e.refuse(fmt.Sprintf("power on %s: a NIC's static MAC address is one ESXi does not allow", vm.Name))
		return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "powerOnVm", f).Run(ctx)}}
	}
	if f := vm.e.vc.storage.roomToPowerOn(vm.VirtualMachine); f != nil {
		vm.e.refuse(fmt.Sprintf("power on %s: no room for its swap file", vm.Name))
		return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "powerOnVm", f).Run(ctx)}}
	}
	return vm.VirtualMachine.PowerOnVMTask(ctx, req)
}

type esxFolder struct {
	*simulator.Folder
	e *esxDisks
	// answer is the answer to the call, given already (heldAnswer).
	answer soap.HasFault
	simwrap.OwnEntity
}

func (f *esxFolder) CreateVMTask(ctx *simulator.Context, req *types.CreateVM_Task) soap.HasFault {
	if f.answer != nil {
		return f.answer
	}
	return f.createVM(ctx, req, f.e.vc.holds.create.Load())
}

// heldAnswer takes the call req as vCenter does (its task begins, held
// by h), announces it, and returns its answer only once h is released
// (HoldCreateVMAnswers). It runs before vcsim locks the folder for the
// call (in the registry's handler), so that the folder, and the task in
// vCenter's task history, are read meanwhile.
func (f *esxFolder) heldAnswer(ctx *simulator.Context, req *types.CreateVM_Task, h *Hold) soap.HasFault {
	var res soap.HasFault
	ctx.WithLock(f.Folder, func() { res = f.createVM(ctx, req, h) })
	h.works.Add(1)
	defer h.works.Done()
	if body, ok := res.(*methods.CreateVM_TaskBody); ok && body.Res != nil {
		h.waitedFor(body.Res.Returnval) // announced now: its caller never waits for it
	} else {
		h.announce(req.Config.Name)
	}
	<-h.release
	return res
}

func (f *esxFolder) createVM(ctx *simulator.Context, req *types.CreateVM_Task, hold *Hold) soap.HasFault {
	files := &fileChanges{}
	if fault := f.e.prepare(ctx, types.ManagedObjectReference{}, req.Config.DeviceChange, files); fault != nil {
		files.rollback()
		return &methods.CreateVM_TaskBody{Res: &types.CreateVM_TaskResponse{Returnval: failedTask(f.Folder, "createVm", fault).Run(ctx)}}
	}
	return createVMAtomic(ctx, f.Folder, req, files, func(name string) string {
		p, err := f.e.localPath(ctx, name)
		if err != nil {
			return ""
		}
		return p
	}, hold)
}

// ReplicaFlatFile is the extent of the provider disk whose descriptor is
// at the datastore path p ("[provider-ds] dir/x.vmdk"), as its descriptor
// names it (for a child disk, its delta extent, in which the lab keeps the
// whole disk: provsnap.go); "" if there is no such usable disk.
func (l *Lab) ReplicaFlatFile(p string) string {
	var dp object.DatastorePath
	if !dp.FromString(p) || dp.Datastore != l.Provider.Spec.Datastore {
		return ""
	}
	flat, err := contentFile(filepath.Join(l.Provider.DatastoreDir, filepath.FromSlash(dp.Path)))
	if err != nil {
		return ""
	}
	return flat
}

// TenantOrg is the lab tenant's org in Cloud Director.
const TenantOrg = "Company"

// BubbleNetwork is the lab's isolated org VDC network in Company-VDC (the
// web network's subnet, no uplink): where test migrations run their copies.
const BubbleNetwork = "test-bubble"

// ApplianceVM is the receiver appliance's name in the lab's provider vCenter.
const ApplianceVM = "ferry-receiver"

// Appliance is the receiver appliance: a Linux VM in the provider vCenter
// that runs ferry's receiver. The lab plays its kernel: a disk hot-added to
// it (with disk.EnableUUID=TRUE) appears under ByID as wwn-0x<uuid>, backed
// by the flat file vCenter keeps for that disk (the same device through a
// snapshot of the appliance and its consolidation), and disappears when the
// disk is detached. A disk whose descriptor ESXi would refuse never appears.
type Appliance struct {
	Name string
	ByID string // the appliance's /dev/disk/by-id

	disks *esxDisks
	ref   types.ManagedObjectReference

	mu      sync.Mutex
	devices map[string]string // by-id name -> the flat file it is (sync)
}

// Reference implements simulator.RegisterObject: the appliance watches the
// whole provider inventory (it filters its own VM).
func (a *Appliance) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "FerryLabApplianceKernel", Value: a.Name}
}

func (a *Appliance) PutObject(*simulator.Context, mo.Reference)                    {}
func (a *Appliance) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// UpdateObject re-reads the appliance's disks after every change of its
// devices, before the reconfigure task completes: a hot-added disk is there
// when vCenter says it was added.
func (a *Appliance) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	vm, ok := obj.(*mo.VirtualMachine) // the registry hands handlers the managed object
	if !ok || vm.Self != a.ref {
		return
	}
	for _, ch := range changes {
		if strings.HasPrefix(ch.Name, "config.hardware.device") || strings.HasPrefix(ch.Name, "config.extraConfig") {
			a.sync(ctx, vm)
			return
		}
	}
}

// sync makes ByID list exactly the appliance's usable disks.
func (a *Appliance) sync(ctx *simulator.Context, vm *mo.VirtualMachine) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[string]string{}
	if vm.Config != nil && enableUUIDSet(vm.Config.ExtraConfig) {
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if !ok || b.Uuid == "" {
				continue
			}
			desc, err := a.disks.localPath(ctx, b.FileName)
			if err != nil {
				continue
			}
			flat, err := contentFile(desc)
			if err != nil {
				continue // unusable: no device
			}
			want["wwn-0x"+strings.ToLower(strings.ReplaceAll(b.Uuid, "-", ""))] = flat
		}
	}
	// A device is a hard link to the file holding the disk's content: the
	// same inode whatever the datastore paths become. A snapshot and its
	// consolidation rename that file (provsnap.go) and the guest's block
	// device stays the same device throughout, as on ESXi; a symlink to a
	// path would point, for a moment, at a frozen copy or at nothing.
	a.devices = want
	entries, _ := os.ReadDir(a.ByID)
	for _, e := range entries {
		p := filepath.Join(a.ByID, e.Name())
		if flat, ok := want[e.Name()]; !ok || !sameFile(p, flat) {
			_ = os.Remove(p)
		}
	}
	for name, flat := range want {
		p := filepath.Join(a.ByID, name)
		if _, err := os.Lstat(p); err != nil {
			_ = os.Link(flat, p)
		}
	}
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func enableUUIDSet(opts []types.BaseOptionValue) bool {
	for _, o := range opts {
		if v := o.GetOptionValue(); v.Key == "disk.EnableUUID" {
			s, _ := v.Value.(string)
			return strings.EqualFold(s, "TRUE")
		}
	}
	return false
}

// startAppliance creates the receiver appliance VM in the provider vCenter
// (a small Linux VM with a boot disk, disk.EnableUUID=TRUE, powered on)
// and starts playing its kernel.
func startAppliance(ctx context.Context, vc *VCenter, disks *esxDisks, dir string) (*Appliance, error) {
	a := &Appliance{Name: ApplianceVM, ByID: filepath.Join(dir, "receiver-appliance", "dev", "disk", "by-id"), disks: disks}
	if err := os.MkdirAll(a.ByID, 0o755); err != nil {
		return nil, fmt.Errorf("lab receiver appliance: %w", err)
	}
	u := *vc.Server.URL
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return nil, fmt.Errorf("lab receiver appliance: login: %w", err)
	}
	defer c.Logout(context.WithoutCancel(ctx))
	spec := vc.Spec
	f := find.NewFinder(c.Client, true)
	dc, err := f.Datacenter(ctx, spec.Datacenter)
	if err != nil {
		return nil, err
	}
	f.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := f.ResourcePool(ctx, spec.Cluster+"/Resources")
	if err != nil {
		return nil, err
	}
	ds, err := f.Datastore(ctx, spec.Datastore)
	if err != nil {
		return nil, err
	}
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return nil, err
	}
	devices = append(devices, scsi)
	ctrl, err := devices.FindDiskController("scsi")
	if err != nil {
		return nil, err
	}
	boot := devices.CreateDisk(ctrl, ds.Reference(), fmt.Sprintf("[%s] %s/%s.vmdk", spec.Datastore, a.Name, a.Name))
	boot.CapacityInKB = 8 << 10
	boot.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = types.NewBool(true)
	devices = append(devices, boot)
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return nil, err
	}
	for _, ch := range changes {
		if _, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
			ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	task, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{
		Name:         a.Name,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		NumCPUs:      2,
		MemoryMB:     2048,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s", spec.Datastore, a.Name)},
		DeviceChange: changes,
		ExtraConfig:  []types.BaseOptionValue{&types.OptionValue{Key: "disk.EnableUUID", Value: "TRUE"}},
		// All its memory reserved, as appliances often are: no swap file.
		MemoryAllocation: &types.ResourceAllocationInfo{Reservation: types.NewInt64(2048)},
	}, pool, nil)
	if err != nil {
		return nil, fmt.Errorf("lab receiver appliance: %w", err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return nil, fmt.Errorf("lab receiver appliance: %w", err)
	}
	a.ref = info.Result.(types.ManagedObjectReference)
	vm := object.NewVirtualMachine(c.Client, a.ref)
	if task, err = vm.PowerOn(ctx); err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("lab receiver appliance: power on: %w", err)
	}
	reg := vc.Model.Map()
	reg.AddHandler(a)
	if svm, ok := reg.Get(a.ref).(*simulator.VirtualMachine); ok {
		reg.WithLock(&simulator.Context{Map: reg}, svm, func() { a.sync(&simulator.Context{Map: reg}, &svm.VirtualMachine) })
	}
	return a, nil
}
