package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestVerifyKeepsARequestedPause: `--verify` (or the dashboard's compare)
// of a job someone paused does not resume it. The first verify of a job
// paused by request failed "paused" and left its compare asked for; the
// second, finding the job paused with a compare due, took it for a job
// paused because its replica differs and resumed it, undoing the pause.
// Only a job paused for a mismatch is resumed by the verify that repairs it.
func TestVerifyKeepsARequestedPause(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	sched, err := env.EnableWarm(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %+v %v", out, err)
	}
	// The compare right after the initial sync done, nothing running.
	deadline := time.Now().Add(time.Minute)
	for {
		st := sched.Status()[0]
		if !st.Running && st.LastCompare != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no idle job with a compare after a minute: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sched.PauseBy("WebApp2", "ops (ferry pause)"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := env.VerifyReplicas(ctx, []string{"WebApp2"}, func(Event) {})
		if !errors.Is(err, replication.ErrPaused) || !strings.Contains(err.Error(), "paused by request of ops (ferry pause)") || !strings.Contains(err.Error(), "ferry resume WebApp2") {
			t.Errorf("verify %d of a job paused by request: %v, want it refused as paused, saying by whom and how to resume it", i+1, err)
		}
		if st := sched.Status()[0]; !st.Paused || st.Differs {
			t.Fatalf("after verify %d: %+v, want it still paused by request", i+1, st)
		}
	}
}
