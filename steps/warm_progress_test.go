package steps

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestWarmReplicationStepShowsThePass (QA: ferry run through ferry serve
// printed "WebApp2: replicating (the dashboard shows the pass)" and then
// nothing until the initial sync ended; a headless run has no dashboard):
// the replication step, handing its VMs to the scheduler, reports the
// pass's phases and progress as its own.
func TestWarmReplicationStepShowsThePass(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	if _, err := env.EnableWarm(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var lines, changes []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
		if ev.Step == "replication" && ev.Kind == EventProgress {
			lines = append(lines, ev.Message)
		}
		if ev.Step == "replication" && ev.Kind == EventChange && ev.Item.Kind == "replica" {
			changes = append(changes, ev.Message)
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "dashboard") }) ||
		!slices.Contains(lines, "WebApp2: snapshot") || !slices.Contains(lines, "WebApp2: commit") {
		t.Errorf("replication step's progress: %q; want the pass's phases (snapshot ... commit), not a pointer to a dashboard", lines)
	}
	// The plan said "create replica" (its initial sync): so does the change.
	if len(changes) != 1 || !strings.HasPrefix(changes[0], `+ create replica "WebApp2": replica complete`) {
		t.Errorf("replication step's changes: %q; want the replica created, as planned", changes)
	}
}
