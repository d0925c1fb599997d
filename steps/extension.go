package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ferry-migrate/ferry/nsx"
	"github.com/ferry-migrate/ferry/vcd"
)

// Step 4: the DC extension. The edge is found at the management address
// step 3 gave the appliance (read back from the appliance VM's OVF
// property; an edge URL in the configuration wins), and waited for while
// the appliance boots; its L2VPN service must run in client mode (ferry sets
// it when the plan allows). The on-prem L2VPN client edge gets a session
// built from the Cloud Director tunnel's peer code (read back from Cloud
// Director as the tenant: it carries the pre-shared key, so ferry never
// stores it), the on-prem network is attached with the tunnel id the server
// gave the cloud network, and the step waits until both ends say UP.

// ExtensionPlan is the DC extension (plan file key extension:).
type ExtensionPlan struct {
	// SessionName is the client session on the edge (default: tunnel.name).
	SessionName string `yaml:"session_name,omitempty"`
	// LocalAddress is the edge's own uplink address for the session
	// (default: appliance.ip, else the tunnel's remote endpoint).
	LocalAddress string `yaml:"local_address,omitempty"`
	// Timeout bounds the wait for the edge's API after the appliance boots,
	// and the wait for both ends to report UP (default 2m each).
	Timeout string `yaml:"timeout,omitempty"`
	// EdgePort is the port of the edge's API at the appliance's management
	// address (default 443, the vendor's).
	EdgePort string `yaml:"edge_port,omitempty"`
	// SetClientMode lets ferry create the edge's L2VPN service in client
	// mode, or switch it to client mode (default true); false: refuse an
	// edge that is not in client mode.
	SetClientMode string `yaml:"set_client_mode,omitempty"`
}

// DefaultExtensionTimeout is how long step 4 waits for the stretch.
const DefaultExtensionTimeout = "2m"

// ErrNotUp is wrapped by the error of a stretch that did not come UP in time.
var ErrNotUp = errors.New("the L2 stretch did not come UP")

// Extension is step 4.
type Extension struct{}

func (*Extension) ID() string    { return "dc-extension" }
func (*Extension) Title() string { return "DC extension" }

func (*Extension) Fields() []Field {
	tunnelName := pick(trunkFields(), "tunnel.name")[0]
	shared := append(pick(trunkFields(), "org", "vdc", "edge_gateway", "network.name", "tunnel.name"),
		pick((&Appliance{}).Fields(), "appliance.datacenter", "appliance.stretched_portgroup", "appliance.name", "appliance.ip")...)
	return append(shared,
		str("extension.session_name", "Edge session", "the L2VPN client session on the on-prem edge (default: tunnel.name)", false,
			func(pf *PlanFile) *string { return &pf.Extension.SessionName }, ValidName, tunnelName.Value),
		str("extension.local_address", "Edge address", "the on-prem edge's own uplink address for the session (default: appliance.ip, else the tunnel's remote endpoint)", false,
			func(pf *PlanFile) *string { return &pf.Extension.LocalAddress }, ValidIPv4, func(pf *PlanFile) string { return pf.Appliance.IP }),
		str("extension.timeout", "UP timeout", "how long to wait for the edge's API after boot, and for both ends of the stretch to report UP, e.g. 2m", false,
			func(pf *PlanFile) *string { return &pf.Extension.Timeout }, validTimeout, fixed(DefaultExtensionTimeout)),
		str("extension.edge_port", "Edge API port", "the port of the edge's API at the appliance's management address (a configured edge URL wins)", false,
			func(pf *PlanFile) *string { return &pf.Extension.EdgePort }, validPort, fixed("443")),
		Field{Key: "extension.set_client_mode", Title: "Set client mode", Bool: true,
			Description: "let ferry put the edge's L2VPN service in client mode (false: refuse an edge that is not)",
			Default:     fixed("true"),
			Get:         func(pf *PlanFile) string { return pf.Extension.SetClientMode },
			Set:         func(pf *PlanFile, v string) { pf.Extension.SetClientMode = v },
			Validate:    validBool},
	)
}

func validPort(v string, _ *PlanFile) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not a TCP port (1-65535)", v)
	}
	return nil
}

func validTimeout(v string, _ *PlanFile) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > time.Hour {
		return fmt.Errorf("%q is not a duration between 1s and 1h (e.g. 2m)", v)
	}
	return nil
}

// extWorld is what step 4 found (read only).
type extWorld struct {
	pf      *PlanFile // with defaults
	timeout time.Duration
	site    *tenantSite
	// tun is the server tunnel; nil when step 2 has yet to create it.
	tun *vcd.Tunnel
	// tunnelID is the id the server gave network.name; 0 until it exists.
	tunnelID int
	// edgeURL is where the edge is (configured, or the appliance's
	// management address); edgeFrom says which.
	edgeURL, edgeFrom string
	// edgeConfigured: edgeURL is the configuration's (edge.url), not the
	// appliance's address on extension.edge_port.
	edgeConfigured bool
	edge           *nsx.Client     // nil: not answering (yet), or no appliance yet
	ownEdge        bool            // edge was dialed here: close it
	edgeDown       error           // why edge is nil
	mode           string          // the edge's L2VPN service mode; "" none
	vlan           int             // the stretched port group's VLAN id (0: untagged)
	sess           *nsx.Session    // nil: not there yet
	att            *nsx.Attachment // nil: not there yet
	conflict       string          // why ferry will not go on ("": none)
	// replace: sess is ferry's own (step 4 made it) but from the peer
	// code of a tunnel that is gone: Apply deletes it and makes it anew.
	replace bool
}

// ownSession says whether step 4 recorded the edge session id as made by
// ferry (not one it found).
func ownSession(env *Env, id string) bool {
	return slices.ContainsFunc(env.State.Get("dc-extension").Resources, func(r Resource) bool {
		return r.Kind == "L2VPN session" && r.ID == id && r.Created
	})
}

func (w *extWorld) close() {
	if w.ownEdge && w.edge != nil {
		w.edge.Close()
	}
}

func (w *extWorld) setClientMode() bool {
	v, _ := strconv.ParseBool(w.pf.Extension.SetClientMode)
	return v
}

func (s *Extension) look(ctx context.Context, env *Env) (*extWorld, error) {
	w, err := s.lookWorld(ctx, env)
	if err == nil && w.conflict == "" && knownEdgePassword(env) == "" && !env.Prompts {
		// Known before anything changes, whether the edge answers yet
		// or not (QA: an appliance found off was powered on by step 3,
		// then step 4 failed for the password).
		w.conflict = "this step logs in to the edge's API with the edge password, and none is set: set " + edgePasswordFrom + "; a run without a terminal cannot ask for it"
	}
	return w, err
}

// lookWorld reads what step 4 works with (the tunnel and its id for the
// network, the stretched port group's VLAN, the edge, its L2VPN service,
// the session and the attachment) and says what would stop it (conflict);
// it changes nothing. look adds the edge password's check.
func (s *Extension) lookWorld(ctx context.Context, env *Env) (*extWorld, error) {
	pf, err := answers(env.Plan(), s.Fields())
	if err != nil {
		return nil, err
	}
	w := &extWorld{pf: pf}
	w.timeout, _ = time.ParseDuration(pf.Extension.Timeout)
	if w.site, err = lookSite(ctx, env, pf); err != nil {
		return nil, err
	}

	egw := w.site.egw.Name
	// A tunnel still to be made by step 2 (or not readable before step 1)
	// is planned for; one that should be there and is not is an error.
	if w.tun, err = findTunnel(ctx, env, w.site.egw, pf.Tunnel.Name); err != nil && !errors.Is(err, errRightsPending) {
		return nil, fmt.Errorf("tunnel.name: %w", err)
	}
	switch {
	case w.tun == nil && !stepPending(ctx, env, "trunk-network"):
		return nil, fmt.Errorf("tunnel.name: no L2 VPN tunnel %q on edge gateway %s; step 2 (trunk-network) creates it: `ferry run --redo=trunk-network,dc-extension` makes it again and connects the edge to it", pf.Tunnel.Name, egw)
	case w.tun != nil:
		var names []string
		for _, sn := range w.tun.Stretched {
			names = append(names, sn.Name)
			if sn.Name == pf.Network.Name {
				w.tunnelID = sn.TunnelID
			}
		}
		if w.tunnelID == 0 && !stepPending(ctx, env, "trunk-network") {
			return nil, fmt.Errorf("network.name: L2 VPN tunnel %q on edge gateway %s does not stretch network %q (it stretches: %v); step 2 (trunk-network) adds it: `ferry run --redo=trunk-network,dc-extension`",
				pf.Tunnel.Name, egw, pf.Network.Name, names)
		}
	}
	if w.vlan, err = stretchedVLAN(ctx, env, pf); err != nil {
		return nil, err
	}
	if err := w.findEdge(ctx, env); err != nil {
		return nil, err
	}
	if w.edge == nil {
		return w, nil
	}
	sv, err := w.edge.L2VPNService(ctx)
	switch {
	case errors.Is(err, nsx.ErrNotFound):
	case err != nil:
		w.close()
		return nil, err
	default:
		w.mode = sv.Mode
	}
	if w.mode != nsx.ModeClient {
		// Sessions exist only in client mode; none can be listed before.
		if !w.setClientMode() {
			w.conflict = w.modeText() + "; ferry needs CLIENT mode and extension.set_client_mode is false: switch it on the edge, or set extension.set_client_mode: true"
		}
		return w, nil
	}
	sess, err := w.edge.SessionByName(ctx, pf.Extension.SessionName)
	switch {
	case errors.Is(err, nsx.ErrNotFound):
		return w, nil
	case err != nil:
		w.close()
		return nil, err
	}
	w.sess = &sess
	if w.tun == nil && stepPending(ctx, env, "trunk-network") && !ownSession(env, sess.ID) {
		// Step 2 is to make the tunnel anew: a new peer code, which a
		// session made elsewhere does not carry (QA: --redo of steps 2 and
		// 4 made the tunnel, then stopped at this session).
		w.conflict = fmt.Sprintf("session %q on edge %s was not made by ferry with this state file, and step 2 is to make L2 VPN tunnel %q anew, with a new peer code that session does not carry; delete the session on the edge or set extension.session_name",
			sess.Name, w.edge.URL(), pf.Tunnel.Name)
		return w, nil
	}
	if w.tun == nil && stepPending(ctx, env, "trunk-network") {
		// Ferry's own session, and step 2 is to make the tunnel anew (a
		// new peer code): the run replaces the session, once the tunnel
		// exists (below). A plan says so now.
		w.replace = true
		return w, nil
	}
	if w.tun != nil {
		for _, t := range sess.TransportTunnels {
			if t.PeerCode != "" && !nsx.SamePeerCode(t.PeerCode, vcd.PeerCode(w.tun)) {
				if ownSession(env, sess.ID) {
					// Made by ferry from a tunnel since deleted and made
					// again (step 2 run again): it is replaced.
					w.replace = true
					return w, nil
				}
				w.conflict = fmt.Sprintf("session %q on edge %s was created from another peer code than tunnel %q's; delete the session on the edge or set extension.session_name",
					sess.Name, w.edge.URL(), pf.Tunnel.Name)
				return w, nil
			}
		}
	}
	if w.tunnelID == 0 {
		return w, nil
	}
	att, err := w.edge.AttachmentByTunnelID(ctx, sess.ID, w.tunnelID)
	switch {
	case errors.Is(err, nsx.ErrNotFound):
	case err != nil:
		w.close()
		return nil, err
	case att.Network != pf.Appliance.StretchedPortgroup:
		w.conflict = fmt.Sprintf("tunnel id %d of session %q already carries on-prem network %q, the plan stretches %q (appliance.stretched_portgroup)",
			w.tunnelID, sess.Name, att.Network, pf.Appliance.StretchedPortgroup)
	default:
		w.att = &att
	}
	return w, nil
}

// peerAddr is the server's address the client connects to.
func (w *extWorld) peerAddr() string {
	if w.tun == nil {
		return "the tunnel's local endpoint"
	}
	return w.tun.LocalEndpointIP
}

// localAddr is the edge's own address in the session.
func (w *extWorld) localAddr() string {
	switch {
	case w.pf.Extension.LocalAddress != "":
		return w.pf.Extension.LocalAddress
	case w.tun != nil:
		return w.tun.RemoteEndpointIP
	}
	return "the tunnel's remote endpoint"
}

// natNote says, when the edge's address is not the tunnel's remote
// endpoint, that the server answers only that endpoint: right behind a NAT
// that translates one into the other, a typing error otherwise (the
// session would stay DOWN).
func (w *extWorld) natNote() string {
	remote := w.pf.Tunnel.RemoteEndpointIP
	if w.tun != nil {
		remote = w.tun.RemoteEndpointIP
	}
	if remote == "" || w.localAddr() == remote {
		return ""
	}
	return fmt.Sprintf("; the server accepts its client from %s only (tunnel.remote_endpoint_ip): the session comes UP only if a NAT between the sites makes %s appear as %s (extension.local_address)",
		remote, w.localAddr(), remote)
}

func (w *extWorld) tunnelIDText() string {
	if w.tunnelID == 0 {
		return "the tunnel id of " + w.pf.Network.Name
	}
	return "tunnel id " + strconv.Itoa(w.tunnelID)
}

func (w *extWorld) plan(ctx context.Context) Plan {
	pf := w.pf
	p := Plan{Step: "dc-extension"}
	name := pf.Extension.SessionName
	if w.edge == nil {
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "edge", Name: w.edgeURL,
			Detail: fmt.Sprintf("%s; not answering yet (%v): the run waits up to %s for its API", w.edgeFrom, w.edgeDown, pf.Extension.Timeout)})
	} else {
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "edge", Name: w.edgeURL, Detail: w.edgeFrom})
	}
	if w.conflict != "" {
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "L2VPN session", Name: name, Detail: w.conflict})
		return p
	}
	switch {
	case w.edge == nil:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "L2VPN service", Name: "client mode",
			Detail: "checked once the edge answers; set to CLIENT if it is not (extension.set_client_mode)"})
	case w.mode == "":
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "L2VPN service", Name: "client mode", Detail: "the edge has no L2VPN service: create it in CLIENT mode"})
	case w.mode != nsx.ModeClient:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "L2VPN service", Name: "client mode", Detail: "is " + w.mode + ": switch it to CLIENT (the edge refuses while it has server sessions)"})
	default:
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "L2VPN service", Name: "client mode", Detail: "CLIENT"})
	}
	switch {
	case w.replace:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "L2VPN session", Name: name,
			Detail: fmt.Sprintf("made by ferry from the peer code of an earlier L2 VPN tunnel %s, since deleted and made again: deleted with its port, and made again on edge %s from the tunnel's peer code: peer %s, local address %s%s",
				pf.Tunnel.Name, w.edgeURL, w.peerAddr(), w.localAddr(), w.natNote()),
			Resource: &Resource{Kind: "L2VPN session", Name: name, ID: w.sess.ID}})
	case w.sess == nil:
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "L2VPN session", Name: name,
			Detail: fmt.Sprintf("on edge %s from the peer code of Cloud Director tunnel %q: peer %s, local address %s%s",
				w.edgeURL, pf.Tunnel.Name, w.peerAddr(), w.localAddr(), w.natNote())})
	case !w.sess.Enabled:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "L2VPN session", Name: name, Detail: "is disabled: enable it",
			Resource: &Resource{Kind: "L2VPN session", Name: name, ID: w.sess.ID}})
	default:
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "L2VPN session", Name: name, Detail: "on edge " + w.edgeURL,
			Resource: &Resource{Kind: "L2VPN session", Name: name, ID: w.sess.ID}})
	}
	pg := pf.Appliance.StretchedPortgroup
	wait := fmt.Sprintf("the run waits up to %s for both ends to report UP", pf.Extension.Timeout)
	switch {
	case w.att == nil:
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "stretched network", Name: pg,
			Detail: fmt.Sprintf("over session %s with %s (Cloud Director network %s), port %s; then %s", name, w.tunnelIDText(), pf.Network.Name, vlanText(w.vlan), wait)})
	case w.att.VLAN != w.vlan:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "stretched network", Name: pg,
			Detail:   fmt.Sprintf("its port carries VLAN %d, port group %s is %s: set the port's VLAN", w.att.VLAN, pg, vlanText(w.vlan)),
			Resource: &Resource{Kind: "stretched network", Name: pg, ID: w.att.ID}})
	default:
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "stretched network", Name: pg,
			Detail:   fmt.Sprintf("over session %s with %s, port %s", name, w.tunnelIDText(), vlanText(w.vlan)),
			Resource: &Resource{Kind: "stretched network", Name: pg, ID: w.att.ID}})
	}
	if w.sess != nil && w.tun != nil {
		// Not a change: what the run will check, as both ends say now.
		edgeSt, vcdSt := w.status(ctx)
		status := fmt.Sprintf("edge session %s, Cloud Director tunnel %s", edgeSt, vcdSt)
		if !bothUp(edgeSt, vcdSt) {
			status += "; " + wait
		}
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "L2 stretch", Name: pf.Network.Name, Detail: status})
	}
	return p
}

func vlanText(v int) string {
	if v == 0 {
		return "untagged (VLAN 0)"
	}
	return fmt.Sprintf("on VLAN %d", v)
}

// status reads both ends once, as text ("UP", "DOWN: reason").
func (w *extWorld) status(ctx context.Context) (edgeSt, vcdSt string) {
	if st, err := w.edge.SessionStatus(ctx, w.sess.ID); err != nil {
		edgeSt = "unknown (" + err.Error() + ")"
	} else {
		edgeSt = st.String()
	}
	t := w.tun
	if st, err := w.site.c.TunnelStatus(w.site.egw.ID, t.ID); err != nil {
		vcdSt = "unknown (" + err.Error() + ")"
	} else {
		vcdSt = tunnelStatusText(st)
	}
	return edgeSt, vcdSt
}

func bothUp(edgeSt, vcdSt string) bool { return edgeSt == "UP" && vcdSt == "UP" }

func tunnelStatusText(st vcd.TunnelStatus) string {
	switch {
	case st.Up:
		return "UP"
	case st.Reason != "":
		return st.Status + ": " + st.Reason
	default:
		return st.Status + " (Cloud Director gives no reason)"
	}
}

// drift says when Cloud Director reports the server tunnel step 4
// connected the edge to as not UP (the edge's session disabled or gone,
// the appliance off): the L2 stretch is down. It reads Cloud Director
// only, so it needs neither the edge nor its password; a tunnel that is
// gone or disabled is step 2's drift.
func (s *Extension) drift(ctx context.Context, env *Env) (string, string) {
	pf, err := answers(env.Plan(), s.Fields())
	if err != nil {
		return "", ""
	}
	site, err := lookSite(ctx, env, pf)
	if err != nil {
		return "", ""
	}
	tun, err := findTunnel(ctx, env, site.egw, pf.Tunnel.Name)
	if err != nil || tun == nil || !tun.Enabled {
		return "", "" // gone or disabled: step 2's drift, mended by its redo
	}
	st, err := site.c.TunnelStatus(site.egw.ID, tun.ID)
	if err != nil || st.Up {
		return "", ""
	}
	return fmt.Sprintf("the L2 stretch is down: Cloud Director reports L2 VPN tunnel %s %s", pf.Tunnel.Name, tunnelStatusText(st)), ""
}

// Plan says what Apply would do; it changes nothing.
func (s *Extension) Plan(ctx context.Context, env *Env) (Plan, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Plan{Step: s.ID()}, err
	}
	defer w.close()
	return w.plan(ctx), nil
}

// Apply creates (or enables) the client session, attaches the on-prem
// network and waits until the edge and Cloud Director both report UP.
func (s *Extension) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Result{}, err
	}
	defer w.close()
	if w.conflict != "" {
		return Result{}, fmt.Errorf("%w, nothing changed: %s", ErrConflict, w.conflict)
	}
	pf := w.pf
	if w.tun == nil || w.tunnelID == 0 {
		return Result{}, fmt.Errorf("L2 VPN tunnel %q on edge gateway %s does not stretch network %q yet: run step 2 (trunk-network)", pf.Tunnel.Name, pf.EdgeGateway, pf.Network.Name)
	}
	peerCode := vcd.PeerCode(w.tun)
	if peerCode == "" {
		return Result{}, fmt.Errorf("Cloud Director gives no peer code for L2 VPN tunnel %q: is the tenant allowed to view L2 VPN (step 1, rights)?", pf.Tunnel.Name)
	}
	var res Result
	change := func(it Item) {
		res.Changes = append(res.Changes, it)
		emit(Changed(it))
	}
	name := pf.Extension.SessionName

	if w.edge == nil {
		if err := w.waitEdge(ctx, env, emit); err != nil {
			return res, err
		}
		// The edge answers now: read what it has (service, session, port).
		fresh, err := s.look(ctx, env)
		if err != nil {
			return res, err
		}
		w.close()
		w = fresh
		defer w.close()
		if w.edge == nil {
			return res, fmt.Errorf("the edge at %s stopped answering: %v", w.edgeURL, w.edgeDown)
		}
		if w.conflict != "" {
			return res, fmt.Errorf("%w, nothing changed: %s", ErrConflict, w.conflict)
		}
	}
	if w.mode != nsx.ModeClient {
		did, err := w.edge.EnsureClientMode(ctx, w.setClientMode())
		if err != nil {
			return res, err
		}
		if did != "" {
			// The change reads as its plan item did: created when the
			// edge had no service, else switched.
			action := ActionUpdate
			if w.mode == "" {
				action = ActionCreate
			}
			change(Item{Action: action, Kind: "L2VPN service", Name: "client mode", Detail: did + " on edge " + w.edgeURL})
		}
		w.mode = nsx.ModeClient
	}
	if w.replace {
		if err := w.edge.DeleteSession(ctx, w.sess.ID); err != nil {
			return res, err
		}
		change(Item{Action: ActionUpdate, Kind: "L2VPN session", Name: name,
			Detail:   fmt.Sprintf("made by ferry from the peer code of an earlier L2 VPN tunnel %s: deleted with its port, to be made again", pf.Tunnel.Name),
			Resource: &Resource{Kind: "L2VPN session", Name: name, ID: w.sess.ID}})
		w.sess, w.att = nil, nil
	}
	emit(Progress("configuring L2VPN client session "+name+" on "+w.edge.URL(), 0.1))
	sess, created, err := w.edge.EnsureSession(ctx, name, peerCode, w.peerAddr(), w.localAddr())
	if err != nil {
		return res, err
	}
	sessRes := &Resource{Kind: "L2VPN session", Name: name, ID: sess.ID}
	if created {
		change(Item{Action: ActionCreate, Kind: "L2VPN session", Name: name,
			Detail: fmt.Sprintf("from the peer code of tunnel %q: peer %s, local address %s", pf.Tunnel.Name, w.peerAddr(), w.localAddr()), Resource: sessRes})
	}
	if !sess.Enabled {
		if sess, err = w.edge.SetSessionEnabled(ctx, sess.ID, true); err != nil {
			return res, err
		}
		change(Item{Action: ActionUpdate, Kind: "L2VPN session", Name: name, Detail: "enabled (was disabled)", Resource: sessRes})
	}
	res.Resources = append(res.Resources, *sessRes)

	pg := pf.Appliance.StretchedPortgroup
	att, err := w.edge.AttachNetwork(ctx, sess.ID, pg, w.vlan, w.tunnelID)
	if err != nil {
		return res, err
	}
	attRes := &Resource{Kind: "stretched network", Name: pg, ID: att.ID}
	switch {
	case w.att == nil:
		change(Item{Action: ActionCreate, Kind: "stretched network", Name: pg,
			Detail: fmt.Sprintf("over session %s with tunnel id %d (Cloud Director network %s), port %s", name, w.tunnelID, pf.Network.Name, vlanText(w.vlan)), Resource: attRes})
	case w.att.VLAN != att.VLAN:
		change(Item{Action: ActionUpdate, Kind: "stretched network", Name: pg,
			Detail: fmt.Sprintf("port VLAN %d -> %d (port group %s is %s)", w.att.VLAN, att.VLAN, pg, vlanText(w.vlan)), Resource: attRes})
	}
	res.Resources = append(res.Resources, *attRes)
	for k, v := range map[string]string{"session_id": sess.ID, "attachment_id": att.ID, "tunnel_id": strconv.Itoa(w.tunnelID)} {
		if err := env.State.SetOutput(s.ID(), k, v); err != nil {
			return res, err
		}
	}

	w.sess = &sess
	if err := w.waitUp(ctx, emit); err != nil {
		return res, err
	}
	emit(Progress("L2 stretch UP: edge session "+name+" and Cloud Director tunnel "+pf.Tunnel.Name, 1))
	return res, nil
}

// waitUp waits for the edge session, then the Cloud Director tunnel, to
// report UP within the plan's timeout, with a progress event whenever what
// either end says changes. The error gives the last word of both ends.
func (w *extWorld) waitUp(ctx context.Context, emit Emit) error {
	// Poll often enough that a short timeout still sees a few answers.
	every := min(max(w.timeout/20, 100*time.Millisecond), 2*time.Second)
	wctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	emit(Progress(fmt.Sprintf("waiting up to %s for both ends to report UP", w.pf.Extension.Timeout), -1))
	last := ""
	say := func(msg string) {
		if msg != last {
			emit(Progress(msg, -1))
			last = msg
		}
	}
	name, tunnel := w.pf.Extension.SessionName, w.pf.Tunnel.Name
	_, err := w.edge.WaitUp(wctx, w.sess.ID, every, func(st nsx.Status) { say("edge session " + name + ": " + st.String()) })
	if err == nil {
		_, err = w.site.c.WaitTunnelUp(wctx, w.site.egw.ID, w.tun.ID, every,
			func(st vcd.TunnelStatus) { say("Cloud Director tunnel " + tunnel + ": " + tunnelStatusText(st)) })
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for the L2 stretch: %w", ctx.Err())
	}
	if wctx.Err() == nil {
		return err // neither end can be asked (credentials, session gone)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer rcancel()
	edgeSt, vcdSt := w.status(rctx)
	return fmt.Errorf("%w within %s (extension.timeout): edge session %q: %s; Cloud Director tunnel %q: %s",
		ErrNotUp, w.pf.Extension.Timeout, name, edgeSt, tunnel, vcdSt)
}

// Verify reads both ends back: the session, the attachment and UP.
func (s *Extension) Verify(ctx context.Context, env *Env) error {
	w, err := s.look(ctx, env)
	if err != nil {
		return err
	}
	defer w.close()
	name := w.pf.Extension.SessionName
	switch {
	case w.conflict != "":
		return errors.New(w.conflict)
	case w.edge == nil:
		return fmt.Errorf("the edge at %s (%s) does not answer: %v", w.edgeURL, w.edgeFrom, w.edgeDown)
	case w.mode != nsx.ModeClient:
		return errors.New(w.modeText() + "; ferry needs CLIENT mode")
	case w.sess == nil:
		return fmt.Errorf("L2VPN session %q does not exist on edge %s", name, w.edgeURL)
	case w.att == nil:
		return fmt.Errorf("network %q is not stretched over L2VPN session %q with tunnel id %d", w.pf.Appliance.StretchedPortgroup, name, w.tunnelID)
	case w.att.VLAN != w.vlan:
		return fmt.Errorf("the edge port of network %q carries VLAN %d; the port group is %s", w.pf.Appliance.StretchedPortgroup, w.att.VLAN, vlanText(w.vlan))
	case w.tun == nil:
		return fmt.Errorf("L2 VPN tunnel %q does not exist", w.pf.Tunnel.Name)
	}
	if edgeSt, vcdSt := w.status(ctx); !bothUp(edgeSt, vcdSt) {
		return fmt.Errorf("%w: edge session %q: %s; Cloud Director tunnel %q: %s", ErrNotUp, name, edgeSt, w.pf.Tunnel.Name, vcdSt)
	}
	return nil
}
