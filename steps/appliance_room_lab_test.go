package steps_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
)

// TestApplianceNeedsRoomOnItsDatastore: the L2 appliance takes its disks
// and, once powered on, a swap file of its memory (4 GiB for the lab's
// OVA) on its on-prem datastore, where the running VMs hold theirs.
//   - Without room for both, the run's preflight refuses, naming the
//     datastore, the sizes and what to do, before step 1 changes anything
//     (the run used to upload the appliance, then fail to power it on).
//   - With room for the upload but not for the swap file by the time it
//     powers on (the datastore filled during the upload), the run fails at
//     the power-on and leaves the appliance imported and off; the plan then
//     says why it cannot be powered on; once there is room the next run
//     powers that same VM on (its import completed: nothing to abort, no
//     second deploy).
func TestApplianceNeedsRoomOnItsDatastore(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	vc, withFree := onpremRoom(t, l)
	withFree(2 << 30) // less than the appliance's 4 GiB of memory
	plan := labPlan(t, l, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	ev, err := run(t, l.Config(), plan, state)
	if err == nil {
		t.Fatalf("run with 2 GiB free for the appliance: no error\n%s", ev)
	}
	for _, want := range []string{"onprem-ds has 2.0 GiB free", "4.0 GiB", "swap file", "appliance.datastore"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q: %v", want, err)
		}
	}
	untouched(t, l)

	// Room for the upload, and the datastore fills while it runs.
	withFree(lab.DefaultDatastoreCapacity) // the default: plenty
	ev = &events{}
	filled := false
	r := runner(t, l.Config(), plan, state, func(e steps.Event) {
		ev.emit(e)
		if !filled && e.Step == "appliance" && strings.Contains(e.Message, "vCenter made VM") {
			filled = true
			withFree(1 << 30)
		}
	})
	if err := r.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(ctx)
	if !filled || err == nil || !strings.Contains(err.Error(), "swap file") {
		t.Fatalf("run whose appliance has no room for its swap file at its power-on (datastore filled: %v): %v\n%s", filled, err, ev)
	}
	first, err := vc.VMByName(ctx, "ferry-l2vpn-client")
	if err != nil {
		t.Fatal(err)
	}
	if first.PoweredOn() || l.OnPrem.ImportHeld("ferry-l2vpn-client") {
		t.Fatalf("the appliance after its power-on failed: %s, import still held: %v; want it imported and off", first.PowerState, l.OnPrem.ImportHeld("ferry-l2vpn-client"))
	}
	plans, err := runner(t, l.Config(), plan, state, (&events{}).emit).PlanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	for _, sp := range plans {
		s.WriteString(sp.Plan.String())
	}
	if !strings.Contains(s.String(), "powering it on needs 4.0 GiB there for its swap file") {
		t.Errorf("the plan with the appliance off and 1 GiB free does not say why it cannot power it on:\n%s", s.String())
	}

	withFree(lab.DefaultDatastoreCapacity)
	if ev, err := run(t, l.Config(), plan, state); err != nil {
		t.Fatalf("run with room again: %v\n%s", err, ev)
	} else if s := ev.String(); strings.Contains(s, "interrupted") || strings.Contains(s, "uploading") {
		t.Errorf("the run after the power-on failed redeployed the appliance:\n%s", s)
	}
	app, err := vc.VMByName(ctx, "ferry-l2vpn-client")
	if err != nil {
		t.Fatal(err)
	}
	if app.Ref != first.Ref || !app.PoweredOn() {
		t.Errorf("the appliance after the run with room: %s %s; want %s, the VM imported before, powered on", app.Ref.Value, app.PowerState, first.Ref.Value)
	}
}

// TestPreflightCountsTheApplianceBeforeSnapshotRoom: the L2 appliance step
// 3 deploys and the pass snapshots of step 6 share the on-prem datastore.
// With room for the appliance but not, once it is there, for the snapshot
// reserve beside it, the run's preflight refuses before step 1 (it passed
// both checks apart, and step 6 then refused after steps 1 to 5 ran).
func TestPreflightCountsTheApplianceBeforeSnapshotRoom(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	// 6 GiB free: the appliance (4 GiB) fits, and so would the snapshot
	// reserve (4 GiB), but not both.
	_, withFree := onpremRoom(t, l)
	withFree(6 << 30)
	plan := labPlan(t, l, func(pf *steps.PlanFile) {
		pf.Skip = slices.DeleteFunc(pf.Skip, func(id string) bool { return id == "vm-selection" || id == "replication" })
	})
	ev, err := run(t, l.Config(), plan, filepath.Join(t.TempDir(), "state.json"))
	if err == nil || !strings.Contains(err.Error(), "step 6") || !strings.Contains(err.Error(), "once the L2 appliance step 3 deploys there has taken its 4.0 GiB, and a pass") {
		t.Fatalf("run with room for the appliance or the snapshot reserve, not both: %v\n%s", err, ev)
	}
	untouched(t, l)
}

// onpremRoom is a client of l's on-prem vCenter (logged out at the test's
// end) and a function that leaves free bytes free on onprem-ds.
func onpremRoom(t *testing.T, l *lab.Lab) (*vsphere.Client, func(free int64)) {
	t.Helper()
	ctx := context.Background()
	vc, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Logout(context.Background()) })
	return vc, func(free int64) {
		t.Helper()
		capacity, now, err := vc.DatastoreSpace(ctx, l.OnPrem.Spec.Datacenter, "onprem-ds")
		if err != nil {
			t.Fatal(err)
		}
		l.OnPrem.SetDatastoreCapacity(capacity - now + free)
	}
}

// TestApplianceDefaultPlacementRanksFreshFreeSpace (QA: without
// appliance.datastore, step 3 ranked the datastores by vCenter's free space
// as of their last refresh and refreshed only the one it picked: a full
// datastore whose figure was stale was picked over one with room, each plan
// blamed another datastore, and a run passed preflight and was refused at
// step 3 after steps 1 and 2): every candidate is refreshed before the
// ranking, and the appliance goes where the room was checked.
func TestApplianceDefaultPlacementRanksFreshFreeSpace(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	vc, withFree := onpremRoom(t, l)
	withFree(6 << 30) // onprem-ds; the other datastores, with fewer VMs, more
	// vCenter's figures now: every datastore refreshed once.
	for _, ds := range []string{"onprem-ds", "vsanDatastore", "vvol-ds"} {
		if _, _, err := vc.DatastoreSpace(ctx, l.OnPrem.Spec.Datacenter, ds); err != nil {
			t.Fatal(err)
		}
	}
	// The other two fill up behind vCenter's back (another host's VMs):
	// 2 GiB left on each, while their figures still say plenty.
	for _, dir := range []string{"onprem-vsanDatastore", "onprem-vvol-ds"} {
		free, _, ok := l.OnPrem.DatastoreUse(strings.TrimPrefix(dir, "onprem-"))
		if !ok {
			t.Fatalf("no datastore %s", dir)
		}
		fillBlocks(t, filepath.Join(l.Dir, dir, "other-host", "other-flat.vmdk"), free-2<<30)
	}
	plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Appliance.Datastore = "" })
	if ev, err := run(t, l.Config(), plan, filepath.Join(t.TempDir(), "state.json")); err != nil {
		t.Fatalf("run with room on onprem-ds only, the default placement: %v\n%s", err, ev)
	}
	app, err := vc.VMByName(ctx, "ferry-l2vpn-client")
	if err != nil {
		t.Fatal(err)
	}
	if ds := vmDatastore(t, vc, app.Ref); ds != "onprem-ds" || !app.PoweredOn() {
		t.Errorf("the appliance on %s, %s; want it on onprem-ds, the datastore with room, powered on", ds, app.PowerState)
	}
}

// fillBlocks makes path (a flat extent) take n bytes of its datastore in
// the lab, which counts a flat file in the 1 MiB blocks that hold data: one
// byte in each (a sparse file, cheap on the real disk).
func fillBlocks(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off := int64(0); off < n; off += 1 << 20 {
		if _, err := f.WriteAt([]byte{1}, off); err != nil {
			t.Fatal(err)
		}
	}
}

// vmDatastore is the datastore of the VM's configuration, as vCenter says.
func vmDatastore(t *testing.T, vc *vsphere.Client, ref vsphere.Ref) string {
	t.Helper()
	var m mo.VirtualMachine
	if err := vc.PropertyCollector().RetrieveOne(context.Background(), ref.Reference(), []string{"config.files.vmPathName"}, &m); err != nil {
		t.Fatal(err)
	}
	var p object.DatastorePath
	p.FromString(m.Config.Files.VmPathName)
	return p.Datastore
}

// TestRedoAndEdgePasswordCheckedBeforeStep1 (QA): a run without a terminal
// and without the edge password that would redo step 3 (the appliance found
// off) and then run step 4 is refused by its preflight: the redone step is
// planned there too (it was not: its power-on ran first), and step 4 needs
// the password to log in to the edge whether the edge answers yet or not.
// Nothing changes: the appliance stays off, step 3 stays done.
func TestRedoAndEdgePasswordCheckedBeforeStep1(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state.json")
	first := labPlan(t, l, func(pf *steps.PlanFile) { pf.Skip = append(pf.Skip, "dc-extension") })
	if ev, err := run(t, l.Config(), first, state); err != nil {
		t.Fatalf("steps 1-3: %v\n%s", err, ev)
	}
	vc, withFree := onpremRoom(t, l)
	app, err := vc.VMByName(ctx, "ferry-l2vpn-client")
	if err != nil {
		t.Fatal(err)
	}
	if err := vc.PowerOff(ctx, app.Ref); err != nil {
		t.Fatal(err)
	}
	// A run that finds step 3 done says its appliance is off (QA: it ended
	// as if all were well, with the stretch down).
	if ev, err := run(t, l.Config(), first, state); err != nil || !strings.Contains(ev.String(), "done before, but now the L2 appliance VM ferry-l2vpn-client is poweredOff: the L2 stretch is down; `ferry run --redo=appliance` applies it again") {
		t.Errorf("run with step 3 done and its appliance off: %v\n%s", err, ev)
	}
	// A redo of step 3 alone, with no room for the appliance's swap file:
	// refused by the preflight, step 3 left done (it was recorded failed).
	withFree(1 << 30)
	r := runner(t, l.Config(), first, state, (&events{}).emit)
	r.Redo = []string{"appliance"}
	if err := r.Preflight(ctx); err == nil || !strings.Contains(err.Error(), "step 3") || !strings.Contains(err.Error(), "swap file") {
		t.Fatalf("preflight of a redo of step 3 without room for the appliance's swap file: %v", err)
	}
	if st := r.Env.State.Status("appliance"); st != steps.StatusDone {
		t.Errorf("step 3 after the refused redo: %s, want done", st)
	}
	withFree(lab.DefaultDatastoreCapacity)
	cfg := l.Config()
	cfg.Edge.Password = ""
	t.Setenv("FERRY_EDGE_PASSWORD", "")
	r = runner(t, cfg, labPlan(t, l, nil), state, (&events{}).emit)
	r.Redo = []string{"appliance"}
	err = r.Preflight(ctx)
	if err == nil || !strings.Contains(err.Error(), "step 4") || !strings.Contains(err.Error(), "FERRY_EDGE_PASSWORD") {
		t.Fatalf("preflight of a redo of step 3 and step 4 without the edge password: %v", err)
	}
	if app, err := vc.VMByName(ctx, "ferry-l2vpn-client"); err != nil || app.PoweredOn() {
		t.Errorf("the appliance after the refused run: %v, %s; want it left off", err, app.PowerState)
	}
	if st := r.Env.State.Status("appliance"); st != steps.StatusDone {
		t.Errorf("step 3 after the refused run: %s, want done", st)
	}
}

// TestApplianceRoomCheckedAgainAfterThePrompt (QA): the wizard checks the
// appliance's room when step 3 starts, then asks for the edge password; a
// datastore that filled while the prompt was open is found before the
// upload (it was found at the power-on, after it), and nothing changes.
func TestApplianceRoomCheckedAgainAfterThePrompt(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	vc, withFree := onpremRoom(t, l)
	cfg := l.Config()
	pass := cfg.Edge.Password
	cfg.Edge.Password = ""
	t.Setenv("FERRY_EDGE_PASSWORD", "")
	r := runner(t, cfg, labPlan(t, l, nil), filepath.Join(t.TempDir(), "state.json"), (&events{}).emit)
	r.Env.Prompts = true
	r.Env.Secret = func(name, what string) (string, error) {
		withFree(1 << 30) // filled while the operator typed
		return pass, nil
	}
	if err := r.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "swap file") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("run whose datastore filled during the password prompt: %v", err)
	}
	if _, err := vc.VMByName(ctx, "ferry-l2vpn-client"); err == nil {
		t.Error("the appliance was deployed into a datastore without room for its swap file")
	}
}

// planAppliance starts a lab and plans step 3 of its plan, edited.
func planAppliance(t *testing.T, edit func(pf *steps.PlanFile)) (*steps.Env, steps.Plan) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	pf, err := steps.LoadPlanFile(labPlan(t, l, edit))
	if err != nil {
		t.Fatal(err)
	}
	env := steps.NewEnv(l.Config(), pf, steps.NewState(filepath.Join(t.TempDir(), "state.json")))
	t.Cleanup(func() { env.Close(context.Background()) })
	p, err := (&steps.Appliance{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return env, p
}

// TestSinkRefusedOnAPortGroupInUse (QA: with backend-network picked as the
// sink, step 3 planned "re-apply the sink policy" on it): ferry makes no
// port group that VMs use into the sink (a VLAN trunk with MAC learning or
// promiscuous mode and forged transmits would change their network); the
// plan shows a conflict naming the VMs, the apply refuses and the port
// group is left as it was.
func TestSinkRefusedOnAPortGroupInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, p := planAppliance(t, func(pf *steps.PlanFile) { pf.Appliance.SinkPortgroup = lab.SecondPortgroup })
	if s := p.String(); !strings.Contains(s, `! conflict port group "backend-network"`) || !strings.Contains(s, "WinSrv1") || strings.Contains(s, "apply the sink policy") {
		t.Errorf("plan with an in-use sink port group: want a conflict naming WinSrv1\n%s", s)
	}
	if _, err := (&steps.Appliance{}).Apply(ctx, env, func(steps.Event) {}); err == nil || !strings.Contains(err.Error(), "WinSrv1") {
		t.Errorf("apply: %v, want it refused naming WinSrv1", err)
	}
	c, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.Datacenter(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := c.Portgroup(ctx, dc, lab.SecondPortgroup)
	if err != nil {
		t.Fatal(err)
	}
	if pg.Trunk != "" || (pg.ForgedTransmits != nil && *pg.ForgedTransmits) || pg.MACLearning {
		t.Errorf("backend-network changed: trunk %q, forged transmits %v, MAC learning %v", pg.Trunk, pg.ForgedTransmits, pg.MACLearning)
	}
}

// TestDefaultPlacementLeavesVSANToLast (QA, twice: with appliance.datastore
// left empty, step 3 picked the datastore with the most free space, the
// lab's two-host vSAN datastore, whose default policy needs a third fault
// domain; plan and preflight were clean and the deploy failed at step 3):
// the pick by free space takes a vSAN or vVols datastore only when there
// is no other, says so in the plan, and the deploy succeeds.
func TestDefaultPlacementLeavesVSANToLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, p := planAppliance(t, func(pf *steps.PlanFile) { pf.Appliance.Datastore = "" })
	if s := p.String(); !strings.Contains(s, "(the most free space of the uplink's hosts' datastores, vSAN and vVols only when there is no other; appliance.datastore names another)") ||
		!strings.Contains(s, "onprem-ds") {
		t.Errorf("plan: want onprem-ds picked (vsanDatastore and vvol-ds, with more free space, left to last), said to be picked\n%s", s)
	}
	if _, err := (&steps.Appliance{}).Apply(ctx, env, func(steps.Event) {}); err != nil {
		t.Fatalf("deploy on the picked datastore: %v", err)
	}
	vc, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app, err := vc.VMByName(ctx, env.Plan().Appliance.Name)
	if err != nil {
		t.Fatal(err)
	}
	if ds := vmDatastore(t, vc, app.Ref); ds != "onprem-ds" {
		t.Errorf("the appliance on %q: want onprem-ds, not the two-host vSAN or vVols datastore", ds)
	}
}
