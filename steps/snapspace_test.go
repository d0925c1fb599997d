package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestReplicationRefusedWithoutRoomForSnapshots: every pass snapshots the
// running source, and its delta grows on the datastore of the VM's working
// directory; ESXi stops the VM when that datastore is full. With less than
// snapshot_reserve free there, step 6 refuses in its plan, naming the
// datastore, the VM, what is free and what to do, and no snapshot is
// taken; once there is room, the journey goes on.
func TestReplicationRefusedWithoutRoomForSnapshots(t *testing.T) {
	t.Parallel()
	// No guest workload: its writes into holes take whole 1 MiB blocks, and
	// the free space measured below must be what the plan finds.
	l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	ctx := context.Background()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	room, err := vsphere.SnapshotRoomOf(ctx, onprem.Client.Client, src.Ref.Reference())
	if err != nil {
		t.Fatal(err)
	}
	if room, err = vsphere.RefreshRoom(ctx, onprem.Client.Client, room); err != nil { // as the plan reads it
		t.Fatal(err)
	}
	used := room.Capacity - room.Free
	l.OnPrem.SetDatastoreCapacity(used + 3<<30)
	env.Plan().SnapshotReserve = "6GiB"

	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	_, err = r.Run(ctx)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("run with 3 GiB free for snapshots: %v, want a conflict\n%s", err, strings.Join(lines, "\n"))
	}
	for _, want := range []string{room.Datastore, "WebApp2", "3.0 GiB free", "6.0 GiB free (snapshot_reserve)", "lower snapshot_reserve"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	var m mo.VirtualMachine
	if err := property.DefaultCollector(onprem.Client.Client).RetrieveOne(ctx, src.Ref.Reference(), []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot != nil {
		t.Errorf("WebApp2 has snapshots after the refusal: %+v", m.Snapshot.RootSnapshotList)
	}
	if st := env.State.Get("replication").Status; st == StatusDone {
		t.Errorf("replication is %s after its refusal", st)
	}

	// A plan that asks for less than is free goes on.
	env.Plan().SnapshotReserve = "2GiB"
	lines = nil
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run with room for snapshots: %v %+v\n%s", err, out, strings.Join(lines, "\n"))
	}
}

func TestSnapshotReserveValidated(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{"", ""}, {"4GiB", ""}, {"1 TiB", ""},
		{"512MiB", "512 MiB: want 1.0 GiB to 1.0 TiB"},
		{"2TiB", "want a size such as 4GiB (1.0 GiB to 1.0 TiB"},
		{"lots", `"lots": want a size such as 4GiB`},
	} {
		_, err := snapshotReserve(&PlanFile{MigrationPlan: MigrationPlan{SnapshotReserve: tc.v}})
		var fe *FieldError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("snapshot_reserve %q: %v", tc.v, err)
		case tc.want != "" && (!errors.As(err, &fe) || fe.Key != "snapshot_reserve" || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("snapshot_reserve %q: %v, want a snapshot_reserve error saying %q", tc.v, err, tc.want)
		}
	}
}

// TestCutoverRefusedBesideForeignSnapshot: a snapshot ferry did not take
// (a backup job's) on a VM to cut over is a conflict of the cutover's
// plan: the run refuses before anything happens, naming it, and the
// source keeps running.
func TestCutoverRefusedBesideForeignSnapshot(t *testing.T) {
	t.Parallel()
	_, env := migrationLabWith(t, "WebApp2", lab.Options{})
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run to the cutover: %v %+v\n%s", err, out, strings.Join(lines, "\n"))
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference()).CreateSnapshot(ctx, "nightly-backup", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs = []string{"WebApp2"}
	r.Confirmed = true
	lines = nil
	_, err = r.Run(ctx)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `snapshot "nightly-backup"`) || !strings.Contains(err.Error(), "before the shutdown") {
		t.Fatalf("cutover beside a backup's snapshot: %v, want a conflict naming it\n%s", err, strings.Join(lines, "\n"))
	}
	if src, err = onprem.VMByName(ctx, "WebApp2"); err != nil || !src.PoweredOn() {
		t.Fatalf("WebApp2 after the refusal: %+v %v, want it running", src.PowerState, err)
	}
	if st := env.State.Get("cutover").Status; st == StatusDone {
		t.Errorf("cutover is %s after its refusal", st)
	}
}

// TestStatusSaysWhyPassesWait: a job whose passes are waited out (someone
// else's snapshot on the source) is not paused, and `ferry status` says
// why no pass runs.
func TestStatusSaysWhyPassesWait(t *testing.T) {
	why := `the source VM has a snapshot ferry did not take: VM WebApp2 has snapshot "nightly-backup"`
	st := VMStatus{JobStatus: replication.StoredStatus("WebApp2", replication.RPO(time.Minute), replication.VMState{Waiting: why, LastPass: time.Now().Add(-5 * time.Minute)}, time.Now()), Summary: "RPO missed"}
	if got := st.HealthLine(); got != "RPO missed; passes wait: "+why {
		t.Errorf("health line %q", got)
	}
	st.Waiting = ""
	if got := st.HealthLine(); got != "RPO missed" {
		t.Errorf("health line without a wait %q", got)
	}
}

// TestReplicationPlanRefreshesEachDatastoreOnce: step 6's plan reads the
// free space where the pass snapshots of its VMs go, refreshed, once per
// datastore however many VMs share it (each refresh makes vCenter ask its
// hosts; a wave of 100 VMs on one datastore asked 100 times).
func TestReplicationPlanRefreshesEachDatastoreOnce(t *testing.T) {
	t.Parallel()
	l, env := waveLab(t, "WebApp1", "WebApp2", "WebApp3")
	before := l.OnPrem.DatastoreRefreshes()
	p, err := (&Replicate{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Items); n == 0 {
		t.Fatal("step 6 planned nothing")
	}
	if got := l.OnPrem.DatastoreRefreshes() - before; got != 1 {
		t.Errorf("step 6's plan of 3 VMs on onprem-ds refreshed on-prem datastores %d times, want once", got)
	}
}

// TestPausedHealthSaysWhyFirst (CI: "WebApp2: paused; full compare in
// progress: 14 of 32 blocks compared (44%): paused by request of root"):
// a job paused while its full compare ran says why it is paused right
// after "paused", then what became of the compare.
func TestPausedHealthSaysWhyFirst(t *testing.T) {
	st := VMStatus{JobStatus: replication.JobStatus{VM: "WebApp2", Paused: true, Reason: "paused by request of root (ferry pause)"},
		Summary: "paused; full compare stopped by the pause after 14 of 32 blocks compared (44%); it goes on from there when the job is resumed"}
	want := "paused: paused by request of root (ferry pause); full compare stopped by the pause after 14 of 32 blocks compared (44%); it goes on from there when the job is resumed"
	if got := st.HealthLine(); got != want {
		t.Errorf("health line %q, want %q", got, want)
	}
	st.Summary = "paused"
	if got := st.HealthLine(); got != "paused: paused by request of root (ferry pause)" {
		t.Errorf("health line of a paused job %q", got)
	}
}
