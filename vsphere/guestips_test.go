package vsphere

import (
	"slices"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

// TestGuestIPs: the addresses a target keeps come from the guest.net entry
// of the NIC's own device; a VLAN sub-interface or bridge sharing its MAC
// (deviceConfigId -1) never lends its address, and link-local addresses
// come last.
func TestGuestIPs(t *testing.T) {
	nic := NICConfig{MAC: "00:0c:29:35:39:35", Key: 4000}
	sub := types.GuestNicInfo{MacAddress: nic.MAC, DeviceConfigId: -1, IpAddress: []string{"192.168.100.12"}}
	for _, tc := range []struct {
		name string
		net  []types.GuestNicInfo
		want []string
	}{
		{"its entry, a sub-interface after it", []types.GuestNicInfo{
			{MacAddress: nic.MAC, DeviceConfigId: 4000, IpAddress: []string{"fe80::20c:29ff:fe35:3935", "169.254.3.4", "172.16.10.12"}}, sub},
			[]string{"172.16.10.12", "fe80::20c:29ff:fe35:3935", "169.254.3.4"}},
		{"its entry without an address (DHCP)", []types.GuestNicInfo{{MacAddress: nic.MAC, DeviceConfigId: 4000}, sub}, nil},
		{"no entry names the device: by MAC, not the sub-interface", []types.GuestNicInfo{sub, {MacAddress: nic.MAC, DeviceConfigId: 0, IpAddress: []string{"172.16.10.12"}}},
			[]string{"172.16.10.12"}},
	} {
		if got := guestIPs(tc.net, nic); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
