package lab

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// staticMACRefused says why ESXi refuses to power on a VM whose NIC has
// mac as its static (manual) address ("" when it takes it). VMware's OUIs
// are kept for the addresses vCenter (00:50:56:80-BF) and ESXi (00:0C:29)
// generate and for VMware's own uses; of them only 00:50:56:00:00:00 -
// 00:50:56:3F:FF:FF is left for static addresses (vSphere Networking,
// "VMware OUI in Static MAC Addresses"). ESXi 5.5 and later refuse the rest
// at power-on ("... is not an allowed static Ethernet address. It conflicts
// with VMware reserved MACs") unless the VM's ethernetN.checkMACAddress is
// false. So a VM that keeps another VM's generated address as a static one
// (a migrated VM keeping its MAC) needs that option.
func staticMACRefused(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return fmt.Sprintf("Invalid MAC address specified. %s is not a MAC address", mac)
	}
	oui := [3]byte{hw[0], hw[1], hw[2]}
	switch {
	case oui == [3]byte{0x00, 0x50, 0x56} && hw[3] <= 0x3f:
		return ""
	case oui == [3]byte{0x00, 0x50, 0x56}, oui == [3]byte{0x00, 0x0c, 0x29}, oui == [3]byte{0x00, 0x05, 0x69}, oui == [3]byte{0x00, 0x1c, 0x14}:
		return fmt.Sprintf("Invalid MAC address specified. %s is not an allowed static Ethernet address. It conflicts with VMware reserved MACs", mac)
	}
	return ""
}

// refuseStaticMACs is the fault ESXi's power-on fails with when a NIC of
// vm has a static address it does not allow (staticMACRefused), nil when
// none has. The NICs are ethernet0, ethernet1, ... in device key order, as
// in the VM's configuration file.
func refuseStaticMACs(vm *simulator.VirtualMachine) types.BaseMethodFault {
	if vm.Config == nil {
		return nil
	}
	var cards []*types.VirtualEthernetCard
	for _, d := range vm.Config.Hardware.Device {
		if c, ok := d.(types.BaseVirtualEthernetCard); ok {
			cards = append(cards, c.GetVirtualEthernetCard())
		}
	}
	slices.SortFunc(cards, func(a, b *types.VirtualEthernetCard) int { return cmp.Compare(a.Key, b.Key) })
	extra := map[string]string{}
	for _, o := range vm.Config.ExtraConfig {
		if v, ok := o.GetOptionValue().Value.(string); ok {
			extra[strings.ToLower(o.GetOptionValue().Key)] = v
		}
	}
	for n, c := range cards {
		if !strings.EqualFold(c.AddressType, string(types.VirtualEthernetCardMacTypeManual)) {
			continue
		}
		why := staticMACRefused(c.MacAddress)
		if why == "" || strings.EqualFold(extra[fmt.Sprintf("ethernet%d.checkmacaddress", n)], "false") {
			continue
		}
		msg := fmt.Sprintf("Failed to start the virtual machine. Module DevicePowerOn power on failed. Could not set up \"macAddress\" for ethernet%d. %s.", n, why)
		return &types.GenericVmConfigFault{Reason: msg, VmConfigFault: types.VmConfigFault{VimFault: types.VimFault{MethodFault: types.MethodFault{
			FaultMessage: []types.LocalizableMessage{{Key: "msg.ethernet.badMacAddress", Message: msg}}}}}}
	}
	return nil
}
