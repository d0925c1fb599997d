package vsphere_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/vsphere"
)

// TestProviderChainsOfEveryDeltaForm: the API may type a snapshot delta or
// a child disk at the provider as an SEsparse backing (VMFS6's delta
// format) as well as a flat one with a parent. Either way ferry finds a
// replica disk that a snapshot of the receiver appliance froze (its UUID,
// so no second hot-add; a detach refused with the reason), lists the
// appliance's chains, and deletes a test copy whose disk is an SEsparse
// child of the replica, and only the child.
func TestProviderChainsOfEveryDeltaForm(t *testing.T) {
	const replica = "[LocalDS_0] ferry-replicas/Company/WebApp2/WebApp2_0.vmdk"
	for _, form := range []string{"seSparse", "flat"} {
		t.Run(form, func(t *testing.T) {
			simulator.Test(func(ctx context.Context, vc *vim25.Client) {
				c := &vsphere.Client{Client: &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}}
				reg := simulator.Map(ctx)
				vms, err := c.Finder().VirtualMachineList(ctx, "/DC0/vm/*")
				if err != nil || len(vms) < 2 {
					t.Fatalf("VMs: %v %v", vms, err)
				}
				app, clone := vms[0], vms[1]
				// delta makes a backing of the form under test over parent.
				delta := func(file, uuid string, parent string) types.BaseVirtualDeviceBackingInfo {
					fb := types.VirtualDeviceFileBackingInfo{FileName: file}
					pb := types.VirtualDeviceFileBackingInfo{FileName: parent}
					if form == "seSparse" {
						return &types.VirtualDiskSeSparseBackingInfo{VirtualDeviceFileBackingInfo: fb, DiskMode: "persistent", Uuid: uuid,
							Parent: &types.VirtualDiskSeSparseBackingInfo{VirtualDeviceFileBackingInfo: pb, DiskMode: "persistent"}}
					}
					return &types.VirtualDiskFlatVer2BackingInfo{VirtualDeviceFileBackingInfo: fb, DiskMode: "persistent", Uuid: uuid,
						DeltaDiskFormat: string(types.VirtualDiskDeltaDiskFormatSeSparseFormat),
						Parent:          &types.VirtualDiskFlatVer2BackingInfo{VirtualDeviceFileBackingInfo: pb, DiskMode: "persistent"}}
				}
				setDisk := func(vm *object.VirtualMachine, b types.BaseVirtualDeviceBackingInfo) {
					sim := reg.Get(vm.Reference()).(*simulator.VirtualMachine)
					reg.WithLock(&simulator.Context{Map: reg}, sim, func() {
						for _, d := range sim.Config.Hardware.Device {
							if vd, ok := d.(*types.VirtualDisk); ok {
								vd.Backing = b
								return
							}
						}
					})
				}
				// The appliance's replica disk, frozen by the appliance's
				// snapshot: the disk is a delta over the replica.
				setDisk(app, delta("[LocalDS_0] appliance/WebApp2_0-000001.vmdk", "6000c29-frozen", replica))
				if _, err := app.PowerOff(ctx); err != nil {
					t.Fatal(err)
				}
				got, err := c.AttachDisks(ctx, "DC0", app.Name(), []vsphere.DiskFile{{Path: replica, Capacity: 16 << 20}})
				if err != nil || got[replica] != "6000c29-frozen" {
					t.Errorf("attach the frozen replica: %v %v, want its UUID and no second disk", got, err)
				}
				if devs, _ := app.Device(ctx); len(devs.SelectByType((*types.VirtualDisk)(nil))) != 1 {
					t.Errorf("the appliance has %d disks after attaching a disk it holds, want 1", len(devs.SelectByType((*types.VirtualDisk)(nil))))
				}
				if err := c.DetachDiskFiles(ctx, "DC0", app.Name(), []string{replica}); err == nil || !strings.Contains(err.Error(), "frozen by a snapshot") {
					t.Errorf("detach of a frozen replica: %v, want it refused as frozen by a snapshot", err)
				}
				chains, err := c.DiskChains(ctx, vsphere.Ref{Type: "VirtualMachine", Value: app.Reference().Value})
				if err != nil || len(chains) != 1 || chains[0].Parent != replica {
					t.Errorf("appliance's disk chains: %+v %v, want one over %s", chains, err, replica)
				}

				// A test copy booted on a child disk of the replica.
				setDisk(clone, delta("[LocalDS_0] WebApp2-test/WebApp2-test.vmdk", "6000c29-copy", replica))
				cref := vsphere.Ref{Type: "VirtualMachine", Value: clone.Reference().Value}
				if err := c.DestroyLinkedClone(ctx, cref, []string{replica}); err != nil {
					t.Fatalf("delete the test copy: %v", err)
				}
				if reg.Get(clone.Reference()) != nil {
					t.Error("the test copy still exists")
				}
			})
		})
	}
}
