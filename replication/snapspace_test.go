package replication_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// snapshots lists the names of vm's snapshots, as vCenter reports them.
func snapshots(t *testing.T, c *vsphere.Client, vm types.ManagedObjectReference) []string {
	t.Helper()
	var m mo.VirtualMachine
	if err := property.DefaultCollector(c.Client.Client).RetrieveOne(context.Background(), vm, []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	var names []string
	if m.Snapshot != nil {
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(ts []types.VirtualMachineSnapshotTree) {
			for _, s := range ts {
				names = append(names, s.Name)
				walk(s.ChildSnapshotList)
			}
		}
		walk(m.Snapshot.RootSnapshotList)
	}
	return names
}

// trackedVM is the lab VM name, with changed block tracking on.
func trackedVM(t *testing.T, c *vsphere.Client, name string) types.ManagedObjectReference {
	t.Helper()
	vm, err := c.VMByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	ref := vm.Ref.Reference()
	if err := replication.EnableCBT(context.Background(), c.Client.Client, ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestPassSnapshotNeedsRoomOnTheSourceDatastore: a pass snapshot's delta
// grows on the datastore of the VM's working directory by what the guest
// writes, and ESXi stops the VM when it cannot grow. With less than the
// reserve free there, no snapshot is taken (a job's pass fails at once,
// not retried, naming the datastore and what is free); with the reserve
// free the snapshot is taken, and once the free space falls below half
// the reserve while it is open, its reads fail with the reason, and
// releasing it removes it.
func TestPassSnapshotNeedsRoomOnTheSourceDatastore(t *testing.T) {
	labParallel(t)
	l, c := labSource(t)
	ctx := context.Background()
	ref := trackedVM(t, c, "WebApp1")
	room, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref)
	if err != nil {
		t.Fatal(err)
	}
	if room.Datastore == "" || room.Free < replication.DefaultSnapshotReserve {
		t.Fatalf("room for WebApp1's snapshots: %+v, want its datastore with more than the reserve free", room)
	}
	used := room.Capacity - room.Free
	setFree := func(free int64) { l.OnPrem.SetDatastoreCapacity(used + free) }

	src := replication.NewVSphereSource(c.Client.Client, ref)
	src.SpaceEvery = 20 * time.Millisecond
	setFree(1 << 30)
	_, err = src.Open(ctx, "", false)
	if !errors.Is(err, replication.ErrSourceSpace) {
		t.Fatalf("open a pass with 1 GiB free: %v, want ErrSourceSpace", err)
	}
	for _, want := range []string{room.Datastore, "WebApp1", "1.0 GiB free", "4.0 GiB free there", "No snapshot was taken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if s := snapshots(t, c, ref); len(s) > 0 {
		t.Fatalf("snapshots after the refusal: %v", s)
	}

	// A job's pass fails at once (nothing to retry until space is freed).
	serverTLS, clientTLS := pairTLS(t)
	dir := t.TempDir()
	r, replicas, _ := applianceReceiver(t, dir, serverTLS, src)
	addr, st := serveReceiver(t, r, dir)
	job := &replication.Job{VM: "WebApp1", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: src,
		Addr: addr, TLS: clientTLS, State: st, Conns: 2, Window: 8 << 20}
	res, err := job.RunPass(ctx, false)
	if !errors.Is(err, replication.ErrSourceSpace) || res.Attempts > 1 {
		t.Fatalf("pass with 1 GiB free: %v after %d attempt(s), want ErrSourceSpace at the first", err, res.Attempts)
	}
	if s := snapshots(t, c, ref); len(s) > 0 {
		t.Fatalf("snapshots after the refused pass: %v", s)
	}

	// Above half the reserve but below it: still no new snapshot.
	setFree(3 << 30)
	if _, err := src.Open(ctx, "", false); !errors.Is(err, replication.ErrSourceSpace) {
		t.Fatalf("open a pass with 3 GiB free: %v, want ErrSourceSpace", err)
	}

	setFree(5 << 30)
	snap, key, buf := openAndRead(t, src, "with 5 GiB free")
	if s := snapshots(t, c, ref); len(s) != 1 || !strings.HasPrefix(s[0], replication.SnapshotPrefix) {
		t.Fatalf("snapshots during the pass: %v, want the pass's", s)
	}

	// Another VM's files take the datastore down to 1.5 GiB free.
	setFree(3 << 29)
	err = readUntilFails(ctx, snap, key, buf)
	if !errors.Is(err, replication.ErrSourceSpace) {
		t.Fatalf("read with 1.5 GiB free: %v, want ErrSourceSpace", err)
	}
	for _, want := range []string{room.Datastore, "1.5 GiB free", "below 2.0 GiB", "snapshot is removed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("stop %q does not say %q", err, want)
		}
	}
	if err := snap.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if s := snapshots(t, c, ref); len(s) > 0 {
		t.Fatalf("snapshots after the release: %v", s)
	}
}

// TestPassWaitsForForeignSnapshot: while the source VM has a snapshot
// ferry did not take (a backup job's), ESXi writes the guest's changes into
// its delta and the base disk a pass reads is stale: a pass takes no
// snapshot of its own and says why; once the snapshot is gone, it does.
func TestPassWaitsForForeignSnapshot(t *testing.T) {
	labParallel(t)
	_, c := labSource(t)
	ctx := context.Background()
	ref := trackedVM(t, c, "WebApp1")
	ovm := object.NewVirtualMachine(c.Client.Client, ref)
	task, err := ovm.CreateSnapshot(ctx, "nightly-backup", "a backup job's", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	src := replication.NewVSphereSource(c.Client.Client, ref)
	_, err = src.Open(ctx, "", false)
	if !errors.Is(err, replication.ErrForeignSnapshot) || !strings.Contains(err.Error(), `"nightly-backup"`) {
		t.Fatalf("open a pass beside a backup's snapshot: %v, want ErrForeignSnapshot naming it", err)
	}
	if s := snapshots(t, c, ref); len(s) != 1 || s[0] != "nightly-backup" {
		t.Fatalf("snapshots after the refusal: %v, want only the backup's", s)
	}
	task, err = ovm.RemoveAllSnapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := src.Open(ctx, "", false)
	if err != nil {
		t.Fatalf("open a pass once the backup's snapshot is gone: %v", err)
	}
	if err := snap.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPassSnapshotDeltaTakesTheRoom: the pass snapshot's delta takes the
// datastore's space as the guest writes (the lab counts it, as ESXi's
// delta grows): with a small reserve, a guest writing more than half of it
// while the pass's snapshot is open brings the datastore below half the
// reserve, the pass stops with the reason, and the snapshot is removed,
// which gives the space back.
func TestPassSnapshotDeltaTakesTheRoom(t *testing.T) {
	labParallel(t)
	l, c := labSource(t)
	ctx := context.Background()
	ref := trackedVM(t, c, "WebApp1")
	room, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref)
	if err != nil {
		t.Fatal(err)
	}
	// The guest has written 10 MiB of its disk (the thin disk holds it).
	flat := l.OnPrem.FlatFile("WebApp1")
	data := bytes.Repeat([]byte{0xa5}, 1<<20)
	for off := int64(0); off < 10<<20; off += 1 << 20 {
		if err := l.CBT.WriteAt(flat, data, off); err != nil {
			t.Fatal(err)
		}
	}
	if room, err = vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref); err != nil {
		t.Fatal(err)
	}
	const reserve = 8 << 20
	used := room.Capacity - room.Free
	l.OnPrem.SetDatastoreCapacity(used + 12<<20)

	src := replication.NewVSphereSource(c.Client.Client, ref)
	src.SnapshotReserve, src.SpaceEvery = reserve, 20*time.Millisecond
	snap, key, buf := openAndRead(t, src, "with 12 MiB free, 8 MiB reserved")
	// The guest rewrites those 10 MiB while the pass's snapshot is open:
	// its delta takes them.
	data = bytes.Repeat([]byte{0x5a}, 1<<20)
	for off := int64(0); off < 10<<20; off += 1 << 20 {
		if err := l.CBT.WriteAt(flat, data, off); err != nil {
			t.Fatal(err)
		}
	}
	err = readUntilFails(ctx, snap, key, buf)
	if !errors.Is(err, replication.ErrSourceSpace) || !strings.Contains(err.Error(), "snapshot is removed") {
		t.Fatalf("read after the guest wrote 10 MiB into the snapshot's delta: %v, want ErrSourceSpace", err)
	}
	if err := snap.Release(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref)
	if err != nil {
		t.Fatal(err)
	}
	if after.Free != 12<<20 {
		t.Errorf("free after the snapshot's removal: %d bytes, want the delta's space back (12 MiB)", after.Free)
	}
}

// openAndRead opens a pass of src (situation says with how much room) and
// reads the first MiB of its first disk; it returns the pass's snapshot,
// that disk's key and a buffer of a MiB.
func openAndRead(t *testing.T, src *replication.VSphereSource, situation string) (replication.Snapshot, string, []byte) {
	t.Helper()
	ctx := context.Background()
	snap, err := src.Open(ctx, "", false)
	if err != nil {
		t.Fatalf("open a pass %s: %v", situation, err)
	}
	disks, err := src.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if err := snap.ReadAt(ctx, disks[0].Key, buf, 0); err != nil {
		t.Fatalf("read %s: %v", situation, err)
	}
	return snap, disks[0].Key, buf
}

// readUntilFails reads the start of disk key from snap until a read fails
// (the pass's space watch stops it) or 30 s have passed, and returns the
// last read's error.
func readUntilFails(ctx context.Context, snap replication.Snapshot, key string, buf []byte) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := snap.ReadAt(ctx, key, buf, 0)
		if err != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPassSpaceWatchKeepsTheSourceRunning: the guest writes on through a
// pass (each MiB a new block of the snapshot's delta) while the pass reads;
// once the datastore's free space falls below half the reserve the pass's
// reads fail and it releases its snapshot, before the guest's writes fill
// the datastore, which would pause the source VM (ESXi's out-of-space
// question: lab.GuestWrite). The guest writes its 12 MiB, never paused.
func TestPassSpaceWatchKeepsTheSourceRunning(t *testing.T) {
	labParallel(t)
	l, c := labSource(t)
	ctx := context.Background()
	ref := trackedVM(t, c, "WebApp1")
	data := bytes.Repeat([]byte{0xa5}, 1<<20)
	for off := int64(0); off < 12<<20; off += 1 << 20 { // the guest's data, allocated
		if err := l.GuestWrite("WebApp1", data, off); err != nil {
			t.Fatal(err)
		}
	}
	room, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref)
	if err != nil {
		t.Fatal(err)
	}
	const reserve = 8 << 20
	l.OnPrem.SetDatastoreCapacity(room.Capacity - room.Free + 10<<20) // 10 MiB free

	src := replication.NewVSphereSource(c.Client.Client, ref)
	src.SnapshotReserve, src.SpaceEvery = reserve, 20*time.Millisecond
	snap, key, buf := openAndRead(t, src, "with 10 MiB free, 8 MiB reserved")
	open := true
	data = bytes.Repeat([]byte{0x5a}, 1<<20)
	for off := int64(0); off < 12<<20; off += 1 << 20 {
		if err := l.GuestWrite("WebApp1", data, off); err != nil {
			t.Fatalf("the guest's write of MiB %d (pass snapshot open: %v): %v", off>>20, open, err)
		}
		if !open {
			continue
		}
		// The pass reads on; below half the reserve its watch stops it
		// (within a few checks).
		now, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref)
		if err != nil {
			t.Fatal(err)
		}
		var rerr error
		if now.Free < reserve/2 {
			rerr = readUntilFails(ctx, snap, key, buf)
		} else {
			rerr = snap.ReadAt(ctx, key, buf, 0)
		}
		if rerr != nil {
			if !errors.Is(rerr, replication.ErrSourceSpace) {
				t.Fatalf("the pass's read: %v, want ErrSourceSpace if any", rerr)
			}
			if err := snap.Release(ctx); err != nil {
				t.Fatal(err)
			}
			open = false
		}
	}
	if open {
		t.Fatal("the pass never stopped for want of space")
	}
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil || !vm.PoweredOn() || vm.Snapshots != 0 {
		t.Fatalf("WebApp1 after the pass: %+v, %v; want running, no snapshot", vm.PowerState, err)
	}
}

// TestPassReportsAPausedSource: a source VM paused by vCenter (its
// datastore full: ESXi's out-of-space question pending) is reported by the
// next pass, once per question, naming the question; the pass takes no
// snapshot there (no room), and its refusal (what ferry status shows as
// why passes wait) says the VM is paused. Space freed and Retry answered,
// the next pass
// runs, with nothing more reported.
func TestPassReportsAPausedSource(t *testing.T) {
	labParallel(t)
	l, c := labSource(t)
	ctx := context.Background()
	ref := trackedVM(t, c, "WebApp1")
	room, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, ref)
	if err != nil {
		t.Fatal(err)
	}
	l.OnPrem.SetDatastoreCapacity(room.Capacity - room.Free) // full
	// The guest writes into a hole of its thin disk: no space for it.
	if err := l.GuestWrite("WebApp1", make([]byte, 64<<10), 15<<20); err == nil {
		t.Fatal("a guest write into a full datastore succeeded")
	}
	var w warnings
	src := replication.NewVSphereSource(c.Client.Client, ref)
	src.Warn = w.add
	for range 2 {
		_, err := src.Open(ctx, "", false)
		if !errors.Is(err, replication.ErrSourceSpace) || !strings.Contains(err.Error(), "VM WebApp1 is paused meanwhile") {
			t.Fatalf("a pass of the paused VM on its full datastore: %v, want ErrSourceSpace saying the VM is paused", err)
		}
	}
	msgs := w.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "VM WebApp1 is paused") || !strings.Contains(msgs[0], "There is no more space for virtual disk") {
		t.Fatalf("warnings %q: want one naming the paused VM and its question", msgs)
	}

	l.OnPrem.SetDatastoreCapacity(room.Capacity)
	var m mo.VirtualMachine
	if err := property.DefaultCollector(c.Client.Client).RetrieveOne(ctx, ref, []string{"runtime.question"}, &m); err != nil || m.Runtime.Question == nil {
		t.Fatalf("WebApp1's question: %+v, %v", m.Runtime.Question, err)
	}
	if err := object.NewVirtualMachine(c.Client.Client, ref).Answer(ctx, m.Runtime.Question.Id, "1"); err != nil {
		t.Fatal(err)
	}
	snap, err := src.Open(ctx, "", false)
	if err != nil {
		t.Fatalf("a pass after Retry with space: %v", err)
	}
	if err := snap.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if len(w.all()) != 1 {
		t.Errorf("warned again once the VM ran: %q", w.all())
	}
}
