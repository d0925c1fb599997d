package lab_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestFailedConsolidationLeavesADelta: while a lock holds a VM's base disk
// (FailConsolidations: a backup proxy that still has it hot-added), a
// snapshot removal takes the snapshot out of the tree but fails its task
// FileLocked naming the base disk and leaves the delta: the disk's backing
// is still a delta over the base, runtime.consolidationNeeded (and the
// summary's) is true, and a reader of the base gets it as the snapshot
// froze it, not what the guest wrote since. ConsolidateVMDisks_Task fails
// FileLocked while the lock holds; once it is gone, it merges the delta:
// the backing is the base again, consolidationNeeded false, and the
// running VM holds its base locked.
func TestFailedConsolidationLeavesADelta(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	vc, vm := plainClient(t, l, "WebApp2")
	flat := l.OnPrem.FlatFile("WebApp2")
	rel, err := filepath.Rel(l.OnPrem.DatastoreDir, flat)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b byte) {
		t.Helper()
		if err := l.CBT.WriteAt(flat, bytes.Repeat([]byte{b}, 4096), 0); err != nil {
			t.Fatal(err)
		}
	}
	type state struct {
		snapshots int
		chain     []string
		needed    bool
		summary   bool
	}
	read := func() state {
		t.Helper()
		var m mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"snapshot", "config.hardware.device", "runtime.consolidationNeeded", "summary.runtime.consolidationNeeded"}, &m); err != nil {
			t.Fatal(err)
		}
		s := state{needed: m.Runtime.ConsolidationNeeded, summary: m.Summary.Runtime.ConsolidationNeeded}
		if m.Snapshot != nil {
			s.snapshots = len(m.Snapshot.RootSnapshotList)
		}
		for _, d := range object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			for b, _ := d.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo); b != nil; b = b.Parent {
				s.chain = append(s.chain, b.FileName)
			}
			break
		}
		return s
	}
	// get reads the first 4 KiB of the base's flat file through vCenter's
	// /folder: its status and first byte.
	get := func() (int, byte) {
		t.Helper()
		u := *vc.URL()
		u.User = nil
		u.Path, u.RawQuery = "/folder/"+filepath.ToSlash(rel), url.Values{"dsName": {"onprem-ds"}, "dcPath": {"OnPrem-DC"}}.Encode()
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		req.Header.Set("Range", "bytes=0-4095")
		code, first := 0, byte(0)
		if err := vc.Client.Do(ctx, req, func(res *http.Response) error {
			code = res.StatusCode
			b, _ := io.ReadAll(res.Body)
			if len(b) > 0 {
				first = b[0]
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return code, first
	}
	var base string // the disk's base, which the lock holds
	fileLocked := func(what string, err error) {
		t.Helper()
		var fl *types.FileLocked
		if _, ok := fault.As(err, &fl); !ok || fl.File != base {
			t.Errorf("%s: %v (%+v), want FileLocked naming the base disk %s", what, err, fl, base)
		}
	}

	base = read().chain[0]
	write(0xaa)
	task, err := vm.CreateSnapshot(ctx, "pass", "", false, false)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	snap, err := vm.FindSnapshot(ctx, "pass")
	if err != nil {
		t.Fatal(err)
	}
	write(0xbb) // into the snapshot's delta
	release := l.OnPrem.FailConsolidations("WebApp2")
	defer release()
	res, err := methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *snap, Consolidate: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	fileLocked("the removal whose consolidation failed", object.NewTask(vc, res.Returnval).Wait(ctx))
	s := read()
	if s.snapshots != 0 || len(s.chain) != 2 || s.chain[1] != base || !s.needed || !s.summary {
		t.Fatalf("after the failed consolidation: %+v, want no snapshot, the disk on a delta over its base, consolidation needed", s)
	}
	if code, b := get(); code != http.StatusPartialContent || b != 0xaa {
		t.Errorf("the base read while the delta is left: %d, first byte %#x; want 206 and the base as the snapshot froze it (0xaa)", code, b)
	}
	write(0xcc) // the guest writes the delta still
	if _, b := get(); b != 0xaa {
		t.Errorf("the base read after the guest wrote again: first byte %#x, want 0xaa", b)
	}

	// A snapshot taken meanwhile goes over the delta left.
	task, err = vm.CreateSnapshot(ctx, "backup", "", false, false)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s := read(); len(s.chain) != 3 {
		t.Errorf("a snapshot over the delta left: chain %q, want two deltas over the base", s.chain)
	}
	if _, b := get(); b != 0xaa {
		t.Errorf("the base read with a snapshot over the delta left: first byte %#x, want 0xaa (frozen since the first snapshot)", b)
	}
	snap, err = vm.FindSnapshot(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	res, err = methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *snap, Consolidate: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	fileLocked("the second removal", object.NewTask(vc, res.Returnval).Wait(ctx))

	cres, err := methods.ConsolidateVMDisks_Task(ctx, vc, &types.ConsolidateVMDisks_Task{This: vm.Reference()})
	if err != nil {
		t.Fatal(err)
	}
	fileLocked("ConsolidateVMDisks while the lock holds", object.NewTask(vc, cres.Returnval).Wait(ctx))
	if s := read(); s.snapshots != 0 || len(s.chain) < 2 || !s.needed {
		t.Errorf("after a refused consolidation: %+v, want the delta left and consolidation needed", s)
	}

	release()
	cres, err = methods.ConsolidateVMDisks_Task(ctx, vc, &types.ConsolidateVMDisks_Task{This: vm.Reference()})
	if err != nil {
		t.Fatal(err)
	}
	if err := object.NewTask(vc, cres.Returnval).Wait(ctx); err != nil {
		t.Fatalf("ConsolidateVMDisks once the lock is gone: %v", err)
	}
	if s := read(); s.snapshots != 0 || len(s.chain) != 1 || s.needed || s.summary {
		t.Errorf("after the consolidation: %+v, want the disk on its base, no consolidation needed", s)
	}
	if code, _ := get(); code != http.StatusInternalServerError {
		t.Errorf("the base of the running VM after the consolidation: %d, want 500 (the VM writes it, locked)", code)
	}
}

// TestConsolidationNeedsRemoveSnapshot: vCenter runs ConsolidateVMDisks_Task
// only for a session that holds VirtualMachine.State.RemoveSnapshot on the
// VM (the API reference's required privilege), as a snapshot's removal.
func TestConsolidationNeedsRemoveSnapshot(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, OnPremWithheld: []string{"VirtualMachine.State.RemoveSnapshot"}})
	ctx := context.Background()
	cfg := l.Config()
	ferry := connect(t, cfg.OnPrem.URL, cfg.OnPrem.Username, cfg.OnPrem.Password, l.CAFile)
	vm, err := ferry.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	c := ferry.Client.Client
	res, err := methods.ConsolidateVMDisks_Task(ctx, c, &types.ConsolidateVMDisks_Task{This: vm.Ref.Reference()})
	if err == nil {
		err = object.NewTask(c, res.Returnval).Wait(ctx)
	}
	var np *types.NoPermission
	if _, ok := fault.As(err, &np); !ok || np.PrivilegeId != "VirtualMachine.State.RemoveSnapshot" {
		t.Fatalf("ConsolidateVMDisks_Task without VirtualMachine.State.RemoveSnapshot: %v, want NoPermission naming it", err)
	}
	l.OnPrem.Privileges.Grant("VirtualMachine.State.RemoveSnapshot")
	res, err = methods.ConsolidateVMDisks_Task(ctx, c, &types.ConsolidateVMDisks_Task{This: vm.Ref.Reference()})
	if err == nil {
		err = object.NewTask(c, res.Returnval).Wait(ctx)
	}
	if err != nil {
		t.Fatalf("ConsolidateVMDisks_Task of a VM with nothing to consolidate, privilege held: %v", err)
	}
}
