package steps

import (
	"context"
	"strings"
	"testing"

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
