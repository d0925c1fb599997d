package steps

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestReplicationResultNamesPlannedChanges (QA: step 6's plan said "2
// change(s) will be made", its result "replication started · 1 change"):
// every change the plan of step 6 announces (the replica, its replica
// disk; headless, the full compare right after the initial sync) is
// among the changes its apply reports, and it reports no more, with the
// wizard's scheduler (warm) and headless (ferry run).
func TestReplicationResultNamesPlannedChanges(t *testing.T) {
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "headless", true: "warm"}[warm]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, env := migrationLab(t, "WebApp2")
			ctx := context.Background()
			if warm {
				if _, err := env.EnableWarm(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			var planned, changed []string
			var compare bool // the plan says a full compare follows the initial sync
			r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
				if ev.Step != "replication" || ev.Item == nil {
					return
				}
				if ev.Kind == EventPlanItem && strings.Contains(ev.Item.Detail, "full compare") {
					compare = true
				}
				switch it := ev.Item; {
				case ev.Kind == EventPlanItem && it.Action != ActionExists && it.Action != ActionCheck:
					planned = append(planned, string(it.Action)+" "+it.Kind+" "+it.Name)
				case ev.Kind == EventChange:
					changed = append(changed, string(it.Action)+" "+it.Kind+" "+it.Name)
				}
			}}
			if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
				t.Fatalf("replicate: %v %+v", err, out)
			}
			if len(planned) < 2 {
				t.Fatalf("plan of step 6: %q, want the replica and its disk", planned)
			}
			for _, p := range planned {
				if !slices.Contains(changed, p) {
					t.Errorf("planned %q, not among the changes reported: %q", p, changed)
				}
			}
			if len(changed) != len(planned) {
				t.Errorf("%d change(s) planned (%q), %d reported (%q)", len(planned), planned, len(changed), changed)
			}
			// QA: the wizard's plan did not say that a full compare runs
			// after the initial sync (its scheduler runs it in the
			// background; headless it is an item of its own).
			if !compare {
				t.Errorf("the plan of step 6 does not say a full compare follows the initial sync: %q", planned)
			}
		})
	}
}
