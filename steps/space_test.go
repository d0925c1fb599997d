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
	t.Parallel()
	l, env := migrationLabWith(t, "WebApp2", lab.Options{ProviderDatastoreCapacity: 1 << 20})
	// The guest workload stopped from the start: what WebApp2's disk
	// holds stays as measured below, and less than its capacity (it
	// filled the whole 16 MiB while steps 1 to 5 ran on a loaded machine).
	l.Workload.Stop()
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

	// Room for what WebApp2's disk holds, not for its whole 16 MiB.
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

// TestVMSelectionWarnsOfTheTargetsSwap: a provider datastore with room for
// the replicas (their whole capacity, with the headroom) but not for the
// swap files their targets take when the cutover powers them on: VM
// selection goes on, and says now, in its plan and as a warning, that the
// cutover will refuse until there is room, rather than leaving it to be
// found after days of replication. With room for both, it says what the
// swap will take, without the warning.
func TestVMSelectionWarnsOfTheTargetsSwap(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	l.Workload.Stop()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
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
	datastoreLine := func() string { return selectionLine(t, env, "datastore") }
	// Room for the replica's whole capacity and the headroom, and 8 MiB:
	// not for WebApp2's 1 GiB of memory.
	l.Provider.SetDatastoreCapacity(capacity - free + src.DiskBytes() + replication.ReplicaHeadroom + 8<<20)
	var lines []string
	r := &Runner{Itinerary: NewItinerary()[:5], Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("steps 1 to 5 with room for the replicas: %v\n%s", err, strings.Join(lines, "\n"))
	}
	log := strings.Join(lines, "\n")
	if !strings.Contains(log, "warning vm-selection: datastore provider-ds has") || !strings.Contains(log, "WebApp2 1.0 GiB") || !strings.Contains(log, "before the cutover") {
		t.Errorf("no warning that the targets' swap will not fit at cutover:\n%s", log)
	}
	if strings.Contains(log, "can grow to") {
		t.Errorf("a warning that the replica can outgrow provider-ds, which has room for its capacity:\n%s", log)
	}
	if line := datastoreLine(); !strings.Contains(line, "swap files take 1.0 GiB more") || !strings.Contains(line, "the cutover refuses until there is room") {
		t.Errorf("plan's datastore line %q: want the targets' 1.0 GiB of swap, and that the cutover would refuse", line)
	}

	// Room for both: the line says what the swap takes, no warning.
	l.Provider.SetDatastoreCapacity(capacity)
	if line := datastoreLine(); !strings.Contains(line, "swap files take 1.0 GiB more") || strings.Contains(line, "refuses") {
		t.Errorf("plan's datastore line with room for all %q: want the swap said, without a refusal to come", line)
	}
}

// TestVMSelectionWarnsOfTheVDCsComputeQuota: when the org VDC's allocation
// leaves no room for the selected VMs' targets to power on, VM selection
// says so now (its plan's VDC line, a warning), not the cutover after
// days of replication; with room its line says what they will take.
func TestVMSelectionWarnsOfTheVDCsComputeQuota(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	l.VCD.SetVDCCompute(100000, 512) // 512 MB: not WebApp2's 1024
	var lines []string
	r := &Runner{Itinerary: NewItinerary()[:5], Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("steps 1 to 5: %v\n%s", err, strings.Join(lines, "\n"))
	}
	log := strings.Join(lines, "\n")
	if !strings.Contains(log, "warning vm-selection: VDC Company-VDC: the targets of WebApp2 will take 1 vCPU and 1024 MB") || !strings.Contains(log, "memory: 1024 MB needed, and 0 of its 512 MB are in use") {
		t.Errorf("no warning that WebApp2's target will not fit the VDC's allocation:\n%s", log)
	}
	line := func() string { return selectionLine(t, env, "VDC") }
	if got := line(); !strings.Contains(got, "memory 0 of 512 MB in use") || !strings.Contains(got, "the cutover refuses until there is room") {
		t.Errorf("plan's VDC line %q: want the quota, and that the cutover would refuse", got)
	}
	l.VCD.SetVDCCompute(100000, 1<<17)
	if got := line(); !strings.Contains(got, "will take 1 vCPU and 1024 MB") || strings.Contains(got, "refuses") {
		t.Errorf("plan's VDC line with room %q: want what the target takes, no refusal to come", got)
	}
}

// selectionLine is VM selection's plan line of kind ("datastore", "VDC"):
// its name and detail, "" when it has none.
func selectionLine(t *testing.T, env *Env, kind string) string {
	t.Helper()
	plan, err := (&VMSelection{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range plan.Items {
		if it.Kind == kind {
			return it.Name + ": " + it.Detail
		}
	}
	return ""
}
