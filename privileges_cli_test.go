package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestRunRefusesMissingPrivileges: when the role of ferry's account lacks
// privileges the journey needs (the lab's vCenters refuse those calls, as
// vCenter does), `ferry run` is refused before step 1 with every missing
// privilege, the object it is needed on and what for (step 3's as well as
// those of the replication and the cutover), exit 1, and nothing changed: the source has no snapshot and the same changed block tracking,
// no replica disk or folder exists, no state was written. Given the
// privileges back, the same plan runs up to its cutover.
func TestRunRefusesMissingPrivileges(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := labWith(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1,
		OnPremWithheld: []string{"VirtualMachine.State.CreateSnapshot", "VirtualMachine.Interact.PowerOn", "DVPortgroup.Create", "Datastore.Browse", "VirtualMachine.GuestOperations.Execute",
			"Network.Assign", "Datastore.AllocateSpace"},
		ProviderWithheld: []string{"Datastore.FileManagement"}})
	ctx := context.Background()
	admin, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	before, err := admin.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}

	out, code := run("run", "--plan", l.PlanPath())
	if code != exitFailed {
		t.Fatalf("run without the privileges: exit %d, want %d\n%s", code, exitFailed, out)
	}
	for _, want := range []string{
		`privilege "VirtualMachine.State.CreateSnapshot"`, "on VM WebApp2, needed to take each replication pass's snapshot",
		`privilege "VirtualMachine.Interact.PowerOn"`, "power the source on again if its cutover rolls back",
		`privilege "Datastore.Browse"`, "on datastore onprem-ds, needed to read the source disks on it",
		// Step 7 runs the plan's guest ping from WebApp1, on-prem.
		"step 7 (Checks)", `privilege "VirtualMachine.GuestOperations.Execute"`, "on VM WebApp1, needed to run the plan's guest pings from it",
		`privilege "Datastore.FileManagement"`, "provider vCenter " + l.Provider.URL, "on datastore provider-ds, needed to create the replica disks",
		"ferry's account " + lab.FerryPrincipal, "nothing was changed",
		// Step 3 deploys the L2 appliance, powers it on and creates the
		// sink port group on-prem.
		"step 3 (L2 appliance)", "power the L2 appliance on", `privilege "DVPortgroup.Create"`, "on distributed switch onprem-vds, needed to create the sink port group",
		`privilege "Network.Assign"`, "needed to connect the L2 appliance's uplink NIC to it", "needed to connect the L2 appliance's sink NIC",
		`privilege "Datastore.AllocateSpace"`, "needed to deploy the L2 appliance's disks there",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PowerOff") || strings.Contains(out, "RemoveSnapshot") || strings.Contains(out, "AddExistingDisk") {
		t.Errorf("the refusal names a privilege the account holds:\n%s", out)
	}
	after, err := admin.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if after.Snapshots != 0 || after.CBT != before.CBT {
		t.Errorf("WebApp2 changed: %d snapshot(s), CBT %v (was %v)", after.Snapshots, after.CBT, before.CBT)
	}
	if m, _ := filepath.Glob(filepath.Join(l.Dir, "provider-provider-ds", "ferry-replicas")); len(m) != 0 {
		t.Errorf("replica folder made: %v", m)
	}
	if _, err := os.Stat(strings.TrimSuffix(l.PlanPath(), ".yaml") + ".state.json"); err == nil {
		t.Error("state written by a refused run")
	}

	l.OnPrem.Privileges.Grant("VirtualMachine.State.CreateSnapshot", "VirtualMachine.Interact.PowerOn", "DVPortgroup.Create", "Datastore.Browse", "VirtualMachine.GuestOperations.Execute",
		"Network.Assign", "Datastore.AllocateSpace")
	l.Provider.Privileges.Grant("Datastore.FileManagement")
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run with the privileges given back: exit %d\n%s", code, out)
	}
}

// TestCutoverRefusedWithoutPowerOn: a privilege taken from ferry's role
// after replication started (here the power-on a rollback needs, and the
// guest operations of the plan's guest ping from WebApp1) refuses
// the cutover before the source is shut down: it keeps running, no target
// VM is made, and once the privilege is back the cutover migrates it.
func TestCutoverRefusedWithoutPowerOn(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := labWith(t, lab.Options{DiskSize: 16 << 20})
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run without confirmation: exit %d\n%s", code, out)
	}
	if err := l.OnPrem.Privileges.Withhold("VirtualMachine.Interact.PowerOn", "VirtualMachine.GuestOperations.Execute"); err != nil {
		t.Fatal(err)
	}
	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != exitFailed {
		t.Fatalf("cutover without VirtualMachine.Interact.PowerOn: exit %d, want %d\n%s", code, exitFailed, out)
	}
	for _, want := range []string{"step 8 (Cutover)", `privilege "VirtualMachine.Interact.PowerOn"`, "on VM WebApp2", "power the source on again if its cutover rolls back",
		// The cutover's guest ping from WebApp1, on-prem.
		`privilege "VirtualMachine.GuestOperations.Execute"`, "on VM WebApp1, needed to run the plan's guest pings from it"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "WebApp2: shutdown") {
		t.Errorf("the cutover shut the source down:\n%s", out)
	}
	ctx := context.Background()
	onprem, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer onprem.Close(ctx)
	if vm, err := onprem.VMByName(ctx, "WebApp2"); err != nil || !vm.PoweredOn() {
		t.Fatalf("WebApp2 after the refused cutover: %+v, %v; want it running", vm.PowerState, err)
	}
	provider, err := vsphere.Connect(ctx, vsphere.Config{URL: l.Provider.URL, Username: l.Provider.Username, Password: l.Provider.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer provider.Close(ctx)
	if _, found, err := labtest.ProviderVM(ctx, provider, "WebApp2"); err != nil || found {
		t.Fatalf("a target VM WebApp2 at the provider after the refused cutover (found %v, %v)", found, err)
	}

	l.OnPrem.Privileges.Grant("VirtualMachine.Interact.PowerOn", "VirtualMachine.GuestOperations.Execute")
	if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"); code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover with the privilege back: exit %d\n%s", code, out)
	}
}

// TestRunChecksTheApplianceAdvancedConfig: a receiver appliance that is
// powered off without disk.EnableUUID gets it set in the reconfigure that
// hot-adds the replica disks, which needs VirtualMachine.Config.
// AdvancedConfig on it (vCenter checks it for a reconfigure of
// extraConfig): without it a run is refused before step 1, naming it on
// the appliance; with disk.EnableUUID already set, it is not asked for.
func TestRunChecksTheApplianceAdvancedConfig(t *testing.T) {
	l, run := labWith(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, ProviderWithheld: []string{"VirtualMachine.Config.AdvancedConfig"}})
	ctx := context.Background()
	admin, err := vsphere.Connect(ctx, vsphere.Config{URL: l.Provider.URL, Username: l.Provider.Username, Password: l.Provider.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if out, code := run("plan", "--plan", l.PlanPath()); code != 0 || strings.Contains(labtest.PlanUnwrapped(out), `privilege "VirtualMachine.Config.AdvancedConfig"`) {
		t.Fatalf("plan with the appliance's disk.EnableUUID set: exit %d, want 0 and no AdvancedConfig asked for\n%s", code, out)
	}
	ref, ok, err := admin.FindVM(ctx, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatalf("receiver appliance: %v", err)
	}
	vm := object.NewVirtualMachine(admin.Client.Client, ref.Reference())
	task, err := vm.PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err == nil {
		task, err = vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "disk.EnableUUID", Value: "FALSE"}}})
	}
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, code := run("run", "--plan", l.PlanPath())
	if code != exitFailed {
		t.Fatalf("run without the privilege: exit %d, want %d\n%s", code, exitFailed, out)
	}
	for _, want := range []string{`privilege "VirtualMachine.Config.AdvancedConfig"`, "on the receiver appliance VM " + lab.ApplianceVM, "needed to set disk.EnableUUID=TRUE", "nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
}
