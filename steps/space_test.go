package steps

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
)

// TestReplicasMustFitTheProviderDatastore: the replica disks are thin, and
// replication writes every block the source disks hold into them. On a
// provider datastore without room for that, ESXi would stop every VM that
// writes to it once it is full, the receiver appliance among them, so VM
// selection refuses before anything changes and says what is needed and
// what to do. With room for the disks' data but not for their capacity,
// it goes on, with a warning.
func TestReplicasMustFitTheProviderDatastore(t *testing.T) {
	l, env := migrationLabWith(t, "WebApp2", lab.Options{ProviderDatastoreCapacity: 1 << 20})
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	_, err := r.Run(ctx)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "provider.datastore" {
		t.Fatalf("run with a full provider datastore: %v, want a refusal of provider.datastore\n%s", err, strings.Join(lines, "\n"))
	}
	for _, want := range []string{"provider-ds", "WebApp2", "another datastore"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if st := env.State.Get("vm-selection").Status; st == StatusDone {
		t.Errorf("VM selection is %s after its refusal", st)
	}
	if _, ok, _ := savedVMConfig(env.State, "WebApp2"); ok {
		t.Error("VM selection captured WebApp2's configuration though it refused")
	}

	// Room for what WebApp2's disk holds, not for its whole 16 MiB (the
	// guest workload stopped: what the disk holds stays as measured).
	l.Workload.Stop()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	need, err := onprem.DiskUse(ctx, src.Ref)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	capacity, free, err := prov.DatastoreSpace(ctx, "Provider-DC", "provider-ds")
	if err != nil {
		t.Fatal(err)
	}
	if need == 0 || need+(2<<20) >= src.DiskBytes() {
		t.Fatalf("WebApp2's disk takes %d bytes of %d: the test wants it to take some, and less than its capacity by 2 MiB", need, src.DiskBytes())
	}
	l.Provider.SetDatastoreCapacity(capacity - free + need + replication.ReplicaHeadroom + 1<<20)
	plan, err := (&VMSelection{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	var item string
	for _, it := range plan.Items {
		if it.Kind == "datastore" {
			item = it.Name + ": " + it.Detail
		}
	}
	if !strings.Contains(item, "provider-ds") || !strings.Contains(item, "watch its free space") {
		t.Errorf("plan's datastore line %q: want provider-ds, with a warning", item)
	}
	lines = nil
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run with room for the replica's data: %v %+v\n%s", err, out, strings.Join(lines, "\n"))
	}
	if log := strings.Join(lines, "\n"); !strings.Contains(log, "warning vm-selection: datastore provider-ds has") || !strings.Contains(log, "can grow to 16 MiB") {
		t.Errorf("no warning that the replica can outgrow provider-ds:\n%s", log)
	}
}
