package steps_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/vmware/govmomi/object"
)

// TestApplianceImportCutOffBeforeFerryKnewItsVM: ferry stopped after
// vCenter accepted the appliance's OVF import (its VM in the inventory, its
// lease open, its task running) and before ferry knew that VM (nothing
// recorded). The next run never takes that half-imported VM for the
// appliance (vCenter refuses to power it on; its disks are empty):
//   - (b) once the old lease timed out (vCenter removed its VM), it deploys
//     anew;
//   - (a) while the old lease is still open, it says it waits for vCenter
//     to end that import (it cannot abort a lease it does not know), then,
//     the lease timed out and the VM removed, deploys anew.
//
// Nothing else is removed: the half-imported VM goes only by vCenter's
// timeout.
func TestApplianceImportCutOffBeforeFerryKnewItsVM(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1}) // leases time out after vCenter's 300 s
	ctx := context.Background()
	plan := labPlan(t, l, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	vc, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Logout(context.Background()) })
	const name = "ferry-l2vpn-client"

	// cut runs until vCenter accepted the appliance's import, and stops
	// there (ferry killed): the import's lease is then open, not known.
	cut := func() vsphere.Ref {
		t.Helper()
		ev := &events{}
		var mu sync.Mutex
		r := runner(t, l.Config(), plan, state, func(e steps.Event) { mu.Lock(); ev.emit(e); mu.Unlock() })
		return cutAtImport(t, l, vc, r, name, func() string { mu.Lock(); defer mu.Unlock(); return ev.String() }).Ref
	}

	// (b): the old lease timed out, its VM removed: a new deploy begins.
	first := cut()
	l.OnPrem.ExpireImportLeases()
	second := cut() // the run deployed anew (and was cut again)
	if second == first {
		t.Fatalf("the run after the lease timed out held VM %s, the old import's", first.Value)
	}

	// (a): the old lease still open.
	ev := &events{}
	var mu sync.Mutex
	expired := false
	r := runner(t, l.Config(), plan, state, func(e steps.Event) {
		mu.Lock()
		defer mu.Unlock()
		ev.emit(e)
		if e.Step == "appliance" && strings.Contains(e.Message, "waiting for vCenter to end") && !expired {
			expired = true
			if !l.OnPrem.ImportHeld(name) {
				t.Errorf("ferry waits for an import whose lease is no longer held: %s", e.Message)
			}
			l.OnPrem.ExpireImportLeases() // the lease's 300 s pass
		}
	})
	if err := r.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the run while the cut-off import's lease is open: %v\n%s", err, ev)
	}
	if !expired {
		t.Errorf("the run did not say it waits for vCenter to end the import it found in progress:\n%s", ev)
	}
	app, err := vc.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if app.Ref == second || !app.PoweredOn() {
		t.Errorf("the appliance after the run: %s %s; want a new VM (not %s, half-imported) powered on", app.Ref.Value, app.PowerState, second.Value)
	}
}

// TestApplianceDriftWhileAnotherDeployImportsIt (QA): step 3 done, its
// appliance VM deleted in vCenter, and a deploy of a VM of its name (another
// ferry's, an admin's) cut off while vCenter holds its OVF import open. A
// run that finds step 3 done says that VM is being imported, and by which
// task, not that it is gone (it is in the inventory, half-imported).
func TestApplianceDriftWhileAnotherDeployImportsIt(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Skip = append(pf.Skip, "dc-extension") })
	state := filepath.Join(t.TempDir(), "state.json")
	if ev, err := run(t, l.Config(), plan, state); err != nil {
		t.Fatalf("steps 1-3: %v\n%s", err, ev)
	}
	vc, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Logout(context.Background()) })
	const name = "ferry-l2vpn-client"
	app, err := vc.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := vc.PowerOff(ctx, app.Ref); err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualMachine(vc.Client.Client, app.Ref.Reference()).Destroy(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}

	// Another deploy (a run of its own state file) cut off once vCenter
	// accepted its import: that VM in the inventory, its lease open.
	other := runner(t, l.Config(), plan, filepath.Join(t.TempDir(), "other.json"), func(steps.Event) {})
	half := cutAtImport(t, l, vc, other, name, func() string { return "" })

	ev, err := run(t, l.Config(), plan, state)
	out := ev.String()
	want := "done before, but now the L2 appliance VM " + name + " (" + half.Ref.Value + ") is being imported from an OVF (vCenter task task-"
	if err != nil || !strings.Contains(out, want) || !strings.Contains(out, ", begun by ") || !strings.Contains(out, "vCenter refuses to power it on until that import ends; the L2 stretch is down meanwhile; `ferry run --redo=appliance` applies it again") || strings.Contains(out, "is gone") {
		t.Errorf("run with step 3 done and a VM of its appliance's name being imported: %v; want %q...\n%s", err, want, out)
	}
}

// cutAtImport runs r until vCenter accepted the OVF import of the VM name
// and stops it there (a ferry killed before it knew that VM: nothing
// recorded), and returns that half-imported VM, its lease open; log is what
// the run said, for a run that ended before.
func cutAtImport(t *testing.T, l *lab.Lab, vc *vsphere.Client, r *steps.Runner, name string, log func() string) vsphere.VM {
	t.Helper()
	ctx := context.Background()
	hold := l.OnPrem.HoldImports()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		if err := r.Preflight(cctx); err != nil {
			done <- err
			return
		}
		_, err := r.Run(cctx)
		done <- err
	}()
	select {
	case got := <-hold.Began():
		if got != name {
			t.Fatalf("import of %q held, want %q", got, name)
		}
	case err := <-done:
		t.Fatalf("the run ended before the import of %s: %v\n%s", name, err, log())
	}
	cancel()
	<-done
	hold.Release()
	half, err := vc.VMByName(ctx, name)
	if err != nil || !l.OnPrem.ImportHeld(name) {
		t.Fatalf("after the cut: VM %v (%v), import held %v; want the half-imported VM, its lease open", half, err, l.OnPrem.ImportHeld(name))
	}
	return half
}
