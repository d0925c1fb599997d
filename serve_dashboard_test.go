package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// passFigures is a dashboard's detail line: the figures of the pass of the
// VM under the cursor.
var passFigures = regexp.MustCompile(`WebApp2 pass: planned [^·]+ · read [^·]+ · sent [^·]+ · acked [^·]+ · RPO 1h00m`)

// TestServeLateSessionShowsTheLastPass (QA over SSH: a session that
// attached after a pass showed "planned 0 B · read 0 B · sent 0 B · acked
// 0 B" and no "pass 100% done" bar for it, while a session attached all
// along showed the pass's figures): a terminal attaching to the engine
// shows each VM's last pass as one attached all along does. The RPO is an
// hour, so no pass runs after the initial sync and its full compare: what
// the late session shows of the last pass it can only have from the
// engine.
func TestServeLateSessionShowsTheLastPass(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := engineLab(t)
	editPlan(t, l.PlanPath(), "\nrpo: 1m\n", "\nrpo: 1h\n")
	key := sshKey(t)
	srv := startServeSSH(t, l, authorizedLine(`command="view"`, key, "projector"))
	addr := srv.addr
	cfg := sshConfig("bob", key, srv.hostKey)

	early := attach(t, addr, cfg, "")
	defer early.drop()
	early.waitFor(t, "WATCHING")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		out, code := run("run", "--plan", l.PlanPath())
		if code == 0 && strings.Contains(out, "stopped at cutover") {
			break
		}
		if !strings.Contains(out, "the engine is running steps") || time.Now().After(deadline) {
			t.Fatalf("run through the engine: exit %d\n%s", code, out)
		}
	}
	// The session attached all along followed the run to the checks; on
	// the dashboard it shows the full compare after the initial sync done.
	early.waitFor(t, "Step 7 of 8")
	early.send("[")
	early.waitFor(t, "Step 6 of 8")
	early.waitFor(t, "idle #2")
	early.waitFor(t, "pass 100% done")
	all := passFigures.FindAllString(early.text(), -1)
	if len(all) == 0 {
		t.Fatalf("the early session shows no pass figures:\n%s", tail(early.text(), 3000))
	}
	figures := all[len(all)-1]
	if strings.Contains(figures, "planned 0 B") {
		t.Fatalf("the early session's last pass: %q", figures)
	}

	late := attach(t, addr, cfg, "")
	defer late.drop()
	late.waitFor(t, "WATCHING")
	late.waitFor(t, "Step 8 of 8")
	late.send("[")
	late.waitFor(t, "Step 7 of 8")
	late.send("[")
	late.waitFor(t, "Step 6 of 8")
	late.waitFor(t, "idle #2")
	late.waitFor(t, "pass 100% done")
	late.waitFor(t, figures)
}
