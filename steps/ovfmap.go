package steps

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The L2VPN client appliance is the vendor's: the NSX autonomous edge (the
// NSX Edge OVA deployed with is_autonomous_edge=True). ferry maps the OVF's
// networks and properties with one table, ApplianceOVFMap; a plan overrides
// or extends it for other versions (appliance.ovf_networks,
// appliance.ovf_properties). Where the vendor facts come from (details and
// what is not verified: docs/real-world.md, "NSX autonomous edge"):
//
//   - Networks "Network 0" .. "Network 3" and the property keys nsx_ip_0,
//     nsx_netmask_0 (a dotted netmask, e.g. 255.255.255.0), nsx_gateway_0,
//     nsx_hostname, nsx_passwd_0 (system root password) and nsx_cli_passwd_0
//     (CLI admin password; both required to install), is_autonomous_edge
//     (True/False, default False): Broadcom techdocs, NSX (VCF 9.0) "Install
//     NSX Edge on ESX Using the Command-Line OVF Tool" (its OVF parameter
//     table and its ovftool example, --net:"Network 0=Mgmt" .. "Network 3").
//   - Their roles for the autonomous edge: Broadcom techdocs, NSX (VCF 9.0)
//     "Add an Autonomous Edge as an L2 VPN Client": on Select networks, the
//     uplink port group, the L2 extension (trunk) port group and an HA
//     interface; Network 0 is the management interface (eth0) of every NSX
//     Edge (the OVF Tool page: "get interface eth0" shows nsx_ip_0), so
//     Network 1 is the uplink, Network 2 the trunk, Network 3 HA, as
//     jonamiki.com "Using NSX Autonomous Edge to extend L2 networks from
//     on-prem to VMware Cloud on AWS" deploys it.
//   - Not mapped: the autonomous edge's "External Port" property (VLAN id,
//     exit interface, IP, prefix length, e.g. 0,eth1,192.168.5.1,24, per
//     the same page): its OVF key is not in a public source ferry found.
//     When the OVA requires it, the plan gives it in appliance.properties
//     (refused by name until then).
//
// ferry gives the management interface the appliance's address
// (appliance.ip), so that step 4 finds the edge's API there, and both
// passwords the edge password of ferry's configuration (FERRY_EDGE_PASSWORD),
// which step 4 logs in with as the edge user (FERRY_EDGE_USERNAME, admin).

// Roles of an OVF network.
const (
	ovfRoleUplink = "uplink" // appliance.uplink_portgroup
	ovfRoleSink   = "sink"   // appliance.sink_portgroup
)

// Sources of an OVF property value. A source "=text" is the literal text.
const (
	ovfSrcIP       = "ip"             // appliance.ip: the management address
	ovfSrcPrefix   = "prefix"         // appliance.prefix
	ovfSrcNetmask  = "netmask"        // appliance.prefix as a dotted netmask
	ovfSrcGateway  = "gateway"        // appliance.gateway
	ovfSrcEgress   = "egress_gateway" // appliance.egress_gateway
	ovfSrcHostname = "hostname"       // appliance.name
	ovfSrcPassword = "edge_password"  // the edge password of the configuration (a secret)
)

// OVFMap maps an appliance OVF onto the plan: OVF network name -> role, and
// OVF property key -> source.
type OVFMap struct {
	Networks   map[string]string
	Properties map[string]string
}

// ApplianceOVFMap is ferry's table for the vendor's autonomous edge OVA.
var ApplianceOVFMap = OVFMap{
	Networks: map[string]string{
		"Network 0": ovfRoleUplink, // management: the appliance's address
		"Network 1": ovfRoleUplink, // uplink: towards the L2VPN server
		"Network 2": ovfRoleSink,   // trunk: the sink port group
		"Network 3": ovfRoleUplink, // HA (unused by a single appliance)
	},
	Properties: map[string]string{
		"nsx_ip_0":           ovfSrcIP,
		"nsx_netmask_0":      ovfSrcNetmask,
		"nsx_gateway_0":      ovfSrcGateway,
		"nsx_hostname":       ovfSrcHostname,
		"nsx_passwd_0":       ovfSrcPassword,
		"nsx_cli_passwd_0":   ovfSrcPassword,
		"is_autonomous_edge": "=True",
	},
}

var ovfSources = []string{ovfSrcIP, ovfSrcPrefix, ovfSrcNetmask, ovfSrcGateway, ovfSrcEgress, ovfSrcHostname, ovfSrcPassword}

// ovfMap is the table with the plan's overrides (an empty value removes an
// entry).
func ovfMap(a AppliancePlan) OVFMap {
	m := OVFMap{Networks: maps.Clone(ApplianceOVFMap.Networks), Properties: maps.Clone(ApplianceOVFMap.Properties)}
	for k, v := range a.OVFNetworks {
		if v == "" {
			delete(m.Networks, k)
		} else {
			m.Networks[k] = v
		}
	}
	for k, v := range a.OVFProperties {
		if v == "" {
			delete(m.Properties, k)
		} else {
			m.Properties[k] = v
		}
	}
	return m
}

// checkOVFMapPlan checks the plan's overrides of the table.
func checkOVFMapPlan(a AppliancePlan) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(a.OVFNetworks)) {
		if v := a.OVFNetworks[k]; v != "" && v != ovfRoleUplink && v != ovfRoleSink {
			errs = append(errs, &FieldError{"appliance.ovf_networks." + k, fmt.Errorf("%q is not a role: want uplink (the appliance's own port group) or sink (the trunk)", v)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.OVFProperties)) {
		if v := a.OVFProperties[k]; v != "" && !strings.HasPrefix(v, "=") && !slices.Contains(ovfSources, v) {
			errs = append(errs, &FieldError{"appliance.ovf_properties." + k, fmt.Errorf("%q is not a source: want one of %s, or =text for a fixed value", v, strings.Join(ovfSources, ", "))})
		}
	}
	return errs
}

// mgmtKey is the OVF property that carries the appliance's management
// address ("" when the table maps none).
func (m OVFMap) mgmtKey() string {
	for _, k := range slices.Sorted(maps.Keys(m.Properties)) {
		if m.Properties[k] == ovfSrcIP {
			return k
		}
	}
	return ""
}

// secret says whether the property's source is a secret (never shown).
func (m OVFMap) secret(key string) bool { return m.Properties[key] == ovfSrcPassword }

// sourceValue is the plan's value for a non-secret source.
func sourceValue(src string, a AppliancePlan) string {
	switch src {
	case ovfSrcIP:
		return a.IP
	case ovfSrcPrefix:
		return a.Prefix
	case ovfSrcNetmask:
		n, err := strconv.Atoi(a.Prefix)
		if err != nil || n < 0 || n > 32 {
			return ""
		}
		var b [4]byte
		for i := range n {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b).String()
	case ovfSrcGateway:
		return a.Gateway
	case ovfSrcEgress:
		return a.EgressGateway
	case ovfSrcHostname:
		return a.Name
	}
	if v, ok := strings.CutPrefix(src, "="); ok {
		return v
	}
	return ""
}

// formatProps renders appliance.properties as the wizard's one-line answer.
func formatProps(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// parseProps reads "key=value, key=value".
func parseProps(v string) (map[string]string, error) {
	out := map[string]string{}
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", part)
		}
		out[k] = strings.TrimSpace(val)
	}
	return out, nil
}

func validProps(v string, _ *PlanFile) error {
	_, err := parseProps(v)
	return err
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}
