package tui_test

import (
	"context"
	"time"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/tui"
)

// Example_wiring is how `ferry` and `ferry lab` open the wizard, with the
// replication engine and a probe monitor feeding the dashboard. Without
// them (Adapters left empty) the wizard still runs every step; the
// dashboard then shows the persisted replication status.
func Example_wiring() {
	ctx := context.Background()
	cfg := &config.Config{} // config.Load(--config), or lab.Config() for `ferry lab`

	// Replication: the scheduler's events become dashboard rows.
	feed := tui.NewReplicationFeed(func(vm string) time.Duration { return time.Minute })
	sched := replication.NewScheduler(2, feed.Handle)
	go sched.Run(ctx) // jobs are added as the plan's VMs are replicated
	feed.Seed(sched.Status())

	// Probes: a monitor over the plan's probe targets.
	mon := probe.NewMonitor(time.Second /* targets from the plan's probes */)
	go mon.Run(ctx)

	err := tui.Run(ctx, tui.Options{
		Config:   cfg,
		PlanPath: "plan.yaml", // state: plan.state.json; log: ferry.log beside it
		Adapters: tui.Deps{Feeds: tui.Feeds{
			Replication: feed.Updates(),
			Probes:      tui.ProbeFeed(ctx, mon.Subscribe(64), nil),
			Pause:       func(_ context.Context, vm string) error { return sched.Pause(vm) },
			Resume:      func(_ context.Context, vm string) error { return sched.Resume(vm) },
		}},
	})
	_ = err // tui.ErrNoTerminal: use `ferry run --plan`; tui.ErrInterrupted: exit 130
}
