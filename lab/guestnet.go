package lab

import (
	"context"
	"fmt"
	"net"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// guestNetDetail makes what VMware Tools reports of vm's guest networking
// (guest.net) look like a real Linux guest's rather than vcsim's one IPv4
// address per NIC: the NIC's entry lists its IPv6 link-local address first,
// and a VLAN sub-interface over the NIC (eth0.100), sharing its MAC, is a
// second entry with deviceConfigId -1 and an address of another network
// (sub). A reader that takes the first address, or the addresses of the
// last entry with the NIC's MAC, gives Cloud Director the wrong address
// for the migrated VM, which it refuses (outside the network) after the
// source was shut down.
func guestNetDetail(vc *VCenter, vm, sub string) error {
	reg := vc.Model.Map()
	ctx := &simulator.Context{Context: context.Background(), Map: reg,
		Session: &simulator.Session{UserSession: types.UserSession{Key: "lab-guestnet", UserName: "vpxd"}, Registry: simulator.NewRegistry(), Map: reg}}
	for _, o := range reg.All("VirtualMachine") {
		v, ok := o.(*simulator.VirtualMachine)
		if !ok || v.Name != vm {
			continue
		}
		var err error
		reg.WithLock(ctx, v, func() {
			if len(v.Guest.Net) == 0 {
				err = fmt.Errorf("guest.net of %s: no NIC", vm)
				return
			}
			nic := v.Guest.Net[0]
			mac, perr := net.ParseMAC(nic.MacAddress)
			if perr != nil {
				err = fmt.Errorf("guest.net of %s: %w", vm, perr)
				return
			}
			// The EUI-64 link-local address of the MAC.
			eui := []byte{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
			ll := net.IP(append([]byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0}, eui...)).String()
			v.Guest.Net[0].IpAddress = append([]string{ll}, nic.IpAddress...)
			v.Guest.Net = append(v.Guest.Net, types.GuestNicInfo{MacAddress: nic.MacAddress, Connected: true, DeviceConfigId: -1, IpAddress: []string{sub}})
			reg.Update(ctx, v, []types.PropertyChange{{Name: "guest.net", Val: v.Guest.Net}})
		})
		return err
	}
	return fmt.Errorf("guest.net: no VM %s", vm)
}
