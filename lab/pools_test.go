package lab_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// webApp1AndAPool finds the lab's WebApp1, its resource pool, and a new
// pool "Elsewhere" beside it, through govmomi.
func webApp1AndAPool(t *testing.T) (vm *object.VirtualMachine, from, to *object.ResourcePool) {
	t.Helper()
	ctx := context.Background()
	vc, f, _ := onpremFinder(t)
	vm, err := f.VirtualMachine(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"resourcePool"}, &o); err != nil || o.ResourcePool == nil {
		t.Fatalf("WebApp1's pool: %v", err)
	}
	from = object.NewResourcePool(vc, *o.ResourcePool)
	if to, err = from.Create(ctx, "Elsewhere", types.DefaultResourceConfigSpec()); err != nil {
		t.Fatal(err)
	}
	return vm, from, to
}

// onpremFinder is a finder in the lab's on-prem datacenter, with its
// client and the datacenter.
func onpremFinder(t *testing.T) (*vim25.Client, *find.Finder, *object.Datacenter) {
	t.Helper()
	c, _ := onpremDatacenter(t)
	vc := c.Client.Client
	f := find.NewFinder(vc, true)
	dc, err := f.DatacenterOrDefault(context.Background(), "OnPrem-DC")
	if err != nil {
		t.Fatal(err)
	}
	return vc, f.SetDatacenter(dc), dc
}

// poolMembers is a resource pool's vm property.
func poolMembers(t *testing.T, p *object.ResourcePool) []types.ManagedObjectReference {
	t.Helper()
	var rp mo.ResourcePool
	if err := p.Properties(context.Background(), p.Reference(), []string{"vm"}, &rp); err != nil {
		t.Fatal(err)
	}
	return rp.Vm
}

// TestRelocateMovesTheVMBetweenPools: a VM relocated into another resource
// pool leaves the old pool's VM list and joins the new one's, as vCenter
// shows it (vcsim changed only the VM's resourcePool). Cloud Director
// moves a VM it imports from outside the org VDC's pool so.
func TestRelocateMovesTheVMBetweenPools(t *testing.T) {
	ctx := context.Background()
	vm, from, to := webApp1AndAPool(t)
	ref := to.Reference()
	task, err := vm.Relocate(ctx, types.VirtualMachineRelocateSpec{Pool: &ref}, types.VirtualMachineMovePriorityDefaultPriority)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	members := func(p *object.ResourcePool) []types.ManagedObjectReference { return poolMembers(t, p) }
	if slices.Contains(members(from), vm.Reference()) {
		t.Errorf("the pool WebApp1 left still lists it")
	}
	if !slices.Contains(members(to), vm.Reference()) {
		t.Errorf("the pool WebApp1 was moved into does not list it")
	}
}

// TestFailedRelocateLeavesThePoolsAsTheyWere: a relocate into another pool
// that fails (here vCenter refuses its device change: the VM has no device
// of that key) leaves the VM in its pool, and both pools' VM lists as they
// were. The lab moved the lists before the relocate ran, so after the
// failure the new pool listed a VM that was not in it.
func TestFailedRelocateLeavesThePoolsAsTheyWere(t *testing.T) {
	ctx := context.Background()
	vm, from, to := webApp1AndAPool(t)
	members := func(p *object.ResourcePool) []types.ManagedObjectReference { return poolMembers(t, p) }
	fromBefore, toBefore := members(from), members(to)
	ref := to.Reference()
	spec := types.VirtualMachineRelocateSpec{Pool: &ref, DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit,
			Device: &types.VirtualE1000{VirtualEthernetCard: types.VirtualEthernetCard{VirtualDevice: types.VirtualDevice{Key: 987654}}}},
	}}
	task, err := vm.Relocate(ctx, spec, types.VirtualMachineMovePriorityDefaultPriority)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err == nil {
		t.Fatal("a relocate editing a device WebApp1 does not have succeeded")
	}
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"resourcePool"}, &o); err != nil || o.ResourcePool == nil || *o.ResourcePool != from.Reference() {
		t.Fatalf("after the failed relocate WebApp1's pool is %v (%v), want %s", o.ResourcePool, err, from.Reference())
	}
	if got := members(from); !slices.Equal(got, fromBefore) {
		t.Errorf("after the failed relocate WebApp1's pool lists %v, it listed %v", got, fromBefore)
	}
	if got := members(to); !slices.Equal(got, toBefore) {
		t.Errorf("after the failed relocate the pool it was not moved into lists %v, it listed %v", got, toBefore)
	}
}
