package lab

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// GuestVM is a lab source VM with a hardware layout of its own, beside the
// walkthrough's WebApp1..3 (one pvscsi disk, one vmxnet3 NIC, BIOS): the
// layouts a migration must carry over for the guest to boot at the
// provider (see guestModel).
type GuestVM struct {
	Name, IP       string
	GuestID        string
	Firmware       string // bios | efi
	SecureBoot     bool
	HWVersion      string // vmx-NN
	CPUs           int32
	CoresPerSocket int32
	MemoryMB       int64
	Controllers    []GuestController
	Disks          []GuestDisk
	NICs           []GuestNIC
	EnableUUID     bool // extraConfig disk.EnableUUID=TRUE
	Seed           int64
}

// GuestController is a disk controller: type as govmomi names it
// (lsilogic-sas, pvscsi, lsilogic, ...) and bus number.
type GuestController struct {
	Type string
	Bus  int32
}

// GuestDisk sits on Controllers[Controller] at Unit; Size 0 is the lab's
// disk size.
type GuestDisk struct {
	Controller int
	Unit       int32
	Size       int64
}

// GuestNIC is a network adapter of a type (vmxnet3, e1000e, e1000) on a
// port group.
type GuestNIC struct {
	Type, Portgroup string
}

// SecondPortgroup is the on-prem port group of the lab's second network
// (not stretched): a migrated NIC on it needs a networks: mapping.
const SecondPortgroup = "backend-network"

// guestVMs are the heterogeneous source VMs, on the web network with the
// WebApps (their first NIC carries the guest IP).
var guestVMs = []GuestVM{
	{
		Name: "WinSrv1", IP: "172.16.10.21", GuestID: string(types.VirtualMachineGuestOsIdentifierWindows2019srv_64Guest),
		Firmware: string(types.GuestOsDescriptorFirmwareTypeEfi), SecureBoot: true, HWVersion: "vmx-19",
		CPUs: 4, CoresPerSocket: 2, MemoryMB: 4096,
		Controllers: []GuestController{{Type: "lsilogic-sas", Bus: 0}, {Type: "pvscsi", Bus: 1}},
		Disks:       []GuestDisk{{Controller: 0, Unit: 0}, {Controller: 0, Unit: 1}, {Controller: 1, Unit: 0}},
		NICs:        []GuestNIC{{Type: "e1000e", Portgroup: "company-network"}, {Type: "vmxnet3", Portgroup: SecondPortgroup}},
		EnableUUID:  true, Seed: 21,
	},
	{
		Name: "LinuxDB1", IP: "172.16.10.22", GuestID: string(types.VirtualMachineGuestOsIdentifierRhel8_64Guest),
		Firmware: string(types.GuestOsDescriptorFirmwareTypeBios), HWVersion: "vmx-15",
		CPUs: 2, MemoryMB: 2048,
		Controllers: []GuestController{{Type: "lsilogic", Bus: 0}},
		Disks:       []GuestDisk{{Controller: 0, Unit: 0}},
		NICs:        []GuestNIC{{Type: "vmxnet3", Portgroup: "company-network"}},
		Seed:        22,
	},
}

// GuestVMs lists the heterogeneous source VMs (a copy).
func GuestVMs() []GuestVM { return append([]GuestVM(nil), guestVMs...) }

// DiskFile is the datastore path of disk i of the VM: name.vmdk, then
// name_1.vmdk, name_2.vmdk, ...
func (g GuestVM) DiskFile(ds string, i int) string {
	if i == 0 {
		return fmt.Sprintf("[%s] %s/%s.vmdk", ds, g.Name, g.Name)
	}
	return fmt.Sprintf("[%s] %s/%s_%d.vmdk", ds, g.Name, g.Name, i)
}

// FlatFiles are the flat files of the VM's disks in the lab directory.
func (vc *VCenter) guestFlat(g GuestVM, i int) string {
	if i == 0 {
		return filepath.Join(vc.DatastoreDir, g.Name, g.Name+"-flat.vmdk")
	}
	return filepath.Join(vc.DatastoreDir, g.Name, fmt.Sprintf("%s_%d-flat.vmdk", g.Name, i))
}

// createGuestVMs creates and powers on the heterogeneous source VMs through
// the vSphere API, after the walkthrough's inventory exists.
func createGuestVMs(ctx context.Context, vc *VCenter, diskSize int64) error {
	u := *vc.Server.URL
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return fmt.Errorf("lab vCenter %s: login: %w", vc.Spec.Name, err)
	}
	defer c.Logout(context.WithoutCancel(ctx))
	f := find.NewFinder(c.Client, true)
	dc, err := f.Datacenter(ctx, vc.Spec.Datacenter)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	pool, err := f.ResourcePool(ctx, vc.Spec.Cluster+"/Resources")
	if err != nil {
		return err
	}
	hosts, err := f.HostSystemList(ctx, "*")
	if err != nil {
		return err
	}
	ds, err := f.Datastore(ctx, vc.Spec.Datastore)
	if err != nil {
		return err
	}
	for i, g := range guestVMs {
		if err := createGuestVM(ctx, c, f, folders.VmFolder, pool, hosts[i%len(hosts)], ds, vc, g, diskSize); err != nil {
			return fmt.Errorf("lab VM %s: %w", g.Name, err)
		}
	}
	return nil
}

func createGuestVM(ctx context.Context, c *govmomi.Client, f *find.Finder, folder *object.Folder, pool *object.ResourcePool, host *object.HostSystem, ds *object.Datastore, vc *VCenter, g GuestVM, diskSize int64) error {
	var devices object.VirtualDeviceList
	var ctrlKeys []int32
	for i, ct := range g.Controllers {
		d, err := devices.CreateSCSIController(ct.Type)
		if err != nil {
			return err
		}
		scsi := d.(types.BaseVirtualSCSIController).GetVirtualSCSIController()
		scsi.BusNumber = ct.Bus
		scsi.Key = int32(-100 - i)
		devices = append(devices, d)
		ctrlKeys = append(ctrlKeys, scsi.Key)
	}
	for i, gd := range g.Disks {
		size := gd.Size
		if size == 0 {
			size = diskSize
		}
		ctrl := devices.FindByKey(ctrlKeys[gd.Controller]).(types.BaseVirtualController)
		disk := devices.CreateDisk(ctrl, ds.Reference(), g.DiskFile(vc.Spec.Datastore, i))
		unit := gd.Unit
		disk.UnitNumber = &unit
		disk.Key = int32(-200 - i)
		disk.CapacityInKB = size / 1024
		disk.CapacityInBytes = size
		disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = types.NewBool(true)
		devices = append(devices, disk)
	}
	for i, n := range g.NICs {
		pg, err := f.Network(ctx, n.Portgroup)
		if err != nil {
			return fmt.Errorf("port group %s: %w", n.Portgroup, err)
		}
		backing, err := pg.EthernetCardBackingInfo(ctx)
		if err != nil {
			return err
		}
		nic, err := devices.CreateEthernetCard(n.Type, backing)
		if err != nil {
			return err
		}
		nic.GetVirtualDevice().Key = int32(-300 - i)
		devices = append(devices, nic)
	}
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if _, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
			ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	extra := []types.BaseOptionValue{
		&types.OptionValue{Key: "SET.guest.ipAddress", Value: g.IP},
		&types.OptionValue{Key: "SET.guest.hostName", Value: g.Name},
		&types.OptionValue{Key: "SET.guest.toolsRunningStatus", Value: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
	}
	if g.EnableUUID {
		extra = append(extra, &types.OptionValue{Key: "disk.EnableUUID", Value: "TRUE"})
	}
	cps := g.CoresPerSocket
	cfg := types.VirtualMachineConfigSpec{
		Name: g.Name, GuestId: g.GuestID, Version: g.HWVersion, Firmware: g.Firmware,
		NumCPUs: g.CPUs, MemoryMB: g.MemoryMB,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s", vc.Spec.Datastore, g.Name)},
		DeviceChange: changes,
		ExtraConfig:  extra,
	}
	if cps > 0 {
		cfg.NumCoresPerSocket = &cps
	}
	if g.SecureBoot {
		cfg.BootOptions = &types.VirtualMachineBootOptions{EfiSecureBootEnabled: types.NewBool(true)}
	}
	task, err := folder.CreateVM(ctx, cfg, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return err
	}
	for i, gd := range g.Disks {
		size := gd.Size
		if size == 0 {
			size = diskSize
		}
		if err := fillDisk(vc.guestFlat(g, i), size, g.Seed*100+int64(i)); err != nil {
			return fmt.Errorf("disk %d content: %w", i, err)
		}
	}
	vm := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
	if task, err = vm.PowerOn(ctx); err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("power on: %w", err)
	}
	return nil
}
