package steps

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/nsx"
	"github.com/ferry-migrate/ferry/vcd"
)

// Step 2: the cloud half of the stretch, as the tenant's org administrator
// (what step 1 granted is what makes this work on a real Cloud Director): a
// routed org VDC network on the tenant's NSX-T edge gateway, and the L2 VPN
// server session on that gateway stretching it. The session's pre-shared
// key comes from FERRY_L2VPN_PSK or is generated; it is never written
// anywhere by ferry (step 4 reads the peer code, which carries it, back
// from Cloud Director). Cloud Director 10.5.1 and later show the key as
// "******"; an update of the tunnel (a PUT of all of it) must carry the real
// key, so ferry takes FERRY_L2VPN_PSK or, when that is unset, the key the
// tunnel's peer code carries (the key ferry generated), held in memory only.

// Trunk is step 2.
type Trunk struct{}

func (*Trunk) ID() string      { return "trunk-network" }
func (*Trunk) Title() string   { return "Trunk network" }
func (*Trunk) Fields() []Field { return trunkFields() }

// Keys of the step 2 outputs recorded in the state.
const (
	OutEdgeGatewayID   = "edge_gateway_id"
	OutNetworkID       = "network_id"
	OutTunnelID        = "tunnel_id"
	OutLocalEndpointIP = "local_endpoint_ip"
	// OutPSK says where the pre-shared key came from ("generated" or the
	// environment variable), never the key.
	OutPSK = "pre_shared_key"
)

// tenantSite is the tenant's VDC and edge gateway of the plan.
type tenantSite struct {
	c   *vcd.Client
	vdc *vcd.VDC
	egw *vcd.EdgeGateway
}

// lookSite logs in as the tenant and finds the plan's org, VDC and edge
// gateway; the errors name the plan key and list what exists.
func lookSite(ctx context.Context, env *Env, pf *PlanFile) (*tenantSite, error) {
	c, err := env.Tenant(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.OrgByName(pf.Org); err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	vdc, err := c.VDCByName(pf.Org, pf.VDC)
	if err != nil {
		return nil, fmt.Errorf("vdc: %w", err)
	}
	egw, err := c.EdgeGatewayByName(vdc, pf.EdgeGateway)
	if err != nil {
		return nil, fmt.Errorf("edge_gateway: %w", err)
	}
	return &tenantSite{c: c, vdc: vdc, egw: egw}, nil
}

// errRightsPending is returned by findTunnel when Cloud Director refuses to
// show the tenant its L2 VPN tunnels and step 1, which grants that right,
// has yet to run: planning goes on as if there were none.
var errRightsPending = errors.New("the tenant may read L2 VPN tunnels only once step 1 (rights) has run")

// findTunnel is vcd.FindTunnel, with Cloud Director's refusal told apart
// while step 1 is pending.
func findTunnel(ctx context.Context, env *Env, egw *vcd.EdgeGateway, name string) (*vcd.Tunnel, error) {
	t, err := vcd.FindTunnel(egw, name)
	switch {
	case !errors.Is(err, vcd.ErrForbidden):
		return t, err
	case stepPending(ctx, env, "rights"):
		return nil, errRightsPending
	}
	return nil, fmt.Errorf("%w; the tenant lacks the L2 VPN rights: run step 1 (rights), or have the provider grant them", err)
}

// stepPending reports whether step id is still to run in this itinerary:
// not done, or done and to run again in the run under way (--redo; QA:
// with the tunnel deleted, --redo=trunk-network,dc-extension was refused by
// step 4's plan, which said step 2 must make it again).
func stepPending(ctx context.Context, env *Env, id string) bool {
	if slices.Contains(env.Plan().Skip, id) {
		return false
	}
	if redoing(ctx, id) {
		return true
	}
	return env.State.Status(id) != StatusDone
}

// trunkWorld is what step 2 found (read only).
type trunkWorld struct {
	pf   *PlanFile // with defaults
	site *tenantSite
	net  *vcd.Network // nil: not there yet
	tun  *vcd.Tunnel  // nil: not there yet
	// netConflict and tunConflict say why ferry will not touch the
	// network or the tunnel of the plan's name ("": no conflict).
	netConflict, tunConflict string
	drift                    []string // how tun differs from the plan
	// key is tun's pre-shared key, for an update ("": not known).
	key string
	// unreadable: the tenant may not read L2 VPN tunnels before step 1.
	unreadable bool
	// elsewhere lists the on-prem VMs on the stretched port group whose
	// addresses are outside network.gateway_cidr ("WebApp1 172.16.10.11").
	elsewhere []string
}

func (s *Trunk) look(ctx context.Context, env *Env) (*trunkWorld, error) {
	pf, err := answers(env.Plan(), s.Fields())
	if err != nil {
		return nil, err
	}
	if pf.Tunnel.RemoteEndpointIP == "" {
		return nil, &ValidationError{Path: env.Plan().path, Errs: []error{&FieldError{"tunnel.remote_endpoint_ip",
			errors.New("is required: the address the on-prem L2VPN client connects from (or set appliance.ip)")}}}
	}
	w := &trunkWorld{pf: pf}
	if w.site, err = lookSite(ctx, env, pf); err != nil {
		return nil, err
	}
	w.net, err = vcd.FindNetwork(w.site.vdc, w.site.egw, w.netSpec())
	if errors.Is(err, vcd.ErrConflict) {
		w.netConflict, err = err.Error(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("network.name: %w", err)
	}
	if w.tun, err = findTunnel(ctx, env, w.site.egw, pf.Tunnel.Name); errors.Is(err, errRightsPending) {
		w.unreadable, err = true, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel.name: %w", err)
	}
	if w.tun != nil {
		w.checkTunnel()
	}
	if w.elsewhere, err = onpremOutside(ctx, env, pf); err != nil {
		return nil, err
	}
	return w, nil
}

// onpremOutside lists the on-prem VMs on the stretched port group whose
// guest addresses are outside the stretched network's subnet: the stretch
// would join two subnets (nil when no on-prem vCenter is configured).
func onpremOutside(ctx context.Context, env *Env, pf *PlanFile) ([]string, error) {
	if env.Config == nil || env.Config.OnPrem.URL == "" {
		return nil, nil
	}
	prefix, err := netip.ParsePrefix(pf.Network.GatewayCIDR)
	if err != nil {
		return nil, nil // the field's own check says what is wrong
	}
	pg := pf.Appliance.StretchedPortgroup
	if pg == "" {
		pg = pf.Network.Name
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	vms, err := onprem.VMs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, vm := range vms {
		ip, err := netip.ParseAddr(vm.GuestIP)
		if err != nil || vm.Template || !slices.Contains(vm.Networks, pg) {
			continue
		}
		if !prefix.Masked().Contains(ip) {
			out = append(out, vm.Name+" "+vm.GuestIP)
		}
	}
	return out, nil
}

func (w *trunkWorld) netSpec() vcd.NetworkSpec {
	return vcd.NetworkSpec{Name: w.pf.Network.Name, GatewayCIDR: w.pf.Network.GatewayCIDR, Description: "stretched to on-prem by ferry"}
}

// tunnelSpec is the server session the plan asks for (Networks: the network
// when it exists).
func (w *trunkWorld) tunnelSpec() vcd.TunnelSpec {
	spec := vcd.TunnelSpec{Name: w.pf.Tunnel.Name, LocalEndpointIP: w.pf.Tunnel.LocalEndpointIP,
		RemoteEndpointIP: w.pf.Tunnel.RemoteEndpointIP, Enabled: true}
	if w.net != nil {
		spec.Networks = []*vcd.Network{w.net}
	}
	return spec
}

// checkTunnel compares the existing tunnel with the plan: endpoints and
// mode are conflicts (changing them would cut a running stretch), a
// network not stretched or a disabled tunnel is drift that Apply mends.
func (w *trunkWorld) checkTunnel() {
	t := w.tun
	conflict := func(format string, a ...any) {
		w.tunConflict = fmt.Sprintf(format, a...) + "; delete the tunnel in Cloud Director or fix the plan"
	}
	switch {
	case t.SessionMode != "SERVER":
		conflict("it is a %s session, ferry needs a SERVER session", t.SessionMode)
		return
	case t.RemoteEndpointIP != w.pf.Tunnel.RemoteEndpointIP:
		conflict("its remote endpoint is %s, the plan says %s (tunnel.remote_endpoint_ip)", t.RemoteEndpointIP, w.pf.Tunnel.RemoteEndpointIP)
		return
	case w.pf.Tunnel.LocalEndpointIP != "" && t.LocalEndpointIP != w.pf.Tunnel.LocalEndpointIP:
		conflict("its local endpoint is %s, the plan says %s (tunnel.local_endpoint_ip)", t.LocalEndpointIP, w.pf.Tunnel.LocalEndpointIP)
		return
	}
	// The key: what the tunnel's peer code carries, else FERRY_L2VPN_PSK
	// (taken to be the key the tunnel was made with); never the masked
	// value Cloud Director returns as preSharedKey.
	env := os.Getenv(EnvL2VPNPSK)
	if pc, err := nsx.DecodePeerCode(vcd.PeerCode(w.tun)); err == nil && pc.PSK != "" && pc.PSK != vcd.MaskedKey {
		if env != "" && env != pc.PSK {
			conflict("its pre-shared key is not the one in %s, and ferry does not change the key of an existing tunnel (the on-prem client holds it): unset %s or set it to the tunnel's key", EnvL2VPNPSK, EnvL2VPNPSK)
			return
		}
		w.key = pc.PSK
	} else {
		w.key = env
	}
	w.drift = vcd.TunnelDrift(w.tun, w.tunnelSpec())
	if w.net == nil {
		// Not there yet: TunnelDrift compares only networks that exist.
		w.drift = append([]string{fmt.Sprintf("network %s is not stretched", w.pf.Network.Name)}, w.drift...)
	}
	if len(w.drift) > 0 && w.key == "" {
		conflict("ferry must update it (%s) and the update has to carry its pre-shared key, which Cloud Director does not return and its peer code does not show: set %s to the tunnel's key",
			strings.Join(w.drift, ", "), EnvL2VPNPSK)
	}
}

func (w *trunkWorld) netDetail() string {
	return fmt.Sprintf("NAT_ROUTED %s on edge gateway %s in %s", w.pf.Network.GatewayCIDR, w.pf.EdgeGateway, w.pf.VDC)
}

func pskSource() string {
	if os.Getenv(EnvL2VPNPSK) != "" {
		return "from " + EnvL2VPNPSK
	}
	return "generated"
}

func (w *trunkWorld) tunnelDetail(local string) string {
	if local == "" {
		local = "a free address of the edge gateway's uplink"
	}
	return fmt.Sprintf("SERVER on %s, local endpoint %s, remote endpoint %s, stretches %s, pre-shared key %s (never stored)",
		w.pf.EdgeGateway, local, w.pf.Tunnel.RemoteEndpointIP, w.pf.Network.Name, pskSource())
}

func (w *trunkWorld) plan() Plan {
	egw := w.site.egw
	p := Plan{Step: "trunk-network"}
	p.Items = append(p.Items, Item{Action: ActionExists, Kind: "edge gateway", Name: egw.Name, Detail: "in VDC " + w.pf.VDC,
		Resource: &Resource{Kind: "edge gateway", Name: egw.Name, ID: egw.ID}})
	if len(w.elsewhere) > 0 {
		detail := fmt.Sprintf("on-prem VMs on the stretched port group use addresses outside it (%s): the stretch would join two subnets; correct network.gateway_cidr", strings.Join(w.elsewhere, ", "))
		act := ActionConflict
		if w.pf.Network.OtherSubnetOK {
			act, detail = ActionExists, "acknowledged (network.other_subnet_ok): "+detail
		} else {
			detail += ", or set network.other_subnet_ok: true if this is intended"
		}
		p.Items = append(p.Items, Item{Action: act, Kind: "subnet", Name: w.pf.Network.GatewayCIDR, Detail: detail})
	}
	switch {
	case w.netConflict != "":
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "org VDC network", Name: w.pf.Network.Name, Detail: w.netConflict})
	case w.net == nil:
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "org VDC network", Name: w.pf.Network.Name, Detail: w.netDetail()})
	default:
		n := w.net
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "org VDC network", Name: n.Name, Detail: w.netDetail(),
			Resource: &Resource{Kind: "org VDC network", Name: n.Name, ID: n.ID}})
	}
	switch {
	case w.tunConflict != "":
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "L2VPN tunnel", Name: w.pf.Tunnel.Name, Detail: w.tunConflict})
	case w.tun == nil:
		detail := w.tunnelDetail(w.pf.Tunnel.LocalEndpointIP)
		if w.unreadable {
			detail += " (" + errRightsPending.Error() + ": none assumed)"
		}
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "L2VPN tunnel", Name: w.pf.Tunnel.Name, Detail: detail})
	case len(w.drift) > 0:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "L2VPN tunnel", Name: w.pf.Tunnel.Name,
			Detail:   strings.Join(w.drift, ", ") + ": stretch " + w.pf.Network.Name + " and enable",
			Resource: &Resource{Kind: "L2VPN tunnel", Name: w.pf.Tunnel.Name, ID: w.tun.ID}})
	default:
		t := w.tun
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "L2VPN tunnel", Name: t.Name,
			Detail:   fmt.Sprintf("SERVER on %s, local endpoint %s, remote endpoint %s, stretches %s", w.pf.EdgeGateway, t.LocalEndpointIP, t.RemoteEndpointIP, w.pf.Network.Name),
			Resource: &Resource{Kind: "L2VPN tunnel", Name: t.Name, ID: t.ID}})
	}
	return p
}

// drift says when the network or the server tunnel step 2 made is gone
// or changed (disabled, no longer stretching the network): the L2 stretch
// is down then, or will not carry the network.
func (s *Trunk) drift(ctx context.Context, env *Env) (string, string) {
	w, err := s.look(ctx, env)
	switch {
	case err != nil:
		return "", ""
	case w.net == nil:
		return fmt.Sprintf("Cloud Director network %s is gone from %s: the L2 stretch has nothing to carry", w.pf.Network.Name, w.pf.VDC), ""
	case w.tun == nil:
		// A new tunnel has a new peer code: step 4 connects the edge to it.
		return fmt.Sprintf("L2 VPN tunnel %s is gone from edge gateway %s: the L2 stretch is down", w.pf.Tunnel.Name, w.pf.EdgeGateway), "trunk-network,dc-extension"
	case len(w.drift) > 0:
		return fmt.Sprintf("L2 VPN tunnel %s differs from the plan (%s): the L2 stretch is down or does not carry %s", w.pf.Tunnel.Name, strings.Join(w.drift, ", "), w.pf.Network.Name), ""
	}
	return "", ""
}

// Plan says what Apply would create; it changes nothing.
func (s *Trunk) Plan(ctx context.Context, env *Env) (Plan, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Plan{Step: s.ID()}, err
	}
	return w.plan(), nil
}

// Apply creates the network and the server tunnel, or stretches the
// network over an existing tunnel. All inputs are resolved first.
func (s *Trunk) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Result{}, err
	}
	if c := w.plan().Conflicts(); len(c) > 0 {
		return Result{}, fmt.Errorf("%w, nothing changed: %s", ErrConflict, c[0])
	}
	var res Result
	change := func(it Item) {
		res.Changes = append(res.Changes, it)
		emit(Changed(it))
	}
	egw := w.site.egw
	res.Resources = append(res.Resources, Resource{Kind: "edge gateway", Name: egw.Name, ID: egw.ID})

	if w.net == nil {
		emit(Progress("creating network "+w.pf.Network.Name, 0.1))
		if w.net, err = vcd.CreateRoutedNetwork(w.site.vdc, w.site.egw, w.netSpec()); err != nil {
			return res, err
		}
		n := w.net
		change(Item{Action: ActionCreate, Kind: "org VDC network", Name: n.Name, Detail: w.netDetail(),
			Resource: &Resource{Kind: "org VDC network", Name: n.Name, ID: n.ID}})
	}
	net := w.net
	res.Resources = append(res.Resources, Resource{Kind: "org VDC network", Name: net.Name, ID: net.ID})

	spec := w.tunnelSpec()
	switch {
	case w.tun == nil:
		// vcd chooses the local endpoint and generates the key when empty.
		src := pskSource()
		spec.PreSharedKey = os.Getenv(EnvL2VPNPSK)
		emit(Progress("creating L2VPN server tunnel "+spec.Name, 0.5))
		if w.tun, err = vcd.CreateServerTunnel(w.site.egw, spec); err != nil {
			return res, err
		}
		if err := env.State.SetOutput(s.ID(), OutPSK, src); err != nil {
			return res, err
		}
		change(Item{Action: ActionCreate, Kind: "L2VPN tunnel", Name: spec.Name, Detail: w.tunnelDetail(w.tun.LocalEndpointIP),
			Resource: &Resource{Kind: "L2VPN tunnel", Name: spec.Name, ID: w.tun.ID}})
	case len(w.drift) > 0:
		emit(Progress("updating L2VPN server tunnel "+spec.Name+": "+strings.Join(w.drift, ", "), 0.5))
		spec.PreSharedKey = w.key
		if w.tun, err = vcd.UpdateServerTunnel(w.tun, spec); err != nil {
			return res, err
		}
		change(Item{Action: ActionUpdate, Kind: "L2VPN tunnel", Name: spec.Name, Detail: "was: " + strings.Join(w.drift, ", "),
			Resource: &Resource{Kind: "L2VPN tunnel", Name: spec.Name, ID: w.tun.ID}})
	}
	t := w.tun
	res.Resources = append(res.Resources, Resource{Kind: "L2VPN tunnel", Name: t.Name, ID: t.ID})
	for k, v := range map[string]string{OutEdgeGatewayID: egw.ID, OutNetworkID: net.ID, OutTunnelID: t.ID, OutLocalEndpointIP: t.LocalEndpointIP} {
		if err := env.State.SetOutput(s.ID(), k, v); err != nil {
			return res, err
		}
	}
	emit(Progress(fmt.Sprintf("L2VPN server %s listening on %s for %s", t.Name, t.LocalEndpointIP, t.RemoteEndpointIP), 1))
	return res, nil
}

// Verify reads the network and the tunnel back.
func (s *Trunk) Verify(ctx context.Context, env *Env) error {
	w, err := s.look(ctx, env)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range w.plan().Conflicts() {
		errs = append(errs, errors.New(c.String()))
	}
	if w.net == nil {
		errs = append(errs, fmt.Errorf("network %q does not exist", w.pf.Network.Name))
	}
	if w.tun == nil {
		errs = append(errs, fmt.Errorf("L2VPN tunnel %q does not exist on edge gateway %s", w.pf.Tunnel.Name, w.pf.EdgeGateway))
	}
	for _, d := range w.drift {
		errs = append(errs, fmt.Errorf("L2VPN tunnel %q: %s", w.pf.Tunnel.Name, d))
	}
	return errors.Join(errs...)
}
