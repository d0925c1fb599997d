package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
)

// killedAfterShutdown runs steps 1-7, then kills (SIGKILL) `ferry run
// --confirm-cutover WebApp2` once it has created the target over the
// replica disks: the source is shut down, power-on of the target not
// requested. It reports false when the kill landed after power-on was
// requested (the pipe is buffered; TestKillAfterPowerOnRequested's case).
func killedAfterShutdown(t *testing.T, l *lab.Lab, run func(args ...string) (string, int)) bool {
	t.Helper()
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
		t.Fatalf("steps 1-7: exit %d\n%s", code, out)
	}
	cutoverSignalled(t, l, "", "WebApp2: create VM at provider done", syscall.SIGKILL)
	job := webApp2Job(t, run, l)
	if strings.HasPrefix(job.Summary, "DECISION NEEDED") {
		return false
	}
	checkPower(t, l, "after the kill", vsphere.PoweredOff, anyPower)
	// The source is down: status must not read as a healthy job, and the
	// job stays held (a scheduler started later must not hot-add replica
	// disks the target may hold).
	if job.Phase != "held" || !strings.Contains(job.Summary, "left unfinished") || !strings.Contains(job.Summary, "shut the source down") {
		t.Errorf("status after a headless cutover was killed with the source down: phase %q, %q; want held, saying the cutover was left unfinished with the source down", job.Phase, job.Summary)
	}
	return true
}

// TestInterruptedCutoverRolledBack: a cutover killed after it shut the
// source down and before it requested power-on of the target is rolled
// back, the replica kept and replication resumed, without anyone powering
// the source on by hand: by `ferry run --confirm-cutover=WebApp2
// --rollback`; by a `ferry run` that starts and does not confirm it; by
// `ferry serve` when it starts; and, the source powered on by hand first,
// by --rollback sent to the engine. The source runs and no target is left
// (govmomi), ferry status says so, and a pass (or the cutover, confirmed
// again) completes.
func TestInterruptedCutoverRolledBack(t *testing.T) {
	t.Run("run_rollback", func(t *testing.T) {
		l, run := engineLab(t)
		if !killedAfterShutdown(t, l, run) {
			t.Skip("the kill landed after power-on was requested")
		}
		out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback")
		if code != 1 || !strings.Contains(out, "cutover rolled back as decided (--rollback)") || !strings.Contains(out, "powered off from") {
			t.Fatalf("--rollback: exit %d\n%s", code, out)
		}
		if strings.Contains(out, "cold migration") {
			t.Errorf("--rollback's plan takes the source the interrupted cutover shut down for a cold migration's:\n%s", out)
		}
		checkPower(t, l, "after --rollback", vsphere.PoweredOn, "")
		if job := webApp2Job(t, run, l); strings.Contains(job.Summary, "held") {
			t.Errorf("status after --rollback: %q", job.Summary)
		}
		// Replication goes on from the replica: the cutover again passes
		// and cuts over.
		if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"); code != 0 || !strings.Contains(out, "measured downtime") {
			t.Fatalf("cutover after --rollback: exit %d\n%s", code, out)
		}
		checkPower(t, l, "after the cutover", vsphere.PoweredOff, vsphere.PoweredOn)
	})
	t.Run("run_start", func(t *testing.T) {
		l, run := engineLab(t)
		if !killedAfterShutdown(t, l, run) {
			t.Skip("the kill landed after power-on was requested")
		}
		out, code := run("run", "--plan", l.PlanPath())
		if code != 0 || !strings.Contains(out, "warning: WebApp2: ROLLED BACK AUTOMATICALLY") || !strings.Contains(out, "of downtime") {
			t.Fatalf("ferry run after the kill: exit %d\n%s", code, out)
		}
		checkPower(t, l, "after ferry run started", vsphere.PoweredOn, "")
		if job := webApp2Job(t, run, l); !strings.Contains(job.Summary, "ROLLED BACK AUTOMATICALLY") || strings.Contains(job.Summary, "held") {
			t.Errorf("status after the automatic rollback: %q", job.Summary)
		}
		if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"); code != 0 || !strings.Contains(out, "measured downtime") {
			t.Fatalf("cutover after the automatic rollback: exit %d\n%s", code, out)
		}
		if job := webApp2Job(t, run, l); job.Summary != "cut over" {
			t.Errorf("status after the cutover: %q", job.Summary)
		}
	})
	t.Run("serve_start", func(t *testing.T) {
		// Mostly waiting for a pass of a 1-minute RPO: the two serve
		// cases wait together.
		t.Parallel()
		l, run := engineLab(t)
		if !killedAfterShutdown(t, l, run) {
			t.Skip("the kill landed after power-on was requested")
		}
		killed := time.Now()
		startServe(t, l)
		checkPower(t, l, "after ferry serve started", vsphere.PoweredOn, "")
		if job := webApp2Job(t, run, l); !strings.Contains(job.Summary, "ROLLED BACK AUTOMATICALLY") || strings.Contains(job.Summary, "held") {
			t.Errorf("status after the engine's automatic rollback: %q", job.Summary)
		}
		warned := false
		for _, r := range readRecords(t, filepath.Join(l.Dir, "plan.events.jsonl")) {
			warned = warned || (r.Kind == "warning" && strings.HasPrefix(r.Message, "WebApp2: ROLLED BACK AUTOMATICALLY") && strings.Contains(r.Message, "of downtime"))
		}
		if !warned {
			t.Error("the event log has no warning of the automatic rollback")
		}
		waitPassAfter(t, run, l.PlanPath(), "WebApp2", killed)
	})
	t.Run("serve_rollback_source_on_by_hand", func(t *testing.T) {
		// Mostly waiting for a pass of a 1-minute RPO: the two serve
		// cases wait together.
		t.Parallel()
		l, run := engineLab(t)
		if !killedAfterShutdown(t, l, run) {
			t.Skip("the kill landed after power-on was requested")
		}
		vc := connectVC(t, l, l.OnPrem)
		ref, _, err := vc.FindVM(context.Background(), "WebApp2")
		if err != nil {
			t.Fatal(err)
		}
		if err := vc.EnsurePoweredOn(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
		startServe(t, l)
		// No outage to end, and no pass either: the target the cutover
		// created may hold the replica disks.
		if job := webApp2Job(t, run, l); strings.Contains(job.Summary, "ROLLED BACK") || job.Phase != "held" {
			t.Fatalf("status with the source powered on by hand: phase %q, %q; want held, no automatic rollback", job.Phase, job.Summary)
		}
		checkPower(t, l, "after ferry serve started", vsphere.PoweredOn, anyPower)
		out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback")
		if code != 1 || !strings.Contains(out, "the steps run in the ferry serve engine") || !strings.Contains(out, "cutover rolled back as decided (--rollback)") {
			t.Fatalf("--rollback through the engine: exit %d\n%s", code, out)
		}
		checkPower(t, l, "after --rollback", vsphere.PoweredOn, "")
		if job := webApp2Job(t, run, l); strings.Contains(job.Summary, "held") {
			t.Errorf("status after --rollback: %q", job.Summary)
		}
		waitPassAfter(t, run, l.PlanPath(), "WebApp2", time.Now())
	})
}
