package vcdsim

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The DHCP service of an NSX-T org VDC network
// (/cloudapi/1.0.0/orgVdcNetworks/{id}/dhcp) and its static bindings
// (…/dhcp/bindings), checked as vCD 10.5 checks them: mode and lease time
// are required (API 35.0+ applies no defaults), EDGE and RELAY mode only on
// routed networks, NETWORK mode needs the DHCP server's own address and,
// on an isolated network, a services edge cluster in the VDC's network
// profile; the mode of an existing service cannot change; pools lie inside
// the subnet, off the gateway and the static IP pools; bindings need the
// service, a unique MAC and an address in the subnet outside the DHCP pools,
// and an update must carry the binding's current version.

// netDhcp is the DHCP service of one network.
type netDhcp struct {
	cfg      *types.OpenApiOrgVdcNetworkDhcp // nil: none configured
	bindings []*types.OpenApiOrgVdcNetworkDhcpBinding
}

const maxLeaseTime = 4294967295

func (s *Server) dhcpRoutes(coll, item func(method, path string, h handlerFunc, opts ...routeOpt)) {
	item("GET", "orgVdcNetworks/{id}/dhcp", handleNetworkDhcp)
	item("PUT", "orgVdcNetworks/{id}/dhcp", handleUpdateNetworkDhcp)
	item("DELETE", "orgVdcNetworks/{id}/dhcp", handleDeleteNetworkDhcp)
	coll("GET", "orgVdcNetworks/{id}/dhcp/bindings", handleDhcpBindings)
	coll("POST", "orgVdcNetworks/{id}/dhcp/bindings", handleCreateDhcpBinding)
	item("GET", "orgVdcNetworks/{id}/dhcp/bindings/{binding}", handleDhcpBinding)
	item("PUT", "orgVdcNetworks/{id}/dhcp/bindings/{binding}", handleUpdateDhcpBinding)
	item("DELETE", "orgVdcNetworks/{id}/dhcp/bindings/{binding}", handleDeleteDhcpBinding)
}

func (m *model) dhcpOf(n *network) *netDhcp {
	d := m.net().dhcp[bareID(n.ID)]
	if d == nil {
		d = &netDhcp{}
		m.net().dhcp[bareID(n.ID)] = d
	}
	return d
}

func netTask(c *reqCtx, n *network, name, op string) *task {
	return c.m.newTask(c, name, op+" of org VDC network "+n.Name,
		types.Reference{ID: n.ID, Name: n.Name, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", HREF: n.adminHref()}, nil)
}

func handleNetworkDhcp(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	if d := c.m.dhcpOf(n); d.cfg != nil {
		c.json(http.StatusOK, d.cfg)
		return
	}
	c.json(http.StatusOK, &types.OpenApiOrgVdcNetworkDhcp{Enabled: addrOf(false), LeaseTime: addrOf(86400), Mode: "EDGE",
		DhcpPools: []types.OpenApiOrgVdcNetworkDhcpPools{}, DnsServers: []string{}})
}

// netSubnet is the network's first subnet and its static IP pools.
func netSubnet(n *network) (netip.Prefix, netip.Addr, [][2]netip.Addr) {
	if len(n.Subnets.Values) == 0 {
		return netip.Prefix{}, netip.Addr{}, nil
	}
	s := n.Subnets.Values[0]
	gw, err := netip.ParseAddr(s.Gateway)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, nil
	}
	var pools [][2]netip.Addr
	for _, r := range s.IPRanges.Values {
		a, err1 := netip.ParseAddr(r.StartAddress)
		b, err2 := netip.ParseAddr(r.EndAddress)
		if err1 == nil && err2 == nil {
			pools = append(pools, [2]netip.Addr{a, b})
		}
	}
	return netip.PrefixFrom(gw, n.Subnets.Values[0].PrefixLength).Masked(), gw, pools
}

func inRange(a netip.Addr, r [2]netip.Addr) bool { return a.Compare(r[0]) >= 0 && a.Compare(r[1]) <= 0 }

// checkDhcpAddr: an address of the subnet, not its gateway; what names it.
func checkDhcpAddr(what, s string, p netip.Prefix, gw netip.Addr) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return a, fmt.Errorf("%s %q is not an IP address", what, s)
	case !p.Contains(a):
		return a, fmt.Errorf("%s %s is not in the network's subnet %s", what, a, p)
	case a == gw:
		return a, fmt.Errorf("%s %s is the network's gateway", what, a)
	}
	return a, nil
}

func (c *reqCtx) validateDhcp(n *network, d *netDhcp, in *types.OpenApiOrgVdcNetworkDhcp) error {
	switch in.Mode {
	case "":
		return fmt.Errorf("mode: required, one of EDGE, NETWORK, RELAY")
	case "EDGE", "RELAY":
		if n.NetworkType != "NAT_ROUTED" {
			return fmt.Errorf("mode %s: DHCP in %s mode is supported only on routed networks (this one is %s); use NETWORK", in.Mode, in.Mode, n.NetworkType)
		}
	case "NETWORK":
	default:
		return fmt.Errorf("mode %q: must be one of EDGE, NETWORK, RELAY", in.Mode)
	}
	if d.cfg != nil && d.cfg.Mode != in.Mode {
		return fmt.Errorf("mode: the DHCP service of network %s is in %s mode and its mode cannot be changed to %s; delete the DHCP configuration first", n.Name, d.cfg.Mode, in.Mode)
	}
	if in.LeaseTime == nil || *in.LeaseTime < 60 || *in.LeaseTime > maxLeaseTime {
		return fmt.Errorf("leaseTime: required, between 60 and %d seconds", maxLeaseTime)
	}
	p, gw, static := netSubnet(n)
	if !p.IsValid() {
		return fmt.Errorf("network %s has no subnet", n.Name)
	}
	var server netip.Addr
	if in.Mode == "NETWORK" {
		if in.IPAddress == "" {
			return fmt.Errorf("ipAddress: NETWORK mode needs the DHCP server's address in %s", p)
		}
		a, err := checkDhcpAddr("ipAddress", in.IPAddress, p, gw)
		if err != nil {
			return err
		}
		for _, r := range static {
			if inRange(a, r) {
				return fmt.Errorf("ipAddress %s is in the network's static IP pool %s-%s", a, r[0], r[1])
			}
		}
		server = a
		if n.NetworkType == "ISOLATED" && c.servicesProfile(n) == nil {
			return fmt.Errorf("DHCP in NETWORK mode on an isolated network needs a services edge cluster in the network profile of its VDC (%s)", n.OwnerRef.Name)
		}
	} else if in.IPAddress != "" {
		return fmt.Errorf("ipAddress: only NETWORK mode takes a DHCP server address")
	}
	if in.Mode == "RELAY" && len(in.DhcpPools) > 0 {
		return fmt.Errorf("dhcpPools: RELAY mode takes no pools (the gateway's DHCP forwarder answers)")
	}
	var pools [][2]netip.Addr
	for i, pl := range in.DhcpPools {
		a, err := checkDhcpAddr(fmt.Sprintf("dhcpPools[%d].ipRange.startAddress", i), pl.IPRange.StartAddress, p, gw)
		if err != nil {
			return err
		}
		b, err := checkDhcpAddr(fmt.Sprintf("dhcpPools[%d].ipRange.endAddress", i), pl.IPRange.EndAddress, p, gw)
		if err != nil {
			return err
		}
		r := [2]netip.Addr{a, b}
		switch {
		case b.Less(a):
			return fmt.Errorf("dhcpPools[%d]: start %s is after end %s", i, a, b)
		case inRange(gw, r):
			return fmt.Errorf("dhcpPools[%d] %s-%s contains the gateway %s", i, a, b, gw)
		case server.IsValid() && inRange(server, r):
			return fmt.Errorf("dhcpPools[%d] %s-%s contains the DHCP server address %s", i, a, b, server)
		}
		for _, o := range append(static, pools...) {
			if inRange(a, o) || inRange(b, o) || inRange(o[0], r) {
				return fmt.Errorf("dhcpPools[%d] %s-%s overlaps %s-%s (static IP pools and DHCP pools must not overlap)", i, a, b, o[0], o[1])
			}
		}
		pools = append(pools, r)
	}
	if len(in.DnsServers) > 2 {
		return fmt.Errorf("dnsServers: at most 2, got %d", len(in.DnsServers))
	}
	for _, s := range in.DnsServers {
		if a, err := netip.ParseAddr(s); err != nil || a.Is4() != gw.Is4() {
			return fmt.Errorf("dnsServers: %q is not an IP address of the subnet's family", s)
		}
	}
	for _, b := range d.bindings {
		a, _ := netip.ParseAddr(b.IpAddress)
		for _, r := range pools {
			if a.IsValid() && inRange(a, r) {
				return fmt.Errorf("dhcpPools: %s-%s contains the address %s of DHCP binding %q", r[0], r[1], a, b.Name)
			}
		}
	}
	return nil
}

func handleUpdateNetworkDhcp(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	var in types.OpenApiOrgVdcNetworkDhcp
	if !c.readJSON(&in) {
		return
	}
	d := c.m.dhcpOf(n)
	if err := c.validateDhcp(n, d, &in); err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "DHCP of org VDC network %s: %v", n.Name, err)
		return
	}
	d.cfg = &in
	c.accepted(netTask(c, n, "orgVdcNetworkDhcpUpdate", "Updating DHCP"))
}

func handleDeleteNetworkDhcp(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	d := c.m.dhcpOf(n)
	if len(d.bindings) > 0 {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "DHCP of org VDC network %s has %d binding(s); delete them first", n.Name, len(d.bindings))
		return
	}
	d.cfg = nil
	c.accepted(netTask(c, n, "orgVdcNetworkDhcpDelete", "Deleting DHCP"))
}

// --- bindings --------------------------------------------------------------

func (c *reqCtx) validateBinding(n *network, d *netDhcp, in *types.OpenApiOrgVdcNetworkDhcpBinding, self *types.OpenApiOrgVdcNetworkDhcpBinding) error {
	if d.cfg == nil {
		return fmt.Errorf("network %s has no DHCP service; configure DHCP before adding bindings", n.Name)
	}
	if strings.TrimSpace(in.Name) == "" {
		return fmt.Errorf("name: must not be empty")
	}
	mac, err := net.ParseMAC(in.MacAddress)
	if err != nil || len(mac) != 6 {
		return fmt.Errorf("macAddress %q is not a MAC address (aa:bb:cc:dd:ee:ff)", in.MacAddress)
	}
	p, gw, _ := netSubnet(n)
	switch in.BindingType {
	case types.NsxtDhcpBindingTypeIpv4:
		if !p.Addr().Is4() {
			return fmt.Errorf("bindingType IPV4 on the IPv6 network %s", n.Name)
		}
		if in.IpAddress == "" {
			return fmt.Errorf("ipAddress: required for an IPV4 binding")
		}
	case types.NsxtDhcpBindingTypeIpv6:
		if p.Addr().Is4() {
			return fmt.Errorf("bindingType IPV6 on the IPv4 network %s", n.Name)
		}
	default:
		return fmt.Errorf("bindingType %q: must be IPV4 or IPV6", in.BindingType)
	}
	if in.IpAddress != "" {
		a, err := checkDhcpAddr("ipAddress", in.IpAddress, p, gw)
		if err != nil {
			return err
		}
		for _, pl := range d.cfg.DhcpPools {
			s, _ := netip.ParseAddr(pl.IPRange.StartAddress)
			e, _ := netip.ParseAddr(pl.IPRange.EndAddress)
			if inRange(a, [2]netip.Addr{s, e}) {
				return fmt.Errorf("ipAddress %s is in the DHCP pool %s-%s; a binding's address must be outside the pools", a, s, e)
			}
		}
	}
	if in.DhcpV4BindingConfig != nil && in.DhcpV4BindingConfig.GatewayIPAddress != "" {
		if _, err := netip.ParseAddr(in.DhcpV4BindingConfig.GatewayIPAddress); err != nil {
			return fmt.Errorf("dhcpV4BindingConfig.gatewayIpAddress %q is not an IP address", in.DhcpV4BindingConfig.GatewayIPAddress)
		}
	}
	if in.LeaseTime != nil && (*in.LeaseTime < 60 || *in.LeaseTime > maxLeaseTime) {
		return fmt.Errorf("leaseTime: between 60 and %d seconds", maxLeaseTime)
	}
	for _, b := range d.bindings {
		if b == self {
			continue
		}
		switch {
		case b.Name == in.Name:
			return fmt.Errorf("a DHCP binding named %q already exists", in.Name)
		case strings.EqualFold(b.MacAddress, mac.String()):
			return fmt.Errorf("MAC address %s already has DHCP binding %q", mac, b.Name)
		case in.IpAddress != "" && b.IpAddress == in.IpAddress:
			return fmt.Errorf("IP address %s already has DHCP binding %q", in.IpAddress, b.Name)
		}
	}
	in.MacAddress = mac.String()
	return nil
}

func handleDhcpBindings(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	var items []any
	for _, b := range c.m.dhcpOf(n).bindings {
		items = append(items, b)
	}
	c.writePage(items, jsonField)
}

// bindingFromPath finds the network and binding the path names.
func (c *reqCtx) bindingFromPath() (*network, *netDhcp, *types.OpenApiOrgVdcNetworkDhcpBinding) {
	n := c.networkFromPath()
	if n == nil {
		return nil, nil, nil
	}
	d := c.m.dhcpOf(n)
	for _, b := range d.bindings {
		if b.ID == c.r.PathValue("binding") {
			return n, d, b
		}
	}
	c.notFound("dhcpBinding", c.r.PathValue("binding"))
	return nil, nil, nil
}

func handleDhcpBinding(c *reqCtx) {
	if _, _, b := c.bindingFromPath(); b != nil {
		c.json(http.StatusOK, b)
	}
}

// handleCreateDhcpBinding answers 202; the task's details carry the new
// binding's id (not its owner, which is the network), as in vCD.
func handleCreateDhcpBinding(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	var in types.OpenApiOrgVdcNetworkDhcpBinding
	if !c.readJSON(&in) {
		return
	}
	d := c.m.dhcpOf(n)
	if err := c.validateBinding(n, d, &in, nil); err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "DHCP binding of org VDC network %s: %v", n.Name, err)
		return
	}
	in.ID = newUUID()
	in.Version = types.OpenApiOrgVdcNetworkDhcpBindingVersion{Version: 0}
	d.bindings = append(d.bindings, &in)
	t := netTask(c, n, "orgVdcNetworkDhcpBindingCreate", "Creating DHCP binding "+in.Name)
	t.details = in.ID
	c.accepted(t)
}

func handleUpdateDhcpBinding(c *reqCtx) {
	n, d, b := c.bindingFromPath()
	if b == nil {
		return
	}
	var in types.OpenApiOrgVdcNetworkDhcpBinding
	if !c.readJSON(&in) {
		return
	}
	if in.Version.Version != b.Version.Version {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "DHCP binding %q: version %d is not the current version %d; GET the binding and retry", b.Name, in.Version.Version, b.Version.Version)
		return
	}
	if err := c.validateBinding(n, d, &in, b); err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "DHCP binding of org VDC network %s: %v", n.Name, err)
		return
	}
	in.ID = b.ID
	in.Version.Version = b.Version.Version + 1
	*b = in
	c.accepted(netTask(c, n, "orgVdcNetworkDhcpBindingUpdate", "Updating DHCP binding "+in.Name))
}

func handleDeleteDhcpBinding(c *reqCtx) {
	n, d, b := c.bindingFromPath()
	if b == nil {
		return
	}
	d.bindings = slices.DeleteFunc(d.bindings, func(x *types.OpenApiOrgVdcNetworkDhcpBinding) bool { return x == b })
	c.accepted(netTask(c, n, "orgVdcNetworkDhcpBindingDelete", "Deleting DHCP binding "+b.Name))
}
