package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Disk kinds of lab VMs (VMSpec.Disk). The empty kind is a thin base disk on
// a VMFS datastore, which ferry reads host-direct. Every other kind is one
// that ferry's transport cannot read, and that preflight must refuse: the
// lab shapes the VM's disk as vCenter and ESXi would show it (the device
// backing and the descriptor on the datastore).
const (
	DiskIndependentPersistent    = "independent-persistent"
	DiskIndependentNonpersistent = "independent-nonpersistent"
	DiskRDMPhysical              = "rdm-physical"
	DiskRDMVirtual               = "rdm-virtual"
	DiskVSAN                     = "vsan"
	DiskVVol                     = "vvol"
	DiskEncrypted                = "encrypted"
	DiskSEsparse                 = "sesparse-delta"
	DiskVMFSSparse               = "vmfssparse-delta" // a linked clone's delta disk
	DiskSnapshot                 = "snapshot"         // a base disk, but the VM has a snapshot of its own
)

func validDiskKind(k string) bool {
	switch k {
	case "", DiskIndependentPersistent, DiskIndependentNonpersistent, DiskRDMPhysical, DiskRDMVirtual,
		DiskVSAN, DiskVVol, DiskEncrypted, DiskSEsparse, DiskVMFSSparse, DiskSnapshot:
		return true
	}
	return false
}

// RefusedVMs are the on-prem VMs preflight must refuse, one per reason, by
// disk kind. They run (the refusal is about their disks, not their power).
var RefusedVMs = []VMSpec{
	{Name: "fileserver-indep", Disk: DiskIndependentPersistent, IP: "172.16.10.31"},
	{Name: "kiosk-nonpersistent", Disk: DiskIndependentNonpersistent, IP: "172.16.10.32"},
	{Name: "oracle-rdm-physical", Disk: DiskRDMPhysical, IP: "172.16.10.33"},
	{Name: "sql-rdm-virtual", Disk: DiskRDMVirtual, IP: "172.16.10.34"},
	{Name: "vdi-vsan", Disk: DiskVSAN, IP: "172.16.10.35", Datastore: "vsanDatastore"},
	{Name: "erp-vvol", Disk: DiskVVol, IP: "172.16.10.36", Datastore: "vvol-ds"},
	{Name: "hr-encrypted", Disk: DiskEncrypted, IP: "172.16.10.37"},
	{Name: "test-sesparse-clone", Disk: DiskSEsparse, IP: "172.16.10.38"},
	{Name: "dev-linked-clone", Disk: DiskVMFSSparse, IP: "172.16.10.39"},
	{Name: "build-with-snapshot", Disk: DiskSnapshot, IP: "172.16.10.40"},
}

// refusedDiskSize keeps the refused VMs' disks small.
const refusedDiskSize = 8 << 20

// descriptor is what ESXi writes into a disk's descriptor file.
type descriptor struct {
	createType string
	parentCID  string // "ffffffff" for a base disk
	parentHint string // parentFileNameHint of a delta disk
	extentType string // VMFS, VMFSRDM, SESPARSE, VMFSSPARSE, VSANSPARSE, VVOL
	extent     string // the extent's file name (or vsan:// / vvol:// URI)
	sectors    int64
	thin       bool
	encrypted  bool
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ddbUUID formats 16 random bytes as ESXi's ddb.uuid ("60 00 C2 9a ...").
func ddbUUID() string {
	h := randomHex(16)
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, " ")
}

// bytes renders the descriptor as ESXi 8 writes it.
func (d descriptor) bytes() []byte {
	var b strings.Builder
	b.WriteString("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n")
	fmt.Fprintf(&b, "CID=%s\nparentCID=%s\n", randomHex(4), d.parentCID)
	fmt.Fprintf(&b, "createType=%q\n", d.createType)
	if d.parentHint != "" {
		fmt.Fprintf(&b, "parentFileNameHint=%q\n", d.parentHint)
	}
	if d.encrypted {
		fmt.Fprintf(&b, "encryptionKeys=%q\n", "vmware:key/list/(pair/(fqid/<VMWARE-NULL>/lab-kms/"+randomHex(16)+",HMAC-SHA-256,"+randomHex(24)+"))")
	}
	fmt.Fprintf(&b, "\n# Extent description\nRW %d %s %q\n\n", d.sectors, d.extentType, d.extent)
	b.WriteString("# The Disk Data Base\n#DDB\n\n")
	cyl := d.sectors / (255 * 63)
	fmt.Fprintf(&b, "ddb.adapterType = \"pvscsi\"\nddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n", cyl)
	fmt.Fprintf(&b, "ddb.longContentID = %q\n", randomHex(16))
	if d.thin {
		b.WriteString("ddb.thinProvisioned = \"1\"\n")
	}
	fmt.Fprintf(&b, "ddb.uuid = %q\nddb.virtualHWVersion = \"19\"\n", ddbUUID())
	return []byte(b.String())
}

// shapeDisks gives every VM of spec the disk ESXi would show: an
// ESXi-format descriptor (createType "vmfs", parentCID ffffffff, ddb.uuid,
// the extent named in the extent line) for a base disk, and for the kinds
// in RefusedVMs the device backing and descriptor of that kind.
func shapeDisks(ctx context.Context, m *simulator.Model, c *govmomi.Client, spec VCenterSpec) error {
	reg := m.Map()
	byName := map[string]*simulator.VirtualMachine{}
	for _, o := range reg.All("VirtualMachine") {
		if vm, ok := o.(*simulator.VirtualMachine); ok {
			byName[vm.Name] = vm
		}
	}
	for _, vs := range spec.VMs {
		vm := byName[vs.Name]
		if vm == nil {
			return fmt.Errorf("VM %s not found after creation", vs.Name)
		}
		var err error
		reg.WithLock(&simulator.Context{}, vm, func() { err = shapeVM(m, vm, vs) })
		if err != nil {
			return fmt.Errorf("VM %s: %w", vs.Name, err)
		}
		if vs.Disk == DiskSnapshot {
			task, err := object.NewVirtualMachine(c.Client, vm.Self).CreateSnapshot(ctx, "before-upgrade", "taken by the admin", false, false)
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				return fmt.Errorf("VM %s: snapshot: %w", vs.Name, err)
			}
		}
	}
	return nil
}

// shapeVM runs with vm locked.
func shapeVM(m *simulator.Model, vm *simulator.VirtualMachine, vs VMSpec) error {
	if vs.Disk != "" {
		// vcsim derives MACs from a short hash: give the refused VMs
		// manual ones of their own (from their IP), so none shares a MAC
		// with a VM the lab's guest model follows.
		ip := net.ParseIP(vs.IP).To4()
		if ip == nil {
			return fmt.Errorf("refused VM %s needs an IPv4 address", vs.Name)
		}
		for _, dev := range vm.Config.Hardware.Device {
			if nic, ok := dev.(types.BaseVirtualEthernetCard); ok {
				c := nic.GetVirtualEthernetCard()
				c.AddressType = string(types.VirtualEthernetCardMacTypeManual)
				c.MacAddress = fmt.Sprintf("00:50:56:3f:%02x:%02x", ip[2], ip[3])
			}
		}
	}
	for _, dev := range vm.Config.Hardware.Device {
		vd, ok := dev.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		var p object.DatastorePath
		if !p.FromString(b.FileName) {
			return fmt.Errorf("bad disk file name %q", b.FileName)
		}
		ds, ok := b.Datastore, b.Datastore != nil
		if !ok {
			return fmt.Errorf("disk %s has no datastore", b.FileName)
		}
		sds, ok := m.Map().Get(*ds).(*simulator.Datastore)
		if !ok {
			return fmt.Errorf("datastore %s not found", ds.Value)
		}
		descPath := filepath.Join(sds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path))
		base := strings.TrimSuffix(filepath.Base(p.Path), ".vmdk")
		capacity := vd.CapacityInBytes
		if capacity == 0 {
			capacity = vd.CapacityInKB * 1024
		}
		d := descriptor{createType: "vmfs", parentCID: "ffffffff", extentType: "VMFS", extent: base + "-flat.vmdk",
			sectors: capacity / 512, thin: b.ThinProvisioned != nil && *b.ThinProvisioned}
		if vs.Extent != "" {
			// The descriptor was renamed, its extent kept its name.
			dir := filepath.Dir(descPath)
			if err := os.Rename(filepath.Join(dir, d.extent), filepath.Join(dir, vs.Extent)); err != nil {
				return fmt.Errorf("extent: %w", err)
			}
			d.extent = vs.Extent
		}
		switch vs.Disk {
		case "", DiskSnapshot:
		case DiskIndependentPersistent:
			b.DiskMode = string(types.VirtualDiskModeIndependent_persistent)
		case DiskIndependentNonpersistent:
			b.DiskMode = string(types.VirtualDiskModeIndependent_nonpersistent)
		case DiskRDMPhysical, DiskRDMVirtual:
			mode, ct, ext := types.VirtualDiskCompatibilityModePhysicalMode, "vmfsPassthroughRawDeviceMap", base+"-rdmp.vmdk"
			if vs.Disk == DiskRDMVirtual {
				mode, ct, ext = types.VirtualDiskCompatibilityModeVirtualMode, "vmfsRawDeviceMap", base+"-rdm.vmdk"
			}
			vd.Backing = &types.VirtualDiskRawDiskMappingVer1BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: b.FileName, Datastore: b.Datastore},
				LunUuid:                      "0200000000" + randomHex(16),
				DeviceName:                   "vml.0200000000" + randomHex(16),
				CompatibilityMode:            string(mode),
				DiskMode:                     string(types.VirtualDiskModePersistent),
				Uuid:                         b.Uuid,
			}
			d.createType, d.extentType, d.extent, d.thin = ct, "VMFSRDM", ext, false
			if err := os.WriteFile(filepath.Join(filepath.Dir(descPath), ext), nil, 0o644); err != nil {
				return err
			}
		case DiskVSAN:
			sds.Summary.Type = "vsan"
			d.createType, d.extentType, d.extent = "vsanSparse", "VSANSPARSE", "vsan://52"+randomHex(15)
		case DiskVVol:
			sds.Summary.Type = "VVOL"
			d.extentType, d.extent = "VVOL", "vvol://"+randomHex(16)+"/"+randomHex(16)
		case DiskEncrypted:
			b.KeyId = &types.CryptoKeyId{KeyId: randomHex(16), ProviderId: &types.KeyProviderId{Id: "lab-kms"}}
			vm.Config.KeyId = b.KeyId
			d.encrypted = true
		case DiskSEsparse, DiskVMFSSparse:
			// A linked clone: the VM runs on a delta disk whose parent is
			// the base disk created with it.
			parent := *b
			deltaName := base + "-000001.vmdk"
			deltaFile := (&object.DatastorePath{Datastore: p.Datastore, Path: filepath.ToSlash(filepath.Join(filepath.Dir(p.Path), deltaName))}).String()
			d2 := descriptor{parentCID: randomHex(4), parentHint: filepath.Base(p.Path), sectors: d.sectors}
			if vs.Disk == DiskSEsparse {
				vd.Backing = &types.VirtualDiskSeSparseBackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: deltaFile, Datastore: b.Datastore},
					DiskMode:                     string(types.VirtualDiskModePersistent),
					Parent:                       &types.VirtualDiskSeSparseBackingInfo{VirtualDeviceFileBackingInfo: parent.VirtualDeviceFileBackingInfo, DiskMode: parent.DiskMode},
					Uuid:                         b.Uuid,
				}
				d2.createType, d2.extentType, d2.extent = "seSparse", "SESPARSE", base+"-000001-sesparse.vmdk"
			} else {
				nb := *b
				nb.FileName = deltaFile
				nb.Parent = &parent
				vd.Backing = &nb
				d2.createType, d2.extentType, d2.extent = "vmfsSparse", "VMFSSPARSE", base+"-000001-delta.vmdk"
			}
			dir := filepath.Dir(descPath)
			if err := os.WriteFile(filepath.Join(dir, deltaName), d2.bytes(), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, d2.extent), nil, 0o644); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown disk kind %q", vs.Disk)
		}
		if err := os.WriteFile(descPath, d.bytes(), 0o644); err != nil {
			return fmt.Errorf("descriptor: %w", err)
		}
	}
	return nil
}
