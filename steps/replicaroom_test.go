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
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestFullProviderDatastoreDoesNotPauseTheAppliance: once another tenant
// filled the provider datastore, a pass of ferry's waits for room and
// writes nothing (a write growing a thin replica disk there would pause the
// receiver appliance, and every replication to it). A sender that does not
// look first pauses the appliance (the lab, as ESXi: its question pending,
// the receiver silent); ferry's next pass says so, naming the question, and
// waits. Space freed and Retry answered in vSphere, the pass completes.
func TestFullProviderDatastoreDoesNotPauseTheAppliance(t *testing.T) {
	// Every pass reads the datastore and the appliance afresh.
	defer func(d time.Duration) { roomMaxAge = d }(roomMaxAge)
	roomMaxAge = 0
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	replicateToCutover(t, env)
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appliance, err := prov.VMRunStateOf(ctx, types.ManagedObjectReference{}, lab.ApplianceVM)
	if err != nil {
		t.Fatal(err)
	}
	question := func() *types.VirtualMachineQuestionInfo {
		t.Helper()
		var m mo.VirtualMachine
		if err := property.DefaultCollector(prov.Client.Client).RetrieveOne(ctx, appliance.Ref, []string{"runtime.question"}, &m); err != nil {
			t.Fatal(err)
		}
		return m.Runtime.Question
	}
	capacity, free, err := prov.DatastoreSpace(ctx, "Provider-DC", "provider-ds")
	if err != nil {
		t.Fatal(err)
	}
	l.Provider.SetDatastoreCapacity(capacity - free) // full

	job, _, err := env.job(ctx, "WebApp2", nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = job.RunPass(wctx, false)
	cancel()
	if !errors.Is(err, replication.ErrReplicaSpace) || !strings.Contains(err.Error(), "datastore provider-ds has 0 B free") {
		t.Fatalf("pass on the full provider datastore: %v, want it to wait for room on provider-ds", err)
	}
	if q := question(); q != nil {
		t.Fatalf("ferry's pass paused the receiver appliance: %q", q.Text)
	}

	// A sender that does not look first.
	job.Room = nil
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = job.RunPass(pctx, false)
	cancel()
	if err == nil {
		t.Fatal("a pass wrote into the full provider datastore")
	}
	q := question()
	if q == nil || !strings.HasPrefix(q.Text, "There is no more space for virtual disk") {
		t.Fatalf("after a write into the full provider datastore the appliance's question is %+v, want ESXi's out-of-space question", q)
	}

	job, _, err = env.job(ctx, "WebApp2", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.RunPass(ctx, false)
	if !errors.Is(err, replication.ErrReceiverPaused) || !strings.Contains(err.Error(), "receiver appliance ferry-receiver is paused") || !strings.Contains(err.Error(), q.Text) {
		t.Fatalf("pass with the appliance paused: %v, want ErrReceiverPaused naming it and its question", err)
	}

	l.Provider.SetDatastoreCapacity(capacity)
	if err := object.NewVirtualMachine(prov.Client.Client, appliance.Ref).Answer(ctx, q.Id, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass after Retry with room: %v", err)
	}

	// Powered off (Cancel does that too), the appliance runs no receiver.
	vm := object.NewVirtualMachine(prov.Client.Client, appliance.Ref)
	power := func(f func(context.Context) (*object.Task, error)) {
		t.Helper()
		task, err := f(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	power(vm.PowerOff)
	if _, err := job.RunPass(ctx, false); !errors.Is(err, replication.ErrReceiverPaused) || !strings.Contains(err.Error(), "receiver appliance ferry-receiver is powered off") {
		t.Fatalf("pass with the appliance off: %v, want ErrReceiverPaused saying it is off", err)
	}
	power(vm.PowerOn)
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass with the appliance on again: %v", err)
	}
}

// TestCutoverNeedsRoomForTheTargetsSwap: a target VM powered on at the
// provider takes a swap file of its memory on the provider datastore (the
// lab, as ESXi, refuses its power-on without room). Without room for it
// the cutover is refused before anything changes, saying so: the source
// is never shut down for a target that could not start.
func TestCutoverNeedsRoomForTheTargetsSwap(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := replicateToCutover(t, env)
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	capacity, free, err := prov.DatastoreSpace(ctx, "Provider-DC", "provider-ds")
	if err != nil {
		t.Fatal(err)
	}
	// Room for the replicas' passes, not for WebApp2's 1 GiB of memory.
	l.Provider.SetDatastoreCapacity(capacity - free + 512<<20)
	env.CutoverVMs = []string{"WebApp2"}
	r.Confirmed = true
	_, err = r.Run(ctx)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "swap files take 1.0 GiB") || !strings.Contains(err.Error(), "WebApp2 1.0 GiB") || !strings.Contains(err.Error(), "the cutover would shut the sources down") {
		t.Fatalf("cutover without room for the target's swap: %v, want a conflict naming it", err)
	}
	// A test copy would not start either; WebApp2 still runs on-prem.
	refusedWithSourceRunning(t, env, "without room for the copy's swap")

	l.Provider.SetDatastoreCapacity(capacity)
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover with room: %v", err)
	}
}

// TestCutoverNeedsTheVDCsComputeQuota: Cloud Director refuses to power a
// VM on past its org VDC's CPU or memory limit. A cutover whose targets
// would not fit in what the VDC's running VMs leave refuses before any
// shutdown, saying what is short (before, the source was shut down and
// the target's power-on failed); a test migration refuses too; with room
// the cutover goes through.
func TestCutoverNeedsTheVDCsComputeQuota(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := replicateToCutover(t, env)
	cc, err := env.vdcCompute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Room for 512 MB more: not for WebApp2's 1024 MB.
	l.VCD.SetVDCCompute(cc.CPULimitMHz, cc.MemUsedMB+512)
	// The confirmation's readiness check says it before anything is typed.
	if items, err := env.CutoverReadiness(ctx); err != nil || len(items) != 1 || items[0].Kind != "VDC" || !strings.Contains(items[0].Detail, "memory: 1024 MB needed") {
		t.Fatalf("readiness past the VDC's memory limit: %+v, %v; want the VDC's conflict", items, err)
	}
	// So does a run that stops before the cutover (ferry run without
	// --confirm-cutover).
	var lines []string
	unconfirmed := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message) }}
	if out, err := unconfirmed.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run to the cutover: %v %+v", err, out)
	}
	if log := strings.Join(lines, "\n"); !strings.Contains(log, "warning cutover: the cutover would refuse as things stand: VDC Company-VDC:") {
		t.Errorf("a run stopped before the cutover does not say it would refuse:\n%s", log)
	}
	env.CutoverVMs = []string{"WebApp2"}
	r.Confirmed = true
	_, err = r.Run(ctx)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "Cloud Director refuses to power VMs on past the VDC's allocation") ||
		!strings.Contains(err.Error(), "WebApp2 1 vCPU, 1024 MB") || !strings.Contains(err.Error(), "memory: 1024 MB needed") {
		t.Fatalf("cutover past the VDC's memory limit: %v, want a conflict naming it", err)
	}
	refusedWithSourceRunning(t, env, "past the VDC's memory limit")

	l.VCD.SetVDCCompute(cc.CPULimitMHz, cc.MemLimitMB)
	if items, err := env.CutoverReadiness(ctx); err != nil || len(items) != 0 {
		t.Fatalf("readiness with room: %+v, %v; want nothing refusing", items, err)
	}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover with room: %v", err)
	}
}

// replicateToCutover runs the lab's plan up to the cutover (not confirmed)
// and returns its runner.
func replicateToCutover(t *testing.T, env *Env) *Runner {
	t.Helper()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if out, err := r.Run(context.Background()); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("replicate: %v %+v", err, out)
	}
	return r
}

// refusedWithSourceRunning checks, after a cutover of WebApp2 was refused
// (why), that a test migration of it is refused too (its copy would not
// start) and that WebApp2 still runs on-prem.
func refusedWithSourceRunning(t *testing.T, env *Env, why string) {
	t.Helper()
	ctx := context.Background()
	pf := *env.Plan()
	pf.TestMigration.Network = lab.BubbleNetwork
	env.SetPlan(&pf)
	if _, err := env.TestMigrate(ctx, []string{"WebApp2"}, func(Event) {}); err == nil || !strings.Contains(err.Error(), "not tested") || !strings.Contains(err.Error(), "the test copies would not start") {
		t.Fatalf("test migration %s: %v, want it refused", why, err)
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vm, err := onprem.VMByName(ctx, "WebApp2"); err != nil || vm.PowerState != vsphere.PoweredOn {
		t.Fatalf("WebApp2 after the refused cutover: %+v, %v; want it running on-prem", vm.PowerState, err)
	}
}
