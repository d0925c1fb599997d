package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/replication"
)

// TestFirstPassPausedElsewhereWaits (QA demo: step 6 failed with "replicate
// WebApp2: replication job is paused: paused by request" when the VM's job
// was paused from another session of ferry serve during its first pass):
// the step says the job is paused, by whom, how it goes on, and waits; resumed,
// its pass completes and the step is done.
func TestFirstPassPausedElsewhereWaits(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var sched *replication.Scheduler
	var pauseOnce sync.Once
	pauseErr := make(chan error, 1)
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		// Another session pauses the job as its first pass takes its
		// snapshot (before the pass can complete).
		if ev.VM == "WebApp2" && ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseSnapshot {
			pauseOnce.Do(func() { pauseErr <- sched.PauseBy("WebApp2", "admin (alice@laptop) (ssh 127.0.0.1)") })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	var resumeOnce sync.Once
	resumeErr := make(chan error, 1)
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
		if ev.Step != "replication" || ev.Kind != EventWarning {
			return
		}
		mu.Lock()
		warnings = append(warnings, ev.Message)
		mu.Unlock()
		if strings.Contains(ev.Message, "step 6 waits") {
			// Resumed from that other session, having read it.
			resumeOnce.Do(func() { go func() { resumeErr <- sched.Resume("WebApp2") }() })
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the run, the job paused during step 6's first pass and resumed: %v", err)
	}
	if err := <-pauseErr; err != nil {
		t.Fatalf("pause: %v", err)
	}
	select {
	case err := <-resumeErr:
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
	default:
		t.Fatalf("the step never said it waits for the paused job; its warnings: %q", warnings)
	}
	want := "WebApp2: replication paused by request of admin (alice@laptop) (ssh 127.0.0.1): step 6 waits; resume WebApp2 (u on the replication dashboard, or ferry resume WebApp2) and its pass, and the step, go on"
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) == 0 || warnings[0] != want {
		t.Errorf("the step's warnings: %q; want first %q", warnings, want)
	}
	// The stopped pass's own error is the pause the step already said
	// (QA h9: "! WebApp2: replication job is paused" beside it).
	for _, w := range warnings {
		if strings.Contains(w, "replication job is paused") {
			t.Errorf("the stopped pass's error is a warning too: %q", w)
		}
	}
	if st := env.State.Status("replication"); st != StatusDone {
		t.Errorf("step 6: %s, want done", st)
	}
	if j, ok := env.warmStatus("WebApp2"); !ok || j.LastPass.IsZero() || j.Paused {
		t.Errorf("WebApp2's job after the step: %+v; want its first pass complete, not paused", j)
	}
}

// TestProgressOfAPausedPass (QA h9: while step 6 waited out a pause, its
// progress line read "WebApp2: idle", the stopped pass's end arriving
// after the step's "step 6 waits; resume ..."): the end of a pass a pause
// stopped is neither a warning nor an "idle" line; once resumed, the
// phases read again.
func TestProgressOfAPausedPass(t *testing.T) {
	var got []string
	emit := progressEmitter(func(ev Event) { got = append(got, string(ev.Kind)+" "+ev.Message) }, "WebApp2")
	emit(replication.Event{Kind: replication.EventPaused, Msg: "paused by request"})
	emit(replication.Event{Kind: replication.EventError, Err: fmt.Errorf("WebApp2: pass: %w", replication.ErrPaused)})
	emit(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseIdle})
	if len(got) != 0 {
		t.Errorf("a pass a pause stopped emitted %q", got)
	}
	emit(replication.Event{Kind: replication.EventResumed})
	emit(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	emit(replication.Event{Kind: replication.EventError, Err: errors.New("receiver gone")})
	emit(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseIdle})
	want := []string{"progress WebApp2: snapshot", "warning WebApp2: receiver gone", "progress WebApp2: idle"}
	if !slices.Equal(got, want) {
		t.Errorf("after the resume: %q, want %q", got, want)
	}
}
