package vcdsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

// tunnel is an L2 VPN session of an NSX-T edge gateway.
type tunnel struct {
	types.NsxtL2VpnTunnel
	created time.Time
}

// PeerCode is the decoded content of an L2 VPN server's peer code, which
// the client side (the on-prem edge) is configured from. The wire form is
// base64("0,<crc32 of json>,<json>"), like NSX-T's. It carries the IPsec
// transport (local endpoint IP, PSK, IKE tunnel ids localId/peerId), not the
// stretched networks: like NSX, the code stays the same when networks are
// added to or removed from the session, so a configured client keeps
// working; the segments' tunnel ids are read from stretchedNetworks.
type PeerCode struct {
	SiteName          string       `json:"siteName"`
	SrcTapIP          string       `json:"srcTapIp"`
	DstTapIP          string       `json:"dstTapIp"`
	IkeOption         string       `json:"ikeOption"`
	EncapsProto       string       `json:"encapsProto"`
	DHGroups          []string     `json:"dhGroups"`
	EncryptAndDigests []string     `json:"encryptAndDigests"`
	PSK               string       `json:"psk"`
	LocalEndpointIP   string       `json:"localEndpointIp"`
	RemoteEndpointIP  string       `json:"remoteEndpointIp"`
	Tunnels           []PeerTunnel `json:"tunnels"`
}

// PeerTunnel is the IKE identity of one transport tunnel of a peer code.
type PeerTunnel struct {
	LocalID    string `json:"localId"`
	PeerID     string `json:"peerId"`
	LocalVtiIP string `json:"localVtiIp"`
}

// Encode renders the peer code in its base64 wire form.
func (p PeerCode) Encode() string {
	b, _ := json.Marshal(p)
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "0,%08x,%s", crc32.ChecksumIEEE(b), b))
}

// ParsePeerCode decodes and checks a peer code.
func ParsePeerCode(code string) (PeerCode, error) {
	var p PeerCode
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code))
	if err != nil {
		return p, fmt.Errorf("peer code: not base64: %w", err)
	}
	parts := strings.SplitN(string(raw), ",", 3)
	if len(parts) != 3 || parts[0] != "0" {
		return p, errors.New("peer code: want \"0,<checksum>,{json}\"")
	}
	if sum, err := strconv.ParseUint(parts[1], 16, 32); err != nil || uint32(sum) != crc32.ChecksumIEEE([]byte(parts[2])) {
		return p, errors.New("peer code: checksum mismatch (truncated or edited?)")
	}
	if err := json.Unmarshal([]byte(parts[2]), &p); err != nil {
		return p, fmt.Errorf("peer code: %w", err)
	}
	return p, nil
}

func (t *tunnel) tunnelIDs() []int {
	var ids []int
	for _, s := range t.StretchedNetworks {
		ids = append(ids, s.TunnelID)
	}
	return ids
}

func (t *tunnel) peerCode() string {
	return PeerCode{
		SiteName: t.Name, SrcTapIP: "169.254.64.1", DstTapIP: "169.254.64.2",
		IkeOption: "IKEv2", EncapsProto: "gre/ipsec", DHGroups: []string{"GROUP14"},
		EncryptAndDigests: []string{"AES_GCM_128"}, PSK: t.PreSharedKey,
		LocalEndpointIP: t.LocalEndpointIp, RemoteEndpointIP: t.RemoteEndpointIp,
		Tunnels: []PeerTunnel{{LocalID: t.LocalEndpointIp, PeerID: t.RemoteEndpointIp, LocalVtiIP: "169.254.64.1/31"}},
	}.Encode()
}

// publish registers a server tunnel in the stretch fabric.
func (s *Server) publish(t *tunnel) {
	if t.SessionMode != "SERVER" {
		return
	}
	nets := map[int]string{}
	for _, sn := range t.StretchedNetworks {
		nets[sn.TunnelID] = sn.NetworkRef.Name
	}
	s.Fabric.PutServer(stretch.ServerTunnel{ID: t.ID, PeerCode: t.PeerCode, Enabled: t.Enabled, TunnelIDs: t.tunnelIDs(), Networks: nets,
		LocalEndpointIP: t.LocalEndpointIp, RemoteEndpointIP: t.RemoteEndpointIp})
}

func (c *reqCtx) tunnelFromPath(e *edge) *tunnel {
	for _, t := range e.tunnels {
		if t.ID == c.r.PathValue("id") {
			return t
		}
	}
	c.notFound("l2vpnTunnel", c.r.PathValue("id"))
	return nil
}

// maskedKey is what Cloud Director 10.5.1 and later return in place of a
// tunnel's pre-shared key, on create, GET and update alike
// (go-vcloud-director's Test_NsxtL2VpnTunnel checks for it; its CHANGELOG:
// "started returning ****** instead of PSK itself when performing GET").
const maskedKey = "******"

// view is the tunnel as a GET of the tunnel answers it: the pre-shared key
// masked, the peer code (which does carry the key) in clear.
func (t *tunnel) view() *types.NsxtL2VpnTunnel {
	v := t.NsxtL2VpnTunnel
	v.StretchedNetworks = slices.Clone(v.StretchedNetworks)
	if v.PreSharedKey != "" {
		v.PreSharedKey = maskedKey
	}
	return &v
}

// listView is the tunnel as the list of an edge's tunnels shows it: without
// peer code and pre-shared key, which only a GET of the tunnel returns
// (terraform-provider-vcd reads a tunnel found by name again by id for them).
func (t *tunnel) listView() *types.NsxtL2VpnTunnel {
	v := t.view()
	v.PeerCode, v.PreSharedKey = "", ""
	return v
}

func handleTunnels(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: View L2 VPN") {
		return
	}
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	var items []any
	for _, t := range e.tunnels {
		items = append(items, t.listView())
	}
	c.writePage(items, jsonField)
}

func handleTunnel(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: View L2 VPN") {
		return
	}
	if e := c.edgeFromPath(); e != nil {
		if t := c.tunnelFromPath(e); t != nil {
			c.json(http.StatusOK, t.view())
		}
	}
}

// validateTunnel checks a tunnel definition against the edge (as NSX-T
// would) and fills defaults; it answers 400 and returns false otherwise.
func (c *reqCtx) validateTunnel(e *edge, in *types.NsxtL2VpnTunnel, self *tunnel) bool {
	bad := func(format string, args ...any) bool {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", format, args...)
		return false
	}
	if in.Name == "" {
		return bad("name: must not be empty")
	}
	for _, t := range e.tunnels {
		if t != self && t.Name == in.Name {
			return bad("An L2 VPN tunnel named %q already exists on edge gateway %s", in.Name, e.Name)
		}
	}
	if in.SessionMode != "SERVER" && in.SessionMode != "CLIENT" {
		return bad("sessionMode %q: must be SERVER or CLIENT", in.SessionMode)
	}
	if !slices.Contains(e.uplinkIPs, in.LocalEndpointIp) {
		return bad("localEndpointIP %q is not an IP address allocated to edge gateway %s (allocated: %s)",
			in.LocalEndpointIp, e.Name, strings.Join(e.uplinkIPs, ", "))
	}
	if _, err := netip.ParseAddr(in.RemoteEndpointIp); err != nil {
		return bad("remoteEndpointIP %q is not an IP address", in.RemoteEndpointIp)
	}
	switch in.ConnectorInitiationMode {
	case "":
		in.ConnectorInitiationMode = "INITIATOR"
	case "INITIATOR", "RESPOND_ONLY", "ON_DEMAND":
	default:
		return bad("connectorInitiationMode %q: must be INITIATOR, RESPOND_ONLY or ON_DEMAND", in.ConnectorInitiationMode)
	}
	if in.SessionMode == "SERVER" && in.PreSharedKey == "" {
		return bad("preSharedKey: required for a SERVER session")
	}
	if in.SessionMode == "CLIENT" && in.PeerCode == "" {
		return bad("peerCode: required for a CLIENT session")
	}
	used := map[int]bool{}
	for i := range in.StretchedNetworks {
		s := &in.StretchedNetworks[i]
		var n *network
		for _, x := range c.m.networks {
			if x.ID == s.NetworkRef.ID || (s.NetworkRef.ID == "" && x.Name == s.NetworkRef.Name) {
				n = x
			}
		}
		if n == nil {
			return bad("stretchedNetworks: org VDC network %q (%s) does not exist", s.NetworkRef.Name, s.NetworkRef.ID)
		}
		if n.Connection == nil || n.Connection.RouterRef.ID != e.ID {
			return bad("stretchedNetworks: network %q is not connected to edge gateway %s", n.Name, e.Name)
		}
		s.NetworkRef = types.OpenApiReference{Name: n.Name, ID: n.ID}
		if in.SessionMode == "SERVER" {
			continue // assigned below, whatever the client sent
		}
		if s.TunnelID < 0 || s.TunnelID > 4093 || used[s.TunnelID] && s.TunnelID != 0 {
			return bad("stretchedNetworks: tunnelId %d must be unique and between 1 and 4093", s.TunnelID)
		}
		used[s.TunnelID] = true
	}
	if in.SessionMode == "SERVER" {
		assignServerTunnelIDs(in, self)
		return true
	}
	next := 1
	for i := range in.StretchedNetworks {
		if in.StretchedNetworks[i].TunnelID == 0 {
			for used[next] {
				next++
			}
			in.StretchedNetworks[i].TunnelID = next
			used[next] = true
		}
	}
	return true
}

// firstServerTunnelID is where the lab starts the tunnel ids it assigns
// in a SERVER session. How NSX picks them is not documented; the lab does
// not start at 1, the id a client would write itself, so that a client
// that assumes its own ids instead of reading the assigned ones back fails
// in the lab.
const firstServerTunnelID = 101

// assignServerTunnelIDs gives each network a SERVER session stretches its
// tunnel id: for a SERVER session the stretched networks' tunnelId is read
// only (VMware Cloud Director OpenAPI 37.2, EdgeL2VpnStretchedNetwork: "For
// server sessions this is read only. Ranges from (1-4093)"), so what the
// client sent is ignored: a network the tunnel already stretched (old, on
// an update) keeps its id, a new one gets the lowest free id from
// firstServerTunnelID.
func assignServerTunnelIDs(in *types.NsxtL2VpnTunnel, old *tunnel) {
	had := map[string]int{}
	if old != nil {
		for _, s := range old.StretchedNetworks {
			had[s.NetworkRef.ID] = s.TunnelID
		}
	}
	used := map[int]bool{}
	for i := range in.StretchedNetworks {
		s := &in.StretchedNetworks[i]
		s.TunnelID = had[s.NetworkRef.ID]
		used[s.TunnelID] = s.TunnelID != 0
	}
	next := firstServerTunnelID
	for i := range in.StretchedNetworks {
		if s := &in.StretchedNetworks[i]; s.TunnelID == 0 {
			for used[next] {
				next++
			}
			s.TunnelID, used[next] = next, true
		}
	}
}

// handleCreateTunnel answers 202; the task's Details hold the tunnel id,
// which is where the client looks for it.
func handleCreateTunnel(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: Configure L2 VPN") {
		return
	}
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	var in types.NsxtL2VpnTunnel
	if !c.readJSON(&in) || !c.validateTunnel(e, &in, nil) {
		return
	}
	t := &tunnel{NsxtL2VpnTunnel: in, created: time.Now()}
	t.ID = newUUID()
	t.Version.Version = 1
	if t.SessionMode == "SERVER" {
		t.PeerCode = t.peerCode()
	}
	e.tunnels = append(e.tunnels, t)
	c.s.publish(t)
	c.tunnelTask(e, t, "Create", "Creating", true)
}

func handleUpdateTunnel(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: Configure L2 VPN") {
		return
	}
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	t := c.tunnelFromPath(e)
	if t == nil {
		return
	}
	var in types.NsxtL2VpnTunnel
	if !c.readJSON(&in) || !c.validateTunnel(e, &in, t) {
		return
	}
	if in.SessionMode != t.SessionMode {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "sessionMode cannot be changed after creation")
		return
	}
	if in.Version.Version != 0 && in.Version.Version != t.Version.Version {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "version %d is stale: the tunnel is at version %d", in.Version.Version, t.Version.Version)
		return
	}
	// The key is taken as sent, like any other string: a client that
	// PUTs back the masked key it read sets the key to six asterisks, and
	// the peer code changes with it (a configured client side loses the
	// session). Whether vCD would rather refuse "******" is not documented;
	// either way the key the client side holds no longer works.
	old := t.NsxtL2VpnTunnel
	t.NsxtL2VpnTunnel = in
	t.ID, t.Version.Version, t.PeerCode = old.ID, old.Version.Version+1, old.PeerCode
	// A new code only when the IPsec transport changes (see PeerCode).
	if t.SessionMode == "SERVER" && (in.Name != old.Name || in.PreSharedKey != old.PreSharedKey ||
		in.LocalEndpointIp != old.LocalEndpointIp || in.RemoteEndpointIp != old.RemoteEndpointIp) {
		t.PeerCode = t.peerCode()
	}
	c.s.publish(t)
	c.tunnelTask(e, t, "Update", "Updating", true)
}

func handleDeleteTunnel(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: Configure L2 VPN") {
		return
	}
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	t := c.tunnelFromPath(e)
	if t == nil {
		return
	}
	e.tunnels = slices.DeleteFunc(e.tunnels, func(x *tunnel) bool { return x == t })
	c.s.Fabric.DeleteServer(t.ID)
	c.tunnelTask(e, t, "Delete", "Deleting", false)
}

// tunnelTask answers 202 with the task of a tunnel operation; create and
// update put the tunnel id in the task's Details, as vCD does.
func (c *reqCtx) tunnelTask(e *edge, t *tunnel, op, verb string, details bool) {
	task := c.m.newTask(c, "nsxtL2VpnTunnel"+op, verb+" L2 VPN tunnel "+t.Name,
		types.Reference{ID: t.ID, Name: t.Name, Type: "l2vpnTunnel", HREF: "/cloudapi/1.0.0/edgeGateways/" + e.ID + "/l2vpn/tunnels/" + t.ID}, nil)
	task.lock(e.ID) // NSX-T edge gateway changes run one at a time
	if details {
		task.details = t.ID
	}
	c.accepted(task)
}

func (c *reqCtx) tunnelStatus(t *tunnel) types.EdgeL2VpnTunnelStatus {
	if t.SessionMode != "SERVER" {
		return types.EdgeL2VpnTunnelStatus{RuntimeStatus: "DOWN", FailureReason: "CLIENT sessions of the vCD edge gateway are not connected in the lab"}
	}
	st := c.s.Fabric.ServerStatus(t.ID)
	if st.Up {
		return types.EdgeL2VpnTunnelStatus{RuntimeStatus: "UP"}
	}
	return types.EdgeL2VpnTunnelStatus{RuntimeStatus: "DOWN", FailureReason: st.Reason}
}

func handleTunnelStatus(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: View L2 VPN") {
		return
	}
	if e := c.edgeFromPath(); e != nil {
		if t := c.tunnelFromPath(e); t != nil {
			c.json(http.StatusOK, c.tunnelStatus(t))
		}
	}
}

// handleTunnelMetrics reports traffic only while the stretch is UP; the
// counters grow with time so that successive reads differ.
func handleTunnelMetrics(c *reqCtx) {
	if !c.allowed("Organization vDC Gateway: View L2 VPN") {
		return
	}
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	t := c.tunnelFromPath(e)
	if t == nil {
		return
	}
	st := types.EdgeL2VpnTunnelStatistics{SegmentPath: "/infra/segments/" + nameUUID("segment", t.ID)}
	if c.tunnelStatus(t).RuntimeStatus == "UP" {
		ms := int(time.Since(t.created).Milliseconds())
		st.PacketsIn, st.PacketsOut = ms/4, ms/5
		st.BytesIn, st.BytesOut = st.PacketsIn*700, st.PacketsOut*650
		st.BumPacketsIn, st.BumPacketsOut = ms/100, ms/120
		st.BumBytesIn, st.BumBytesOut = st.BumPacketsIn*60, st.BumPacketsOut*60
	}
	c.json(http.StatusOK, st)
}
