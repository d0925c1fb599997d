package nsx_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/edgesim"
	"github.com/ferry-migrate/ferry/lab/edgesim/edgetest"
	"github.com/ferry-migrate/ferry/nsx"
)

// An edge whose L2VPN service is not in client mode refuses sessions; ferry
// checks the mode, refuses with the reason when it may not change it, and
// creates or switches the service when it may.
func TestEnsureClientMode(t *testing.T) {
	ctx := context.Background()

	fresh := edgetest.StartMode(t, "")
	c := dial(t, fresh)
	if _, err := c.ListSessions(ctx); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("sessions on an edge without an L2VPN service: %v", err)
	}
	if _, err := c.EnsureClientMode(ctx, false); !errors.Is(err, nsx.ErrConflict) || !strings.Contains(err.Error(), "no L2VPN service") {
		t.Fatalf("check only, no service: %v", err)
	}
	if _, ok := fresh.Service(); ok {
		t.Fatal("a check created the service")
	}
	if did, err := c.EnsureClientMode(ctx, true); err != nil || !strings.Contains(did, "created") {
		t.Fatalf("create client mode: %q %v", did, err)
	}
	if sv, ok := fresh.Service(); !ok || sv.Mode != edgesim.ModeClient {
		t.Fatalf("service after create: %+v %v", sv, ok)
	}
	if did, err := c.EnsureClientMode(ctx, true); err != nil || did != "" {
		t.Fatalf("second EnsureClientMode changed something: %q %v", did, err)
	}
	if _, err := c.ListSessions(ctx); err != nil {
		t.Fatalf("sessions in client mode: %v", err)
	}

	server := edgetest.StartMode(t, edgesim.ModeServer)
	c = dial(t, server)
	if _, _, err := c.EnsureSession(ctx, "to-cloud", peerCode, peerAddr, localAddr); err == nil || !strings.Contains(err.Error(), "SERVER mode") {
		t.Fatalf("session on a server-mode edge: %v", err)
	}
	if _, err := c.EnsureClientMode(ctx, false); !errors.Is(err, nsx.ErrConflict) || !strings.Contains(err.Error(), "SERVER mode") {
		t.Fatalf("check only, server mode: %v", err)
	}
	if did, err := c.EnsureClientMode(ctx, true); err != nil || !strings.Contains(did, "from SERVER") {
		t.Fatalf("switch to client mode: %q %v", did, err)
	}
	if sv, _ := server.Service(); sv.Mode != edgesim.ModeClient {
		t.Fatalf("mode after switch: %+v", sv)
	}
}

// A port carries the VLAN it is attached with; attaching again with another
// VLAN corrects the port.
func TestAttachNetworkVLAN(t *testing.T) {
	ctx := context.Background()
	e := edgetest.Start(t)
	c := dial(t, e)
	s, _, err := c.EnsureSession(ctx, "to-cloud", peerCode, peerAddr, localAddr)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.AttachNetwork(ctx, s.ID, "vlan20-network", 20, 100)
	if err != nil || a.VLAN != 20 {
		t.Fatalf("attach with VLAN 20: %+v %v", a, err)
	}
	if p := e.Ports(); len(p) != 1 || p[0].VLAN != 20 {
		t.Fatalf("edge ports: %+v", p)
	}
	b, err := c.AttachNetwork(ctx, s.ID, "vlan20-network", 30, 100)
	if err != nil || b.ID != a.ID || b.VLAN != 30 {
		t.Fatalf("re-attach with VLAN 30: %+v %v", b, err)
	}
	if _, err := c.AttachNetwork(ctx, s.ID, "x", 4095, 101); err == nil || !strings.Contains(err.Error(), "0-4094") {
		t.Fatalf("VLAN 4095: %v", err)
	}
}
