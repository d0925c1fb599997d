package replication_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/replication"
)

// TestPassConsolidatesALeftDelta: a backup proxy still holds the source's
// base disk (hot-added) when a pass removes its snapshot, so vCenter
// removes the snapshot but cannot consolidate its delta: the VM runs on
// base and delta with no snapshot listed and runtime.consolidationNeeded
// set. VM selection says the VM needs disk consolidation (not that it is
// a linked clone). The next pass, while the lock still holds, fails
// saying the VM needs its disks consolidated, naming the locked file, that
// ferry tries again at the next pass and how to consolidate by hand, and
// commits nothing. Once the lock is gone the next pass consolidates the
// disks itself (a warning says so) and brings the replica to the source;
// the cutover's final pass does the same.
func TestPassConsolidatesALeftDelta(t *testing.T) {
	labParallel(t)
	l, c, ref, vmo, flat := trackedWebApp1(t)
	ctx := context.Background()
	guest := func(seed byte) {
		t.Helper()
		buf := make([]byte, 256<<10)
		_, _ = rand.NewChaCha8([32]byte{seed}).Read(buf)
		for off := int64(seed) << 20 % (12 << 20); off < 16<<20; off += 3 << 20 {
			if err := l.CBT.WriteAt(flat, buf, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	guest(1)
	source := replication.NewVSphereSource(c.Client.Client, ref)
	dir := t.TempDir()
	serverTLS, clientTLS := pairTLS(t)
	r, replicas, device := applianceReceiver(t, dir, serverTLS, source)
	addr, st := serveReceiver(t, r, dir)
	var (
		mu       sync.Mutex
		warnings []string
		errs     []string
	)
	job := &replication.Job{VM: "WebApp1", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 1, Window: 1 << 20,
		Events: func(e replication.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case replication.EventWarning:
				warnings = append(warnings, e.Msg)
			case replication.EventError:
				errs = append(errs, e.Msg+" | "+e.Err.Error())
			}
		}}
	// The source's warnings are the job's warning events (as step 6 wires them).
	source.Warn = func(msg string) { job.Events(replication.Event{Kind: replication.EventWarning, Msg: msg}) }
	warned := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(warnings, "\n") }
	disks, err := source.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := "WebApp1/" + disks[0].Key
	needed := func() bool {
		t.Helper()
		var m mo.VirtualMachine
		if err := vmo.Properties(ctx, ref, []string{"runtime.consolidationNeeded", "snapshot"}, &m); err != nil {
			t.Fatal(err)
		}
		if m.Snapshot != nil && len(m.Snapshot.RootSnapshotList) > 0 {
			t.Fatalf("VM has %d snapshots, want none", len(m.Snapshot.RootSnapshotList))
		}
		return m.Runtime.ConsolidationNeeded
	}
	same := func(when string) {
		t.Helper()
		if a, b := fileSum(t, flat), fileSum(t, device(0)); a != b {
			t.Fatalf("%s: the replica differs from the source", when)
		}
	}

	// A pass whose snapshot's consolidation fails: committed, its delta
	// left.
	release := l.OnPrem.FailConsolidations("WebApp1")
	defer release()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("first pass: %v", err)
	}
	if !needed() {
		t.Fatal("after a removal whose consolidation failed: consolidationNeeded false, want true")
	}
	mu.Lock()
	if len(errs) != 1 || !strings.Contains(strings.Split(errs[0], " | ")[0], "not consolidated") || !strings.Contains(errs[0], "is locked") {
		t.Errorf("error events %q: want one, saying the pass snapshot's delta was not consolidated and what is locked", errs)
	}
	mu.Unlock()
	first, _ := st.Disk(key)
	if first.Committed == "" {
		t.Fatalf("first pass committed nothing: %+v", first)
	}
	guest(2)

	// VM selection names the cause.
	sel, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	if u := strings.Join(sel.Unreadable, "; "); !strings.Contains(u, "needs disk consolidation") || strings.Contains(u, "linked clone") {
		t.Errorf("VM selection: %q, want it to say the VM needs disk consolidation, not that it is a linked clone", u)
	}

	// The lock still holds: the pass fails, saying what to do.
	_, err = job.RunPass(ctx, false)
	if err == nil {
		t.Fatal("pass while the base disk is locked: done, want it failed")
	}
	for _, w := range []string{"needs its disks consolidated", "locked", baseFile(t, vmo), "next pass", "Snapshots > Consolidate"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("pass while the base disk is locked: %v\nwant %q", err, w)
		}
	}
	if !replication.WaitsOutside(err) {
		t.Errorf("%v: the scheduler would pause the job instead of trying again at the next pass", err)
	}
	if ds, _ := st.Disk(key); ds.Committed != first.Committed {
		t.Errorf("the failed pass committed: %+v, was %+v", ds, first)
	}
	if !needed() {
		t.Error("consolidationNeeded cleared while the lock holds")
	}

	// Lock gone: the next pass consolidates and replicates.
	release()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass after the lock is gone: %v", err)
	}
	if needed() {
		t.Error("after the pass: consolidationNeeded still true")
	}
	if !strings.Contains(warned(), "consolidat") {
		t.Errorf("warnings %q: want the consolidation ferry ran said", warned())
	}
	same("after the pass that consolidated")

	// Left again by a pass, consolidated by the cutover's final pass.
	release = l.OnPrem.FailConsolidations("WebApp1")
	guest(3)
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass: %v", err)
	}
	release()
	if !needed() {
		t.Fatal("consolidationNeeded false after a second failed consolidation")
	}
	guest(4)
	task, err := vmo.PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatalf("final pass: %v", err)
	}
	if needed() {
		t.Error("after the final pass: consolidationNeeded still true")
	}
	same("after the final pass")
}

// baseFile is the file of the base of the VM's first disk.
func baseFile(t *testing.T, vm *object.VirtualMachine) string {
	t.Helper()
	var m mo.VirtualMachine
	if err := vm.Properties(context.Background(), vm.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		b := d.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		for b.Parent != nil {
			b = b.Parent
		}
		return b.FileName
	}
	t.Fatal("VM has no disk")
	return ""
}
