package vcdsim

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

// trunk is what step 2 of a migration builds: a routed network on the edge
// gateway, and an L2 VPN server session stretching it.
type trunk struct {
	vdc *govcd.Vdc
	egw *govcd.NsxtEdgeGateway
	net *govcd.OpenApiOrgVdcNetwork
}

func newTrunk(t *testing.T, c *govcd.VCDClient) *trunk {
	t.Helper()
	org := must(c.GetOrgByName("Company"))(t)
	vdc := must(org.GetVDCByName("Company-VDC", false))(t)
	egw := must(vdc.GetNsxtEdgeGatewayByName("company-edge"))(t)
	net := must(vdc.CreateOpenApiOrgVdcNetwork(&types.OpenApiOrgVdcNetwork{
		Name:        "company-network",
		OwnerRef:    &types.OpenApiReference{ID: vdc.Vdc.ID},
		NetworkType: "NAT_ROUTED",
		Connection: &types.Connection{
			RouterRef:           types.OpenApiReference{ID: egw.EdgeGateway.ID},
			ConnectionTypeValue: "INTERNAL",
		},
		Subnets: types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{
			Gateway: "172.16.10.1", PrefixLength: 24,
			IPRanges: types.OrgVdcNetworkSubnetIPRanges{Values: []types.OrgVdcNetworkSubnetIPRangeValues{{
				StartAddress: "172.16.10.200", EndAddress: "172.16.10.250",
			}}},
		}}},
	}))(t)
	return &trunk{vdc: vdc, egw: egw, net: net}
}

// attach gives vapp the trunk network as a bridged vApp network, as a VM's
// NIC needs before it connects to it.
func (tr *trunk) attach(t *testing.T, c *govcd.VCDClient, vapp *govcd.VApp) {
	t.Helper()
	if err := vapp.Refresh(); err != nil {
		t.Fatal(err)
	}
	uuid := strings.TrimPrefix(tr.net.OpenApiOrgVdcNetwork.ID, "urn:vcloud:network:")
	net := &types.OrgVDCNetwork{Name: tr.net.OpenApiOrgVdcNetwork.Name, HREF: c.Client.VCDHREF.String() + "/network/" + uuid}
	if _, err := vapp.AddOrgNetwork(&govcd.VappNetworkSettings{}, net, false); err != nil {
		t.Fatalf("give vApp %s network %s: %v", vapp.VApp.Name, net.Name, err)
	}
}

func (tr *trunk) tunnelSpec(name string, tunnelID int) *types.NsxtL2VpnTunnel {
	return &types.NsxtL2VpnTunnel{
		Name: name, SessionMode: "SERVER", Enabled: true,
		LocalEndpointIp: "203.0.113.11", RemoteEndpointIp: "198.51.100.7",
		ConnectorInitiationMode: "INITIATOR", PreSharedKey: "VMware1!VMware1!",
		StretchedNetworks: []types.EdgeL2VpnStretchedNetwork{{
			NetworkRef: types.OpenApiReference{Name: tr.net.OpenApiOrgVdcNetwork.Name, ID: tr.net.OpenApiOrgVdcNetwork.ID},
			TunnelID:   tunnelID,
		}},
	}
}

func tunnelStatus(t *testing.T, c *govcd.VCDClient, egwID, tunnelID string) *types.EdgeL2VpnTunnelStatus {
	t.Helper()
	u := must(c.Client.OpenApiBuildEndpoint(fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnelStatus, egwID, tunnelID)))(t)
	st := &types.EdgeL2VpnTunnelStatus{}
	if err := c.Client.OpenApiGetItem("37.0", u, nil, st, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestNetworkLifecycle(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	tr := newTrunk(t, c)
	n := tr.net.OpenApiOrgVdcNetwork
	if n.ID == "" || n.Connection.RouterRef.Name != "company-edge" || n.Status != "REALIZED" {
		t.Fatalf("created network %+v", n)
	}
	if _, err := tr.vdc.CreateOpenApiOrgVdcNetwork(n); err == nil {
		t.Fatal("duplicate network name accepted")
	}

	upd := *n
	upd.Connection = &types.Connection{RouterRef: n.Connection.RouterRef, ConnectionTypeValue: "SUBINTERFACE"}
	got := must(tr.net.Update(&upd))(t)
	if got.OpenApiOrgVdcNetwork.Connection.ConnectionTypeValue != "SUBINTERFACE" {
		t.Fatalf("after update: %+v", got.OpenApiOrgVdcNetwork.Connection)
	}
	again := must(tr.vdc.GetOpenApiOrgVdcNetworkByName("company-network"))(t)
	if again.OpenApiOrgVdcNetwork.Connection.ConnectionTypeValue != "SUBINTERFACE" {
		t.Fatal("update not persisted")
	}
	if err := got.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.vdc.GetOpenApiOrgVdcNetworkById(n.ID); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted network: %v", err)
	}
}

func TestTunnelCreateReadPage(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	tr := newTrunk(t, c)

	tun := must(tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("l2vpn-server", 4001)))(t)
	v := tun.NsxtL2VpnTunnel
	if v.ID == "" || strings.HasPrefix(v.ID, "urn:") || v.PeerCode == "" {
		t.Fatalf("tunnel %+v", v)
	}
	pc, err := ParsePeerCode(v.PeerCode)
	if err != nil {
		t.Fatal(err)
	}
	if pc.LocalEndpointIP != "203.0.113.11" || pc.PSK != "VMware1!VMware1!" || len(pc.Tunnels) != 1 || pc.Tunnels[0].PeerID != "198.51.100.7" {
		t.Fatalf("peer code %+v", pc)
	}

	// Bad local endpoint: not an address of the edge gateway.
	bad := tr.tunnelSpec("bad", 5)
	bad.LocalEndpointIp = "192.0.2.1"
	if _, err := tr.egw.CreateL2VpnTunnel(bad); err == nil || !strings.Contains(err.Error(), "localEndpointIP") {
		t.Fatalf("bad endpoint: %v", err)
	}

	for i := range 4 {
		must(tr.egw.CreateL2VpnTunnel(tr.tunnelSpec(fmt.Sprintf("extra-%d", i), 10+i)))(t)
	}
	all := must(tr.egw.GetAllL2VpnTunnels(url.Values{"pageSize": {"2"}}))(t)
	if len(all) != 5 {
		t.Fatalf("paged listing returned %d tunnels, want 5", len(all))
	}
	used := must(tr.egw.GetUsedIpAddresses(nil))(t)
	if len(used) < 2 {
		t.Fatalf("tunnel endpoint not in used IPs: %+v", used)
	}

	byName := must(tr.egw.GetL2VpnTunnelByName("l2vpn-server"))(t)
	spec := tr.tunnelSpec("l2vpn-server", 4001)
	spec.Description = "updated"
	spec.Enabled = false
	upd := must(byName.Update(spec))(t)
	if upd.NsxtL2VpnTunnel.Description != "updated" || upd.NsxtL2VpnTunnel.Version.Version != 2 {
		t.Fatalf("updated tunnel %+v", upd.NsxtL2VpnTunnel)
	}
	if err := upd.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.egw.GetL2VpnTunnelById(v.ID); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted tunnel: %v", err)
	}
	if _, ok := env.srv.Fabric.ServerByPeerCode(v.PeerCode); ok {
		t.Fatal("deleted tunnel still in the fabric")
	}
}

// TestStretchStatus: the tunnel is DOWN until a client session built from
// its peer code with a matching tunnel id joins the fabric. A SERVER
// session's tunnel ids are Cloud Director's: the one the client sent is
// ignored, and an update keeps the assigned one whatever it sends.
func TestStretchStatus(t *testing.T) {
	fabric := stretch.New()
	env := start(t, Config{Fabric: fabric})
	c := env.tenant(t)
	tr := newTrunk(t, c)
	tun := must(tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("l2vpn-server", 4001)))(t).NsxtL2VpnTunnel
	egwID := tr.egw.EdgeGateway.ID
	if len(tun.StretchedNetworks) != 1 {
		t.Fatalf("stretched %+v", tun.StretchedNetworks)
	}
	id := tun.StretchedNetworks[0].TunnelID
	if id == 4001 || id < 1 || id > 4093 {
		t.Fatalf("the server session kept the tunnel id the client sent, or assigned one out of range: %d", id)
	}

	st := tunnelStatus(t, c, egwID, tun.ID)
	if st.RuntimeStatus != "DOWN" || st.FailureReason == "" {
		t.Fatalf("before the client: %+v", st)
	}
	fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: tun.PeerCode, Enabled: true, TunnelIDs: []int{7}})
	if st := tunnelStatus(t, c, egwID, tun.ID); st.RuntimeStatus != "DOWN" || !strings.Contains(st.FailureReason, "mismatch") {
		t.Fatalf("wrong tunnel id: %+v", st)
	}
	fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: tun.PeerCode, Enabled: true, TunnelIDs: []int{id}})
	if st := tunnelStatus(t, c, egwID, tun.ID); st.RuntimeStatus != "UP" || st.FailureReason != "" {
		t.Fatalf("with the client: %+v", st)
	}

	u := must(c.Client.OpenApiBuildEndpoint(fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnelStatistics, egwID, tun.ID)))(t)
	var stats types.EdgeL2VpnTunnelStatistics
	if err := c.Client.OpenApiGetItem("37.0", u, nil, &stats, nil); err != nil {
		t.Fatal(err)
	}
	if stats.SegmentPath == "" {
		t.Fatalf("metrics %+v", stats)
	}

	// Editing the session keeps its peer code (the client stays UP) unless
	// the IPsec transport changes.
	cur := must(tr.egw.GetL2VpnTunnelById(tun.ID))(t)
	spec := tr.tunnelSpec("l2vpn-server", 4001)
	spec.Description = "stretch of company-network"
	spec.StretchedNetworks[0].TunnelID = 7
	cur = must(cur.Update(spec))(t)
	if cur.NsxtL2VpnTunnel.PeerCode != tun.PeerCode || tunnelStatus(t, c, egwID, tun.ID).RuntimeStatus != "UP" {
		t.Fatal("a description change broke the stretch")
	}
	if got := cur.NsxtL2VpnTunnel.StretchedNetworks[0].TunnelID; got != id {
		t.Fatalf("an update sending tunnel id 7 moved the network from %d to %d", id, got)
	}
	spec.PreSharedKey = "another key"
	cur = must(cur.Update(spec))(t)
	if cur.NsxtL2VpnTunnel.PeerCode == tun.PeerCode || tunnelStatus(t, c, egwID, tun.ID).RuntimeStatus != "DOWN" {
		t.Fatal("a new PSK kept the old peer code or the stretch UP")
	}
	fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: cur.NsxtL2VpnTunnel.PeerCode, Enabled: true, TunnelIDs: []int{id}})

	fabric.SetDown("IKE negotiation failed")
	if st := tunnelStatus(t, c, egwID, tun.ID); st.RuntimeStatus != "DOWN" || st.FailureReason != "IKE negotiation failed" {
		t.Fatalf("forced down: %+v", st)
	}
	// Unknown tunnel ids are 403 for the client (mapped to not found).
	u = must(c.Client.OpenApiBuildEndpoint(fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnelStatus, egwID, "nope")))(t)
	if err := c.Client.OpenApiGetItem("37.0", u, nil, &types.EdgeL2VpnTunnelStatus{}, nil); !govcd.ContainsNotFound(err) {
		t.Fatalf("unknown tunnel: %v", err)
	}
}

// TestTunnelKeyMasked: as Cloud Director 10.5.1 (the version vcdsim
// claims), create, GET and update return the pre-shared key as "******"
// (go-vcloud-director's Test_NsxtL2VpnTunnel); the peer code is in clear on
// a GET of the tunnel and absent from the list; a client that PUTs back the
// masked key it read replaces the key, and the stretch goes DOWN.
func TestTunnelKeyMasked(t *testing.T) {
	fabric := stretch.New()
	env := start(t, Config{Fabric: fabric})
	c := env.tenant(t)
	tr := newTrunk(t, c)
	egwID := tr.egw.EdgeGateway.ID

	params := tr.tunnelSpec("l2vpn-server", 0)
	params.ConnectorInitiationMode = "ON_DEMAND"
	created := must(tr.egw.CreateL2VpnTunnel(params))(t)
	if k := created.NsxtL2VpnTunnel.PreSharedKey; k != "******" {
		t.Fatalf("create returned preSharedKey %q, want ******", k)
	}
	pc, err := ParsePeerCode(created.NsxtL2VpnTunnel.PeerCode)
	if err != nil || pc.PSK != "VMware1!VMware1!" {
		t.Fatalf("peer code of the created tunnel: %+v %v", pc, err)
	}
	fetched := must(tr.egw.GetL2VpnTunnelById(created.NsxtL2VpnTunnel.ID))(t)
	if !reflect.DeepEqual(fetched.NsxtL2VpnTunnel, created.NsxtL2VpnTunnel) {
		t.Fatalf("GET %+v\ndiffers from create %+v", fetched.NsxtL2VpnTunnel, created.NsxtL2VpnTunnel)
	}
	byName := must(tr.egw.GetL2VpnTunnelByName("l2vpn-server"))(t)
	if v := byName.NsxtL2VpnTunnel; v.ID != created.NsxtL2VpnTunnel.ID || v.PreSharedKey != "" || v.PeerCode != "" {
		t.Fatalf("listed tunnel carries key %q / peer code %q", v.PreSharedKey, v.PeerCode)
	}
	fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: created.NsxtL2VpnTunnel.PeerCode, Enabled: true, TunnelIDs: []int{created.NsxtL2VpnTunnel.StretchedNetworks[0].TunnelID}})
	if st := tunnelStatus(t, c, egwID, created.NsxtL2VpnTunnel.ID); st.RuntimeStatus != "UP" {
		t.Fatalf("with the client: %+v", st)
	}

	// An update that sends the key keeps it: the masked answer, same code.
	upd := tr.tunnelSpec("l2vpn-server", 0)
	upd.ConnectorInitiationMode, upd.RemoteEndpointIp = "INITIATOR", "198.51.100.7"
	updated := must(fetched.Update(upd))(t)
	if v := updated.NsxtL2VpnTunnel; v.PreSharedKey != "******" || v.ConnectorInitiationMode != "INITIATOR" || v.PeerCode != created.NsxtL2VpnTunnel.PeerCode {
		t.Fatalf("update with the key: %+v", v)
	}
	if st := tunnelStatus(t, c, egwID, created.NsxtL2VpnTunnel.ID); st.RuntimeStatus != "UP" {
		t.Fatalf("after an update with the key: %+v", st)
	}

	// PUTting back what GET returned sets the key to the six asterisks.
	readBack := *updated.NsxtL2VpnTunnel
	readBack.Description = "edited"
	broken := must(updated.Update(&readBack))(t)
	pc, err = ParsePeerCode(broken.NsxtL2VpnTunnel.PeerCode)
	if err != nil || pc.PSK != "******" {
		t.Fatalf("peer code after PUTting the masked key back: %+v %v", pc, err)
	}
	if st := tunnelStatus(t, c, egwID, created.NsxtL2VpnTunnel.ID); st.RuntimeStatus != "DOWN" {
		t.Fatalf("the client's key still works after the key was replaced: %+v", st)
	}
}
