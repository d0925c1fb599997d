package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/dsfile"
)

// reconfigure runs vcsim's ReconfigVM_Task on vm all or nothing, as
// vCenter does: a reconfigure it refuses leaves the VM as it was. vcsim
// edits a device by taking it out of the VM's device list in place (the
// list the VM shows) before it configures the new version, so a change it
// then refuses (an edited disk whose file is gone, say) left the VM without
// that device and with the last one listed twice. The wrapping task runs
// vcsim's with vm's lock held on the same context (vcsim's locks are
// shared by a context), and puts the device list and the disk count back
// when vcsim's fails, with the files the lab made for the call (files:
// nil for none), whose deletions it makes only once vcsim's succeeded.
// A device on a SCSI unit vCenter would refuse (scsiUnitFault) fails the
// task before vcsim's runs.
func reconfigure(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.ReconfigVM_Task, files *fileChanges) soap.HasFault {
	task := simulator.CreateTask(vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		devices := slices.Clone(vm.Config.Hardware.Device)
		disks := vm.Summary.Config.NumVirtualDisks
		if f := scsiUnitFault(vm.Config.Version, devices, req.Spec.DeviceChange); f != nil {
			files.rollback()
			return nil, f
		}
		res := vm.ReconfigVMTask(ctx, req)
		if f := res.Fault(); f != nil {
			files.rollback()
			return nil, &types.SystemError{Reason: "reconfigure: " + f.String}
		}
		inner, ok := ctx.Map.Get(res.(*methods.ReconfigVM_TaskBody).Res.Returnval).(*simulator.Task)
		if !ok {
			files.rollback()
			return nil, &types.SystemError{Reason: "reconfigure: vcsim's task is gone"}
		}
		inner.Wait()
		if inner.Info.Error == nil {
			return inner.Info.Result, files.commit()
		}
		ctx.Update(vm, []types.PropertyChange{
			{Name: "config.hardware.device", Val: devices},
			{Name: "summary.config.numVirtualDisks", Val: disks},
		})
		files.rollback()
		return nil, inner.Info.Error.Fault
	})
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run(ctx)}}
}

// fileChanges is what the lab does to a datastore's files for one call
// before vcsim's part of it runs (the disks ESXi creates for it, in ESXi's
// format; the disks it deletes), so that the call stays all or nothing, as
// in vCenter: a refused call (by the lab, or by vcsim after) leaves no
// file it created, and deletes none. Files and folders made are removed by
// rollback; deletions wait for commit, once the call succeeded. A nil
// *fileChanges records nothing.
type fileChanges struct {
	undo  []func()
	after []func() types.BaseMethodFault
}

// made records files (local paths) the call created: rollback removes them.
func (c *fileChanges) made(files ...string) {
	if c == nil {
		return
	}
	c.undo = append(c.undo, func() {
		for _, f := range files {
			_ = os.Remove(f)
		}
	})
}

// onRollback records f, which undoes something the call did, for rollback.
func (c *fileChanges) onRollback(f func()) {
	if c != nil {
		c.undo = append(c.undo, f)
	}
}

// onCommit defers f (a deletion) until the call succeeded.
func (c *fileChanges) onCommit(f func() types.BaseMethodFault) types.BaseMethodFault {
	if c == nil {
		return f()
	}
	c.after = append(c.after, f)
	return nil
}

// mkdirAll makes dir and its missing parents; rollback removes those it
// made (if empty).
func (c *fileChanges) mkdirAll(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if c != nil {
		// Undone in reverse: the deepest folder first.
		for _, d := range slices.Backward(missing) {
			c.undo = append(c.undo, func() { _ = os.Remove(d) })
		}
	}
	return nil
}

// keep records the disk whose descriptor is at desc as it is now (its
// descriptor and its flat extent's size), for rollback to put back: the
// call is about to extend it.
func (c *fileChanges) keep(desc string) error {
	if c == nil {
		return nil
	}
	raw, err := os.ReadFile(desc)
	if err != nil {
		return err
	}
	flat, err := dsfile.FlatOf(desc)
	if err != nil {
		return err
	}
	fi, err := os.Stat(flat)
	if err != nil {
		return err
	}
	size := fi.Size()
	c.undo = append(c.undo, func() {
		// Only a size that changed: a truncate to the same size still
		// changes the file's modification time, which tells changed block
		// tracking that someone wrote it.
		if fi, err := os.Stat(flat); err == nil && fi.Size() != size {
			_ = os.Truncate(flat, size)
		}
		_ = os.WriteFile(desc, raw, 0o600)
	})
	return nil
}

// rollback removes what the call made, newest first.
func (c *fileChanges) rollback() {
	if c == nil {
		return
	}
	for _, f := range slices.Backward(c.undo) {
		f()
	}
	c.undo, c.after = nil, nil
}

// commit makes the deletions the call waited with; the first fault.
func (c *fileChanges) commit() types.BaseMethodFault {
	if c == nil {
		return nil
	}
	var first types.BaseMethodFault
	for _, f := range c.after {
		if fault := f(); fault != nil && first == nil {
			first = fault
		}
	}
	c.undo, c.after = nil, nil
	return first
}

// createVMAtomic runs vcsim's CreateVM_Task in folder f all or nothing, as
// vCenter does: a VM it refuses leaves nothing on the datastore. vcsim
// makes the VM's folder and its configuration, NVRAM and log files before
// it configures the devices, and leaves them when it then refuses one (a
// unit number taken, say), so a second attempt of the same VM landed in
// "name (0)"; the files the lab made for the call (files) are removed too.
// local maps a datastore path to the file behind it ("" if none).
// A test's hold (VCenter.HoldCreateVMs) keeps the task running, its VM not
// made yet, until released; announced once the caller waits for the task.
func createVMAtomic(ctx *simulator.Context, f *simulator.Folder, req *types.CreateVM_Task, files *fileChanges, local func(string) string, hold *Hold) soap.HasFault {
	// vcsim's task locks its entity while it runs; one held stays unlocked
	// (a lock of its own until it has run), so that clients read the folder
	// meanwhile, as vCenter lets them while a CreateVM task runs.
	var entity mo.Reference = f
	if hold != nil {
		hold.works.Add(1)
		entity = types.ManagedObjectReference{Type: "Folder", Value: f.Self.Value + "/held-" + uuid.NewString()}
	}
	task := simulator.CreateTask(entity, "createVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if hold != nil {
			defer hold.works.Done()
			<-hold.release
		}
		made := noteVMFiles(&req.Config, local)
		res := f.CreateVMTask(ctx, req)
		var inner *simulator.Task
		if res.Fault() == nil {
			inner, _ = ctx.Map.Get(res.(*methods.CreateVM_TaskBody).Res.Returnval).(*simulator.Task)
		}
		if inner == nil {
			files.rollback()
			return nil, &types.SystemError{Reason: "create VM: vcsim's task did not start"}
		}
		inner.Wait()
		if inner.Info.Error == nil {
			return inner.Info.Result, files.commit()
		}
		made.remove()
		files.rollback()
		return nil, inner.Info.Error.Fault
	})
	ref := task.Run(ctx)
	if hold != nil {
		self := f.Self
		ctx.Map.WithLock(ctx, task, func() {
			task.Info.Entity, task.Info.EntityName, task.Info.DescriptionId = &self, self.Value, "Folder.createVm"
		})
		// Among the folder's recent tasks, as vCenter lists a task
		// (vcsim listed it under the stand-in entity); the caller holds
		// the folder's lock.
		ctx.Update(f, []types.PropertyChange{{Name: "recentTask", Val: append(slices.Clone(f.RecentTask), ref)}})
		hold.heldTask(ref, req.Config.Name)
	}
	return &methods.CreateVM_TaskBody{Res: &types.CreateVM_TaskResponse{Returnval: ref}}
}

// vmFiles are the files vcsim makes for a VM it creates (configuration,
// NVRAM, log, the VM's folder), as noted before it ran: remove deletes
// those it made, for a creation that then failed.
type vmFiles struct {
	files  *types.VirtualMachineFileInfo // vcsim names the .vmx in it
	orig   string                        // its vmPathName as asked
	before []string                      // named files not there before
	local  func(string) string
}

// noteVMFiles notes the files vcsim is to make for a VM of config; local
// maps a datastore path to the file behind it ("" if none).
func noteVMFiles(config *types.VirtualMachineConfigSpec, local func(string) string) *vmFiles {
	v := &vmFiles{files: config.Files, local: local}
	if v.files == nil {
		return v
	}
	v.orig = v.files.VmPathName
	// A VM whose configuration file is named (".vmx"): its own files not
	// there before are the call's.
	if strings.HasSuffix(v.orig, ".vmx") {
		if vmx := local(v.orig); vmx != "" {
			dir := filepath.Dir(vmx)
			for _, p := range []string{vmx, filepath.Join(dir, config.Name+".nvram"), filepath.Join(dir, "vmware.log"), dir} {
				if _, err := os.Lstat(p); err != nil {
					v.before = append(v.before, p)
				}
			}
		}
	}
	return v
}

// remove deletes the files the failed creation made.
func (v *vmFiles) remove() {
	if v.files == nil {
		return
	}
	switch now := v.files.VmPathName; {
	case len(v.before) > 0:
		for _, p := range v.before { // the folder last
			_ = os.Remove(p)
		}
	case !strings.HasSuffix(v.orig, ".vmx") && now != v.orig && strings.HasSuffix(now, ".vmx"):
		// vcsim made the VM's folder anew (a free name).
		if vmx := v.local(now); vmx != "" {
			_ = os.RemoveAll(filepath.Dir(vmx))
		}
	}
}
