package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestStatusSaysAJobDidNotStart (reported: a ferry serve engine that could
// not start a VM's replication job only logged it; its dashboards and
// `ferry status` showed the job's last record, "ok", while nothing
// replicated it): the status says the VM is not replicating and why, and
// Env.WarmNotStarted (what the served wizard's dashboard shows) names it,
// until the job starts.
func TestStatusSaysAJobDidNotStart(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	env.Close(ctx)
	st, err := LoadState(env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	// Started again with the on-prem vCenter out of reach: the job of
	// WebApp2, replicated before, cannot start.
	cfg := l.Config()
	cfg.OnPrem.URL = "https://127.0.0.1:1/sdk"
	broken := NewEnv(cfg, env.Plan(), st)
	t.Cleanup(func() { broken.Close(context.Background()) })
	if err := broken.OpenReplicationStore(); err != nil {
		t.Fatal(err)
	}
	if h := webApp2Health(t, broken); strings.Contains(h, "NOT REPLICATING") {
		t.Fatalf("status before any scheduler: %q", h)
	}
	_, startErr := broken.EnableWarm(ctx, nil)
	var ws *WarmStartError
	if !errors.As(startErr, &ws) || ws.VM != "WebApp2" {
		t.Fatalf("EnableWarm with the on-prem vCenter out of reach: %v", startErr)
	}
	if h := webApp2Health(t, broken); !strings.HasPrefix(h, "NOT REPLICATING: its job did not start: ") || !strings.Contains(h, "127.0.0.1:1") {
		t.Errorf("status while the job has not started: %q", h)
	}
	if err := broken.WarmNotStarted(); !errors.As(err, &ws) || ws.VM != "WebApp2" {
		t.Errorf("WarmNotStarted: %v", err)
	}
}
