package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLabServeHangup: a dropped SSH session sends SIGHUP; the lab stops as
// on SIGTERM and removes its temporary directory (it holds credentials).
func TestLabServeHangup(t *testing.T) {
	cmd := exec.Command(ferryBin, "lab", "serve", "--disk-mib", "16")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	dir := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "lab ready" {
		if v, ok := strings.CutPrefix(sc.Text(), "export FERRY_CA_FILE="); ok {
			dir = filepath.Dir(strings.Trim(v, "'"))
		}
	}
	if dir == "" {
		t.Fatal("no FERRY_CA_FILE line before lab ready")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("lab serve after SIGHUP: %v (want a clean exit, as after SIGTERM)", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab directory %s left behind after SIGHUP: %v", dir, err)
	}
}

// tmuxPane runs a command in a detached tmux session of its own.
type tmuxPane struct {
	t       *testing.T
	session string
}

func newTmuxPane(t *testing.T, name, command string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	p := &tmuxPane{t: t, session: fmt.Sprintf("ferry-%s-%d", name, os.Getpid())}
	p.tmux("new-session", "-d", "-s", p.session, "-x", "100", "-y", "30", command+"; echo EXIT=$?; sleep 600")
	t.Cleanup(func() {
		// The pane's ferry first, waited for: killing the server alone
		// left it writing into the test's directories while they were
		// removed ("directory not empty").
		if shell, err := exec.Command("tmux", "-L", p.session, "display", "-p", "-t", p.session, "#{pane_pid}").Output(); err == nil {
			pids, _ := exec.Command("pgrep", "-P", strings.TrimSpace(string(shell)), "ferry").Output()
			for _, f := range strings.Fields(string(pids)) {
				if pid, err := strconv.Atoi(f); err == nil && syscall.Kill(pid, syscall.SIGTERM) == nil {
					for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		}
		exec.Command("tmux", "-L", p.session, "kill-server").Run()
	})
	return p
}

func (p *tmuxPane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", p.session}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (p *tmuxPane) screen() string { return p.tmux("capture-pane", "-p", "-t", p.session) }

// waitFor polls the screen (a terminal has no event to wait on); press,
// when set, is sent between looks.
func (p *tmuxPane) waitFor(want string, press ...string) {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(p.screen(), want) {
		if time.Now().After(deadline) {
			p.t.Fatalf("never saw %q; screen:\n%s", want, p.screen())
		}
		if len(press) > 0 {
			p.tmux(append([]string{"send-keys", "-t", p.session}, press...)...)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// hangup sends SIGHUP to the ferry the pane runs, as a dropped SSH session
// does, and waits for it to exit.
func (p *tmuxPane) hangup() {
	p.t.Helper()
	p.signal(syscall.SIGHUP)
}

// signal sends sig to the ferry the pane runs and waits for it to exit,
// its terminal restored.
func (p *tmuxPane) signal(sig syscall.Signal) {
	p.t.Helper()
	shell := strings.TrimSpace(p.tmux("display", "-p", "-t", p.session, "#{pane_pid}"))
	out, err := exec.Command("pgrep", "-P", shell, "ferry").Output()
	pid, perr := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || perr != nil {
		p.t.Fatalf("the pane's ferry (child of %s): %q %v", shell, out, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		p.t.Fatal(err)
	}
	p.waitFor("EXIT=")
	if alt := strings.TrimSpace(p.tmux("display", "-p", "-t", p.session, "#{alternate_on}")); alt != "0" {
		p.t.Errorf("after %v the terminal is still in the wizard's alternate screen:\n%s", sig, p.screen())
	}
}

// TestWizardHangup: SIGHUP to a foreground wizard (its SSH session
// dropped) is handled as SIGTERM: the terminal is restored, what the steps
// did is in the state, and the lab's temporary directory is removed.
func TestWizardHangup(t *testing.T) {
	t.Parallel() // labs of its own
	if testing.Short() {
		t.Skip("-short")
	}
	t.Run("wizard", func(t *testing.T) {
		l, run := headlessLab(t)
		p := newTmuxPane(t, "hup-wizard", ferryBin+" --config "+l.ConfigFile+" --plan "+l.PlanPath())
		p.waitFor("Step 1 of 8")
		p.waitFor("✓ 1 Rights", "Enter") // plan, apply
		p.hangup()
		if s := p.screen(); !strings.Contains(s, "EXIT=130") {
			t.Errorf("the wizard after SIGHUP:\n%s", s)
		}
		out, code := run("status", "--plan", l.PlanPath(), "--json")
		if code != 0 || !strings.Contains(out, `{"step":"rights","status":"done"`) {
			t.Errorf("the state after SIGHUP: exit %d\n%s", code, out)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		// QA: SIGTERM (systemd, kill) raced bubbletea's own signal
		// handler, whose shutdown then waited for ever: the wizard went on
		// replicating with the state locked until killed.
		l, _ := headlessLab(t)
		p := newTmuxPane(t, "term-wizard", ferryBin+" --config "+l.ConfigFile+" --plan "+l.PlanPath())
		p.waitFor("Step 1 of 8")
		p.signal(syscall.SIGTERM)
		if s := p.screen(); !strings.Contains(s, "EXIT=130") {
			t.Errorf("the wizard after SIGTERM:\n%s", s)
		}
	})
	t.Run("lab", func(t *testing.T) {
		tmp := t.TempDir()
		p := newTmuxPane(t, "hup-lab", "TMPDIR="+tmp+" "+ferryBin+" lab --disk-mib 16")
		p.waitFor("Step 1 of 8")
		p.hangup()
		left, _ := filepath.Glob(filepath.Join(tmp, "ferry-lab-*"))
		if len(left) > 0 {
			t.Errorf("lab directory left behind after SIGHUP: %v", left)
		}
	})
}

// TestSecondWizardIsToldOfTheEngine (QA: a second terminal opening the
// plan a standalone wizard holds was told only to wait for it or stop it):
// it is refused, changing nothing, and told how several terminals share
// one plan: ferry serve, then ferry --plan in each.
func TestSecondWizardIsToldOfTheEngine(t *testing.T) {
	t.Parallel() // a lab of its own
	if testing.Short() {
		t.Skip("-short")
	}
	l, _ := headlessLab(t)
	wizard := ferryBin + " --config " + l.ConfigFile + " --plan " + l.PlanPath()
	first := newTmuxPane(t, "first-wizard", wizard)
	first.waitFor("Step 1 of 8")
	second := newTmuxPane(t, "second-wizard", wizard)
	second.waitFor("EXIT=")
	// Wrapped lines joined: the message is longer than the pane is wide.
	s := second.tmux("capture-pane", "-p", "-J", "-t", second.session)
	for _, want := range []string{"EXIT=1", "in use by ferry process", "ferry serve with the same --config and --plan " + l.PlanPath(), "ferry --plan " + l.PlanPath() + " in each terminal attaches"} {
		if !strings.Contains(s, want) {
			t.Errorf("the second wizard's screen has no %q:\n%s", want, s)
		}
	}
	if !strings.Contains(first.screen(), "Step 1 of 8") {
		t.Errorf("the first wizard after the second was refused:\n%s", first.screen())
	}
}
