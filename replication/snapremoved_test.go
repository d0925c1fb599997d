package replication_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
)

// hookConn runs the armed hook once, in the Write that takes the bytes
// written since it was armed past its threshold (the sender waits for it).
type hookConn struct {
	net.Conn
	h *writeHook
}

type writeHook struct {
	left atomic.Int64
	fn   atomic.Pointer[func()]
}

func (h *writeHook) arm(after int64, fn func()) { h.left.Store(after); h.fn.Store(&fn) }

func (c *hookConn) Write(p []byte) (int, error) {
	if c.h.left.Add(-int64(len(p))) < 0 {
		if fn := c.h.fn.Swap(nil); fn != nil {
			(*fn)()
		}
	}
	return c.Conn.Write(p)
}

// TestSnapshotRemovedMidPassCommitsNothing: someone removes ferry's pass
// snapshot while the pass reads it (a backup product's or an admin's
// snapshot cleanup), and the guest goes on writing: ESXi consolidates the
// delta into the base disk the pass reads, so what it reads from then on
// is not the snapshot's point in time. The pass starts again at once in a
// new snapshot, saying why; removed again, it fails saying so, commits
// nothing, and waits outside ferry (the scheduler tries again soon, no
// pause); the next pass brings the replica to the source. A final pass
// whose VM is powered on meanwhile fails and is not retried.
func TestSnapshotRemovedMidPassCommitsNothing(t *testing.T) {
	labParallel(t)
	l, c, ref, vmo, flat := trackedWebApp1(t)
	ctx := context.Background()
	// Random data all over the disk, so that the passes are long enough
	// to be interrupted.
	guest := func(seed byte) {
		t.Helper()
		buf := make([]byte, 1<<20)
		_, _ = rand.NewChaCha8([32]byte{seed}).Read(buf) // not compressible: sent as it is
		for off := int64(0); off < 16<<20; off += 2 << 20 {
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
	hook := &writeHook{}
	var (
		mu       sync.Mutex // events may come from the pass's goroutines
		done     int
		errs     int
		warnings []string
	)
	job := &replication.Job{VM: "WebApp1", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 1, Window: 1 << 20,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return &hookConn{Conn: c, h: hook}, err
		},
		Events: func(e replication.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case replication.EventPassDone:
				done++
			case replication.EventWarning:
				warnings = append(warnings, e.Msg)
			case replication.EventError:
				errs++
			}
		}}
	warned := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(warnings, "\n") }
	passes := func() int { mu.Lock(); defer mu.Unlock(); return done }
	failures := func() int { mu.Lock(); defer mu.Unlock(); return errs }
	disks, err := source.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := "WebApp1/" + disks[0].Key
	wait := func(task *object.Task, err error) {
		t.Helper()
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// Removed once: the pass starts again at once in a new snapshot.
	removeAndWrite := func(seed byte, then func()) func() {
		return func() {
			wait(vmo.RemoveAllSnapshot(ctx, nil))
			guest(seed) // lands in the base disk the pass is reading
			if then != nil {
				then()
			}
		}
	}
	hook.arm(3<<20, removeAndWrite(2, nil))
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass whose snapshot was removed once: %v, want it started again and done", err)
	}
	if hook.fn.Load() != nil {
		t.Fatal("the snapshot was not removed during the pass")
	}
	if !strings.Contains(warned(), "removed while the pass read it") || !strings.Contains(warned(), "starts again in a new snapshot") {
		t.Errorf("warnings %q: want the removal and the new start named", warned())
	}
	if n := failures(); n != 0 {
		t.Errorf("%d error events for a pass started again and done: want only the warning", n)
	}
	first, _ := st.Disk(key)
	if first.Committed == "" || passes() != 1 {
		t.Fatalf("after the started-again pass: state %+v, %d passes done", first, passes())
	}

	// Removed in the pass started again too: it fails and commits nothing;
	// the scheduler waits it out.
	guest(4)
	hook.arm(3<<20, removeAndWrite(5, func() { hook.arm(3<<20, removeAndWrite(6, nil)) }))
	_, err = job.RunPass(ctx, false)
	if !errors.Is(err, replication.ErrSnapshotRemoved) || !strings.Contains(err.Error(), "removed while the pass read it") {
		t.Fatalf("pass whose snapshot was removed twice: %v, want ErrSnapshotRemoved", err)
	}
	if hook.fn.Load() != nil {
		t.Fatal("the snapshot of the pass started again was not removed")
	}
	if ds, _ := st.Disk(key); ds.Committed != first.Committed || passes() != 1 {
		t.Fatalf("pass committed (state %+v, was %+v; %d passes done)", ds, first, passes())
	}
	if failures() == 0 {
		t.Error("no error event for the pass whose snapshot was removed twice")
	}
	if !replication.WaitsOutside(err) {
		t.Errorf("%v: the scheduler would pause the job instead of trying again soon", err)
	}

	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("next pass: %v", err)
	}
	guest(3)
	wait(vmo.PowerOff(ctx))
	hook.arm(1<<20, func() { wait(vmo.PowerOn(ctx)) })
	_, err = job.RunPass(ctx, true)
	if !errors.Is(err, replication.ErrPoweredOnDuringFinal) {
		t.Fatalf("final pass of a VM powered on meanwhile: %v, want ErrPoweredOnDuringFinal", err)
	}
	if hook.fn.Load() != nil {
		t.Fatal("the VM was not powered on during the final pass")
	}
	// Powered on and off again during the final pass.
	wait(vmo.PowerOff(ctx))
	hook.arm(1<<20, func() { wait(vmo.PowerOn(ctx)); guest(7); wait(vmo.PowerOff(ctx)) })
	_, err = job.RunPass(ctx, true)
	if !errors.Is(err, replication.ErrPoweredOnDuringFinal) || !strings.Contains(err.Error(), "and off again") {
		t.Fatalf("final pass of a VM powered on and off meanwhile: %v, want ErrPoweredOnDuringFinal", err)
	}
	if hook.fn.Load() != nil {
		t.Fatal("the VM was not powered on and off during the final pass")
	}
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatalf("final pass: %v", err)
	}
	if a, b := fileSum(t, flat), fileSum(t, device(0)); a != b {
		t.Fatal("replica differs from the source after the final pass")
	}
	var left mo.VirtualMachine
	if err := vmo.Properties(ctx, ref, []string{"snapshot"}, &left); err != nil || left.Snapshot != nil {
		t.Fatalf("snapshots left: %v %v", left.Snapshot, err)
	}
}
