package steps

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
)

// crashedAfterCreate is a lab whose cutover of WebApp2 a wizard (its
// scheduler replicating) left interrupted with the target VM created over
// the replica disks and the source shut down: the next process's Env.
func crashedAfterCreate(t *testing.T) (*lab.Lab, *Env) {
	t.Helper()
	return crashedAfterCreateWith(t, lab.Options{})
}

// crashedAfterCreateQuiet is crashedAfterCreate without the guest's
// background writer, for the tests that assert no pass's content
// (checkRolledBack only that a pass completes): each costs less CPU.
func crashedAfterCreateQuiet(t *testing.T) (*lab.Lab, *Env) {
	t.Helper()
	return crashedAfterCreateWith(t, lab.Options{WorkloadRate: -1})
}

// crashedAfterCreateWith is crashedAfterCreate with a lab of opts.
func crashedAfterCreateWith(t *testing.T, opts lab.Options) (*lab.Lab, *Env) {
	t.Helper()
	l, env := migrationLabWith(t, "WebApp2", opts)
	next := crashCutoverIn(t, l, env, true, func(ev Event) bool {
		return strings.HasPrefix(ev.Message, "WebApp2: create VM at provider done")
	}, cutoverRunning)
	if sourceOn(t, next) {
		t.Fatal("the source runs after the crash: the crash point is before the shutdown")
	}
	if _, ok := targetStatus(t, l, next); !ok {
		t.Fatal("no target at the provider after the crash")
	}
	return l, next
}

// checkRolledBack checks what a user would after the rollback of WebApp2's
// interrupted cutover: the source runs (govmomi), no target in Cloud
// Director nor at the provider, the state says rolled back, the replica
// disks are there, and with a scheduler (sched) the job is no longer held
// and a pass completes.
func checkRolledBack(t *testing.T, l *lab.Lab, env *Env, sched *replication.Scheduler) {
	t.Helper()
	if !sourceOn(t, env) {
		t.Error("the source is still powered off after the rollback")
	}
	if st, ok := targetStatus(t, l, env); st != "" || ok {
		t.Errorf("target after the rollback: vCD %q, at the provider %v; want it gone", st, ok)
	}
	if got := env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got != cutoverRolledBack {
		t.Errorf("cutover state %q, want %q", got, cutoverRolledBack)
	}
	desc := replication.ReplicaDiskPath(env.Plan().Org, "WebApp2", 0)
	for _, f := range []string{desc, strings.TrimSuffix(desc, ".vmdk") + "-flat.vmdk"} {
		if _, ok := replicaHash(t, l, env, f); !ok {
			t.Fatalf("replica file %s is gone after the rollback", f)
		}
	}
	if sched == nil {
		return
	}
	if j := jobOf(t, sched, "WebApp2"); j.Paused {
		t.Fatalf("WebApp2's job after the rollback: phase %q, paused, %q; want it replicating", j.Phase, j.Reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := jobOf(t, sched, "WebApp2").LastPass
	if err := env.warmPass(ctx, env.Plan().VMs[0], func(ev Event) { t.Log(ev.Message) }); err != nil {
		t.Fatalf("a pass after the rollback: %v", err)
	}
	if after := jobOf(t, sched, "WebApp2").LastPass; !after.After(before) {
		t.Errorf("no pass completed after the rollback (last pass %s, before %s)", after, before)
	}
}

// TestRollbackAloneOfCutoverInterruptedBeforePowerOn: a wizard dies during
// WebApp2's cutover after it shut the source down and created the target
// over the replica disks, before power-on was requested. The operator
// wants the source back without cutting over now: `--rollback` (here in an
// engine-like process whose scheduler holds the job) removes the target,
// keeps the replica, powers the source on, records rolled back, releases
// the hold (a pass completes) and reports the outage the crash left.
func TestRollbackAloneOfCutoverInterruptedBeforePowerOn(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	ctx := context.Background()
	sched, err := env.EnableWarm(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j := jobOf(t, sched, "WebApp2"); !j.Paused || j.Held != replication.HoldCutover {
		t.Fatalf("WebApp2's job before the rollback: %+v; want it held by its cutover", j)
	}
	var warned []string
	env.CutoverDecision = CutoverRollback
	env.CutoverVMs = []string{"WebApp2"}
	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(ev Event) {
		if ev.Kind == EventWarning {
			warned = append(warned, ev.Message)
		}
	}}
	if msg := runDecided(t, ctx, r); !strings.Contains(msg, "cutover rolled back as decided (--rollback)") || !strings.Contains(msg, "powered off from") {
		t.Fatalf("--rollback of a cutover interrupted before power-on: %s; want it rolled back, saying the outage", msg)
	}
	env.CutoverDecision, env.CutoverVMs = "", nil
	if !slices.ContainsFunc(warned, func(w string) bool {
		return strings.Contains(w, "the interrupted cutover left the source powered off from") && strings.Contains(w, "until this rollback powered it on again")
	}) {
		t.Errorf("the rollback does not say how long the interrupted cutover left the source down: %q", warned)
	}
	if md := reportOf(t, env); !strings.Contains(md, "An earlier cutover was interrupted after it shut the source down: the source was powered off from") || !strings.Contains(md, "| rolled back as decided |") {
		t.Errorf("the report does not count the outage the interrupted cutover left:\n%s", md)
	}
	checkRolledBack(t, l, env, sched)
	if h := webApp2Health(t, env); strings.Contains(h, "held") || strings.Contains(h, "DECISION") {
		t.Errorf("ferry status after the rollback: %q", h)
	}
}

// TestStartRollsBackAnInterruptedCutover: an engine (or a headless run)
// that starts and finds a cutover interrupted before power-on with its
// source still off rolls it back by itself, loudly: a warning naming the
// VM, the shutdown time and the outage; the state says rolled back and
// ferry status says so; the replica stays and replication resumes (a
// pass completes). The cutover, confirmed again, then cuts over.
func TestStartRollsBackAnInterruptedCutover(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	ctx := context.Background()
	off := env.interruptedShutdown("WebApp2")
	var warned []string
	if err := env.RecoverInterruptedCutovers(ctx, func(ev Event) {
		if ev.Kind == EventWarning {
			warned = append(warned, ev.Message)
		}
	}); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	if !slices.ContainsFunc(warned, func(w string) bool {
		return strings.HasPrefix(w, "WebApp2: ROLLED BACK AUTOMATICALLY") && strings.Contains(w, off.UTC().Format("2006-01-02 15:04:05")+" UTC") && strings.Contains(w, "of downtime")
	}) {
		t.Errorf("the automatic rollback does not say so loudly (VM, shutdown time, outage): %q", warned)
	}
	checkRolledBack(t, l, env, nil)
	if h := webApp2Health(t, env); !strings.Contains(h, "ROLLED BACK AUTOMATICALLY") || !strings.Contains(h, "the source was down from "+off.UTC().Format("2006-01-02 15:04:05")) || strings.Contains(h, "held") {
		t.Errorf("ferry status after the automatic rollback: %q", h)
	}
	// The cutover step's row no longer reads as the killed run left it
	// (QA: ferry status kept "8 Cutover interrupted/failed").
	if st := env.State.Get("cutover"); st.Status != StatusPending || !strings.Contains(st.Summary, "WebApp2: rolled back automatically") || st.Error != "" {
		t.Errorf("cutover step after the automatic rollback: %s %q %q; want pending, saying WebApp2 was rolled back", st.Status, st.Summary, st.Error)
	}
	sched, err := env.EnableWarm(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkRolledBack(t, l, env, sched)

	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover after the automatic rollback: %v", err)
	}
	if h := webApp2Health(t, env); h != "cut over" {
		t.Errorf("status after the cutover: %q", h)
	}
}

// TestStartLeavesWhatIsNotItsToRollBack: the automatic rollback leaves a
// cutover this run confirms again (its retry cleans up), one whose
// power-on was requested (the operator decides: two copies must never
// run), and, when the provider cannot be reached, the state and the hold
// as they were, saying so.
func TestStartLeavesWhatIsNotItsToRollBack(t *testing.T) {
	t.Parallel()
	t.Run("confirmed_again", func(t *testing.T) {
		t.Parallel() // a lab of its own
		_, env := crashedAfterCreateQuiet(t)
		env.CutoverVMs = []string{"WebApp2"}
		if err := env.RecoverInterruptedCutovers(context.Background(), func(Event) {}); err != nil {
			t.Fatal(err)
		}
		if sourceOn(t, env) || env.State.Get("cutover").Outputs[cutoverKey("WebApp2")] != cutoverRunning {
			t.Error("the recovery rolled back the cutover this run confirms again")
		}
	})
	t.Run("kept_to_go_on", func(t *testing.T) {
		// The wizard's operator decided to go on with it: left as it is,
		// said by a warning the wizard reads as such, and the interrupted
		// cutover is no window of its own to project.
		t.Parallel() // a lab of its own
		_, env := crashedAfterCreateQuiet(t)
		if ins := env.InterruptedShutdowns(); len(ins) != 1 || ins[0].VM != "WebApp2" || !ins[0].Off.Equal(env.interruptedShutdown("WebApp2")) {
			t.Fatalf("InterruptedShutdowns: %+v", ins)
		}
		var events []Event
		if err := env.RecoverInterruptedCutovers(context.Background(), func(ev Event) { events = append(events, ev) }, "WebApp2"); err != nil {
			t.Fatal(err)
		}
		if sourceOn(t, env) || env.State.Get("cutover").Outputs[cutoverKey("WebApp2")] != cutoverRunning {
			t.Error("the recovery rolled back the cutover the operator decided to go on with")
		}
		if rs := AutoRollbacks(events); len(rs) != 1 || !rs[0].Kept || rs[0].Failed || !strings.Contains(rs[0].Message, "the cutover to go on from there") {
			t.Errorf("what the recovery said: %+v", rs)
		}
		if _, err := env.ProjectDowntime("WebApp2"); err == nil || !strings.Contains(err.Error(), "the next one goes on from there") {
			t.Errorf("projection of a cutover going on from the source left off: %v", err)
		}
	})
	t.Run("power-on_requested", func(t *testing.T) {
		t.Parallel() // a lab of its own, where no pass's content is asserted
		l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
		env = crashCutover(t, l, env, func(ev Event) bool { return ev.Message == "WebApp2: power on" })
		if err := env.RecoverInterruptedCutovers(context.Background(), func(Event) {}); err != nil {
			t.Fatal(err)
		}
		if sourceOn(t, env) {
			t.Error("the recovery powered the source on after power-on of the target was requested")
		}
		if st, ok := targetStatus(t, l, env); st != "POWERED_OFF" || !ok {
			t.Errorf("target: vCD %q, at the provider %v; want it left as it was", st, ok)
		}
		if h := webApp2Health(t, env); !strings.Contains(h, "DECISION NEEDED") {
			t.Errorf("status: %q", h)
		}
	})
	t.Run("provider_unreachable", func(t *testing.T) {
		t.Parallel() // a lab of its own
		l, env := crashedAfterCreateQuiet(t)
		cfg := l.Config()
		cfg.Provider.URL = "https://127.0.0.1:1/sdk"
		broken := NewEnv(cfg, env.Plan(), env.State)
		var warned []string
		err := broken.RecoverInterruptedCutovers(context.Background(), func(ev Event) {
			if ev.Kind == EventWarning {
				warned = append(warned, ev.Message)
			}
		})
		broken.Close(context.Background())
		if err == nil || !slices.ContainsFunc(warned, func(w string) bool { return strings.Contains(w, "AUTOMATIC ROLLBACK FAILED") }) {
			t.Fatalf("recovery with the provider unreachable: %v, warnings %q; want a failure said loudly", err, warned)
		}
		if got := env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got != cutoverRunning {
			t.Errorf("cutover state %q after the failed rollback, want %q", got, cutoverRunning)
		}
		if h := webApp2Health(t, env); !strings.Contains(h, "held by its cutover") {
			t.Errorf("status after the failed rollback: %q; want the job still held", h)
		}
		if _, ok := targetStatus(t, l, env); !ok {
			t.Error("the target (holding the replica disks) went away")
		}
		// The provider back, the next start rolls it back.
		if err := env.RecoverInterruptedCutovers(context.Background(), func(Event) {}); err != nil {
			t.Fatal(err)
		}
		checkRolledBack(t, l, env, nil)
	})
}

// TestOutagesOfKilledRetriesAreReported: a cutover killed after it shut
// the source down leaves an outage; the source is then powered on again
// before any run reports it (a retry or rollback killed right after its
// power-on, or someone by hand), and the retry that finds it running is
// killed too, after its own shutdown. The run that finally cuts over
// reports both outages: the first from the shutdown to the source's boot
// (read from vCenter), the second until it powered the source on again.
func TestOutagesOfKilledRetriesAreReported(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	ctx := context.Background()
	first := env.interruptedShutdown("WebApp2")
	onprem, src := sourceVM(t, env, "WebApp2")
	if err := onprem.EnsurePoweredOn(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	// The retry finds the source running, cleans up, shuts it down again
	// and dies after it created the target anew. It does not wait for the
	// first shutdown to end (QA: it waited out cutover.shutdown_timeout,
	// then said the guest "did not stop"): the source's boot time says it
	// was powered on again since.
	waited := false
	next := crashCutoverIn(t, l, env, false, func(ev Event) bool {
		waited = waited || strings.Contains(ev.Message, "a guest shutting down reads as powered on")
		return strings.HasPrefix(ev.Message, "WebApp2: create VM at provider done")
	}, cutoverRunning)
	if waited {
		t.Error("the retry waited for a shutdown that had ended: the source was powered on again after it")
	}
	second := next.interruptedShutdown("WebApp2")
	if !second.After(first) {
		t.Fatalf("the retry's shutdown (%s) is not recorded after the first (%s)", second, first)
	}
	r := &Runner{Itinerary: NewItinerary(), Env: next, Confirmed: true, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the cutover after two interrupted ones: %v", err)
	}
	md := reportOf(t, next)
	for _, want := range []string{
		"An earlier cutover was interrupted after it shut the source down: the source was powered off from " + clock(first) + " until it was powered on again at ",
		"(by a ferry run that stopped before it saved its report, or by hand)",
		"An earlier cutover was interrupted after it shut the source down: the source stayed powered off from " + clock(second) + " until this run went on with the cutover at ",
		": interrupted cutovers) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report of the cutover after two interrupted ones lacks %q:\n%s", want, md)
		}
	}
	if kept := next.keptEarlierOutages("WebApp2"); len(kept) != 0 {
		t.Errorf("outages still kept in the state after a report holds them: %+v", kept)
	}
}

// TestStatusOfARetryKilledAfterItsCleanup (QA: ferry status said "ok"): a
// retry of an interrupted cutover killed once its cleanup removed what
// that cutover left and it went on from the source still off, before its
// final pass, leaves the cutover running, the source off and the job held:
// status says the cutover was interrupted and what confirming it does. The
// next retry goes on from the source off again and cuts over; its report
// has both outages the interrupted attempts left, one after the other.
func TestStatusOfARetryKilledAfterItsCleanup(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	first := env.interruptedShutdown("WebApp2")
	next := crashCutoverIn(t, l, env, false, func(ev Event) bool {
		return ev.Kind == EventWarning && strings.Contains(ev.Message, "the cutover goes on from there without powering it on again")
	}, cutoverRunning)
	if sourceOn(t, next) {
		t.Fatal("the source was powered on by the retry's cleanup")
	}
	if h := webApp2Health(t, next); !strings.Contains(h, "left unfinished before power-on of the target was requested") || !strings.Contains(h, "the retry goes on from it off") {
		t.Errorf("ferry status after a retry killed after its cleanup: %q", h)
	}
	second := next.interruptedShutdown("WebApp2")
	if !second.After(first) {
		t.Fatalf("the retry's window (%s) is not recorded after the first shutdown (%s)", second, first)
	}
	r := &Runner{Itinerary: NewItinerary(), Env: next, Confirmed: true, Emit: func(Event) {}}
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatalf("the cutover after two interrupted attempts: %v", err)
	}
	md := reportOf(t, next)
	for _, want := range []string{
		"the source stayed powered off from " + clock(first) + " until this run went on with the cutover at " + clock(second),
		"the source stayed powered off from " + clock(second) + " until this run went on with the cutover at ",
		": interrupted cutovers) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report of the cutover after two interrupted attempts lacks %q:\n%s", want, md)
		}
	}
}

// TestKilledAfterItsCutoversEndedIsPending (QA: a --rollback killed while
// the source came back had rolled its VM back, but ferry status read the
// cutover step "interrupted ... the next run runs it again" for ever):
// the next start finds no VM's cutover left unfinished and puts the step
// to pending; one with a VM's cutover unfinished stays as it is.
func TestKilledAfterItsCutoversEndedIsPending(t *testing.T) {
	for _, c := range []struct {
		vm2  string
		want Status
	}{
		{cutoverRolledBack, StatusPending},
		{cutoverPowerOnRequested, StatusRunning},
	} {
		env := NewEnv(nil, &PlanFile{VMs: []VMPlan{{Name: "WebApp1"}, {Name: "WebApp2"}}}, NewState(filepath.Join(t.TempDir(), "plan.state.json")))
		if err := env.State.Begin("cutover"); err != nil {
			t.Fatal(err)
		}
		if err := env.State.SetOutputs("cutover", map[string]string{cutoverKey("WebApp1"): cutoverDone, cutoverKey("WebApp2"): c.vm2}); err != nil {
			t.Fatal(err)
		}
		if err := env.RecoverInterruptedCutovers(context.Background(), func(Event) {}); err != nil {
			t.Fatal(err)
		}
		if st := env.State.Get("cutover"); st.Status != c.want {
			t.Errorf("WebApp2 %s: the cutover step is %s (%s), want %s", c.vm2, st.Status, st.Summary, c.want)
		}
	}
}

// TestAutomaticRollbacksKeepEarlierOutages (QA): a VM whose cutover was
// killed twice after its source was shut down, each time rolled back by
// the next start, then cut over: the report counted only the last outage
// (the automatic rollback started its VM's record anew and wrote over the
// outages kept in the state). Each interrupted attempt's outage is there.
func TestAutomaticRollbacksKeepEarlierOutages(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	ctx := context.Background()
	if err := env.RecoverInterruptedCutovers(ctx, func(Event) {}); err != nil {
		t.Fatalf("first recovery: %v", err)
	}
	next := crashCutoverIn(t, l, env, true, func(ev Event) bool {
		return strings.HasPrefix(ev.Message, "WebApp2: create VM at provider done")
	}, cutoverRunning)
	if err := next.RecoverInterruptedCutovers(ctx, func(Event) {}); err != nil {
		t.Fatalf("second recovery: %v", err)
	}
	r := &Runner{Itinerary: NewItinerary(), Env: next, Confirmed: true, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover after two automatic rollbacks: %v", err)
	}
	if md := reportOf(t, next); strings.Count(md, "An earlier cutover was interrupted") != 2 {
		t.Errorf("the report does not count both interrupted cutovers' outages:\n%s", md)
	}
}
