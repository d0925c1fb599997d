package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
)

// TestVMSelectionRefusesUnreadableDisks: step 5 refuses, with the reason
// and what to do, each lab VM whose disks ferry's transport cannot read or
// that has a snapshot of its own, and changes nothing (CBT stays off).
func TestVMSelectionRefusesUnreadableDisks(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		lab.DiskIndependentPersistent:    {"independent disk", "dependent (persistent) mode"},
		lab.DiskIndependentNonpersistent: {"independent disk", "independent_nonpersistent"},
		lab.DiskRDMPhysical:              {"physical-mode raw device mapping", "convert it"},
		lab.DiskRDMVirtual:               {"virtual-mode raw device mapping", "convert it"},
		lab.DiskVSAN:                     {"vSAN datastore", "Storage vMotion"},
		lab.DiskVVol:                     {"vVols datastore", "Storage vMotion"},
		lab.DiskEncrypted:                {"encrypted", "decrypt"},
		lab.DiskSEsparse:                 {"SEsparse delta disk", "full-clone"},
		lab.DiskVMFSSparse:               {"delta disk over a parent", "full-clone"},
		lab.DiskSnapshot:                 {"has snapshots (before-upgrade)", "delete (consolidate) them"},
	}
	if len(want) != len(lab.RefusedVMs) {
		t.Fatalf("%d refused VMs in the lab, %d expectations", len(lab.RefusedVMs), len(want))
	}
	orig := env.Plan().VMs[0]
	defer func() { env.Plan().VMs[0] = orig }()
	for _, spec := range lab.RefusedVMs {
		t.Run(spec.Name, func(t *testing.T) {
			env.Plan().VMs[0].Name = spec.Name
			_, err := (&VMSelection{}).Plan(ctx, env)
			if err == nil {
				t.Fatalf("%s (%s): planned", spec.Name, spec.Disk)
			}
			for _, w := range append(want[spec.Disk], spec.Name) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %v\nwant %q", spec.Disk, err, w)
				}
			}
			if _, err := (&VMSelection{}).Apply(ctx, env, func(Event) {}); err == nil {
				t.Errorf("%s: applied", spec.Name)
			}
			vm, err := onprem.VMByName(ctx, spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if vm.CBT {
				t.Errorf("%s: changed block tracking was turned on", spec.Name)
			}
		})
	}
	// The walkthrough's VM is still accepted.
	env.Plan().VMs[0] = orig
	if _, err := (&VMSelection{}).Plan(ctx, env); err != nil {
		t.Fatalf("WebApp2: %v", err)
	}
}

// TestVMSelectionSaysADeltaLeftNeedsConsolidation: a snapshot removal whose
// consolidation failed (a backup proxy still held the base disk) left the
// VM running on its delta with no snapshot listed; step 5 refuses it
// saying it needs disk consolidation and how to do it, not that it is a
// linked clone; consolidated, it is accepted again.
func TestVMSelectionSaysADeltaLeftNeedsConsolidation(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	vmo := object.NewVirtualMachine(onprem.Client.Client, vm.Ref.Reference())
	wait := func(task *object.Task, err error) error {
		if err != nil {
			return err
		}
		return task.Wait(ctx)
	}
	if err := wait(vmo.CreateSnapshot(ctx, "backup-job", "", false, false)); err != nil {
		t.Fatal(err)
	}
	release := l.OnPrem.FailConsolidations("WebApp2")
	defer release()
	if err := wait(vmo.RemoveSnapshot(ctx, "backup-job", false, types.NewBool(true))); err == nil {
		t.Fatal("the snapshot removal consolidated while the base disk was locked")
	}
	_, err = (&VMSelection{}).Plan(ctx, env)
	if err == nil {
		t.Fatal("planned a VM that runs on a delta left unconsolidated")
	}
	for _, w := range []string{"WebApp2", "needs disk consolidation", "Snapshots > Consolidate"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v\nwant %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "linked clone") {
		t.Errorf("%v: not a linked clone", err)
	}
	release()
	if err := wait(func() (*object.Task, error) {
		res, err := methods.ConsolidateVMDisks_Task(ctx, onprem.Client.Client, &types.ConsolidateVMDisks_Task{This: vmo.Reference()})
		if err != nil {
			return nil, err
		}
		return object.NewTask(onprem.Client.Client, res.Returnval), nil
	}()); err != nil {
		t.Fatal(err)
	}
	if _, err := (&VMSelection{}).Plan(ctx, env); err != nil {
		t.Fatalf("after the consolidation: %v", err)
	}
}
