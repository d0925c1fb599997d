package steps_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/nsx"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestSetupRightsLegacy: with rights.mode legacy, step 1 writes the org's
// OrgRights list (the walkthrough's PowerShell way), not the bundle, and
// gives the rights to an org-local role of the tenant user, so that step 2
// (the L2 VPN server, set up as the tenant) is allowed. Nothing that reaches
// Globex (or any other organization) changes, on the first run nor on the
// second, which changes nothing.
func TestSetupRightsLegacy(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	before := othersView(t, l, "Company")
	plan := labPlan(t, l, func(pf *steps.PlanFile) {
		pf.Rights.Mode = "legacy"
		pf.Skip = append(pf.Skip, "appliance", "dc-extension")
	})
	ev, err := run(t, l.Config(), plan, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	changes := ev.of("rights", steps.EventChange)
	if len(changes) == 0 || changes[0].Item.Kind != "org rights" {
		t.Fatalf("legacy changes:\n%s", ev)
	}
	if !l.VCD.OrgHasRight("Company", l2vpnRight) {
		t.Error("the org lacks the L2 VPN right")
	}
	if w := look(t, l); w.bundleHas {
		t.Error("legacy mode changed the rights bundle")
	}
	if after := othersView(t, l, "Company"); after != before {
		t.Errorf("legacy step 1 changed what other organizations get:\n%s", lineDiff(before, after))
	}
	if ev, err = run(t, l.Config(), plan, ""); err != nil || ev.of("rights", steps.EventDone)[0].Message != "no changes" || len(ev.of("rights", steps.EventChange)) != 0 {
		t.Errorf("second legacy run: %v\n%s", err, ev)
	}
	if after := othersView(t, l, "Company"); after != before {
		t.Errorf("the second legacy run changed what other organizations get:\n%s", lineDiff(before, after))
	}
}

// TestSetupDrift: what was changed behind ferry's back after a run is
// mended by the next one (a disabled server tunnel, a disabled edge
// session), and what ferry must not touch is a conflict that changes
// nothing (a session of the plan's name built from another peer code).
func TestSetupDrift(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	if ev, err := run(t, cfg, plan, state); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	ctx := context.Background()

	tenant := labtest.VCD(t, cfg.Tenant)
	_, egw := companyEdge(t, tenant)
	tun, err := vcd.FindTunnel(egw, "ferry-l2vpn")
	if err != nil || tun == nil {
		t.Fatalf("tunnel: %v %v", tun, err)
	}
	// Disabled as in Cloud Director's UI, which keeps the key (the API
	// shows it masked; its peer code carries it).
	pc, err := vcdsim.ParsePeerCode(vcd.PeerCode(tun))
	if err != nil {
		t.Fatal(err)
	}
	ui := uiTunnel(t, tenant, "ferry-l2vpn")
	off := *ui.NsxtL2VpnTunnel
	off.Enabled, off.PreSharedKey = false, pc.PSK
	labtest.UIChange(t, tenant, http.MethodPut, labtest.TunnelPath(egw.ID, off.ID), &off)
	edge, err := nsx.Dial(ctx, nsx.Config{URL: l.EdgeURL(), Username: cfg.Edge.Username, Password: cfg.Edge.Password, CAFile: cfg.Edge.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()
	sess, err := edge.SessionByName(ctx, "ferry-l2vpn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.SetSessionEnabled(ctx, sess.ID, false); err != nil {
		t.Fatal(err)
	}
	if look(t, l).tunnelUp {
		t.Fatal("stretch still UP with both ends disabled")
	}

	// A run that finds steps 2 and 4 done says the stretch is down and
	// how to mend it (it ended as if all were well).
	ev, err := run(t, cfg, plan, state)
	if err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	if want := "done before, but now L2 VPN tunnel ferry-l2vpn differs from the plan (tunnel is disabled): the L2 stretch is down or does not carry company-network; `ferry run --redo=trunk-network` applies it again"; !strings.Contains(ev.String(), want) {
		t.Errorf("run with steps 2 and 4 done, tunnel and session disabled: no %q:\n%s", want, ev)
	}
	// Step 4 leaves a disabled tunnel to step 2's redo (QA: it named its
	// own, which does not enable the tunnel). TestCutoverRefusedWhileThe-
	// StretchIsDown has its warning for the session disabled alone.
	if strings.Contains(ev.String(), "--redo=dc-extension") {
		t.Errorf("step 4 named its redo for a tunnel disabled in Cloud Director:\n%s", ev)
	}

	plans, err := runner(t, cfg, plan, "", nil).PlanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	steps.WritePlans(&out, plans)
	for _, want := range []string{`~ update L2VPN tunnel "ferry-l2vpn": tunnel is disabled`, `~ update L2VPN session "ferry-l2vpn": is disabled`, "DOWN: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, out.String())
		}
	}
	ev, err = run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	for _, id := range []string{"trunk-network", "dc-extension"} {
		if c := ev.of(id, steps.EventChange); len(c) != 1 || c[0].Item.Action != steps.ActionUpdate {
			t.Errorf("%s: want one update:\n%s", id, ev)
		}
	}
	for _, id := range []string{"rights", "appliance"} {
		if len(ev.of(id, steps.EventChange)) != 0 {
			t.Errorf("%s changed:\n%s", id, ev)
		}
	}
	if !look(t, l).tunnelUp {
		t.Error("stretch not UP again")
	}

	// A session of the plan's name from another tunnel's peer code.
	if err := edge.DetachNetwork(ctx, mustAttachment(t, edge, sess.ID).ID); err != nil {
		t.Fatal(err)
	}
	if err := edge.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	other := vcdsim.PeerCode{SiteName: "elsewhere", PSK: "x", LocalEndpointIP: "203.0.113.99", RemoteEndpointIP: "192.168.50.10"}.Encode()
	if _, err := edge.CreateSessionFromPeerCode(ctx, "ferry-l2vpn", other, "203.0.113.99", "192.168.50.10"); err != nil {
		t.Fatal(err)
	}
	ev, err = run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json"))
	if !errors.Is(err, steps.ErrConflict) || !strings.Contains(err.Error(), "another peer code") || !errors.Is(err, steps.ErrPreflight) {
		t.Errorf("session from another peer code: %v\n%s", err, ev)
	}
	if atts, err := edge.Attachments(ctx, mustSession(t, edge).ID); err != nil || len(atts) != 0 {
		t.Errorf("the conflicting session got a network: %v %v", atts, err)
	}
}

func mustAttachment(t *testing.T, edge *nsx.Client, sessionID string) nsx.Attachment {
	t.Helper()
	atts, err := edge.Attachments(context.Background(), sessionID)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attachments: %v %v", atts, err)
	}
	return atts[0]
}

func mustSession(t *testing.T, edge *nsx.Client) nsx.Session {
	t.Helper()
	s, err := edge.SessionByName(context.Background(), "ferry-l2vpn")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSetupNeedsRights: where Cloud Director enforces rights, the tenant
// cannot plan the L2 VPN without step 1; the run refuses before changing
// anything and names what is missing.
func TestSetupNeedsRights(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	tenant := labtest.VCD(t, l.Config().Tenant)
	_, egw := companyEdge(t, tenant)
	if _, err := vcd.FindTunnel(egw, "ferry-l2vpn"); err == nil {
		t.Skip("this lab does not enforce tenant rights (vcdsim.Config.EnforceRights)")
	}
	plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Skip = append(pf.Skip, "rights") })
	ev, err := run(t, l.Config(), plan, "")
	if !errors.Is(err, steps.ErrPreflight) || !strings.Contains(err.Error(), "View L2 VPN") || !strings.Contains(err.Error(), "run step 1 (rights)") {
		t.Errorf("without step 1: %v\n%s", err, ev)
	}
	untouched(t, l)
}

// TestTunnelDeletedMadeAgainWithRedo (QA): the L2 VPN tunnel deleted in
// Cloud Director after steps 1-4 ran. A run says the stretch is down and
// names the redo; `--redo=trunk-network,dc-extension` makes the tunnel
// again and replaces the edge session ferry had made from the old
// tunnel's peer code, and the stretch is UP again. It was refused by
// step 4's plan (the tunnel missing although step 2 was to run again),
// and step 4 alone stopped at a conflict over its own session.
func TestTunnelDeletedMadeAgainWithRedo(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	if ev, err := run(t, cfg, plan, state); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	uiDeleteTunnel(t, labtest.VCD(t, cfg.Tenant), "ferry-l2vpn")
	if look(t, l).tunnelUp {
		t.Fatal("stretch UP without its tunnel")
	}
	ev, err := run(t, cfg, plan, state)
	if err != nil || !strings.Contains(ev.String(), "done before, but now L2 VPN tunnel ferry-l2vpn is gone from edge gateway company-edge: the L2 stretch is down; `ferry run --redo=trunk-network,dc-extension` applies it again") {
		t.Errorf("run with the tunnel deleted: %v\n%s", err, ev)
	}
	ev = &events{}
	r := runner(t, cfg, plan, state, ev.emit)
	r.Redo = []string{"trunk-network", "dc-extension"}
	ctx := context.Background()
	// ferry plan --redo=trunk-network,dc-extension previews the recovery:
	// a new tunnel, ferry's session replaced (made from the deleted
	// tunnel's peer code), the network attached again.
	plans, err := r.PlanAll(ctx)
	var out strings.Builder
	steps.WritePlans(&out, plans)
	for _, want := range []string{
		"Trunk network (state: done; runs again: --redo)", `+ create L2VPN tunnel "ferry-l2vpn"`,
		"DC extension (state: done; runs again: --redo)", `~ update L2VPN session "ferry-l2vpn": made by ferry from the peer code of an earlier L2 VPN tunnel`,
		`+ create stretched network "company-network"`,
	} {
		if err != nil || !strings.Contains(out.String(), want) {
			t.Errorf("plan --redo=trunk-network,dc-extension: %v; want %q in\n%s", err, want, out.String())
		}
	}
	if w := look(t, l); w.tunnels != 0 || w.sessions != 1 {
		t.Fatalf("the plan changed something: %d tunnel(s), %d session(s)", w.tunnels, w.sessions)
	}
	if err := r.Preflight(ctx); err != nil {
		t.Fatalf("preflight of --redo=trunk-network,dc-extension: %v", err)
	}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("run --redo=trunk-network,dc-extension: %v\n%s", err, ev)
	}
	if !strings.Contains(ev.String(), "made by ferry from the peer code of an earlier L2 VPN tunnel ferry-l2vpn") {
		t.Errorf("the run did not say it replaced its session:\n%s", ev)
	}
	if w := look(t, l); !w.tunnelUp || w.sessions != 1 || w.tunnels != 1 {
		t.Errorf("after the redo: stretch UP %v, %d session(s), %d tunnel(s); want UP, 1 and 1", w.tunnelUp, w.sessions, w.tunnels)
	}
}

// TestCutoverRefusedWhenTheTunnelStretchesAnotherNetwork (QA): the L2 VPN
// tunnel, UP, made to stretch another network than the plan's on the same
// tunnel id behind ferry's back. A run warns (step 2's drift), and a
// confirmed cutover is refused before any change: Cloud Director reports
// the tunnel UP, but it no longer carries the network the targets join
// (the cutover went ahead).
func TestCutoverRefusedWhenTheTunnelStretchesAnotherNetwork(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, func(pf *steps.PlanFile) {
		pf.Skip = slices.DeleteFunc(pf.Skip, func(id string) bool { return id != "cutover" })
	})
	state := filepath.Join(t.TempDir(), "state.json")
	if ev, err := run(t, cfg, plan, state); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	tenant := labtest.VCD(t, cfg.Tenant)
	vdc, egw := companyEdge(t, tenant)
	other, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "other-net", GatewayCIDR: "10.20.30.1/24"})
	if err != nil {
		t.Fatal(err)
	}
	ui := uiTunnel(t, tenant, "ferry-l2vpn")
	tun, err := vcd.FindTunnel(egw, "ferry-l2vpn")
	if err != nil || tun == nil {
		t.Fatalf("tunnel: %v %v", tun, err)
	}
	pc, err := vcdsim.ParsePeerCode(vcd.PeerCode(tun))
	if err != nil {
		t.Fatal(err)
	}
	moved := *ui.NsxtL2VpnTunnel
	moved.PreSharedKey = pc.PSK
	moved.StretchedNetworks = []types.EdgeL2VpnStretchedNetwork{{NetworkRef: types.OpenApiReference{ID: other.ID, Name: "other-net"}, TunnelID: 1}}
	labtest.UIChange(t, tenant, http.MethodPut, labtest.TunnelPath(egw.ID, moved.ID), &moved)
	if !look(t, l).tunnelUp {
		t.Fatal("the tunnel is not UP with the other network on tunnel id 1")
	}
	r := runner(t, cfg, labPlan(t, l, func(pf *steps.PlanFile) { pf.Skip = nil }), state, (&events{}).emit)
	r.Confirmed = true
	err = r.Preflight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "L2 VPN tunnel ferry-l2vpn no longer stretches company-network (it stretches: other-net)") {
		t.Fatalf("preflight of a cutover with the tunnel stretching another network: %v", err)
	}
}

// TestSessionMadeElsewhereRefusedBeforeStep2 (QA): the tunnel deleted in
// Cloud Director, and a run whose state file did not make the edge session
// of the plan's name (another plan directory made it). Step 2 would make
// the tunnel anew with a new peer code, which that session does not carry:
// the preflight refuses, before step 2 makes a tunnel (it used to make it,
// then stop at step 4's conflict).
func TestSessionMadeElsewhereRefusedBeforeStep2(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, nil)
	if ev, err := run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json")); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	uiDeleteTunnel(t, labtest.VCD(t, cfg.Tenant), "ferry-l2vpn")
	ev, err := run(t, cfg, plan, filepath.Join(t.TempDir(), "other-state.json"))
	if !errors.Is(err, steps.ErrPreflight) || !strings.Contains(err.Error(), `session "ferry-l2vpn"`) || !strings.Contains(err.Error(), "was not made by ferry with this state file") {
		t.Fatalf("run with another state file, the tunnel gone and the session there: %v\n%s", err, ev)
	}
	if n := look(t, l).tunnels; n != 0 {
		t.Errorf("%d tunnel(s) after the refused run; want none made", n)
	}
}

// companyEdge is the lab's Company-VDC and its edge gateway company-edge,
// through ferry's vcd package.
func companyEdge(t *testing.T, c *vcd.Client) (*vcd.VDC, *vcd.EdgeGateway) {
	t.Helper()
	vdc, err := c.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := c.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	return vdc, egw
}

// TestChangedAnswersOfADoneStepAreSaid (QA: the VDC changed in step 5's
// options after step 2 was done, and step 2 stayed ✓ with nothing said):
// a done step whose answers the plan has changed since is not run again on
// its own, and the run says which answers differ and how to apply them.
func TestChangedAnswersOfADoneStepAreSaid(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	if ev, err := run(t, cfg, plan, state); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	edited, err := os.ReadFile(labPlan(t, l, func(pf *steps.PlanFile) { pf.Tunnel.LocalEndpointIP = "198.51.100.7" }))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plan, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	ev, err := run(t, cfg, plan, state)
	want := "done with other answers than the plan's now (tunnel.local_endpoint_ip: "
	if err != nil || !strings.Contains(ev.String(), want) || !strings.Contains(ev.String(), "-> 198.51.100.7): `ferry plan --redo=trunk-network` shows what applying them would change") {
		t.Errorf("run after an answer of step 2 changed: %v; want %q\n%s", err, want, ev)
	}
	if strings.Contains(ev.String(), "rights: done with other answers") {
		t.Errorf("a step whose answers did not change is said to differ\n%s", ev)
	}
	// ferry plan says it too, on that step only.
	plans, err := runner(t, cfg, plan, state, func(steps.Event) {}).PlanAll(context.Background())
	var out strings.Builder
	steps.WritePlans(&out, plans)
	if err != nil || strings.Count(out.String(), "! done with other answers") != 1 || !strings.Contains(out.String(), "(tunnel.local_endpoint_ip: ") {
		t.Errorf("plan after an answer of step 2 changed: %v\n%s", err, out.String())
	}
}
