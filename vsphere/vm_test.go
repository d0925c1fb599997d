package vsphere_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
)

func TestShutdownAndVMOverExistingDisks(t *testing.T) {
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Options{DiskSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	onprem, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	forced, err := onprem.Shutdown(ctx, src.Ref, 10*time.Second, false)
	if err != nil || forced {
		t.Fatalf("shutdown: forced=%v err=%v", forced, err)
	}
	if st, _ := onprem.PowerState(ctx, src.Ref); st != types.VirtualMachinePowerStatePoweredOff {
		t.Fatalf("after shutdown: %s", st)
	}

	// A replica on the provider datastore: descriptor and flat file.
	dir := filepath.Join(l.Provider.DatastoreDir, "WebApp2")
	os.MkdirAll(dir, 0o755)
	data := []byte("replica bytes")
	flat := filepath.Join(dir, "WebApp2-flat.vmdk")
	os.WriteFile(flat, data, 0o644)
	os.Truncate(flat, 16<<20)
	desc := vmdk.NewDescriptor(vmdk.Extent{Size: (16 << 20) / 512, Info: "WebApp2-flat.vmdk"})
	desc.Type = "monolithicFlat"
	fd, err := os.Create(filepath.Join(dir, "WebApp2.vmdk"))
	if err != nil {
		t.Fatal(err)
	}
	desc.Write(fd)
	fd.Close()

	provider, err := vsphere.Connect(ctx, vsphere.Config{URL: l.Provider.URL, Username: l.Provider.Username, Password: l.Provider.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := provider.CreateVMOverDisks(ctx, vsphere.VMOverDisks{
		Name: "WebApp2", Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds",
		Network: "vcd-company-network", MAC: src.MACs[0],
		Disks: []vsphere.DiskFile{{Path: "[provider-ds] WebApp2/WebApp2.vmdk", Capacity: 16 << 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := provider.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if vm.Ref != ref || len(vm.Disks) != 1 || vm.Disks[0].File != "[provider-ds] WebApp2/WebApp2.vmdk" || vm.MACs[0] != src.MACs[0] {
		t.Fatalf("VM over replica: %+v", vm)
	}
	got, _ := os.ReadFile(flat)
	if len(got) != 16<<20 || string(got[:len(data)]) != string(data) {
		t.Fatalf("creating the VM changed the replica: %d bytes, starts %q", len(got), got[:len(data)])
	}
	if err := provider.DestroyKeepDisks(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(flat); err != nil {
		t.Errorf("replica gone after DestroyKeepDisks: %v", err)
	}
	if _, ok, _ := provider.FindVM(ctx, "WebApp2"); ok {
		t.Error("VM still exists")
	}
}
