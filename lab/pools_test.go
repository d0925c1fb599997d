package lab_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestRelocateMovesTheVMBetweenPools: a VM relocated into another resource
// pool leaves the old pool's VM list and joins the new one's, as vCenter
// shows it (vcsim changed only the VM's resourcePool). Cloud Director
// moves a VM it imports from outside the org VDC's pool so.
func TestRelocateMovesTheVMBetweenPools(t *testing.T) {
	ctx := context.Background()
	c, _ := onpremDatacenter(t)
	vc := c.Client.Client
	f := find.NewFinder(vc, true)
	dc, err := f.DatacenterOrDefault(ctx, "OnPrem-DC")
	if err != nil {
		t.Fatal(err)
	}
	vm, err := f.SetDatacenter(dc).VirtualMachine(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"resourcePool"}, &o); err != nil || o.ResourcePool == nil {
		t.Fatalf("WebApp1's pool: %v", err)
	}
	from := object.NewResourcePool(vc, *o.ResourcePool)
	to, err := from.Create(ctx, "Elsewhere", types.DefaultResourceConfigSpec())
	if err != nil {
		t.Fatal(err)
	}
	ref := to.Reference()
	task, err := vm.Relocate(ctx, types.VirtualMachineRelocateSpec{Pool: &ref}, types.VirtualMachineMovePriorityDefaultPriority)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	members := func(p *object.ResourcePool) []types.ManagedObjectReference {
		var rp mo.ResourcePool
		if err := p.Properties(ctx, p.Reference(), []string{"vm"}, &rp); err != nil {
			t.Fatal(err)
		}
		return rp.Vm
	}
	if slices.Contains(members(from), vm.Reference()) {
		t.Errorf("the pool WebApp1 left still lists it")
	}
	if !slices.Contains(members(to), vm.Reference()) {
		t.Errorf("the pool WebApp1 was moved into does not list it")
	}
}
