package cbt_test

import (
	"context"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// chainOf lists the files of a disk backing's chain, top first.
func chainOf(b types.BaseVirtualDeviceBackingInfo) []string {
	var out []string
	for fb, _ := b.(*types.VirtualDiskFlatVer2BackingInfo); fb != nil; fb = fb.Parent {
		out = append(out, fb.FileName)
	}
	return out
}

// TestSnapshotsMoveTheDiskToDeltas: as ESXi reports it, a VM's disk backing
// names a delta per snapshot from the root to the current one (each over
// the one below, down to the base, the top keeping the disk's UUID and
// changeId); each snapshot's own configuration keeps the chain it was
// taken over; removing a snapshot consolidates one delta, removing all
// leaves the base.
func TestSnapshotsMoveTheDiskToDeltas(t *testing.T) {
	f := setup(t)
	f.enable(t)
	ctx := context.Background()
	chain := func() ([]string, *types.VirtualDiskFlatVer2BackingInfo) {
		t.Helper()
		var m mo.VirtualMachine
		if err := f.vm.Properties(ctx, f.vm.Reference(), []string{"config.hardware.device"}, &m); err != nil {
			t.Fatal(err)
		}
		d := object.VirtualDeviceList(m.Config.Hardware.Device).FindByKey(f.key).(*types.VirtualDisk)
		return chainOf(d.Backing), d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	}
	base, top := chain()
	if len(base) != 1 {
		t.Fatalf("disk chain before any snapshot: %v", base)
	}
	uuid := top.Uuid
	s1, id1 := f.snapshot(t)
	got, top := chain()
	if len(got) != 2 || got[1] != base[0] || got[0] == base[0] || top.Uuid != uuid || top.ChangeId != id1 {
		t.Fatalf("after one snapshot: %v (uuid %q, changeId %q), want a delta over %s with uuid %q and changeId %q", got, top.Uuid, top.ChangeId, base[0], uuid, id1)
	}
	_, id2 := f.snapshot(t)
	got, top = chain()
	if len(got) != 3 || got[2] != base[0] || top.ChangeId != id2 {
		t.Fatalf("after two snapshots: %v (changeId %q), want two deltas over %s", got, top.ChangeId, base[0])
	}
	var snap mo.VirtualMachineSnapshot
	if err := f.vm.Properties(ctx, s1, []string{"config.hardware.device"}, &snap); err != nil {
		t.Fatal(err)
	}
	if c := chainOf(object.VirtualDeviceList(snap.Config.Hardware.Device).FindByKey(f.key).(*types.VirtualDisk).Backing); len(c) != 1 || c[0] != base[0] {
		t.Errorf("the first snapshot's configuration names %v, want the base it was taken over", c)
	}
	// The first (not the current) snapshot removed: one delta left.
	res, err := methods.RemoveSnapshot_Task(ctx, f.c, &types.RemoveSnapshot_Task{This: s1})
	if err == nil {
		err = object.NewTask(f.c, res.Returnval).Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := chain(); len(got) != 2 || got[1] != base[0] {
		t.Errorf("after removing the first of two snapshots: %v, want one delta over %s", got, base[0])
	}
	task, err := f.vm.RemoveAllSnapshot(ctx, nil)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, top := chain(); len(got) != 1 || got[0] != base[0] || top.Uuid != uuid {
		t.Errorf("after removing every snapshot: %v, want the base %s", got, base[0])
	}
}
