package stretch

import (
	"fmt"
	"strings"
	"testing"
)

func TestStretchUpOnlyWhenEverythingMatches(t *testing.T) {
	f := New()
	f.PutServer(ServerTunnel{ID: "t1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{1, 2}})
	if st := f.ServerStatus("t1"); st.Up || !strings.Contains(st.Reason, "no L2VPN client session") {
		t.Errorf("server alone: %+v", st)
	}
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{7}})
	if st := f.ClientStatus("s1"); st.Up || !strings.Contains(st.Reason, "tunnel id mismatch") {
		t.Errorf("mismatched ids: %+v", st)
	}
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: false, TunnelIDs: []int{2}})
	if st := f.ServerStatus("t1"); st.Up || !strings.Contains(st.Reason, "disabled") {
		t.Errorf("client disabled: %+v", st)
	}
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{2}})
	if st := f.ServerStatus("t1"); !st.Up || len(st.Matched) != 1 || st.Matched[0] != 2 {
		t.Errorf("matching client: %+v", st)
	}
	if !f.Reaches("web") || !f.ClientStatus("s1").Up {
		t.Error("client side does not agree")
	}
	f.SetDown("injected: WAN link cut")
	if st := f.ClientStatus("s1"); st.Up || st.Reason != "injected: WAN link cut" {
		t.Errorf("forced down: %+v", st)
	}
	f.SetDown("")
	f.DeleteServer("t1")
	if st := f.ClientStatus("s1"); st.Up || !strings.Contains(st.Reason, "no L2VPN server") {
		t.Errorf("server gone: %+v", st)
	}
	f.PutClient(ClientSession{ID: "s2", PeerCode: "other", Enabled: true, TunnelIDs: []int{2}})
	if _, ok := f.ServerByPeerCode("pc1"); ok {
		t.Error("deleted server still found by peer code")
	}
}

// Frames of an on-prem network cross only when the session is UP on its
// tunnel id and the on-prem wiring delivers the port's VLAN.
func TestCarriesOnlyWhenTheWireDelivers(t *testing.T) {
	f := New()
	f.PutServer(ServerTunnel{ID: "t1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{1, 2}})
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{1, 2},
		Ports: []Port{{Network: "web", VLAN: 0, TunnelID: 1}, {Network: "vlan20", VLAN: 10, TunnelID: 2}}})
	vlans := map[string]int{"web": 0, "vlan20": 20}
	f.SetWire(func(p Port) error {
		if p.VLAN != vlans[p.Network] {
			return fmt.Errorf("port VLAN %d, port group VLAN %d", p.VLAN, vlans[p.Network])
		}
		return nil
	})
	if err := f.Carries("web"); err != nil {
		t.Errorf("untagged network: %v", err)
	}
	if err := f.Carries("vlan20"); err == nil || !strings.Contains(err.Error(), "port VLAN 10, port group VLAN 20") {
		t.Errorf("VLAN mismatch: %v", err)
	}
	if err := f.Carries("other"); err == nil || !strings.Contains(err.Error(), "no L2VPN client session") {
		t.Errorf("unstretched network: %v", err)
	}
	if !f.Reaches("web") || f.Reaches("vlan20") || f.Reaches("other") {
		t.Error("a VM in the cloud is reachable only on the network the stretch carries")
	}
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{2},
		Ports: []Port{{Network: "vlan20", VLAN: 20, TunnelID: 2}}})
	if err := f.Carries("vlan20"); err != nil {
		t.Errorf("VLAN fixed: %v", err)
	}
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{2},
		Ports: []Port{{Network: "vlan20", VLAN: 10, TunnelID: 2}}})
	if f.Reaches("vlan20") || f.Reaches("web") {
		t.Error("reachable although no port's traffic is delivered")
	}
	if st := f.ClientStatus("s1"); !st.Up {
		t.Errorf("the session itself stays UP: %+v", st)
	}
}

// Frames of an on-prem network cross to the org VDC network the server
// stretches their tunnel id to, and to no other: a server that maps the id
// to another network (UP all the same) does not reach a VM on the plan's.
func TestReachesOnlyTheNetworkTheServerMapsTo(t *testing.T) {
	f := New()
	f.PutServer(ServerTunnel{ID: "t1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{1}, Networks: map[int]string{1: "company-network"}})
	f.PutClient(ClientSession{ID: "s1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{1}, Ports: []Port{{Network: "company-network", TunnelID: 1}}})
	if !f.ReachesTo("company-network", "company-network") || !f.ReachesTo("company-network", "") {
		t.Error("not carried to the network the server stretches")
	}
	f.PutServer(ServerTunnel{ID: "t1", PeerCode: "pc1", Enabled: true, TunnelIDs: []int{1}, Networks: map[int]string{1: "other-net"}})
	if !f.ServerStatus("t1").Up {
		t.Fatal("the stretch is not UP with the other network on the same tunnel id")
	}
	if f.ReachesTo("company-network", "company-network") {
		t.Error("carried to company-network while the server stretches tunnel id 1 to other-net")
	}
	if !f.ReachesTo("company-network", "other-net") {
		t.Error("not carried to other-net, which the server stretches")
	}
}
