package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestServeViewerWatchesDriver is a guided demo over SSH (QA: the
// audience's screens showed nothing of what the presenter did: the step's
// form while the driver planned and applied it, the cutover's confirmation
// while it ran and after, never its report). The viewer, on the step the
// driver works on, sees the driver's plan, then the step's result, also
// when the driver's connection drops during the apply (the step runs on in
// the engine); on the cutover's screen it sees the cutover run, then its
// downtime report with the measured downtime.
func TestServeViewerWatchesDriver(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := engineLab(t)
	driverKey, viewerKey := sshKey(t), sshKey(t)
	srv := startServeSSH(t, l, authorizedLine("", driverKey, "alice@laptop")+authorizedLine(`command="view"`, viewerKey, "projector"))
	addr, hostKey := srv.addr, srv.hostKey

	drv := attach(t, addr, sshConfig("admin", driverKey, hostKey), "")
	drv.waitFor(t, "DRIVER")
	drv.waitFor(t, "Step 1 of 8")
	view := attach(t, addr, sshConfig("bob", viewerKey, hostKey), "")
	defer view.drop()
	view.waitFor(t, "WATCHING")
	view.waitFor(t, "Step 1 of 8")

	// The driver plans step 1: the viewer sees the plan.
	drv.send("\r")
	drv.waitFor(t, "Plan — nothing has changed yet")
	view.waitFor(t, "Plan — nothing has changed yet")
	view.waitFor(t, `create rights bundle "ferry L2 VPN (Company)"`)
	// The driver applies it and its connection drops at once: the step
	// runs on in the engine and the viewer sees its result.
	drv.send("\r")
	drv.waitFor(t, "elapsed")
	drv.drop()
	view.waitFor(t, "elapsed")
	view.waitForWithin(t, "✓ done", 3*time.Minute)
	view.waitFor(t, "Created by ferry")
	view.waitFor(t, "rights bundle ferry L2 VPN (Company)")
	view.send("]")
	view.waitFor(t, "Step 2 of 8")

	// Steps 2 to 7 headless, through the engine (once step 1's run has
	// given the step lock back).
	var out string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		var code int
		out, code = run("run", "--plan", l.PlanPath())
		if code == 0 && strings.Contains(out, "stopped at cutover") {
			break
		}
		if !strings.Contains(out, "the engine is running steps") || time.Now().After(deadline) {
			t.Fatalf("run through the engine: exit %d\n%s", code, out)
		}
	}

	// The viewer, on step 2, saw it run (ferry run's steps are shown as
	// a driver's); it goes to the cutover; the driver attaches again and
	// cuts over.
	view.waitFor(t, "Changes")
	view.waitFor(t, `create L2VPN tunnel "ferry-l2vpn"`)
	for n := 3; n <= 8; n++ {
		view.send("]") // one key at a time: runes read together are one key
		view.waitFor(t, fmt.Sprintf("Step %d of 8", n))
	}
	view.waitFor(t, "Read-only session: the cutover is not available here.")
	drv = attach(t, addr, sshConfig("admin", driverKey, hostKey), "")
	defer drv.drop()
	drv.waitFor(t, "DRIVER")
	drv.waitFor(t, "Type WebApp2 to confirm")
	drv.send("WebApp2")
	drv.send("\r")
	view.waitForWithin(t, "Cutover running", 3*time.Minute)
	view.waitForWithin(t, "✓ cutover complete", 5*time.Minute)
	view.waitFor(t, "Downtime report")
	view.waitFor(t, "WebApp2: migrated · measured downtime")
	drv.waitFor(t, "measured downtime")
}

// TestServeWatcherToldTheDriverLeft (QA: after the driver's ssh client was
// killed, the session that watched because it drove read "WATCHING admin
// drives" for as long as it stayed): its header says no one drives and how
// to drive, then names the next driver when one attaches.
func TestServeWatcherToldTheDriverLeft(t *testing.T) {
	l, _ := engineLab(t)
	aliceKey, bobKey := sshKey(t), sshKey(t)
	srv := startServeSSH(t, l, authorizedLine("", aliceKey, "alice@laptop")+authorizedLine("", bobKey, "bob@laptop"))
	addr, hostKey := srv.addr, srv.hostKey

	drv := attach(t, addr, sshConfig("admin", aliceKey, hostKey), "")
	drv.waitFor(t, "DRIVER")
	view := attach(t, addr, sshConfig("bob", bobKey, hostKey), "")
	defer view.drop()
	view.waitFor(t, "WATCHING admin (alice@laptop) drives")
	drv.drop()
	view.waitFor(t, "WATCHING no one drives now: attach again to drive")
	again := attach(t, addr, sshConfig("carol", aliceKey, hostKey), "")
	defer again.drop()
	again.waitFor(t, "DRIVER")
	view.waitFor(t, "WATCHING carol (alice@laptop) drives")
}
