package stretch

import (
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
	if !f.AnyUp() || !f.ClientStatus("s1").Up {
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
