package steps

import (
	"maps"
	"strings"
	"testing"
)

// The wizard's one-line answer for appliance.properties round-trips; the
// plan's overrides change ferry's table without touching it; the netmask
// source is the prefix as the vendor's dotted netmask.
func TestOVFMapAndProperties(t *testing.T) {
	m, err := parseProps(" nsx_dns1_0 = 10.0.0.53 , nsx_ntp_0=pool.ntp.org,")
	if err != nil || len(m) != 2 || m["nsx_dns1_0"] != "10.0.0.53" || m["nsx_ntp_0"] != "pool.ntp.org" {
		t.Fatalf("parseProps: %v %v", m, err)
	}
	if got := formatProps(m); got != "nsx_dns1_0=10.0.0.53, nsx_ntp_0=pool.ntp.org" {
		t.Errorf("formatProps: %q", got)
	}
	if _, err := parseProps("nsx_dns1_0"); err == nil {
		t.Error("a key without a value was accepted")
	}

	before := maps.Clone(ApplianceOVFMap.Properties)
	om := ovfMap(AppliancePlan{OVFProperties: map[string]string{"nsx_hostname": "", "edge_egress_ip": "egress_gateway"}})
	if _, ok := om.Properties["nsx_hostname"]; ok || om.Properties["edge_egress_ip"] != "egress_gateway" || om.mgmtKey() != "nsx_ip_0" {
		t.Errorf("overridden table: %v", om.Properties)
	}
	if !maps.Equal(before, ApplianceOVFMap.Properties) {
		t.Error("a plan's override changed ferry's table")
	}
	errs := checkOVFMapPlan(AppliancePlan{OVFProperties: map[string]string{"x": "ipaddr"}, OVFNetworks: map[string]string{"Network 0": "mgmt"}})
	if len(errs) != 2 ||
		!strings.Contains(errs[0].Error(), `appliance.ovf_networks.Network 0: "mgmt" is not a role: want uplink`) || !strings.Contains(errs[0].Error(), "or sink") ||
		!strings.Contains(errs[1].Error(), `appliance.ovf_properties.x: "ipaddr" is not a source: want one of ip, prefix, netmask, gateway, egress_gateway, hostname, edge_password, or =text`) {
		t.Errorf("bad overrides: %v", errs)
	}

	for prefix, want := range map[string]string{"24": "255.255.255.0", "20": "255.255.240.0", "32": "255.255.255.255", "x": ""} {
		if got := sourceValue(ovfSrcNetmask, AppliancePlan{Prefix: prefix}); got != want {
			t.Errorf("netmask of /%s: %q, want %q", prefix, got, want)
		}
	}
	if got := sourceValue("=True", AppliancePlan{}); got != "True" {
		t.Errorf("literal source: %q", got)
	}
}
