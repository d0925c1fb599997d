package steps

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
)

// TestProjectionAfterRolledBackCutoverLab: a cutover of WebApp2 rolled back
// (the provider refused to create its VM) leaves a small final pass in
// its report, mostly a pass's fixed cost. The guest then writes a burst
// (8 MiB) that replication carries in a larger incremental pass. The
// projected downtime that the cutover's confirmation shows
// (Env.ProjectDowntime) takes the final pass as a fixed cost plus its
// bytes at a throughput: at most the small final pass's time plus its
// bytes at what the larger pass did, fixed cost included. Not its bytes
// over the small pass's throughput, which is mostly fixed cost.
func TestProjectionAfterRolledBackCutoverLab(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := replicateToCutover(t, env)
	l.Provider.Model.Service.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "CreateVM_Task", ObjectType: "*", ObjectName: "*", Probability: 1,
		FaultType: simulator.FaultTypeGeneric, Message: "no room at the provider", Enabled: true})
	r.Confirmed = true
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("cutover: %v, want it rolled back", err)
	}
	l.Provider.Model.Service.ClearFaultRules()
	rep, _, err := env.LastCutoverReport()
	if err != nil || rep == nil || len(rep.VMs) != 1 || rep.VMs[0].FinalPass == nil {
		t.Fatalf("the rolled-back cutover's report: %+v, %v", rep, err)
	}
	var finalSecs float64
	for _, p := range rep.VMs[0].Phases {
		if p.Name == "final pass" && p.Error == "" {
			finalSecs = p.Seconds()
		}
	}
	finalBytes := rep.VMs[0].FinalPass.Planned
	if finalSecs <= 0 || finalBytes <= 0 {
		t.Fatalf("the report records no final pass that copied something: %+v", rep.VMs[0])
	}

	job, _, err := env.job(ctx, "WebApp2", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first pass after a final pass measures no change rate (its
	// interval spans the cutover's window); the burst goes into the next.
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	burst := make([]byte, 8<<20)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range burst {
		burst[i] = byte(rnd.Uint32())
	}
	if err := l.CBT.WriteAt(l.OnPrem.FlatFile("WebApp2"), burst, 4<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	store, done, err := env.readReplicationStore()
	if err != nil || store == nil {
		t.Fatal(err)
	}
	vs, err := store.VM("WebApp2")
	done()
	if err != nil {
		t.Fatal(err)
	}
	if vs.LastPlanned < int64(len(burst)) || vs.IncrementalDuration <= 0 || vs.IncrementalInterval <= 0 {
		t.Fatalf("the pass after the burst: %+v, want it recorded with the burst's 8 MiB", vs)
	}

	est, err := env.ProjectDowntime("WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	var shutdown, final float64
	var from string
	for _, p := range est.Parts {
		switch p.Phase {
		case "shutdown":
			shutdown = p.Seconds
		case "final pass":
			final, from = p.Seconds, p.From
		}
	}
	// What the final pass carries: the change rate over the incremental
	// pass and the shutdown.
	bytes := float64(vs.LastPlanned) / vs.IncrementalInterval.Seconds() * (vs.IncrementalDuration.Seconds() + shutdown)
	atMost := finalSecs + bytes*vs.IncrementalDuration.Seconds()/float64(vs.LastPlanned)
	overSmall := bytes * finalSecs / float64(finalBytes)
	if final > atMost*1.01 || !strings.Contains(from, "recorded pass") {
		t.Errorf("after a rolled-back cutover (final pass %s in %.3fs) and a pass of %s in %.3fs: final pass projected %.3fs, want at most %.3fs (the small pass's time plus the bytes at the larger pass's throughput), not about %.3fs (the bytes over the small pass's throughput)\n%s",
			Bytes(finalBytes), finalSecs, Bytes(vs.LastPlanned), vs.IncrementalDuration.Seconds(), final, atMost, overSmall, est.Text())
	}
}
