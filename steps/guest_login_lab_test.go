package steps_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestGuestLoginCheckedBeforeStep1: the plan's guest pings run inside a
// guest through VMware Tools with the guest OS login of the configuration
// or the environment. A wrong or missing login is refused by the run's
// preflight, naming where to set it, before step 1 changes anything (it
// used to fail at step 7, after the initial sync, with a hint to check the
// VM and the stretch).
func TestGuestLoginCheckedBeforeStep1(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	plan := labPlan(t, l, func(pf *steps.PlanFile) {
		pf.Skip = slices.DeleteFunc(pf.Skip, func(id string) bool { return id == "checks" })
		if !slices.ContainsFunc(pf.Probes, func(p steps.ProbePlan) bool { return p.From != "" }) {
			t.Fatalf("the lab's plan has no guest ping: %+v", pf.Probes)
		}
	})
	for _, c := range []struct{ name, user, pass, want string }{
		{"wrong password", lab.GuestUser, "not-the-password", "refused the login"},
		{"no password", lab.GuestUser, "", "is needed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := l.Config()
			cfg.Guest.Username, cfg.Guest.Password = "", ""
			t.Setenv("FERRY_GUEST_USER", c.user)
			t.Setenv("FERRY_GUEST_PASSWORD", c.pass)
			r := runner(t, cfg, plan, filepath.Join(t.TempDir(), "state.json"), (&events{}).emit)
			err := r.Preflight(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "FERRY_GUEST_PASSWORD") || strings.Contains(err.Error(), "not-the-password") {
				t.Fatalf("preflight with the guest login's %s: %v", c.name, err)
			}
			untouched(t, l)
		})
	}
	cfg := l.Config()
	t.Setenv("FERRY_GUEST_USER", lab.GuestUser)
	t.Setenv("FERRY_GUEST_PASSWORD", lab.GuestPassword)
	cfg.Guest.Username, cfg.Guest.Password = "", ""
	plans, err := runner(t, cfg, plan, filepath.Join(t.TempDir(), "state.json"), (&events{}).emit).PlanAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range plans {
		if c := sp.Plan.Conflicts(); sp.Step.ID() == "checks" && len(c) > 0 {
			t.Errorf("step 7's plan with the right guest login: %v", c)
		}
	}
}
