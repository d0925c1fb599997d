package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
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

// askingWizard is a wizard in a tmux pane, asking what to do with the
// cutover of WebApp2 a killed ferry left with the source shut down.
func askingWizard(t *testing.T, name string) (*lab.Lab, func(args ...string) (string, int), *tmuxPane) {
	t.Helper()
	l, run := engineLab(t)
	if !killedAfterShutdown(t, l, run) {
		t.Skip("the kill landed after power-on was requested")
	}
	p := newTmuxPane(t, name, ferryBin+" --config "+l.ConfigFile+" --plan "+l.PlanPath())
	p.waitFor("Rolling back by itself in")
	return l, run, p
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
	t.Parallel() // labs of its own
	t.Run("run_rollback", func(t *testing.T) {
		l, run := engineLab(t)
		if !killedAfterShutdown(t, l, run) {
			t.Skip("the kill landed after power-on was requested")
		}
		out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback")
		// What the operator asked for: not a failure (exit 0, no FAILED line).
		if code != 0 || !strings.Contains(out, "cutover rolled back as decided (--rollback)") || !strings.Contains(out, "powered off from") ||
			strings.Contains(out, "FAILED") || !strings.Contains(out, "stopped at cutover (rolled back as decided, nothing failed") {
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
	t.Run("wizard_start", func(t *testing.T) {
		if _, err := exec.LookPath("tmux"); err != nil {
			t.Skip("tmux not installed")
		}
		l, run := engineLab(t)
		if !killedAfterShutdown(t, l, run) {
			t.Skip("the kill landed after power-on was requested")
		}
		// The wizard in a terminal, no engine running: it asks first
		// (someone is at the terminal: go on, or roll back), and on enter
		// rolls back before its screen opens, as ferry run does.
		session := fmt.Sprintf("ferry-rb-%d", os.Getpid())
		out, err := exec.Command("tmux", "-L", session, "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
			ferryBin+" --config "+l.ConfigFile+" --plan "+l.PlanPath()+" 2>"+filepath.Join(l.Dir, "wizard.err")+"; sleep 600").CombinedOutput()
		if err != nil {
			t.Fatalf("tmux: %v\n%s", err, out)
		}
		defer exec.Command("tmux", "-L", session, "kill-server").Run()
		screen := func() string {
			out, _ := exec.Command("tmux", "-L", session, "capture-pane", "-p", "-t", session).CombinedOutput()
			return string(out)
		}
		for deadline := time.Now().Add(time.Minute); !strings.Contains(screen(), "Rolling back by itself in"); {
			if time.Now().After(deadline) {
				t.Fatalf("the wizard did not ask:\n%s", screen())
			}
			time.Sleep(100 * time.Millisecond)
		}
		checkPower(t, l, "while the wizard asks", vsphere.PoweredOff, anyPower)
		if out, err := exec.Command("tmux", "-L", session, "send-keys", "-t", session, "Enter").CombinedOutput(); err != nil {
			t.Fatalf("tmux: %v\n%s", err, out)
		}
		for deadline := time.Now().Add(time.Minute); !strings.Contains(screen(), "Itinerary"); {
			if time.Now().After(deadline) {
				t.Fatalf("the wizard did not open:\n%s", screen())
			}
			time.Sleep(100 * time.Millisecond)
		}
		checkPower(t, l, "once the wizard opened", vsphere.PoweredOn, "")
		if msg := string(readFile(t, filepath.Join(l.Dir, "wizard.err"))); !strings.Contains(msg, "WebApp2: ROLLED BACK AUTOMATICALLY") {
			t.Errorf("the wizard's terminal before its screen: want the rollback's warning, got:\n%s", msg)
		}
		// ferry.log in the state directory has each of its warnings once
		// (QA: twice, the wizard's own line beside the Env's).
		for _, w := range []string{"WebApp2: ROLLED BACK AUTOMATICALLY", "and it is still off: rolling back (replica disks kept)"} {
			if n := strings.Count(string(readFile(t, filepath.Join(l.Dir, "ferry.log"))), w); n != 1 {
				t.Errorf("ferry.log has the automatic rollback's warning %q %d times, want once", w, n)
			}
		}
		// It opens on the cutover, saying what it did above the
		// confirmation (QA: only the terminal, hidden by the screen, said
		// so), and how to cut over again here.
		if s := screen(); !strings.Contains(s, "Step 8 of 8") || !strings.Contains(s, "WebApp2: ROLLED BACK AUTOMATICALLY:") || !strings.Contains(s, "To cut WebApp2 over again: step 8 (Cutover), type WebApp2.") {
			t.Errorf("the wizard opened on:\n%s", s)
		}
		// The wizard quits (it holds the replication store until then).
		for _, key := range []string{"C-c", "y"} { // quit, confirmed
			if out, err := exec.Command("tmux", "-L", session, "send-keys", "-t", session, key).CombinedOutput(); err != nil {
				t.Fatalf("tmux: %v\n%s", err, out)
			}
			time.Sleep(300 * time.Millisecond)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			if _, code := run("status", "--plan", l.PlanPath()); code == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the wizard did not quit:\n%s", screen())
			}
		}
		if job := webApp2Job(t, run, l); !strings.Contains(job.Summary, "ROLLED BACK AUTOMATICALLY") || strings.Contains(job.Summary, "held") {
			t.Errorf("status after the wizard's automatic rollback: %q", job.Summary)
		}
	})
	t.Run("wizard_goes_on", func(t *testing.T) {
		// Asked, the operator goes on (g): nothing is rolled back, the
		// wizard opens on the cutover saying how to go on, and typing the
		// VM's name cuts it over from the source left off: it is never
		// powered on again (QA: rolled back first, the source booted only
		// to be shut down again).
		l, run, p := askingWizard(t, "goon")
		if s := strings.Join(strings.Fields(p.screen()), " "); !strings.Contains(s, "WebApp2 shut down at") || !strings.Contains(s, "g go on: leave the source off") {
			t.Errorf("the wizard asked:\n%s", p.screen())
		}
		p.tmux("send-keys", "-t", p.session, "g")
		p.waitFor("Type WebApp2 to confirm")
		var main []string // the screen right of the sidebar, its words
		for _, line := range strings.Split(p.screen(), "\n") {
			if _, after, ok := strings.Cut(line, "│ "); ok {
				main = append(main, after)
			}
		}
		if s := strings.Join(strings.Fields(strings.Join(main, " ")), " "); !strings.Contains(s, "WebApp2: left to go on, as decided") || !strings.Contains(s, "To go on from there: step 8 (Cutover), type WebApp2 (no new power cycle)") {
			t.Errorf("the wizard opened on:\n%s", p.screen())
		}
		checkPower(t, l, "once the wizard opened, going on", vsphere.PoweredOff, anyPower)
		p.tmux("send-keys", "-t", p.session, "WebApp2")
		p.tmux("send-keys", "-t", p.session, "Enter")
		p.waitFor("cutover complete")
		checkPower(t, l, "after the cutover went on", vsphere.PoweredOff, vsphere.PoweredOn)
		if log := string(readFile(t, filepath.Join(l.Dir, "ferry.log"))); strings.Contains(log, "ROLLED BACK AUTOMATICALLY") || !strings.Contains(log, "the cutover goes on from there without powering it on again") {
			t.Errorf("the wizard rolled back (or powered the source on) though the operator went on:\n%s", log)
		}
		p.tmux("send-keys", "-t", p.session, "q")
		p.tmux("send-keys", "-t", p.session, "y")
		p.waitFor("EXIT=")
		if job := webApp2Job(t, run, l); job.Summary != "cut over" {
			t.Errorf("status after the cutover went on: %q", job.Summary)
		}
	})
	t.Run("wizard_hangup_while_asking", func(t *testing.T) {
		// The session drops while the wizard asks: nobody is there to
		// decide, so it rolls back before it exits, as if nobody had
		// answered (the source does not stay down until the next ferry).
		l, run, p := askingWizard(t, "hup-ask")
		p.hangup()
		if s := p.screen(); !strings.Contains(s, "stopped while asking: rolling back") || !strings.Contains(s, "WebApp2: ROLLED BACK AUTOMATICALLY") {
			t.Errorf("the terminal after the hangup:\n%s", s)
		}
		checkPower(t, l, "after the hangup while asking", vsphere.PoweredOn, "")
		if job := webApp2Job(t, run, l); !strings.Contains(job.Summary, "ROLLED BACK AUTOMATICALLY") || strings.Contains(job.Summary, "held") {
			t.Errorf("status after the hangup while asking: %q", job.Summary)
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
		s := startServe(t, l)
		checkPower(t, l, "after ferry serve started", vsphere.PoweredOn, "")
		// Its terminal says so (QA: only the event log and ferry.log did).
		if e := s.stderr.String(); !strings.Contains(e, "ferry: warning: WebApp2: ROLLED BACK AUTOMATICALLY") || !strings.Contains(e, "of downtime") {
			t.Errorf("ferry serve's stderr after its automatic rollback:\n%s", e)
		}
		// A wizard attached to the engine says so too, and how to cut
		// over again.
		p := newTmuxPane(t, "rb-attach", ferryBin+" --config "+l.ConfigFile+" --plan "+l.PlanPath())
		p.waitFor("To cut WebApp2 over again: step 8 (Cutover), type WebApp2.")
		if s := p.screen(); !strings.Contains(s, "WebApp2: ROLLED BACK AUTOMATICALLY:") {
			t.Errorf("the wizard attached to the engine:\n%s", s)
		}
		// (The pane goes with the test: the engine lets it go then.)
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
		ref, _, err := labtest.ProviderVM(context.Background(), vc, "WebApp2")
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
		if code != 0 || !strings.Contains(out, "the steps run in the ferry serve engine") || !strings.Contains(out, "cutover rolled back as decided (--rollback)") ||
			strings.Contains(out, "FAILED") || !strings.Contains(out, "stopped at cutover (rolled back as decided, nothing failed") {
			t.Fatalf("--rollback through the engine: exit %d\n%s", code, out)
		}
		checkPower(t, l, "after --rollback", vsphere.PoweredOn, "")
		if job := webApp2Job(t, run, l); strings.Contains(job.Summary, "held") {
			t.Errorf("status after --rollback: %q", job.Summary)
		}
		waitPassAfter(t, run, l.PlanPath(), "WebApp2", time.Now())
	})
}

// TestInterruptedShutdownSettlesBeforeTheRollback: a cutover killed while
// its source's guest OS is still shutting down (vCenter reports such a VM
// powered on until the guest stops) is rolled back only once that shutdown
// is over, so the source runs afterwards: by `ferry run --confirm-cutover
// --rollback` and by a `ferry run` that starts and does not confirm it,
// both right after the kill. Before, both found the source powered on,
// left it so, and it powered off seconds later with nothing to bring it
// back (status said ok).
func TestInterruptedShutdownSettlesBeforeTheRollback(t *testing.T) {
	t.Parallel() // labs of its own
	// Longer than a run's preflight takes, so that the runs below begin
	// while the guest still shuts down.
	const shutdown = 10 * time.Second
	killedInShutdown := func(t *testing.T) (*lab.Lab, func(args ...string) (string, int)) {
		t.Helper()
		l, run := labWith(t, lab.Options{DiskSize: 32 << 20, WorkloadRate: 32 << 10, GuestShutdown: shutdown})
		if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
			t.Fatalf("steps 1-7: exit %d\n%s", code, out)
		}
		// Killed once ShutdownGuest has gone out, the guest still shutting down.
		runSignalledLate(t, l, []string{"run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"}, "", "cutover: WebApp2: shutdown", syscall.SIGKILL, 500*time.Millisecond)
		checkPower(t, l, "right after the kill, the guest shutting down", vsphere.PoweredOn, "")
		return l, run
	}
	settled := func(t *testing.T, l *lab.Lab, out string) {
		t.Helper()
		if !strings.Contains(out, "a guest shutting down reads as powered on: waiting until") || !strings.Contains(out, "finished the shutdown the interrupted cutover asked for") {
			t.Errorf("the run did not say it waited for the guest's shutdown:\n%s", out)
		}
		// The run waited for the shutdown to end before it powered the
		// source on: it must still run a moment later.
		time.Sleep(time.Second)
		checkPower(t, l, "after the guest's shutdown", vsphere.PoweredOn, "")
	}
	// Mostly waiting for the guests' shutdowns: the two cases wait together.
	t.Run("run_rollback", func(t *testing.T) {
		t.Parallel()
		l, run := killedInShutdown(t)
		out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback")
		if code != 0 || !strings.Contains(out, "cutover rolled back as decided (--rollback): running on-prem again") || !strings.Contains(out, "powered off from") || strings.Contains(out, "FAILED") {
			t.Fatalf("--rollback: exit %d\n%s", code, out)
		}
		settled(t, l, out)
	})
	t.Run("run_start", func(t *testing.T) {
		t.Parallel()
		l, run := killedInShutdown(t)
		out, code := run("run", "--plan", l.PlanPath())
		if code != 0 || !strings.Contains(out, "warning: WebApp2: ROLLED BACK AUTOMATICALLY") {
			t.Fatalf("ferry run after the kill: exit %d\n%s", code, out)
		}
		settled(t, l, out)
	})
}

// TestInterruptedThriceExitsAtOnce: a cutover stopped (SIGTERM) while the
// source's guest shuts down rolls back and waits for that shutdown; a second
// interrupt says what ferry waits for and that another exits at once, the
// third exits (130) without waiting, and the next run rolls the cutover
// back (QA: only a kill -9 cut the rollback's bounded waits short).
func TestInterruptedThriceExitsAtOnce(t *testing.T) {
	t.Parallel() // a lab of its own
	l, run := labWith(t, lab.Options{DiskSize: 32 << 20, WorkloadRate: 32 << 10, GuestShutdown: 20 * time.Second})
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
		t.Fatalf("steps 1-7: exit %d\n%s", code, out)
	}
	signals := 0
	out, code := runFollowed(t, l, []string{"run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"}, func(p *os.Process, line string) {
		switch {
		case signals == 0 && strings.Contains(line, "cutover: WebApp2: shutdown"):
			// The guest is asked to shut down: stopped in that phase.
			time.AfterFunc(500*time.Millisecond, func() { _ = p.Signal(syscall.SIGTERM) })
			signals++
		case signals == 1 && strings.Contains(line, "vCenter cannot cancel that"):
			// The rollback waits for the guest's shutdown.
			_ = p.Signal(syscall.SIGINT)
			signals++
		case signals == 2 && strings.Contains(line, "ferry: still stopping"):
			_ = p.Signal(syscall.SIGINT)
			signals++
		}
	})
	if signals != 3 || code != exitAborted || !strings.Contains(out, "Interrupt once more to exit at once") ||
		!strings.Contains(out, "ferry: exiting now, without waiting") {
		t.Fatalf("three interrupts (%d sent): exit %d, want %d, saying what it waits for, then exiting:\n%s", signals, code, exitAborted, out)
	}
	if strings.Contains(out, "finished the shutdown") || strings.Contains(out, "running on-prem again") {
		t.Errorf("the third interrupt did not cut the rollback's wait short:\n%s", out)
	}
	// The next run rolls back what was left: it waits for the shutdown
	// the cutover asked for, then powers the source on.
	out, code = run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "warning: WebApp2: ROLLED BACK AUTOMATICALLY") || !strings.Contains(out, "finished the shutdown the interrupted cutover asked for") {
		t.Fatalf("ferry run after the forced exit: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after the next run's rollback", vsphere.PoweredOn, "")
}

// TestPlanDroppingAnUnfinishedCutoverRefused (QA): WebApp2's cutover is
// killed after it shut the source down, and the plan is then edited to
// migrate WebApp1 instead. Nothing run from that plan would roll WebApp2
// back: `ferry run` and `ferry plan` refuse it (exit 2, naming WebApp2 and
// what to do) and change nothing (the source stays off); `ferry status`
// says so. With WebApp2 back in the plan, a run rolls it back by itself.
func TestPlanDroppingAnUnfinishedCutoverRefused(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	if !killedAfterShutdown(t, l, run) {
		t.Skip("the kill landed after power-on was requested")
	}
	editPlan(t, l.PlanPath(), "  - name: WebApp2\n", "  - name: WebApp1\n")
	for _, args := range [][]string{{"run", "--plan", l.PlanPath()}, {"plan", "--plan", l.PlanPath()}} {
		out, code := run(args...)
		if code != 2 || !strings.Contains(out, "WebApp2 is no longer in the plan, but its cutover was interrupted before power-on") || !strings.Contains(out, "put WebApp2 back under vms:") {
			t.Errorf("ferry %s with WebApp2's unfinished cutover dropped from the plan: exit %d\n%s", args[0], code, out)
		}
	}
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "UNFINISHED CUTOVER OUTSIDE THE PLAN: WebApp2 is no longer in the plan") {
		t.Errorf("ferry status: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after the refused runs", vsphere.PoweredOff, anyPower)

	editPlan(t, l.PlanPath(), "  - name: WebApp1\n", "  - name: WebApp2\n")
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "WebApp2: ROLLED BACK AUTOMATICALLY") {
		t.Fatalf("ferry run with WebApp2 back in the plan: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after the rollback", vsphere.PoweredOn, "")
}

// TestRollbackRunAgain (QA: a `ferry run --rollback` killed while the
// source came back left WebApp2 rolled back, and the same command run
// again, as an operator does after a dropped session, was refused with
// exit 2 "was rolled back: run without --rollback"): run again, it says
// the VM was rolled back already, when, and how to cut over again, exits
// 0, and changes nothing: the source stays on, no target appears, the
// VM's cutover state and the replication store are as they were; only
// the cutover step the killed run left running is ended (ferry status
// read it interrupted, "the next run runs it again").
func TestRollbackRunAgain(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := engineLab(t)
	if !killedAfterShutdown(t, l, run) {
		t.Skip("the kill landed after power-on was requested")
	}
	rollback := []string{"run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback"}
	// Killed once the source is powered on again, while ferry waits for
	// it to answer (the pipe is buffered: the kill may land later, the VM
	// is rolled back either way).
	runSignalled(t, l, rollback, "", "WebApp2: source answering", syscall.SIGKILL)
	checkPower(t, l, "after --rollback was killed", vsphere.PoweredOn, "")
	// Its step is interrupted (or pending, the kill landing after the
	// run ended), but no run runs it again: ferry status says the
	// cutover ended rolled back (QA: "runs it again").
	if st, _ := run("status", "--plan", l.PlanPath()); !strings.Contains(unwrapped(st), "WebApp2 not cut over: its cutover was rolled back at ") || strings.Contains(unwrapped(st), "runs it again") {
		t.Errorf("ferry status after --rollback was killed:\n%s", st)
	}
	statePath := filepath.Join(l.Dir, "plan.state.json")
	outputs := func() map[string]string {
		st, err := steps.LoadState(statePath)
		if err != nil {
			t.Fatal(err)
		}
		return st.Get("cutover").Outputs
	}
	stores, _ := filepath.Glob(filepath.Join(l.Dir, "*.db"))
	before, store := outputs(), map[string]string{}
	for _, f := range stores {
		store[f] = string(readFile(t, f))
	}
	out, code := run(rollback...)
	if code != 0 || !strings.Contains(out, "WebApp2: already rolled back at ") || !strings.Contains(out, "nothing to do; cut over again with --confirm-cutover=WebApp2") ||
		!strings.Contains(out, "ferry: nothing to do") || strings.Contains(out, "run without --rollback") {
		t.Fatalf("--rollback run again: exit %d, want 0 saying WebApp2 was rolled back already:\n%s", code, out)
	}
	t.Logf("--rollback run again:\n%s", out)
	checkPower(t, l, "after --rollback ran again", vsphere.PoweredOn, "")
	if after := outputs(); !maps.Equal(after, before) {
		t.Errorf("--rollback run again changed the cutover's outputs:\n%v\nwas\n%v", after, before)
	}
	for _, f := range stores {
		if string(readFile(t, f)) != store[f] {
			t.Errorf("--rollback run again changed %s", filepath.Base(f))
		}
	}
	// Not interrupted, and not a bare "waiting for --confirm-cutover"
	// either (QA): rolled back, when, and how to cut over again.
	if st, _ := run("status", "--plan", l.PlanPath()); strings.Contains(st, "interrupted") || strings.Contains(st, "waiting for --confirm-cutover") ||
		!regexp.MustCompile(`8 Cutover +pending +WebApp2 not cut over: its cutover was rolled back at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC[^\n]*; cut over again with --confirm-cutover=WebApp2`).MatchString(stepLine(st, "8 Cutover")) {
		t.Errorf("ferry status after --rollback ran again:\n%s", st)
	}
	// --json says so too, and ends with the same closing line.
	out, code = run(append(rollback, "--json")...)
	if code != 0 || !strings.Contains(out, `"message":"WebApp2: already rolled back at `) || !strings.Contains(out, `"message":"ferry: nothing to do`) {
		t.Errorf("--rollback --json run again: exit %d\n%s", code, out)
	}
	// Sent to a ferry serve engine, the same.
	startServe(t, l)
	out, code = run(rollback...)
	if code != 0 || !strings.Contains(out, "the steps run in the ferry serve engine") || !strings.Contains(out, "WebApp2: already rolled back at ") ||
		!strings.Contains(out, "ferry: nothing to do") {
		t.Fatalf("--rollback run again through the engine: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after --rollback ran again through the engine", vsphere.PoweredOn, "")
	// Replication goes on from the replica: the cutover again passes and
	// cuts over.
	if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"); code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover after --rollback: exit %d\n%s", code, out)
	}
	// A finished cutover: --rollback is refused, as before.
	if out, code := run(rollback...); code != 2 || !strings.Contains(out, "ferry rolls back no finished cutover") {
		t.Errorf("--rollback after the cutover: exit %d, want 2\n%s", code, out)
	}
	// --finish likewise, saying it is finished, not talking of rollbacks
	// (QA h8).
	finish := []string{"run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--finish"}
	if out, code := run(finish...); code != 2 || !strings.Contains(out, "its cutover is finished already, there is nothing to finish") || strings.Contains(out, "rolls back") {
		t.Errorf("--finish after the cutover: exit %d, want 2\n%s", code, out)
	}
}

// TestAutoRollbackLinesNumbered (QA): the automatic rollback at the start
// of a headless run printed its lines as "[cutover] warning: ...", and
// --json gave them index 0, while every other line of the cutover step is
// "[8/8] cutover: ..." (index 8). They are numbered as the step's, in
// text and in --json; and the run's stop says the cutover was rolled back
// automatically, not only that it needs a typed confirmation.
func TestAutoRollbackLinesNumbered(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := engineLab(t)
	if !killedAfterShutdown(t, l, run) {
		t.Skip("the kill landed after power-on was requested")
	}
	out, code := run("run", "--plan", l.PlanPath(), "--json")
	t.Logf("ferry run --json:\n%s", out)
	if code != 0 || !strings.Contains(out, `"step":"cutover","index":8,"kind":"warning","message":"WebApp2: ROLLED BACK AUTOMATICALLY`) {
		t.Errorf("ferry run --json after a killed cutover: exit %d, want the automatic rollback's warning with index 8:\n%s", code, out)
	}
	if strings.Contains(out, `"step":"cutover","index":0`) || !strings.Contains(out, "stopped before Cutover: WebApp2 not cut over: its cutover was rolled back automatically at ") {
		t.Errorf("ferry run --json after a killed cutover: an unnumbered cutover event, or the stop says nothing of the rollback:\n%s", out)
	}

	cutoverSignalled(t, l, "", "WebApp2: create VM at provider done", syscall.SIGKILL)
	if job := webApp2Job(t, run, l); strings.HasPrefix(job.Summary, "DECISION NEEDED") {
		t.Skip("the second kill landed after power-on was requested")
	}
	out, code = run("run", "--plan", l.PlanPath())
	t.Logf("ferry run:\n%s", out)
	if code != 0 || !strings.Contains(out, "\n[8/8] cutover: warning: WebApp2: ROLLED BACK AUTOMATICALLY") || strings.Contains(out, "[cutover]") {
		t.Errorf("ferry run after a killed cutover: exit %d, want the automatic rollback's lines as [8/8] cutover's:\n%s", code, out)
	}
}
