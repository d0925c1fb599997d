package steps

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/replication"
)

// jobOf is vm's job in sched's status.
func jobOf(t *testing.T, sched *replication.Scheduler, vm string) replication.JobStatus {
	t.Helper()
	for _, st := range sched.Status() {
		if st.VM == vm {
			return st
		}
	}
	t.Fatalf("no job of %s: %+v", vm, sched.Status())
	return replication.JobStatus{}
}

// TestRestartKeepsAnInterruptedCutoversHold: a wizard (its scheduler
// replicating) dies during WebApp2's cutover after the target VM was
// created over the replica disks. Started again, ferry does not resume
// replication onto those disks: `ferry status` and the new scheduler say
// the job is held by its cutover, which was left unfinished, and what to
// do; the cutover run again removes what the first one left and cuts
// over.
func TestRestartKeepsAnInterruptedCutoversHold(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	next := crashCutoverIn(t, l, env, true, func(ev Event) bool {
		return strings.HasPrefix(ev.Message, "WebApp2: create VM at provider done")
	}, cutoverRunning)

	const kept = "held by its cutover, which a previous ferry process left unfinished before power-on of the target was requested"
	if h := webApp2Health(t, next); !strings.Contains(h, kept) || !strings.Contains(h, "run the cutover again") ||
		!strings.Contains(h, "it had shut the source down at ") {
		t.Errorf("ferry status after the crash: %q", h)
	}
	var mu sync.Mutex
	var resumed []replication.Event
	sched, err := next.EnableWarm(ctx, func(ev replication.Event) {
		if ev.Kind == replication.EventResumed && ev.VM == "WebApp2" {
			mu.Lock()
			resumed = append(resumed, ev)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if j := jobOf(t, sched, "WebApp2"); !j.Paused || string(j.Phase) != "held" || !strings.HasPrefix(j.Reason, kept) {
		t.Errorf("WebApp2's job in the restarted wizard: phase %q, paused %v, reason %q; want it held by its interrupted cutover", j.Phase, j.Paused, j.Reason)
	}
	mu.Lock()
	if len(resumed) != 0 {
		t.Errorf("the restarted wizard resumed replication onto the replica the target VM may hold: %+v", resumed)
	}
	mu.Unlock()

	// Run again, the cutover cleans up what the first left and finishes.
	// The first had shut the source down: the source stays down, the
	// retry goes on from it and says so (its own window starts there).
	var warned []string
	r := &Runner{Itinerary: NewItinerary(), Env: next, Confirmed: true, Emit: func(ev Event) {
		if ev.Kind == EventWarning {
			warned = append(warned, ev.Message)
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover run again: %v", err)
	}
	if h := webApp2Health(t, next); h != "cut over" {
		t.Errorf("status after the cutover ran again: %q", h)
	}
	if !slices.ContainsFunc(warned, func(w string) bool {
		return strings.Contains(w, "the interrupted cutover shut the source down at") && strings.Contains(w, "s of downtime so far")
	}) {
		t.Errorf("the retry does not say how long the interrupted cutover left the source down: %q", warned)
	}
	if md := reportOf(t, next); !strings.Contains(md, "An earlier cutover was interrupted after it shut the source down: the source stayed powered off from") ||
		!strings.Contains(md, "s: interrupted cutover) |") {
		t.Errorf("the retry's report does not count the outage the interrupted cutover left:\n%s", md)
	}
}

// TestRestartResumesAStaleTestMigrationHold: ferry was killed while a test
// migration held WebApp2's job (as an older ferry recorded it: a pause
// with the hold's reason). The test migration ended with that process, and
// a test's snapshot freezes the replica whatever replication writes after
// it: `ferry status` says the job is held and that it will resume, and
// the restarted wizard resumes it, saying why.
func TestRestartResumesAStaleTestMigrationHold(t *testing.T) {
	t.Parallel()
	_, env := testMigrationLab(t)
	ctx := context.Background()
	store, err := env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := store.VM("WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	vs.Paused, vs.PausedReason = true, "held while its test migration freezes the replica (a snapshot of the receiver appliance)"
	if err := store.PutVM("WebApp2", vs); err != nil {
		t.Fatal(err)
	}
	h := webApp2Health(t, env)
	if !strings.HasPrefix(h, "held: ferry stopped while it held the job for its test migration") || !strings.Contains(h, "replication resumes when the wizard or ferry serve next starts") {
		t.Errorf("ferry status of a test migration's hold a stopped ferry left: %q", h)
	}
	var mu sync.Mutex
	var why []string
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		if ev.Kind == replication.EventResumed && ev.VM == "WebApp2" {
			mu.Lock()
			why = append(why, ev.Msg)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if j := jobOf(t, sched, "WebApp2"); j.Paused {
		t.Errorf("WebApp2's job stays paused (%s: %s) after its test migration's process ended", j.Phase, j.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(why) != 1 || !strings.Contains(why[0], "that test migration ended with it") || !strings.Contains(why[0], "replication resumes") {
		t.Errorf("the resume does not say why: %q", why)
	}
}
