package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
)

// guestInstall is what a source VM's guest OS was installed with: the
// hardware it expects to find when it boots somewhere else. A migrated VM
// boots only on the same firmware, with each disk at the controller type,
// bus and unit the guest knows it by (a Windows guest installed on LSI
// Logic SAS has no pvscsi driver for its boot disk; Linux mounts by
// device), each NIC of the same type with the same MAC (a new adapter type
// is a new interface without the static IP), and disks holding the source's
// bytes.
type guestInstall struct {
	firmware   string
	secureBoot bool
	disks      []installedDisk
	nics       []installedNIC
}

type installedDisk struct {
	ctrl      string // controller type
	bus, unit int32
	file      string // the source disk's datastore path
}

func (d installedDisk) pos() string { return fmt.Sprintf("%s%d:%d", d.ctrl, d.bus, d.unit) }

type installedNIC struct {
	typ, mac string
}

// labCtrlType names a disk controller's type (as govmomi's device list does).
func labCtrlType(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.ParaVirtualSCSIController:
		return "pvscsi"
	case *types.VirtualLsiLogicSASController:
		return "lsilogic-sas"
	case *types.VirtualLsiLogicController:
		return "lsilogic"
	case *types.VirtualBusLogicController:
		return "buslogic"
	case *types.VirtualNVMEController:
		return "nvme"
	case *types.VirtualAHCIController:
		return "ahci"
	case *types.VirtualIDEController:
		return "ide"
	}
	return ""
}

func labFirmware(cfg *types.VirtualMachineConfigInfo) (string, bool) {
	fw := cfg.Firmware
	if fw == "" {
		fw = string(types.GuestOsDescriptorFirmwareTypeBios)
	}
	sb := cfg.BootOptions != nil && cfg.BootOptions.EfiSecureBootEnabled != nil && *cfg.BootOptions.EfiSecureBootEnabled
	return fw, sb
}

// installOf reads what a source VM's guest was installed with.
func installOf(cfg *types.VirtualMachineConfigInfo) guestInstall {
	var g guestInstall
	g.firmware, g.secureBoot = labFirmware(cfg)
	devices := object.VirtualDeviceList(cfg.Hardware.Device)
	for _, d := range devices {
		switch dev := d.(type) {
		case *types.VirtualDisk:
			ctrl := devices.FindByKey(dev.ControllerKey)
			if ctrl == nil {
				continue
			}
			id := installedDisk{ctrl: labCtrlType(ctrl)}
			if c, ok := ctrl.(types.BaseVirtualController); ok {
				id.bus = c.GetVirtualController().BusNumber
			}
			if dev.UnitNumber != nil {
				id.unit = *dev.UnitNumber
			}
			// The base's file, where the lab keeps the disk's content
			// (a snapshotted disk's backing names its delta).
			id.file = cbt.BaseFile(dev.Backing)
			g.disks = append(g.disks, id)
		case types.BaseVirtualEthernetCard:
			g.nics = append(g.nics, installedNIC{typ: labNICType(d), mac: strings.ToLower(dev.GetVirtualEthernetCard().MacAddress)})
		}
	}
	return g
}

// withDisksOf is g with the disks of now (what the source VM has now) at
// positions g has none at: a disk added to the running source is one its
// guest formats and mounts (an fstab entry, a drive letter), and needs
// wherever it boots next. A disk removed stays: its guest still expects it.
func (g guestInstall) withDisksOf(now guestInstall) guestInstall {
	for _, d := range now.disks {
		if !slices.ContainsFunc(g.disks, func(x installedDisk) bool { return x.pos() == d.pos() }) {
			g.disks = append(slices.Clip(g.disks), d)
		}
	}
	return g
}

// boots decides whether the guest installed as g comes up on the VM whose
// configuration is cfg at the provider. It returns "" when it boots, or why
// it does not. Disk bytes are compared through the datastores' directories.
func (g guestInstall) boots(cfg *types.VirtualMachineConfigInfo, source, target *simulator.Model) string {
	why, disks := g.hardware(cfg)
	if why != "" {
		return why
	}
	return disks.bytesWhy(source, target)
}

// diskPair is a disk the guest was installed on (file on the source) and
// the disk at its position on the provider VM.
type diskPair struct{ pos, src, dst string }

type diskPairs []diskPair

// bytesWhy says which disk does not hold the source's bytes ("" when all do).
func (ps diskPairs) bytesWhy(source, target *simulator.Model) string {
	for _, p := range ps {
		if why := sameBytes(source, p.src, target, p.dst); why != "" {
			return fmt.Sprintf("disk at %s: %s", p.pos, why)
		}
	}
	return ""
}

// passWhy is bytesWhy for a guest that may also boot from a consistent
// replication pass: its disks hold the source's bytes now, or all of them
// hold the source as of one and the same snapshot (images gives each source
// flat file's snapshot images, cbt.Tracker.Images). A replica caught in the
// middle of a pass matches neither: a disk no guest can boot from.
func (ps diskPairs) passWhy(source, target *simulator.Model, images func(flat string) []cbt.Image) string {
	why := ps.bytesWhy(source, target)
	if why == "" || images == nil {
		return why
	}
	var common map[int64]bool // snapshot sequence numbers every disk matches
	for _, p := range ps {
		a, err := flatOf(source, p.src)
		if err != nil {
			return why
		}
		b, err := contentOf(target, p.dst)
		if err != nil {
			return why
		}
		match := map[int64]bool{}
		for _, im := range images(a) {
			if (common == nil || common[im.Seq]) && sameAsImage(im, a, b) {
				match[im.Seq] = true
			}
		}
		common = match
		if len(common) == 0 {
			return why + "; nor does it hold the source as of any of its snapshots (a replica caught in the middle of a pass is not a consistent disk)"
		}
	}
	return ""
}

// hardware checks what the guest finds at power-on: firmware, secure boot,
// its disks at the positions it was installed on, its NICs with their types
// and MACs. It returns why the guest does not boot, or the disks whose bytes
// decide whether it runs.
func (g guestInstall) hardware(cfg *types.VirtualMachineConfigInfo) (string, diskPairs) {
	fw, sb := labFirmware(cfg)
	if fw != g.firmware {
		return fmt.Sprintf("firmware is %s but the guest was installed with %s: no bootable device", fw, g.firmware), nil
	}
	if sb != g.secureBoot {
		return fmt.Sprintf("EFI secure boot is %v but the guest was installed with it %v", onOff(sb), onOff(g.secureBoot)), nil
	}
	var pairs diskPairs
	devices := object.VirtualDeviceList(cfg.Hardware.Device)
	type placed struct {
		ctrl string
		file string
	}
	at := map[string]placed{} // "bus:unit" on a controller type -> disk
	byBusUnit := map[string]string{}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		dev := d.(*types.VirtualDisk)
		ctrl := devices.FindByKey(dev.ControllerKey)
		if ctrl == nil || dev.UnitNumber == nil {
			continue
		}
		c, ok := ctrl.(types.BaseVirtualController)
		if !ok {
			continue
		}
		typ, bus := labCtrlType(ctrl), c.GetVirtualController().BusNumber
		file := ""
		if b, ok := dev.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			file = b.GetVirtualDeviceFileBackingInfo().FileName
		}
		at[fmt.Sprintf("%s%d:%d", typ, bus, *dev.UnitNumber)] = placed{ctrl: typ, file: file}
		byBusUnit[fmt.Sprintf("%s:%d:%d", busClass(typ), bus, *dev.UnitNumber)] = fmt.Sprintf("%s%d:%d", typ, bus, *dev.UnitNumber)
	}
	for i, d := range g.disks {
		p, ok := at[d.pos()]
		if !ok {
			what := "disk"
			if i == 0 {
				what = "boot disk"
			}
			if other, ok := byBusUnit[fmt.Sprintf("%s:%d:%d", busClass(d.ctrl), d.bus, d.unit)]; ok {
				return fmt.Sprintf("%s %d is at %s but the guest was installed on %s and has no driver for that controller: inaccessible boot device", what, i+1, other, d.pos()), nil
			}
			return fmt.Sprintf("%s %d: no disk at %s, where the guest was installed", what, i+1, d.pos()), nil
		}
		pairs = append(pairs, diskPair{pos: d.pos(), src: d.file, dst: p.file})
	}
	cards := map[string]string{}
	for _, d := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		cards[strings.ToLower(d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress)] = labNICType(d)
	}
	for _, n := range g.nics {
		typ, ok := cards[n.mac]
		if !ok {
			return fmt.Sprintf("no NIC with MAC %s: the guest's %s interface and its address are gone", n.mac, n.typ), nil
		}
		if typ != n.typ {
			return fmt.Sprintf("NIC %s is %s but the guest was installed with %s: a new adapter without the static IP", n.mac, typ, n.typ), nil
		}
	}
	return "", pairs
}

// busClass groups controller types whose unit numbering is the same, so
// "the disk is at the same position on another kind of controller" can be
// told apart from "no disk there".
func busClass(typ string) string {
	switch typ {
	case "pvscsi", "lsilogic", "lsilogic-sas", "buslogic":
		return "scsi"
	}
	return typ
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// flatOf finds a disk's flat extent on the model's datastores, from its
// descriptor's extent line.
func flatOf(m *simulator.Model, file string) (string, error) {
	return dsfile.Flat(m, file)
}

// contentOf finds the file that holds a provider disk's content as seen
// through its chain: the flat extent of a base disk, the delta extent of a
// child disk or of a disk frozen by a snapshot (contentFile: the lab keeps
// a chain's whole content in its top extent). A test copy at the provider
// runs on child disks of the replicas.
func contentOf(m *simulator.Model, file string) (string, error) {
	p, err := dsfile.Local(m, file)
	if err != nil {
		return "", err
	}
	return contentFile(p)
}

// sameBytes compares two disks' contents (a shorter file reads as zeros up
// to the longer one's size); "" when equal.
func sameBytes(sm *simulator.Model, src string, tm *simulator.Model, dst string) string {
	a, err := flatOf(sm, src)
	if err != nil {
		return "source disk: " + err.Error()
	}
	b, err := contentOf(tm, dst)
	if err != nil {
		return "disk " + dst + ": " + err.Error()
	}
	fa, err := os.Open(a)
	if err != nil {
		return err.Error()
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err.Error()
	}
	defer fb.Close()
	off, err := firstDiff(fa, fa, fb)
	if err != nil {
		return err.Error()
	}
	if off >= 0 {
		return fmt.Sprintf("%s does not hold the bytes of the source's %s (first difference in the MiB at %d): the guest finds a corrupt disk", dst, src, off)
	}
	return ""
}

// sameAsImage reports whether the flat file at local path b holds the
// source flat file a as of snapshot image im.
func sameAsImage(im cbt.Image, a, b string) bool {
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	off, err := firstDiff(im, fa, fb)
	return err == nil && off < 0
}

// firstDiff compares the content ra (the source disk, now or as of a
// snapshot) with the file fb, and returns the offset of the first MiB where
// they differ, or -1. A shorter file reads as zeros up to the longer one's
// size. Only the MiB that hold data in fa (the source's flat file, whose
// data covers every snapshot image of it) or fb are read: holes both share
// are zeros on both (the lab's disks are sparse; reading every hole would
// make a guest's "boot" take time proportional to the disk's size, which a
// real guest's does not).
func firstDiff(ra io.ReaderAt, fa, fb *os.File) (int64, error) {
	const mib = 1 << 20
	ba, bb := make([]byte, mib), make([]byte, mib)
	for off := int64(0); ; off += int64(len(ba)) {
		da, oka := cbt.NextData(fa, off)
		db, okb := cbt.NextData(fb, off)
		switch {
		case !oka && !okb:
			return -1, nil
		case !oka:
			off = db
		case !okb:
			off = da
		default:
			off = min(da, db)
		}
		off -= off % mib
		na, ea := ra.ReadAt(ba, off)
		nb, eb := fb.ReadAt(bb, off)
		if ea != nil && !errors.Is(ea, io.EOF) {
			return 0, ea
		}
		if eb != nil && !errors.Is(eb, io.EOF) {
			return 0, eb
		}
		n := max(na, nb)
		clear(ba[na:n])
		clear(bb[nb:n])
		if !bytes.Equal(ba[:n], bb[:n]) {
			return off, nil
		}
		if n == 0 {
			return -1, nil
		}
	}
}

// labNICType names a network adapter's type as govmomi's CreateEthernetCard
// takes it: vmxnet3, e1000e, e1000, vmxnet2, pcnet32, sriov, ...
func labNICType(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.VirtualSriovEthernetCard:
		return "sriov"
	case *types.VirtualPCNet32:
		return "pcnet32"
	}
	return strings.ToLower(strings.TrimPrefix(reflect.TypeOf(d).Elem().Name(), "Virtual"))
}
