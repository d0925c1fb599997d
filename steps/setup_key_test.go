package steps_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestSetupTunnelKey: the key in FERRY_L2VPN_PSK is the tunnel's; Cloud
// Director shows it masked. Mending the tunnel sends that key (the stretch
// comes back UP with the same peer code); a FERRY_L2VPN_PSK that is not
// the tunnel's key is a conflict that changes nothing and shows no key.
func TestSetupTunnelKey(t *testing.T) {
	const key, other = "first-key-from-env-7f3a", "second-key-from-env-91c2"
	t.Setenv(steps.EnvL2VPNPSK, key)
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, nil)
	if ev, err := run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json")); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	tenant := labtest.VCD(t, cfg.Tenant)
	vdc, err := tenant.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := tenant.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	tun, err := vcd.FindTunnel(egw, "ferry-l2vpn")
	if err != nil || tun == nil {
		t.Fatalf("tunnel: %v %v", tun, err)
	}
	code := vcd.PeerCode(tun)
	ui := uiTunnel(t, tenant, "ferry-l2vpn")
	if pc, err := vcdsim.ParsePeerCode(code); err != nil || pc.PSK != key || ui.NsxtL2VpnTunnel.PreSharedKey != "******" {
		t.Fatalf("tunnel key: peer code %+v (%v), preSharedKey %q", pc, err, ui.NsxtL2VpnTunnel.PreSharedKey)
	}
	off := *ui.NsxtL2VpnTunnel
	off.Enabled, off.PreSharedKey = false, key
	labtest.UIChange(t, tenant, http.MethodPut, labtest.TunnelPath(egw.ID, off.ID), &off)
	if look(t, l).tunnelUp {
		t.Fatal("stretch UP with the tunnel disabled")
	}

	t.Setenv(steps.EnvL2VPNPSK, other)
	plans, err := runner(t, cfg, plan, "", nil).PlanAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	steps.WritePlans(&out, plans)
	if !strings.Contains(out.String(), `! conflict L2VPN tunnel "ferry-l2vpn": its pre-shared key is not the one in FERRY_L2VPN_PSK`) {
		t.Errorf("plan with another key:\n%s", out.String())
	}
	ev, err := run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json"))
	if !errors.Is(err, steps.ErrConflict) {
		t.Errorf("run with another key: %v\n%s", err, ev)
	}
	for _, s := range []string{out.String(), ev.String(), err.Error()} {
		if strings.Contains(s, key) || strings.Contains(s, other) {
			t.Errorf("a pre-shared key is shown:\n%s", s)
		}
	}
	if now, err := vcd.FindTunnel(egw, "ferry-l2vpn"); err != nil || vcd.PeerCode(now) != code || now.Enabled {
		t.Fatalf("the refused run changed the tunnel: %v", err)
	}

	t.Setenv(steps.EnvL2VPNPSK, key)
	if ev, err := run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json")); err != nil {
		t.Fatalf("%v\n%s", err, ev)
	} else if c := ev.of("trunk-network", steps.EventChange); len(c) != 1 || c[0].Item.Action != steps.ActionUpdate {
		t.Errorf("want one tunnel update:\n%s", ev)
	}
	if now, err := vcd.FindTunnel(egw, "ferry-l2vpn"); err != nil || vcd.PeerCode(now) != code || !now.Enabled {
		t.Fatalf("after the mending run: %v (peer code kept: %v)", err, now != nil && vcd.PeerCode(now) == code)
	}
	if !look(t, l).tunnelUp {
		t.Error("stretch not UP again")
	}
}
