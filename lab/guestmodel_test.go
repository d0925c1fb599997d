package lab_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/vsphere"
)

// cloudCopy describes a provider VM built from a source VM's layout; the
// mutations of a test change it before it is created.
type cloudCopy struct {
	firmware   string
	secureBoot bool
	ctrls      []types.BaseVirtualDevice // disk controllers, with their bus numbers
	disks      []copyDisk
	nics       []copyNIC
}

type copyDisk struct {
	ctrl     int // index in ctrls
	unit     int32
	srcFlat  string
	capacity int64
}

type copyNIC struct {
	typ, mac string
}

// sourceLayout reads the source VM's layout through the vSphere API.
func sourceLayout(t *testing.T, l *lab.Lab, c *vsphere.Client, name string) cloudCopy {
	t.Helper()
	ctx := context.Background()
	src, err := c.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, src.Ref.Reference(), []string{"config"}, &vm); err != nil {
		t.Fatal(err)
	}
	cc := cloudCopy{firmware: vm.Config.Firmware}
	if b := vm.Config.BootOptions; b != nil && b.EfiSecureBootEnabled != nil {
		cc.secureBoot = *b.EfiSecureBootEnabled
	}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	idx := map[int32]int{}
	for _, d := range devices.SelectByType((*types.VirtualSCSIController)(nil)) {
		idx[d.GetVirtualDevice().Key] = len(cc.ctrls)
		cc.ctrls = append(cc.ctrls, d)
	}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		disk := d.(*types.VirtualDisk)
		// The base's flat file: a snapshotted disk's backing is a delta.
		flat, err := dsfile.Flat(l.OnPrem.Model, cbt.BaseFile(disk.Backing))
		if err != nil {
			t.Fatal(err)
		}
		cc.disks = append(cc.disks, copyDisk{ctrl: idx[disk.ControllerKey], unit: *disk.UnitNumber, srcFlat: flat, capacity: disk.CapacityInBytes})
	}
	for _, d := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		cc.nics = append(cc.nics, copyNIC{typ: nicType(d), mac: d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress})
	}
	return cc
}

// createCopy creates and powers on a provider VM named name from cc, over
// disks the provider vCenter creates and the test fills with the source's
// bytes (as replication would).
func createCopy(t *testing.T, l *lab.Lab, c *vsphere.Client, name string, cc cloudCopy) vsphere.Ref {
	t.Helper()
	ctx := context.Background()
	f, dc, pool := providerPlace(t, c)
	ds, err := f.Datastore(ctx, "provider-ds")
	if err != nil {
		t.Fatal(err)
	}
	folders, _ := dc.Folders(ctx)
	pg, err := f.Network(ctx, "vcd-company-network")
	if err != nil {
		t.Fatal(err)
	}
	backing, _ := pg.EthernetCardBackingInfo(ctx)
	var devices object.VirtualDeviceList
	var keys []int32
	for i, ct := range cc.ctrls {
		typ := devices.Type(ct)
		d, err := devices.CreateSCSIController(typ)
		if err != nil {
			t.Fatal(err)
		}
		scsi := d.(types.BaseVirtualSCSIController).GetVirtualSCSIController()
		scsi.BusNumber = ct.(types.BaseVirtualSCSIController).GetVirtualSCSIController().BusNumber
		scsi.Key = int32(-100 - i)
		keys = append(keys, scsi.Key)
		devices = append(devices, d)
	}
	dm := object.NewVirtualDiskManager(c.Client.Client)
	if err := object.NewFileManager(c.Client.Client).MakeDirectory(ctx, "[provider-ds] "+name+"-disks", dc, true); err != nil {
		t.Fatal(err)
	}
	for i, d := range cc.disks {
		path := "[provider-ds] " + name + "-disks/" + name + "_" + string(rune('a'+i)) + ".vmdk"
		task, err := dm.CreateVirtualDisk(ctx, path, dc, &types.FileBackedVirtualDiskSpec{
			VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)},
			CapacityKb:      d.capacity / 1024,
		})
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, d.srcFlat, filepath.Join(l.Provider.DatastoreDir, name+"-disks", name+"_"+string(rune('a'+i))+"-flat.vmdk"))
		ctrl := devices.FindByKey(keys[d.ctrl]).(types.BaseVirtualController)
		disk := devices.CreateDisk(ctrl, ds.Reference(), path)
		unit := d.unit
		disk.UnitNumber = &unit
		disk.Key = int32(-200 - i)
		disk.CapacityInBytes, disk.CapacityInKB = d.capacity, d.capacity/1024
		devices = append(devices, disk)
	}
	var extra []types.BaseOptionValue
	for i, n := range cc.nics {
		// A source's generated MAC kept as a static one: ESXi takes it
		// only with the NIC's check off (as ferry creates its targets).
		extra = append(extra, &types.OptionValue{Key: fmt.Sprintf("ethernet%d.checkMACAddress", i), Value: "false"})
		nic, err := devices.CreateEthernetCard(n.typ, backing)
		if err != nil {
			t.Fatal(err)
		}
		card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.AddressType, card.MacAddress = string(types.VirtualEthernetCardMacTypeManual), n.mac
		devices = append(devices, nic)
	}
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		ch.GetVirtualDeviceConfigSpec().FileOperation = "" // the disks exist
	}
	spec := types.VirtualMachineConfigSpec{
		Name: name, GuestId: "otherGuest64", DeviceChange: changes, Firmware: cc.firmware,
		Files:       &types.VirtualMachineFileInfo{VmPathName: "[provider-ds] " + name},
		ExtraConfig: extra,
	}
	if cc.secureBoot {
		spec.BootOptions = &types.VirtualMachineBootOptions{EfiSecureBootEnabled: types.NewBool(true)}
	}
	task, err := folders.VmFolder.CreateVM(ctx, spec, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mor := info.Result.(types.ManagedObjectReference)
	ref := vsphere.Ref{Type: mor.Type, Value: mor.Value}
	if err := c.EnsurePoweredOn(ctx, ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGuestVMsAreInTheInventoryAndAddressPlan(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	ctx := context.Background()
	addrs := map[string]string{}
	for _, r := range l.Reach.Plan() {
		addrs[r.Name] = r.GuestIP
	}
	for _, g := range lab.GuestVMs() {
		vm, err := c.VMByName(ctx, g.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !vm.PoweredOn() || vm.GuestIP != g.IP || len(vm.Disks) != len(g.Disks) || len(vm.MACs) != len(g.NICs) {
			t.Errorf("%s: %+v, want running at %s with %d disks and %d NICs", g.Name, vm, g.IP, len(g.Disks), len(g.NICs))
		}
		if addrs[g.Name] != g.IP {
			t.Errorf("%s: address plan says %q, want %s", g.Name, addrs[g.Name], g.IP)
		}
		if !l.Reach.Reachable(g.IP) {
			t.Errorf("%s does not answer while running on-prem", g.Name)
		}
	}
}

// TestGuestModel: a provider VM carrying a source's MACs runs the source's
// guest only when firmware, controllers, disk positions and bytes, NIC
// types and MACs are the source's; otherwise the lab says why and the VM
// does not answer.
// guestModelLab is a lab without guest workload, the stretch up, and
// logins to both vCenters.
func guestModelLab(t *testing.T) (*lab.Lab, *vsphere.Client, *vsphere.Client) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	provider := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	l.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	l.Fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	return l, onprem, provider
}

func TestGuestModel(t *testing.T) {
	t.Parallel()
	l, onprem, provider := guestModelLab(t)
	ctx := context.Background()
	const name = "WinSrv1"
	src, err := onprem.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := onprem.PowerOff(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	ip := src.GuestIP
	eventually(t, name+" to stop answering", func() bool { return !l.Reach.Reachable(ip) })
	faithful := sourceLayout(t, l, onprem, name)
	if len(faithful.ctrls) != 2 || len(faithful.disks) != 3 || len(faithful.nics) != 2 || faithful.firmware != "efi" || !faithful.secureBoot {
		t.Fatalf("source layout %+v", faithful)
	}

	pvscsi := func() types.BaseVirtualDevice {
		var l object.VirtualDeviceList
		d, _ := l.CreateSCSIController("pvscsi")
		return d
	}
	for i, tc := range []struct {
		name   string
		mutate func(cc *cloudCopy)
		want   string
	}{
		{"as ferry built it before (BIOS, one pvscsi, one vmxnet3)", func(cc *cloudCopy) {
			cc.firmware, cc.secureBoot = "bios", false
			cc.ctrls = []types.BaseVirtualDevice{pvscsi()}
			for i := range cc.disks {
				cc.disks[i].ctrl, cc.disks[i].unit = 0, int32(i)
			}
			cc.nics = []copyNIC{{"vmxnet3", cc.nics[0].mac}}
		}, "firmware is bios"},
		{"secure boot off", func(cc *cloudCopy) { cc.secureBoot = false }, "secure boot"},
		{"boot disk on pvscsi", func(cc *cloudCopy) {
			cc.ctrls[0] = pvscsi() // bus 0
		}, "no driver"},
		{"disks swapped", func(cc *cloudCopy) {
			cc.disks[0].unit, cc.disks[1].unit = cc.disks[1].unit, cc.disks[0].unit
		}, "does not hold the bytes"},
		{"e1000e NIC as vmxnet3", func(cc *cloudCopy) { cc.nics[0].typ = "vmxnet3" }, "new adapter"},
		{"second NIC dropped", func(cc *cloudCopy) { cc.nics = cc.nics[:1] }, "no NIC with MAC"},
	} {
		cc := sourceLayout(t, l, onprem, name)
		tc.mutate(&cc)
		ref := createCopy(t, l, provider, name+"-bad"+string(rune('a'+i)), cc)
		eventually(t, tc.name+": a verdict", func() bool { return l.Reach.BootFailure(name) != "" })
		if why := l.Reach.BootFailure(name); !strings.Contains(why, tc.want) {
			t.Errorf("%s: boot failure %q, want it to say %q", tc.name, why, tc.want)
		}
		if l.Reach.Reachable(ip) {
			t.Errorf("%s: the guest answers", tc.name)
		}
		if err := provider.PowerOff(ctx, ref); err != nil {
			t.Fatal(err)
		}
		eventually(t, tc.name+": verdict cleared", func() bool { return l.Reach.BootFailure(name) == "" })
	}

	createCopy(t, l, provider, name, faithful)
	eventually(t, name+" to answer from the cloud", func() bool { return l.Reach.Reachable(ip) })
	if why := l.Reach.BootFailure(name); why != "" {
		t.Errorf("faithful copy: boot failure %q", why)
	}
}

// TestGuestNeedsTheDiskAddedToIt: a disk added to a running source VM is
// one its guest then mounts, so a copy without it does not come up ("no
// disk at lsilogic0:1"), and a copy with it does: a migration that leaves
// an added disk behind fails its probes in the lab as it would for real.
func TestGuestNeedsTheDiskAddedToIt(t *testing.T) {
	t.Parallel()
	l, onprem, provider := guestModelLab(t)
	ctx := context.Background()
	const name = "LinuxDB1"
	src, err := onprem.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := addDataDisk(ctx, object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference()), "[onprem-ds] LinuxDB1/data.vmdk", 4<<20); err != nil {
		t.Fatal(err)
	}
	if err := onprem.PowerOff(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, name+" to stop answering", func() bool { return !l.Reach.Reachable(src.GuestIP) })

	cc := sourceLayout(t, l, onprem, name)
	if len(cc.disks) != 2 {
		t.Fatalf("source layout %+v, want the added disk", cc)
	}
	without := cc
	without.disks = cc.disks[:1]
	copyDoesNotBoot(t, l, provider, name, name+"-without-data", without, "no disk at lsilogic0:1, where the guest was installed")
	createCopy(t, l, provider, name, cc)
	eventually(t, name+" to answer from the cloud", func() bool { return l.Reach.Reachable(src.GuestIP) })
}

// copyDoesNotBoot creates copyName, a copy of the source name laid out as
// cc, at the provider; checks that its guest does not come up, for a
// reason that says want; and powers it off (the verdict cleared).
func copyDoesNotBoot(t *testing.T, l *lab.Lab, provider *vsphere.Client, name, copyName string, cc cloudCopy, want string) {
	t.Helper()
	ref := createCopy(t, l, provider, copyName, cc)
	eventually(t, "a verdict on "+copyName, func() bool { return l.Reach.BootFailure(name) != "" })
	if why := l.Reach.BootFailure(name); !strings.Contains(why, want) {
		t.Errorf("%s: boot failure %q, want %q", copyName, why, want)
	}
	if err := provider.PowerOff(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "verdict cleared", func() bool { return l.Reach.BootFailure(name) == "" })
}

func nicType(d types.BaseVirtualDevice) string {
	return strings.ToLower(strings.TrimPrefix(reflect.TypeOf(d).Elem().Name(), "Virtual"))
}

// TestGuestForgetsADiskOnceItBootedWithout: a disk added to the running
// LinuxDB1 and removed again is still expected by its guest (an fstab
// entry): a copy without it does not come up. Once the source has booted
// again on-prem without it, its guest came up without that disk, and a
// copy without it comes up too.
func TestGuestForgetsADiskOnceItBootedWithout(t *testing.T) {
	t.Parallel()
	l, onprem, provider := guestModelLab(t)
	ctx := context.Background()
	const name = "LinuxDB1"
	src, err := onprem.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference())
	if err := addDataDisk(ctx, vm, "[onprem-ds] LinuxDB1/data.vmdk", 4<<20); err != nil {
		t.Fatal(err)
	}
	// The guest mounts the disk (the model reads the VM every 50 ms; a
	// disk removed before it looked was never the guest's).
	eventually(t, "the guest model to read the added disk", func() bool { return l.Reach.InstalledDisks(name) == 2 })
	removeDisk := func() {
		t.Helper()
		devices, err := vm.Device(ctx)
		if err != nil {
			t.Fatal(err)
		}
		disks := devices.SelectByType((*types.VirtualDisk)(nil))
		if err := vm.RemoveDevice(ctx, true, disks[len(disks)-1]); err != nil {
			t.Fatal(err)
		}
	}
	removeDisk()
	eventually(t, "the source to have one disk", func() bool { return len(sourceLayout(t, l, onprem, name).disks) == 1 })
	if n := l.Reach.InstalledDisks(name); n != 2 {
		t.Errorf("the guest model holds %d disks needed after one was removed from the running source, want 2", n)
	}
	stopSource := func() {
		t.Helper()
		if err := onprem.PowerOff(ctx, src.Ref); err != nil {
			t.Fatal(err)
		}
		eventually(t, name+" to stop answering", func() bool { return !l.Reach.Reachable(src.GuestIP) })
	}
	stopSource()
	one := sourceLayout(t, l, onprem, name)
	if len(one.disks) != 1 {
		t.Fatalf("source layout %+v, want one disk", one)
	}
	copyDoesNotBoot(t, l, provider, name, name+"-removed-while-running", one, "no disk at lsilogic0:1, where the guest was installed")

	// Booted again on-prem, without the disk.
	if _, err := vm.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, name+" to answer on-prem", func() bool { return l.Reach.Reachable(src.GuestIP) })
	eventually(t, "the guest model to need one disk", func() bool { return l.Reach.InstalledDisks(name) == 1 })
	stopSource()
	createCopy(t, l, provider, name, one)
	eventually(t, name+" to answer from the cloud", func() bool { return l.Reach.Reachable(src.GuestIP) })
	if why := l.Reach.BootFailure(name); why != "" {
		t.Errorf("copy after the source booted without the disk: boot failure %q", why)
	}
}
