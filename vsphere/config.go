package vsphere

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// VMConfig is a source VM's configuration as far as its guest OS can tell:
// what the target built at the provider must repeat for the guest to boot
// and keep its network identity. It is captured at VM selection and
// persisted with the job (JSON), so the cutover builds the target from what
// was selected.
type VMConfig struct {
	Name       string `json:"name"`
	GuestID    string `json:"guest_id"`
	Firmware   string `json:"firmware"` // bios | efi
	SecureBoot bool   `json:"secure_boot,omitempty"`
	// HWVersion is the virtual hardware version, "vmx-19".
	HWVersion      string `json:"hw_version"`
	CPUs           int32  `json:"cpus"`
	CoresPerSocket int32  `json:"cores_per_socket,omitempty"`
	MemoryMB       int64  `json:"memory_mb"`
	// DiskEnableUUID is extraConfig disk.EnableUUID (guests that find their
	// disks by serial number need it kept), "" when unset.
	DiskEnableUUID string `json:"disk_enable_uuid,omitempty"`
	// UUID is the BIOS UUID (kept only when a plan asks for it).
	UUID        string             `json:"uuid,omitempty"`
	Controllers []ControllerConfig `json:"controllers"`
	Disks       []DiskConfig       `json:"disks"`
	NICs        []NICConfig        `json:"nics"`
}

// Controller types, as govmomi's VirtualDeviceList names them.
const (
	CtrlPVSCSI     = "pvscsi"
	CtrlLSILogic   = "lsilogic"
	CtrlLSISAS     = "lsilogic-sas"
	CtrlBusLogic   = "buslogic"
	CtrlNVMe       = "nvme"
	CtrlSATA       = "ahci"
	CtrlIDE        = "ide"
	ControllerNone = ""
)

// ControllerConfig is one disk controller.
type ControllerConfig struct {
	Type    string `json:"type"` // pvscsi, lsilogic, lsilogic-sas, buslogic, nvme, ahci, ide
	Bus     int32  `json:"bus"`
	Sharing string `json:"sharing,omitempty"` // SCSI bus sharing: noSharing, virtualSharing, physicalSharing
}

// DiskConfig is one virtual disk and where it sits.
type DiskConfig struct {
	// Key is the device key the disk had when captured (it keeps it for
	// life; 0 in a configuration captured before ferry kept it).
	Key            int32  `json:"key,omitempty"`
	Label          string `json:"label,omitempty"`
	File           string `json:"file"`
	ControllerType string `json:"controller_type"`
	Bus            int32  `json:"bus"`
	Unit           int32  `json:"unit"`
	Mode           string `json:"mode,omitempty"` // persistent, independent_persistent, ...
	Capacity       int64  `json:"capacity"`       // bytes
	Thin           bool   `json:"thin,omitempty"`
	EagerlyScrub   bool   `json:"eagerly_scrub,omitempty"`
}

// Provisioning names a disk's provisioning: thin, thick (lazy zeroed) or
// eager-zeroed thick.
func (d DiskConfig) Provisioning() string {
	switch {
	case d.Thin:
		return "thin"
	case d.EagerlyScrub:
		return "eager-zeroed thick"
	}
	return "thick"
}

// Position is "pvscsi0:1" (controller type, bus, unit).
func (d DiskConfig) Position() string {
	return fmt.Sprintf("%s%d:%d", d.ControllerType, d.Bus, d.Unit)
}

// NICConfig is one network adapter.
type NICConfig struct {
	Label     string `json:"label,omitempty"`
	Type      string `json:"type"` // vmxnet3, e1000e, e1000, vmxnet2, pcnet32, sriov
	MAC       string `json:"mac"`
	Portgroup string `json:"portgroup"`
	// StartConnected is "connect at power on".
	StartConnected bool `json:"start_connected"`
	// IPs are the guest's addresses on this NIC (VMware Tools): IPv4
	// first, link-local ones (169.254/16, fe80::/10) last.
	IPs []string `json:"ips,omitempty"`
	// Key is the NIC's device key, which VMware Tools' guest.net entries
	// name it by (deviceConfigId).
	Key int32 `json:"key,omitempty"`
}

// Summary is the configuration in one line, for plans and VM details.
func (c VMConfig) Summary() string {
	fw := c.Firmware
	if c.SecureBoot {
		fw += " + secure boot"
	}
	cps := ""
	if c.CoresPerSocket > 1 {
		cps = fmt.Sprintf(" (%d per socket)", c.CoresPerSocket)
	}
	return fmt.Sprintf("%s, %s, %s, %d vCPU%s, %d MiB", c.GuestID, fw, c.HWVersion, c.CPUs, cps, c.MemoryMB)
}

// Lines describes controllers, disks, NICs and boot options, one per line.
func (c VMConfig) Lines() []string {
	var out []string
	for _, ct := range c.Controllers {
		s := fmt.Sprintf("controller %s%d", ct.Type, ct.Bus)
		if ct.Sharing != "" && ct.Sharing != string(types.VirtualSCSISharingNoSharing) {
			s += ", bus sharing " + ct.Sharing
		}
		out = append(out, s)
	}
	for _, d := range c.Disks {
		out = append(out, fmt.Sprintf("disk %s: %s, %s, %s, %s", d.Position(), d.File, fmtBytes(d.Capacity), d.Provisioning(), d.Mode))
	}
	for _, n := range c.NICs {
		conn := "connected at power on"
		if !n.StartConnected {
			conn = "not connected at power on"
		}
		ip := ""
		if len(n.IPs) > 0 {
			ip = " " + strings.Join(n.IPs, " ")
		}
		out = append(out, fmt.Sprintf("NIC %s %s%s on %s, %s", n.Type, n.MAC, ip, n.Portgroup, conn))
	}
	if c.DiskEnableUUID != "" {
		out = append(out, "disk.EnableUUID="+c.DiskEnableUUID)
	}
	return out
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

var configProps = []string{"name", "config", "network", "guest.net"}

// VMConfig captures the configuration of a VM (see VMConfig).
func (c *Client) VMConfig(ctx context.Context, ref Ref) (VMConfig, error) {
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), configProps, &vm); err != nil {
		return VMConfig{}, fmt.Errorf("configuration of %s: %w", ref.Value, err)
	}
	if vm.Config == nil {
		return VMConfig{}, fmt.Errorf("configuration of %s: vCenter returned none", vm.Name)
	}
	names, err := c.networkNames(ctx, []mo.VirtualMachine{vm})
	if err != nil {
		return VMConfig{}, err
	}
	// Distributed port groups are named by their key in a NIC's backing.
	pgByKey := map[string]string{}
	var pgs []mo.DistributedVirtualPortgroup
	var pgRefs []types.ManagedObjectReference
	for ref := range names {
		if ref.Type == "DistributedVirtualPortgroup" {
			pgRefs = append(pgRefs, ref)
		}
	}
	if len(pgRefs) > 0 {
		if err := c.PropertyCollector().Retrieve(ctx, pgRefs, []string{"key", "name"}, &pgs); err != nil {
			return VMConfig{}, fmt.Errorf("port groups of %s: %w", vm.Name, err)
		}
		for _, pg := range pgs {
			pgByKey[pg.Key] = pg.Name
		}
	}
	cfg, err := configOf(vm.Config, names, pgByKey)
	if err != nil {
		return cfg, err
	}
	if vm.Guest != nil {
		for i, n := range cfg.NICs {
			cfg.NICs[i].IPs = guestIPs(vm.Guest.Net, n)
		}
	}
	return cfg, nil
}

// guestIPs are the addresses VMware Tools reports for nic: those of the
// guest.net entry of that very device (deviceConfigId, its key), even none
// (the NIC has no address: DHCP). Only when no entry names the device, those
// of the entries with its MAC that name a device. A guest lists more than
// one entry per MAC (a VLAN sub-interface, a bridge or a bond over the NIC:
// deviceConfigId -1), and their addresses are not the NIC's (the last
// entry with the MAC used to win).
func guestIPs(net []types.GuestNicInfo, nic NICConfig) []string {
	var keyed, byMAC []string
	found := false
	for _, g := range net {
		switch {
		case nic.Key != 0 && g.DeviceConfigId == nic.Key:
			keyed, found = append(keyed, g.IpAddress...), true
		case strings.EqualFold(g.MacAddress, nic.MAC) && g.DeviceConfigId != -1:
			byMAC = append(byMAC, g.IpAddress...)
		}
	}
	if !found {
		keyed = byMAC
	}
	return sortIPs(keyed)
}

// sortIPs puts IPv4 addresses first and link-local ones (169.254/16,
// fe80::/10: a guest gives itself those without being given an address)
// last, keeping the order otherwise.
func sortIPs(ips []string) []string {
	out := append([]string(nil), ips...)
	rank := func(s string) int {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			return 3
		case a.IsLinkLocalUnicast():
			return 2
		case a.Is4():
			return 0
		}
		return 1
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func configOf(cfg *types.VirtualMachineConfigInfo, netNames map[types.ManagedObjectReference]string, pgByKey map[string]string) (VMConfig, error) {
	out := VMConfig{
		Name: cfg.Name, GuestID: cfg.GuestId, Firmware: cfg.Firmware, HWVersion: cfg.Version,
		CPUs:     cfg.Hardware.NumCPU,
		MemoryMB: int64(cfg.Hardware.MemoryMB), UUID: cfg.Uuid,
		Controllers: []ControllerConfig{}, Disks: []DiskConfig{}, NICs: []NICConfig{},
	}
	if cps := cfg.Hardware.NumCoresPerSocket; cps != nil {
		out.CoresPerSocket = *cps
	}
	if out.Firmware == "" {
		out.Firmware = string(types.GuestOsDescriptorFirmwareTypeBios)
	}
	if b := cfg.BootOptions; b != nil && b.EfiSecureBootEnabled != nil {
		out.SecureBoot = *b.EfiSecureBootEnabled
	}
	for _, o := range cfg.ExtraConfig {
		if ov := o.GetOptionValue(); strings.EqualFold(ov.Key, "disk.EnableUUID") {
			out.DiskEnableUUID = fmt.Sprint(ov.Value)
		}
	}
	devices := object.VirtualDeviceList(cfg.Hardware.Device)
	ctrls := map[int32]ControllerConfig{}
	used := map[int32]bool{}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		used[d.GetVirtualDevice().ControllerKey] = true
	}
	for _, d := range devices {
		ct, ok := controllerOf(d)
		if !ok {
			continue
		}
		ctrls[d.GetVirtualDevice().Key] = ct
		// Every VM has two IDE controllers; they matter only with a disk.
		if ct.Type != CtrlIDE || used[d.GetVirtualDevice().Key] {
			out.Controllers = append(out.Controllers, ct)
		}
	}
	sort.Slice(out.Controllers, func(i, j int) bool {
		a, b := out.Controllers[i], out.Controllers[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Bus < b.Bus
	})
	for _, d := range devices {
		switch dev := d.(type) {
		case *types.VirtualDisk:
			dc := DiskConfig{Key: dev.Key, Capacity: dev.CapacityInBytes}
			if dc.Capacity == 0 {
				dc.Capacity = dev.CapacityInKB * 1024
			}
			if info := dev.DeviceInfo; info != nil {
				dc.Label = info.GetDescription().Label
			}
			ct, ok := ctrls[dev.ControllerKey]
			if !ok {
				return out, fmt.Errorf("VM %s: disk %s is on controller %d, which the VM does not have", cfg.Name, dc.Label, dev.ControllerKey)
			}
			dc.ControllerType, dc.Bus = ct.Type, ct.Bus
			if dev.UnitNumber != nil {
				dc.Unit = *dev.UnitNumber
			}
			// The disk's base (its identity, and the format the target's
			// disk takes), also while a snapshot's delta takes the writes.
			switch b := baseOf(dev.Backing).(type) {
			case *types.VirtualDiskFlatVer2BackingInfo:
				dc.File, dc.Mode = b.FileName, b.DiskMode
				dc.Thin = b.ThinProvisioned != nil && *b.ThinProvisioned
				dc.EagerlyScrub = b.EagerlyScrub != nil && *b.EagerlyScrub
			case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
				dc.File, dc.Mode = b.FileName, b.DiskMode
			case types.BaseVirtualDeviceFileBackingInfo:
				dc.File = b.GetVirtualDeviceFileBackingInfo().FileName
			}
			out.Disks = append(out.Disks, dc)
		case types.BaseVirtualEthernetCard:
			card := dev.GetVirtualEthernetCard()
			n := NICConfig{Type: NICType(d), MAC: strings.ToLower(card.MacAddress), Key: card.Key}
			if info := card.DeviceInfo; info != nil {
				n.Label = info.GetDescription().Label
			}
			if cn := card.Connectable; cn != nil {
				n.StartConnected = cn.StartConnected
			}
			switch b := card.Backing.(type) {
			case *types.VirtualEthernetCardNetworkBackingInfo:
				n.Portgroup = b.DeviceName
				if n.Portgroup == "" && b.Network != nil {
					n.Portgroup = netNames[*b.Network]
				}
			case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
				n.Portgroup = pgByKey[b.Port.PortgroupKey]
			case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
				n.Portgroup = b.OpaqueNetworkId
			}
			out.NICs = append(out.NICs, n)
		}
	}
	sort.SliceStable(out.Disks, func(i, j int) bool {
		a, b := out.Disks[i], out.Disks[j]
		if a.ControllerType != b.ControllerType {
			return a.ControllerType < b.ControllerType
		}
		if a.Bus != b.Bus {
			return a.Bus < b.Bus
		}
		return a.Unit < b.Unit
	})
	return out, nil
}

// controllerOf describes a disk controller device.
func controllerOf(d types.BaseVirtualDevice) (ControllerConfig, bool) {
	var ct ControllerConfig
	switch c := d.(type) {
	case *types.ParaVirtualSCSIController:
		ct = ControllerConfig{Type: CtrlPVSCSI, Bus: c.BusNumber, Sharing: string(c.SharedBus)}
	case *types.VirtualLsiLogicSASController:
		ct = ControllerConfig{Type: CtrlLSISAS, Bus: c.BusNumber, Sharing: string(c.SharedBus)}
	case *types.VirtualLsiLogicController:
		ct = ControllerConfig{Type: CtrlLSILogic, Bus: c.BusNumber, Sharing: string(c.SharedBus)}
	case *types.VirtualBusLogicController:
		ct = ControllerConfig{Type: CtrlBusLogic, Bus: c.BusNumber, Sharing: string(c.SharedBus)}
	case *types.VirtualNVMEController:
		ct = ControllerConfig{Type: CtrlNVMe, Bus: c.BusNumber}
	case *types.VirtualAHCIController:
		ct = ControllerConfig{Type: CtrlSATA, Bus: c.BusNumber}
	case *types.VirtualIDEController:
		ct = ControllerConfig{Type: CtrlIDE, Bus: c.BusNumber}
	default:
		return ct, false
	}
	return ct, true
}

// NICType names a network adapter's type as govmomi's CreateEthernetCard
// takes it: vmxnet3, e1000e, e1000, vmxnet2, pcnet32, sriov, ...
func NICType(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.VirtualSriovEthernetCard:
		return "sriov"
	case *types.VirtualPCNet32:
		return "pcnet32"
	}
	return strings.ToLower(strings.TrimPrefix(reflect.TypeOf(d).Elem().Name(), "Virtual"))
}
