package steps_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestPlanAllWhileTheJourneyRuns plans every step, again and again, with the
// environment a run of the whole journey is using at the same time, as a
// ferry serve engine does when ferry plan asks it while its steps run (and
// the wizard's plan screens while its scheduler replicates). The run still
// goes through steps 1 to 7, and a plan after it finds nothing left to do
// but the replication's next pass and the cutover. Run under the race
// detector (go test -race -run TestPlanAllWhileTheJourneyRuns ./steps), it
// is the check that planning beside a run shares nothing unguarded.
func TestPlanAllWhileTheJourneyRuns(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Skip = nil })
	r := runner(t, l.Config(), plan, filepath.Join(t.TempDir(), "state.json"), nil)
	ctx := context.Background()

	type result struct {
		out steps.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := r.Run(ctx)
		done <- result{out, err}
	}()
	plans := 0
	var res result
	for running := true; running; {
		select {
		case res = <-done:
			running = false
		default:
			// Errors are expected while steps are half done (a later
			// step's plan needs an earlier one's outputs); what matters is
			// that planning never breaks the run.
			_, _ = r.PlanAll(ctx)
			plans++
		}
	}
	if res.err != nil || res.out.StoppedBefore != "cutover" {
		t.Fatalf("run beside %d plans: %v (stopped before %q)", plans, res.err, res.out.StoppedBefore)
	}
	if plans < 2 {
		t.Errorf("only %d plans ran beside the run", plans)
	}
	after, err := r.PlanAll(ctx)
	if err != nil {
		t.Fatalf("plan after the run: %v", err)
	}
	for _, sp := range after {
		id := sp.Step.ID()
		if id == "cutover" || id == "replication" || sp.Skipped != "" {
			continue
		}
		if sp.Status != steps.StatusDone || sp.Plan.Changes() != 0 {
			t.Errorf("after the run, step %s: status %s, %d change(s): %+v", id, sp.Status, sp.Plan.Changes(), sp.Plan.Items)
		}
	}
	t.Logf("%d plans of every step ran beside the run", plans)
}
