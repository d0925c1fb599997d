package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeLocalAttach: with a ferry serve engine running, the wizard
// started in a terminal (`ferry --config … --plan …`, here a tmux pane)
// attaches to the engine and shows its live journey. It watches while an
// SSH session drives and drives when nobody does; it follows the
// terminal's size; quitting it or a SIGHUP detaches it with the terminal
// restored, and the engine's passes go on every RPO. When the engine dies,
// the attached wizard says so.
func TestServeLocalAttach(t *testing.T) {
	// Mostly waiting for the scheduler's next pass (a 1-minute RPO):
	// it overlaps with the other tests that wait so.
	t.Parallel()
	if testing.Short() {
		t.Skip("-short")
	}
	l, run := engineLab(t)
	driverKey := sshKey(t)
	srv := startServeSSH(t, l, authorizedLine("", driverKey, "alice@laptop"))
	sshAddr, hostKey := srv.addr, srv.hostKey
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run through the engine: exit %d\n%s", code, out)
	}
	wizard := ferryBin + " --config " + l.ConfigFile + " --plan " + l.PlanPath()
	attached := func() []string {
		var out []string
		for _, a := range statusJSON(t, run, l.PlanPath()).Engine.Attached {
			out = append(out, a.Via+" "+a.Role)
		}
		return out
	}
	// waitAttached waits for the engine to list want (it notices a
	// terminal that went away when its connection closes).
	waitAttached := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for strings.Join(attached(), ",") != want {
			if time.Now().After(deadline) {
				t.Fatalf("the engine lists %q attached, want %q", attached(), want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// An SSH session drives: the local wizard watches.
	drv := attach(t, sshAddr, sshConfig("admin", driverKey, hostKey), "")
	drv.waitFor(t, "DRIVER")
	watch := newTmuxPane(t, "attach-watch", wizard)
	watch.waitFor("WATCHING")
	watch.waitFor("admin (alice@laptop) drives")
	watch.waitFor("Read-only session: the cutover is not available here.")
	waitAttached("ssh driver,local viewer")
	watch.tmux("send-keys", "-t", watch.session, "WebApp2", "Enter")
	watch.waitFor("only the driver changes anything")
	drv.waitFor(t, "local terminal")
	watch.tmux("send-keys", "-t", watch.session, "q")
	watch.waitFor("EXIT=0")
	if alt := strings.TrimSpace(watch.tmux("display", "-p", "-t", watch.session, "#{alternate_on}")); alt != "0" || !strings.Contains(watch.screen(), "detached from the ferry serve engine") {
		t.Errorf("after quitting the attached wizard (alternate screen %s):\n%s", alt, watch.screen())
	}
	drv.drop()
	waitAttached("")

	// Nobody drives: the local wizard does, on the engine's live journey.
	p := newTmuxPane(t, "attach-drive", wizard)
	p.waitFor("DRIVER")
	p.waitFor("Type WebApp2 to confirm")
	waitAttached("local driver")
	p.tmux("send-keys", "-t", p.session, "Escape")
	p.waitFor("type to confirm")
	p.waitFor("Step 6 of 8", "[")
	p.waitFor("RPO ok")
	// The terminal grows: the wizard lays itself out for the new width.
	p.tmux("resize-window", "-t", p.session, "-x", "140", "-y", "40")
	deadline := time.Now().Add(time.Minute)
	for widest(p.screen()) <= 100 {
		if time.Now().After(deadline) {
			t.Fatalf("the wizard never used the terminal's new width (140 columns):\n%s", p.screen())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The terminal is lost (SIGHUP): it is restored, the wizard detaches,
	// the engine goes on.
	p.hangup()
	if s := p.screen(); !strings.Contains(s, "EXIT=130") || !strings.Contains(s, "which goes on") {
		t.Errorf("the attached wizard after SIGHUP:\n%s", s)
	}
	waitAttached("")
	detached := time.Now()
	waitPassAfter(t, run, l.PlanPath(), "WebApp2", detached)
	var sawAttach, sawDetach bool
	for _, r := range readRecords(t, filepath.Join(l.Dir, "plan.events.jsonl")) {
		sawAttach = sawAttach || r.Source == "local" && r.Kind == "attached" && strings.Contains(r.Message, "as driver")
		sawDetach = sawDetach || r.Source == "local" && r.Kind == "detached"
	}
	if !sawAttach || !sawDetach {
		t.Errorf("the event log: local terminal attached as driver %v, detached %v", sawAttach, sawDetach)
	}

	// The engine dies (kill -9): the wizard it served ends, and the
	// terminal says the engine stopped, exit 1 (QA: "which goes on", exit
	// 0, with nothing replicating any more).
	last := newTmuxPane(t, "attach-killed", wizard)
	last.waitFor("DRIVER")
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	last.waitFor("EXIT=")
	if s := last.screen(); !strings.Contains(s, "EXIT=1") || !strings.Contains(s, "no longer answers") || strings.Contains(s, "which goes on") {
		t.Errorf("the attached wizard after its engine was killed:\n%s", s)
	}
}

// widest is the width of the screen's widest line, trailing blanks aside.
func widest(screen string) int {
	n := 0
	for _, l := range strings.Split(screen, "\n") {
		n = max(n, len([]rune(strings.TrimRight(l, " "))))
	}
	return n
}
