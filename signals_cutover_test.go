package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestCutoverHangup: a dropped SSH session (SIGHUP) in the middle of a
// cutover, with the source VM already shut down, does not leave the VM
// between source and target: the cutover's guard holds (before power-on of
// the target it rolls back, the source runs again), the state says so
// (ferry status), ferry exits only after, with its terminal restored, and
// a second ferry run cuts over.
func TestCutoverHangup(t *testing.T) {
	t.Parallel() // labs of its own
	if testing.Short() {
		t.Skip("-short")
	}
	t.Run("run", func(t *testing.T) {
		l, run := headlessLab(t)
		if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
			t.Fatalf("steps 1-7: exit %d\n%s", code, out)
		}
		out, code := cutoverSignalled(t, l, "", "WebApp2: create VM at provider done", syscall.SIGHUP)
		if doc := statusJSON(t, run, l.PlanPath()); len(doc.Jobs) == 1 && doc.Jobs[0].Health == "cut over" {
			// The binary went on between printing the line and the
			// signal landing (the pipe is buffered) past power-on of the
			// target: from there the guard finishes the cutover.
			t.Logf("the signal came after power-on: the cutover finished (exit %d)", code)
			checkPower(t, l, "after the hangup", vsphere.PoweredOff, vsphere.PoweredOn)
			return
		}
		if code != exitAborted || !strings.Contains(out, "rolled back: WebApp2 is running on-prem again") {
			t.Fatalf("ferry run after SIGHUP mid-cutover: exit %d, want %d and the rollback\n%s", code, exitAborted, out)
		}
		rolledBack(t, l, run)
	})
	t.Run("wizard", func(t *testing.T) {
		l, run := headlessLab(t)
		if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
			t.Fatalf("steps 1-7: exit %d\n%s", code, out)
		}
		p := newTmuxPane(t, "hup-cutover", ferryBin+" --config "+l.ConfigFile+" --plan "+l.PlanPath())
		p.waitFor("Type WebApp2 to confirm")
		vc := connectVC(t, l, l.OnPrem)
		ref, ok, err := labtest.ProviderVM(context.Background(), vc, "WebApp2")
		if err != nil || !ok {
			t.Fatalf("on-prem WebApp2: %v %v", ok, err)
		}
		p.tmux("send-keys", "-t", p.session, "WebApp2", "Enter")
		// SIGHUP once the source is down: from then on, stopping halfway
		// would leave the VM running nowhere.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			st, err := vc.PowerState(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if st == vsphere.PoweredOff {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the source never went down; screen:\n%s", p.screen())
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.hangup()
		if s := p.screen(); !strings.Contains(s, "EXIT=130") {
			t.Errorf("the wizard after SIGHUP mid-cutover:\n%s", s)
		}
		// Either the cutover rolled back (the usual case: the signal came
		// before power-on of the target) or, past power-on, it finished.
		doc := statusJSON(t, run, l.PlanPath())
		if len(doc.Jobs) == 1 && doc.Jobs[0].Health == "cut over" {
			t.Logf("the signal came after power-on: the cutover finished")
			checkPower(t, l, "after the hangup", vsphere.PoweredOff, vsphere.PoweredOn)
			return
		}
		rolledBack(t, l, run)
	})
}

// rolledBack checks a cutover of WebApp2 that was rolled back: the source
// runs on-prem, nothing runs at the provider, the status says it
// replicates, and ferry run --confirm-cutover (the lock released, the
// state readable) then cuts it over.
func rolledBack(t *testing.T, l *lab.Lab, run func(args ...string) (string, int)) {
	t.Helper()
	checkPower(t, l, "after the rollback", vsphere.PoweredOn, notRunning)
	doc := statusJSON(t, run, l.PlanPath())
	for _, s := range doc.Steps {
		if s.Step == "cutover" && s.Status == "done" {
			t.Errorf("the cutover step is done after a rollback: %+v", doc.Steps)
		}
	}
	if len(doc.Jobs) != 1 || doc.Jobs[0].Health == "cut over" || strings.Contains(doc.Jobs[0].Health, "DECISION") {
		t.Errorf("status after the rollback: %+v", doc.Jobs)
	}
	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("the cutover again after the rollback: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after the cutover again", vsphere.PoweredOff, vsphere.PoweredOn)
}

func connectVC(t *testing.T, l *lab.Lab, v *lab.VCenter) *vsphere.Client {
	t.Helper()
	ctx := context.Background()
	vc, err := vsphere.Connect(ctx, vsphere.Config{URL: v.URL, Username: v.Username, Password: v.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Close(ctx) })
	return vc
}

// cutoverSignalled runs ferry run --confirm-cutover WebApp2 and sends it sig
// at the first line holding at printed after a line holding after ("":
// from the start); it returns what the run printed and its exit code.
func cutoverSignalled(t *testing.T, l *lab.Lab, after, at string, sig syscall.Signal) (string, int) {
	t.Helper()
	return runSignalled(t, l, []string{"run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"}, after, at, sig)
}

// runSignalled runs ferry with args against the lab and sends it sig at the
// first line holding at printed after a line holding after ("": from the
// start); it returns what the run printed and its exit code.
func runSignalled(t *testing.T, l *lab.Lab, args []string, after, at string, sig syscall.Signal) (string, int) {
	t.Helper()
	return runSignalledLate(t, l, args, after, at, sig, 0)
}

// runSignalledLate is runSignalled sending sig delay after the line.
func runSignalledLate(t *testing.T, l *lab.Lab, args []string, after, at string, sig syscall.Signal, delay time.Duration) (string, int) {
	t.Helper()
	armed, sent := after == "", false
	out, code := runFollowed(t, l, args, func(p *os.Process, line string) {
		if !sent && armed && strings.Contains(line, at) {
			if delay > 0 {
				time.AfterFunc(delay, func() { _ = p.Signal(sig) })
			} else {
				_ = p.Signal(sig)
			}
			sent = true
		}
		armed = armed || strings.Contains(line, after)
	})
	if !sent {
		t.Fatalf("ferry %s never printed %q (after %q):\n%s", strings.Join(args, " "), at, after, out)
	}
	return out, code
}

// runFollowed runs ferry with args against the lab, calling each with its
// process and every line it prints (stdout and stderr) as it prints it;
// it returns what the run printed and its exit code.
func runFollowed(t *testing.T, l *lab.Lab, args []string, each func(p *os.Process, line string)) (string, int) {
	t.Helper()
	cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
	cmd.Env = cleanEnv()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var seen []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		seen = append(seen, sc.Text())
		each(cmd.Process, sc.Text())
	}
	<-done
	return strings.Join(seen, "\n"), cmd.ProcessState.ExitCode()
}
