package vsphere_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestDeployOVFOfATakenNameFails: an OVF deploy named as a VM the
// datacenter's VM folder holds fails, whether vCenter refuses the
// ImportVApp call or, as it does, returns the lease and fails it with
// DuplicateName: DeployOVF says so (the name, DuplicateName), tells its
// caller of no import (Importing is not called: nothing to abort), and
// leaves the VM of that name alone, no second one made.
func TestDeployOVFOfATakenNameFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c := connectTo(t, l, l.OnPrem)
	ova := filepath.Join(t.TempDir(), "edge.ova")
	if err := lab.WriteEdgeOVA(ova, lab.EdgeOVF()); err != nil {
		t.Fatal(err)
	}
	dc, err := c.Datacenter(ctx, l.OnPrem.Spec.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	nets := map[string]string{}
	for _, n := range []string{"Network 0", "Network 1", "Network 2", "Network 3"} {
		nets[n] = "uplink-network"
	}
	importing := false
	_, err = c.DeployOVF(ctx, vsphere.OVFDeploy{Source: ova, Name: "WebApp3", Datacenter: dc, Networks: nets,
		Importing: func(lease, vm vsphere.Ref) error { importing = true; return nil }})
	if err == nil {
		t.Fatal("an OVF deployed as WebApp3, a VM the VM folder holds: no error")
	}
	if !fault.Is(err, &types.DuplicateName{}) || !strings.Contains(err.Error(), "holds an object named WebApp3 already (VirtualMachine "+before.Ref.Value+")") ||
		!strings.Contains(err.Error(), "nothing was made: deploy under another name, or rename or remove that one") {
		t.Errorf("the deploy of a taken name: %v, want DuplicateName, the name and the VM holding it said, and what to do", err)
	}
	if importing {
		t.Error("the deploy of a taken name told its caller of an import to abort")
	}
	t.Log(err)
	// FindDeployedVM fails on two VMs of the name in the datacenter.
	if after, err := c.FindDeployedVM(ctx, dc, "WebApp3"); err != nil || after == nil || after.Ref != before.Ref {
		t.Errorf("the VM named WebApp3 after the refused deploy: %+v (%v), want %s alone", after, err, before.Ref.Value)
	}
}
