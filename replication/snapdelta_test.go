package replication_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/replication"
)

// TestDisksWhileSnapshotted: while a VM has a snapshot (a pass's, left by
// a killed ferry and resumed), ESXi reports each of its disks as a delta
// over the base, with the current changeId on the delta: a flat backing
// with a parent (deltaDiskFormat seSparseFormat on VMFS6, as the lab
// reports it), or, as the API also allows, an SEsparse backing whose
// parent the API types as SEsparse too (the test retypes the lab's chain).
// Either way the source still lists the disk (a resumed pass starts by
// listing them), and preflight finds the disk, its changed block
// tracking, and nothing it cannot read.
func TestDisksWhileSnapshotted(t *testing.T) {
	labParallel(t)
	for _, kind := range []string{"seSparse", "flat"} {
		t.Run(kind, func(t *testing.T) {
			l := newVcsimLab(t)
			ctx := context.Background()
			if err := replication.EnableCBT(ctx, l.client, l.vm.Reference()); err != nil {
				t.Fatal(err)
			}
			task, err := l.vm.CreateSnapshot(ctx, replication.SnapshotPrefix+"resumed", "", false, false)
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			reg := l.model.Map()
			vm := reg.Get(l.vm.Reference()).(*simulator.VirtualMachine)
			var key int32
			reg.WithLock(&simulator.Context{Map: reg}, vm, func() {
				for _, d := range vm.Config.Hardware.Device {
					vd, ok := d.(*types.VirtualDisk)
					if !ok {
						continue
					}
					delta, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
					if !ok || delta.Parent == nil || !strings.HasSuffix(delta.FileName, "-000001.vmdk") || delta.ChangeId == "" {
						t.Errorf("the lab reports the snapshotted disk as %+v, want a delta with the changeId over the base", vd.Backing)
						return
					}
					if kind == "seSparse" {
						base := delta.Parent
						parent := &types.VirtualDiskSeSparseBackingInfo{VirtualDeviceFileBackingInfo: base.VirtualDeviceFileBackingInfo, DiskMode: base.DiskMode}
						vd.Backing = &types.VirtualDiskSeSparseBackingInfo{VirtualDeviceFileBackingInfo: delta.VirtualDeviceFileBackingInfo, DiskMode: delta.DiskMode, Parent: parent, ChangeId: delta.ChangeId, GrainSize: 4}
					}
					key = vd.Key
					break
				}
			})
			src := replication.NewVSphereSource(l.client, l.vm.Reference())
			disks, err := src.Disks(ctx)
			if err != nil {
				t.Fatalf("disks of a VM with a snapshot: %v", err)
			}
			if len(disks) != 1 || disks[0].Key != strconv.Itoa(int(key)) {
				t.Fatalf("disks of a VM with a snapshot: %+v, want disk %d", disks, key)
			}
			rep, err := replication.Preflight(ctx, l.client, l.vm.Reference())
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) > 0 {
				t.Errorf("preflight of a VM with a pass snapshot: %q", rep.Problems)
			}
		})
	}
}
