package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/nsx"
)

// TestCutoverRefusedWhileTheStretchIsDown (QA): with steps 1-7 done and the
// edge's L2VPN session then disabled behind ferry's back, `ferry run` says
// the stretch is down (step 4 done before), and a confirmed cutover is
// refused before anything changes: the source keeps running (it used to be
// shut down, its target powered on in Cloud Director, and the cutover wait
// minutes for probes that could not answer, the source off until someone
// decided). Once the session is enabled again, the cutover goes through.
func TestCutoverRefusedWhileTheStretchIsDown(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run without confirmation: exit %d\n%s", code, out)
	}
	cfg := l.Config()
	ctx := context.Background()
	edge, err := nsx.Dial(ctx, nsx.Config{URL: l.EdgeURL(), Username: cfg.Edge.Username, Password: cfg.Edge.Password, CAFile: cfg.Edge.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()
	sessions, err := edge.ListSessions(ctx)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("edge sessions: %v %v", sessions, err)
	}
	if _, err := edge.SetSessionEnabled(ctx, sessions[0].ID, false); err != nil {
		t.Fatal(err)
	}

	out, code = run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "the L2 stretch is down: Cloud Director reports L2 VPN tunnel ferry-l2vpn DOWN") || !strings.Contains(out, "--redo=dc-extension") ||
		!strings.Contains(out, `the cutover would refuse as things stand: L2 stretch company-network: the L2 stretch is down`) {
		t.Errorf("run with the edge session disabled: exit %d, want a warning that the stretch is down\n%s", code, out)
	}
	// The recovery the warning names, previewed: step 4 runs again and
	// enables the session.
	out, code = run("plan", "--plan", l.PlanPath(), "--redo=dc-extension")
	out = labtest.PlanUnwrapped(out)
	if code != 0 || !strings.Contains(out, "DC extension (state: done; runs again: --redo)") || !strings.Contains(out, `~ update L2VPN session "ferry-l2vpn": is disabled: enable it`) {
		t.Errorf("plan --redo=dc-extension: exit %d, want step 4 to run again and enable the session\n%s", code, out)
	}
	if out, code = run("plan", "--plan", l.PlanPath(), "--redo=cutover"); code != 2 || !strings.Contains(out, "--confirm-cutover") {
		t.Errorf("plan --redo=cutover: exit %d, want a usage error (2) naming --confirm-cutover\n%s", code, out)
	}
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code == 0 || !strings.Contains(out, "the L2 stretch is down") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("cutover with the stretch down: exit %d, want it refused before any change\n%s", code, out)
	}
	if strings.Contains(out, "shutdown") {
		t.Errorf("the refused cutover got as far as a shutdown:\n%s", out)
	}
	addr := reachAddr(t, l, "WebApp2")
	if !answers(addr) {
		t.Errorf("source WebApp2 does not answer at %s after the refused cutover", addr)
	}

	if _, err := edge.SetSessionEnabled(ctx, sessions[0].ID, true); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool {
		st, err := edge.SessionStatus(ctx, sessions[0].ID)
		return err == nil && st.String() == "UP"
	}) {
		t.Fatal("the session did not come UP again")
	}
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover with the stretch UP again: exit %d\n%s", code, out)
	}
}
