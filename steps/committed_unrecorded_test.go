package steps

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-migrate/ferry/replication"
)

// TestKilledAfterFirstCommitGoesOn: ferry killed while step 6 ran, after
// the receiver committed WebApp2's initial sync and the sender recorded
// the commit of its disk, before it recorded the pass. Started again,
// `ferry status` says the initial sync is committed (not "no replica yet
// (run the replication step)"), step 6's plan goes on from it instead of
// planning a new initial sync, and warm replication follows the VM at
// once with an incremental pass of what changed since.
func TestKilledAfterFirstCommitGoesOn(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	it := NewItinerary()
	six := slices.Index(it.IDs(), "replication")
	// Steps 1-5, and the state file as step 6 found it.
	if _, err := (&Runner{Itinerary: it[:six], Env: env, Emit: func(Event) {}}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := (&Runner{Itinerary: it, Env: env, Emit: func(Event) {}}).Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("steps 1-7: %v %+v", err, out)
	}
	// What the kill left: the disk's commit recorded, the pass not, and a
	// state file whose step 6 began and recorded nothing.
	store, err := env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	disks, err := store.DisksWithPrefix("WebApp2/")
	if err != nil || len(disks) != 1 {
		t.Fatalf("WebApp2's disks in the store: %+v %v", disks, err)
	}
	for _, d := range disks {
		if d.Committed == "" || d.Pass != "" {
			t.Fatalf("WebApp2's disk after step 6: %+v, want its pass committed", d)
		}
	}
	if err := store.PutVM("WebApp2", replication.VMState{}); err != nil {
		t.Fatal(err)
	}
	env.Close(ctx)
	if err := os.WriteFile(env.State.Path(), before, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Begin("replication"); err != nil {
		t.Fatal(err)
	}
	next := NewEnv(l.Config(), env.Plan(), st)
	t.Cleanup(func() { next.Close(context.Background()) })

	if h := webApp2Health(t, next); !strings.Contains(h, "no pass recorded yet: the initial sync of 1 disk (16 MiB) is committed on the receiver") {
		t.Errorf("ferry status after the kill: %q", h)
	}
	p, err := (&Replicate{}).Plan(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	var replica *Item
	for i, item := range p.Items {
		if item.Kind == "replica" && item.Name == "WebApp2" && replica == nil {
			replica = &p.Items[i] // its pass (a full compare follows it)
		}
	}
	if replica == nil || replica.Action != ActionUpdate || !strings.Contains(replica.Detail, "go on from the initial sync of 1 disk (16 MiB) committed at ") {
		t.Errorf("step 6's plan after the kill: %+v, want the replica gone on from", p.Items)
	}
	passes := make(chan replication.Event, 16)
	sched, err := next.EnableWarm(ctx, func(ev replication.Event) {
		if ev.Kind == replication.EventPassDone && ev.VM == "WebApp2" {
			passes <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sched.Status(); len(got) != 1 || got[0].VM != "WebApp2" {
		t.Fatalf("the restarted scheduler follows %+v, want WebApp2", got)
	}
	if err := sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if ev := <-passes; ev.Pass != replication.PassIncremental || ev.Counters.Planned >= 16<<20 {
		t.Errorf("the pass after the restart: %s, %d bytes planned; want an incremental one of what changed since the committed initial sync", ev.Pass, ev.Counters.Planned)
	}
	if h := webApp2Health(t, next); !strings.HasPrefix(h, "ok") {
		t.Errorf("ferry status after that pass: %q", h)
	}
}

// TestReplicatePlanResumesFromNothingDurable: step 6's plan for an initial
// sync stopped before its durable watermark moved says the pass is sent
// from the start (QA: "0 B of 64 MiB durable at the receiver, not sent
// again").
func TestReplicatePlanResumesFromNothingDurable(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	store, err := env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp2/2000", replication.DiskState{Pass: "snapshot-1", Kind: replication.PassInitial, Size: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	if it := replicaPlanItem(t, env); it.Action != ActionUpdate || !strings.Contains(it.Detail, "resume the interrupted initial pass") ||
		!strings.Contains(it.Detail, "nothing of it was durable at the receiver yet, so it is sent from the start") {
		t.Errorf("step 6's plan for WebApp2: %s", it)
	}
}

// replicaPlanItem is step 6's plan item for WebApp2's replica.
func replicaPlanItem(t *testing.T, env *Env) Item {
	t.Helper()
	p, err := (&Replicate{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range p.Items {
		if it.Kind == "replica" && it.Name == "WebApp2" {
			return it
		}
	}
	t.Fatalf("step 6's plan has no replica item for WebApp2: %+v", p.Items)
	return Item{}
}

// TestReplicatePlanResumesInterruptedLaterPass: step 6's plan for a VM
// whose initial sync ended, and whose later pass (here the full compare
// after the initial sync, an incremental pass that reads every block) was
// stopped halfway, says that pass resumes with what is durable not sent
// again (QA: it said "incremental pass (changed blocks only)" while the
// run resumed 1.1 GiB into a 2 GiB compare).
func TestReplicatePlanResumesInterruptedLaterPass(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	store, err := env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutVM("WebApp2", replication.VMState{LastPass: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp2/2000", replication.DiskState{Committed: "52 1", Pass: "snapshot-2", Kind: replication.PassIncremental, Watermark: 8 << 20, Size: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	if it := replicaPlanItem(t, env); it.Action != ActionUpdate || !strings.Contains(it.Detail, "resume the interrupted incremental pass") ||
		!strings.Contains(it.Detail, "8.0 MiB of 16 MiB durable at the receiver, not sent again") {
		t.Errorf("step 6's plan for WebApp2: %s", it)
	}
}

// TestReplicatePlanWhileAPassRuns: step 6's plan made while this
// process's scheduler runs a pass of the VM (the wizard: esc, enter on the
// replication dashboard during a pass) does not call that pass
// interrupted; it is the plain incremental line (before: "resume the
// interrupted full compare ... 3360 of 4096 blocks").
func TestReplicatePlanWhileAPassRuns(t *testing.T) {
	t.Parallel()
	// A limiter from the start (uncapped in effect), slowed below once the
	// journey is there, so that a pass of 1 MiB takes seconds.
	j := startDiskChangeJourneyWith(t, func(env *Env) { env.Plan().BandwidthMbit = maxBandwidthMbit })
	lim, err := j.env.limiter()
	if err != nil || lim == nil {
		t.Fatalf("limiter: %v", err)
	}
	lim.SetBurst(64 << 10)
	lim.SetLimit(256 << 10)
	defer lim.SetLimit(rate.Inf)
	guestWrite(t, j.l, "WebApp2", 1<<20, 1<<20)
	if err := j.sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	store, err := j.env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p, _, _, err := storedPass(store, "WebApp2")
		if err != nil {
			t.Fatal(err)
		}
		if p != nil && j.env.passRunning("WebApp2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pass of WebApp2 in flight after PassNow")
		}
	}
	it := replicaPlanItem(t, j.env)
	if !j.env.passRunning("WebApp2") {
		t.Skip("the pass ended before the plan was read")
	}
	if strings.Contains(it.Detail, "interrupted") || !strings.Contains(it.Detail, "incremental pass (changed blocks only)") {
		t.Errorf("step 6's plan while a pass runs: %s", it)
	}
	lim.SetLimit(rate.Inf)
	if err := j.sched.WaitPass(context.Background(), "WebApp2"); err != nil {
		t.Fatal(err)
	}
}

// TestReplicatePlanWhileAnotherFerryHoldsTheStore: step 6's plan made by
// a second ferry (ferry plan beside a running ferry run or wizard of the
// plan) says who holds the replication data and what to do, not only
// "replication store is in use by another ferry process".
func TestReplicatePlanWhileAnotherFerryHoldsTheStore(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	if _, err := env.replicationStore(); err != nil { // this ferry holds it
		t.Fatal(err)
	}
	other := NewEnv(env.Config, env.Plan(), env.State)
	_, err := (&Replicate{}).Plan(context.Background(), other)
	if !errors.Is(err, replication.ErrStoreBusy) {
		t.Fatalf("step 6's plan beside a ferry holding the store: %v", err)
	}
	for _, want := range []string{"replication data is held by a running ferry (a wizard or run of this plan)", "plan again once it ends", "ferry serve engine plans"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("step 6's plan beside a ferry holding the store: %q does not say %q", err, want)
		}
	}
}
