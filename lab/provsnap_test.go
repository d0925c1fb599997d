package lab_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestApplianceSnapshotFreezesReplica: a replica disk hot-added to the
// receiver appliance is written by the receiver through its block device.
// A linked clone of it cannot be made while the appliance writes it; a
// snapshot of the appliance freezes it (the device keeps taking writes,
// into the delta) so a VM can run on a child disk of it. The snapshot
// cannot be removed while the child exists, nor the base deleted; deleting
// the VM deletes its child and keeps the base; removing the snapshot then
// consolidates the writes into the base, and the open device writes on.
func TestApplianceSnapshotFreezesReplica(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	pv := lab.ProviderSpec()
	const size = 8 << 20
	disk := newReplica(t, c, "WebApp2", size)
	path := disk.Path
	uuid, devPath := hotAdd(t, l, c, disk)
	dev, err := os.OpenFile(devPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	first := bytes.Repeat([]byte("pass-1.."), 1<<14) // 128 KiB
	if _, err := dev.WriteAt(first, 1<<20); err != nil {
		t.Fatal(err)
	}
	base := l.ReplicaFlatFile(path)
	if base == "" {
		t.Fatal("no flat file for the replica")
	}

	testVM := func(name string) vsphere.VMOverDisks {
		return vsphere.VMOverDisks{Name: name, Datacenter: pv.Datacenter, Pool: pv.Pool, Datastore: pv.Datastore,
			Disks: []vsphere.DiskFile{{Path: "[" + pv.Datastore + "] " + name + "/" + name + "_0.vmdk", Capacity: size, Parent: path}}}
	}
	// The appliance runs and writes the replica: no child of it.
	if _, err := c.CreateVMOverDisks(ctx, testVM("early-copy")); err == nil {
		t.Fatal("a child disk of a replica the running appliance writes was created")
	}
	if r := l.ProviderDisks.Refusals(); len(r) == 0 || !strings.Contains(r[len(r)-1], "written by running VM "+lab.ApplianceVM) {
		t.Fatalf("refusals: %q", r)
	}

	// The receiver checks, after every fdatasync, that its device is still
	// the disk it opened (a detached disk fails the pass): a snapshot and
	// its consolidation must never make it look detached, not even for a
	// moment, as they never do on ESXi.
	opened, err := dev.Stat()
	if err != nil {
		t.Fatal(err)
	}
	watching, swapped := make(chan struct{}), make(chan string, 1)
	var watched sync.WaitGroup
	watched.Add(1)
	go func() {
		defer watched.Done()
		for {
			select {
			case <-watching:
				return
			default:
			}
			if fi, err := os.Stat(devPath); err != nil || !os.SameFile(fi, opened) {
				select {
				case swapped <- fmt.Sprintf("%v (same file: %v)", err, err == nil && os.SameFile(fi, opened)):
				default:
				}
			}
		}
	}()
	defer func() {
		close(watching)
		watched.Wait()
		select {
		case why := <-swapped:
			t.Errorf("the appliance's device for the replica changed under the receiver during a snapshot or its consolidation: %s", why)
		default:
		}
	}()

	if err := c.SnapshotVM(ctx, pv.Datacenter, lab.ApplianceVM, "ferry-test", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.SnapshotVM(ctx, pv.Datacenter, lab.ApplianceVM, "ferry-test", ""); err != nil {
		t.Fatalf("second snapshot call (it exists): %v", err)
	}
	// vCenter shows the appliance's disk as a delta whose parent is the replica.
	appRef, ok, err := c.FindVM(ctx, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	app, err := c.DiskChains(ctx, appRef)
	if err != nil {
		t.Fatal(err)
	}
	var parentOK bool
	for _, d := range app {
		if d.Parent == path && strings.HasSuffix(d.File, "-000001.vmdk") {
			parentOK = true
		}
	}
	if !parentOK {
		t.Fatalf("appliance disks after the snapshot: %+v", app)
	}
	// The receiver's open device and a device opened anew both write on
	// (into the delta); the replica's base keeps the first pass.
	second := bytes.Repeat([]byte("pass-2.."), 1<<14)
	if _, err := dev.WriteAt(second, 1<<20); err != nil {
		t.Fatal(err)
	}
	again, err := os.OpenFile(devPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("device after the snapshot: %v", err)
	}
	if _, err := again.WriteAt(second, 3<<20); err != nil {
		t.Fatal(err)
	}
	again.Close()
	got := make([]byte, len(first))
	if _, err := dev.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, second) {
		t.Fatalf("device reads back %q... (%v)", got[:8], err)
	}
	if b := readAt(t, base, 1<<20, len(first)); !bytes.Equal(b, first) {
		t.Fatalf("the frozen base changed: %q...", b[:8])
	}
	// Another hot-add of the replica (the next pass's) finds it attached.
	if u2, err := c.AttachDisks(ctx, pv.Datacenter, lab.ApplianceVM, []vsphere.DiskFile{disk}); err != nil || u2[path] != uuid {
		t.Fatalf("hot-add again while the snapshot exists: %v %v", u2, err)
	}

	// A VM on a child disk of the frozen replica: it powers on.
	ref, err := c.CreateVMOverDisks(ctx, testVM("test-copy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsurePoweredOn(ctx, ref); err != nil {
		t.Fatalf("power on the copy: %v", err)
	}
	copyDisks, err := c.DiskChains(ctx, ref)
	if err != nil || len(copyDisks) != 1 || copyDisks[0].Parent != path {
		t.Fatalf("copy's disks: %+v %v", copyDisks, err)
	}
	child := l.ReplicaFlatFile(copyDisks[0].File)
	if child == "" {
		t.Fatalf("no content file for the copy's disk %s", copyDisks[0].File)
	}
	if b := readAt(t, child, 1<<20, len(first)); !bytes.Equal(b, first) {
		t.Fatalf("the copy's disk reads %q..., not the frozen replica", b[:8])
	}
	// Nothing removes what the copy stands on.
	if _, err := c.RemoveSnapshot(ctx, pv.Datacenter, lab.ApplianceVM, "ferry-test"); err == nil {
		t.Fatal("the snapshot was consolidated under a running linked clone")
	}
	dc, err := c.Finder().Datacenter(ctx, pv.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	if task, err := object.NewVirtualDiskManager(c.Client.Client).DeleteVirtualDisk(ctx, path, dc); err == nil {
		if err := task.Wait(ctx); err == nil {
			t.Fatal("the replica's base was deleted while a linked clone uses it")
		}
	}
	// Nor does deleting the copy take the replica with it.
	if err := c.DestroyLinkedClone(ctx, appRef, []string{path}); err == nil {
		t.Fatal("the appliance (whose disks are not all children) was deleted as a linked clone")
	}

	// Deleting the copy with its disks removes its child only.
	if err := c.DestroyLinkedClone(ctx, ref, []string{path}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(child); !os.IsNotExist(err) {
		t.Fatalf("the copy's child disk is still there: %v", err)
	}
	if b := readAt(t, base, 1<<20, len(first)); !bytes.Equal(b, first) {
		t.Fatal("deleting the copy changed the replica's base")
	}

	removed, err := c.RemoveSnapshot(ctx, pv.Datacenter, lab.ApplianceVM, "ferry-test")
	if err != nil || !removed {
		t.Fatalf("remove the snapshot: %v %v", removed, err)
	}
	if b := readAt(t, base, 1<<20, len(first)); !bytes.Equal(b, second) {
		t.Fatalf("after consolidation the replica holds %q..., not the writes made during the snapshot", b[:8])
	}
	if b := readAt(t, base, 3<<20, len(first)); !bytes.Equal(b, second) {
		t.Fatal("a write through the device opened during the snapshot was lost")
	}
	third := bytes.Repeat([]byte("pass-3.."), 1<<14)
	if _, err := dev.WriteAt(third, 1<<20); err != nil {
		t.Fatal(err)
	}
	if b := readAt(t, base, 1<<20, len(first)); !bytes.Equal(b, third) {
		t.Fatal("the open device no longer writes the replica after consolidation")
	}
	if app, err = c.DiskChains(ctx, appRef); err != nil {
		t.Fatal(err)
	}
	for _, d := range app {
		if d.Parent != "" {
			t.Fatalf("appliance disk %s still has parent %s", d.File, d.Parent)
		}
	}
	if removed, err := c.RemoveSnapshot(ctx, pv.Datacenter, lab.ApplianceVM, "ferry-test"); err != nil || removed {
		t.Fatalf("second removal: %v %v", removed, err)
	}
}

func readAt(t *testing.T, file string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}
