package main

import (
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
)

// TestTestMigrationPlanRefused (QA): `ferry run --test-migrate` of a plan
// with no test_migration.network exited 2 standalone but 1 through a
// ferry serve engine, which had also taken its step lock, logged a test
// migration in its event log and shown it on the dashboards' board. A
// plan a test migration cannot run with is bad input, refused before
// anything is written, both ways alike (a VM replicated, one a test
// takes): exit 2, the message names the
// field and the VDC's ISOLATED networks it may name.
func TestTestMigrationPlanRefused(t *testing.T) {
	l, run := labWith(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	cases := []struct{ name, plan, want string }{
		{"no network", "", "test_migration.network: is not set: name the ISOLATED org VDC network (no uplink) the test copies run on"},
		{"a network the VDC has not", "test_migration:\n  network: no-such-net\n", "test_migration.network: no-such-net is not an org VDC network of VDC Company-VDC: name the ISOLATED"},
	}
	// Replicated: its initial sync done, WebApp2 is one a test takes.
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped before Cutover") {
		t.Fatalf("ferry run (steps 1 to 7): exit %d\n%s", code, out)
	}
	valid := "(VDC Company-VDC's ISOLATED networks: " + lab.BubbleNetwork + ")"
	editPlan(t, l.PlanPath(), "test_migration:\n  network: "+lab.BubbleNetwork+"\n", "")
	events := filepath.Join(l.Dir, "plan.events.jsonl")
	check := func(how, want string) {
		t.Helper()
		before := dirFiles(t, l.Dir)
		nEvents := len(readRecords(t, events))
		out, code := run("run", "--plan", l.PlanPath(), "--test-migrate", "WebApp2")
		t.Logf("ferry run --test-migrate WebApp2, %s: exit %d\n%s", how, code, out)
		if code != exitUsage || !strings.Contains(out, want) || !strings.Contains(out, valid) {
			t.Errorf("ferry run --test-migrate WebApp2, %s: exit %d, want %d, %q and %q", how, code, exitUsage, want, valid)
		}
		if got := dirFiles(t, l.Dir); !slices.Equal(got, before) {
			t.Errorf("ferry run --test-migrate WebApp2, %s, refused, changed the plan's directory: %v, before %v", how, got, before)
		}
		for _, r := range readRecords(t, events)[nEvents:] {
			if strings.Contains(r.Message, "test migration") {
				t.Errorf("ferry run --test-migrate WebApp2, %s, refused: the engine's event log says %q", how, r.Message)
			}
		}
	}
	for i, c := range cases {
		if c.plan != "" {
			editPlan(t, l.PlanPath(), "cutover:\n", c.plan+"cutover:\n")
		}
		check(c.name, c.want)
		srv := startServe(t, l)
		check(c.name+", through the engine", c.want)
		// Stopped for the next plan (the engine runs the plan it loaded).
		_ = srv.cmd.Process.Signal(syscall.SIGTERM)
		err := <-srv.done
		srv.done <- err // for the test's cleanup
		if i < len(cases)-1 && c.plan != "" {
			editPlan(t, l.PlanPath(), c.plan, "")
		}
	}
}
