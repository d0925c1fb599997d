package vsphere_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestDiskIdentityWhileSnapshotted: while a source VM has a snapshot (a
// pass's, open for as long as the pass reads), ESXi names the snapshot's
// delta in the disk's backing, and the lab does too. The inventory and the
// captured configuration still name the disk by its base file, as they do
// without a snapshot: the cutover matches the captured configuration's
// disks to the replicas by that name.
func TestDiskIdentityWhileSnapshotted(t *testing.T) {
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	c := connectTo(t, l, l.OnPrem)
	vm, err := c.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.VMConfig(ctx, vm.Ref)
	if err != nil {
		t.Fatal(err)
	}
	base := vm.Disks[0].File
	if base == "" || strings.Contains(base, "-00000") || before.Disks[0].File != base {
		t.Fatalf("disk file before the snapshot: inventory %q, configuration %q", base, before.Disks[0].File)
	}
	ovm := object.NewVirtualMachine(c.Client.Client, vm.Ref.Reference())
	task, err := ovm.CreateSnapshot(ctx, "ferry-pass-test", "", false, false)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	// What vCenter reports: a delta over the base.
	var m mo.VirtualMachine
	if err := ovm.Properties(ctx, ovm.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	disks := object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))
	top, ok := disks[0].GetVirtualDevice().Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok || top.Parent == nil || top.Parent.FileName != base || top.FileName == base {
		t.Fatalf("the snapshotted disk's backing is %+v, want a delta over %s", disks[0].GetVirtualDevice().Backing, base)
	}
	now, err := c.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.VMConfig(ctx, vm.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if now.Disks[0].File != base || cfg.Disks[0].File != base {
		t.Errorf("disk file while snapshotted: inventory %q, configuration %q; want the base %q", now.Disks[0].File, cfg.Disks[0].File, base)
	}
	if cfg.Disks[0].Mode != before.Disks[0].Mode || cfg.Disks[0].Thin != before.Disks[0].Thin {
		t.Errorf("disk format while snapshotted: %+v, before %+v", cfg.Disks[0], before.Disks[0])
	}
	// Removed, the snapshot's delta is consolidated: the base again.
	task, err = ovm.RemoveAllSnapshot(ctx, nil)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := ovm.Properties(ctx, ovm.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	disks = object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))
	if b, ok := disks[0].GetVirtualDevice().Backing.(*types.VirtualDiskFlatVer2BackingInfo); !ok || b.FileName != base || b.Parent != nil {
		t.Errorf("after the snapshot's removal the backing is %+v, want the base %s", disks[0].GetVirtualDevice().Backing, base)
	}
}
