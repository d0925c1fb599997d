package vcdsim

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	vim "github.com/vmware/govmomi/vim25/types"
)

// TestDeleteDestroysTheDisks: deleting a vApp, or one VM of a vApp, destroys
// the backing VM in the provider vCenter together with its disks, wherever
// they live (here in a folder of their own, as ferry's replicas do), as
// Cloud Director does. A disk detached in vCenter before the delete stays.
func TestDeleteDestroysTheDisks(t *testing.T) {
	vcCfg, vc := providerVC(t)
	env := start(t, Config{ProviderVC: vcCfg})
	c := env.provider(t)
	ctx := context.Background()
	dc, ds, pool, folder := vcParts(t, vc)

	// Two VMs over disks in folders of their own.
	mkDisk := func(dir string) string {
		t.Helper()
		if err := object.NewFileManager(vc.Client).MakeDirectory(ctx, ds.Path(dir), dc, true); err != nil {
			t.Fatal(err)
		}
		path := ds.Path(dir + "/disk.vmdk")
		task, err := object.NewVirtualDiskManager(vc.Client).CreateVirtualDisk(ctx, path, dc, &vim.FileBackedVirtualDiskSpec{
			VirtualDiskSpec: vim.VirtualDiskSpec{DiskType: string(vim.VirtualDiskTypeThin), AdapterType: string(vim.VirtualDiskAdapterTypeLsiLogic)},
			CapacityKb:      1024})
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	mkVM := func(name string, disks ...string) vim.ManagedObjectReference {
		t.Helper()
		var devices object.VirtualDeviceList
		scsi, _ := devices.CreateSCSIController("pvscsi")
		devices = append(devices, scsi)
		ctrl, _ := devices.FindDiskController("scsi")
		for _, p := range disks {
			d := devices.CreateDisk(ctrl, ds.Reference(), p)
			d.CapacityInKB = 1024
			devices = append(devices, d)
		}
		changes, _ := devices.ConfigSpec(vim.VirtualDeviceConfigSpecOperationAdd)
		for _, ch := range changes {
			ch.GetVirtualDeviceConfigSpec().FileOperation = ""
		}
		task, err := folder.CreateVM(ctx, vim.VirtualMachineConfigSpec{Name: name, GuestId: "otherGuest64",
			Files: &vim.VirtualMachineFileInfo{VmPathName: "[" + ds.Name() + "]"}, DeviceChange: changes}, pool, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx)
		if err != nil {
			t.Fatalf("create VM %s: %v", name, err)
		}
		return info.Result.(vim.ManagedObjectReference)
	}
	exists := func(path string) bool {
		t.Helper()
		var p object.DatastorePath
		p.FromString(path)
		_, err := ds.Stat(ctx, p.Path)
		var nf object.DatastoreNoSuchFileError
		if err != nil && !errors.As(err, &nf) {
			t.Fatal(err)
		}
		return err == nil
	}
	gone := func(ref vim.ManagedObjectReference) bool {
		_, err := object.NewVirtualMachine(vc.Client, ref).PowerState(ctx)
		return err != nil
	}

	diskA, diskB, diskKept := mkDisk("a-replica"), mkDisk("b-replica"), mkDisk("kept-replica")
	vmA, vmB := mkVM("A", diskA), mkVM("B", diskB, diskKept)

	org := must(c.GetOrgByName("Company"))(t)
	vdc := must(org.GetVDCByName("Company-VDC", false))(t)
	ext := env.srv.URL() + "/admin/extension/vimServer/" + env.srv.m.vc.id
	importAs := func(moref vim.ManagedObjectReference, name string) *govcd.VApp {
		t.Helper()
		params := &importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud,
			Name: name, SourceMove: true, VMMoRef: moref.Value, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}}
		var created types.VApp
		if _, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost,
			"application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s", params, &created); err != nil {
			t.Fatal(err)
		}
		task := govcd.NewTask(&c.Client)
		task.Task = created.Tasks.Task[0]
		if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		return must(vdc.GetVAppByHref(created.HREF))(t)
	}
	wait := func(tk govcd.Task, err error) error {
		if err != nil {
			return err
		}
		return tk.WaitInspectTaskCompletion(nil, 50*time.Millisecond)
	}

	// A powered-on vApp is refused and nothing is deleted.
	vappA := importAs(vmA, "A")
	if err := wait(vappA.PowerOn()); err != nil {
		t.Fatal(err)
	}
	if err := wait(vappA.Delete()); err == nil || !exists(diskA) || gone(vmA) {
		t.Fatalf("delete of a running vApp: %v (disk exists %v, VM gone %v)", err, exists(diskA), gone(vmA))
	}
	if err := wait(vappA.Undeploy()); err != nil {
		t.Fatal(err)
	}
	if err := wait(vappA.Delete()); err != nil {
		t.Fatal(err)
	}
	if exists(diskA) || !gone(vmA) {
		t.Errorf("after deleting vApp A: disk exists %v, backing VM gone %v; want the disk and the VM destroyed", exists(diskA), gone(vmA))
	}

	// One VM of a vApp: the disk still attached goes, the one detached in
	// vCenter first stays.
	vappB := importAs(vmB, "B")
	obj := object.NewVirtualMachine(vc.Client, vmB)
	devs := must(obj.Device(ctx))(t)
	for _, d := range devs.SelectByType((*vim.VirtualDisk)(nil)) {
		if d.(*vim.VirtualDisk).Backing.(vim.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName == diskKept {
			if err := obj.RemoveDevice(ctx, true, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	vmx := must(vappB.GetVMByName("B", true))(t)
	tk, err := c.Client.ExecuteTaskRequest(vmx.VM.HREF, http.MethodDelete, "", "delete VM: %s", nil)
	if err := wait(tk, err); err != nil {
		t.Fatal(err)
	}
	if exists(diskB) || !gone(vmB) {
		t.Errorf("after deleting VM B: disk exists %v, backing VM gone %v", exists(diskB), gone(vmB))
	}
	if !exists(diskKept) {
		t.Error("a disk detached in vCenter before the delete was destroyed with the VM")
	}
}

// vcParts are the datacenter, its first datastore, resource pool and VM folder of vcsim's VPX.
func vcParts(t *testing.T, vc *govmomi.Client) (*object.Datacenter, *object.Datastore, *object.ResourcePool, *object.Folder) {
	t.Helper()
	ctx := context.Background()
	f := find.NewFinder(vc.Client)
	dc := must(f.DefaultDatacenter(ctx))(t)
	f.SetDatacenter(dc)
	ds := must(f.DefaultDatastore(ctx))(t)
	pool := must(f.ResourcePool(ctx, "DC0_C0/Resources"))(t)
	folders := must(dc.Folders(ctx))(t)
	return dc, ds, pool, folders.VmFolder
}
