package replication_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }
func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

func labSource(t *testing.T) (*lab.Lab, *vsphere.Client) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return l, c
}

// trackedWebApp1 is a lab's WebApp1 with changed block tracking on (as
// step 5 leaves a VM): the lab, a client of its vCenter, the VM, and the
// flat file that holds its disk (the guest's writes go there).
func trackedWebApp1(t *testing.T) (*lab.Lab, *vsphere.Client, types.ManagedObjectReference, *object.VirtualMachine, string) {
	t.Helper()
	l, c := labSource(t)
	ctx := context.Background()
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	ref := vm.Ref.Reference()
	if err := replication.EnableCBT(ctx, c.Client.Client, ref); err != nil {
		t.Fatal(err)
	}
	return l, c, ref, object.NewVirtualMachine(c.Client.Client, ref), l.OnPrem.FlatFile("WebApp1")
}

// webApp1Source is a lab's WebApp1 as a replication source whose warnings
// are kept, and the bytes of its disk.
func webApp1Source(t *testing.T) (*lab.Lab, *replication.VSphereSource, []byte, *warnings) {
	t.Helper()
	l, c := labSource(t)
	vm, err := c.VMByName(context.Background(), "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(l.OnPrem.FlatFile("WebApp1"))
	if err != nil {
		t.Fatal(err)
	}
	w := &warnings{}
	src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
	src.Warn = w.add
	return l, src, want, w
}

// readAll reads the whole first disk of a pass and releases it.
func readAll(t *testing.T, src *replication.VSphereSource) []byte {
	t.Helper()
	ctx := context.Background()
	disks, err := src.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Open(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := snap.Release(ctx); err != nil {
			t.Error(err)
		}
	}()
	out := make([]byte, disks[0].Capacity)
	for off := int64(0); off < disks[0].Capacity; off += replication.FrameMax {
		if err := snap.ReadAt(ctx, disks[0].Key, out[off:off+replication.FrameMax], off); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestSourceReadsHostDirect: a pass reads the snapshot's base disk from
// the ESXi host that runs the VM, with service tickets: vCenter's /folder
// proxy serves none of it, and nothing is warned. When the host cannot be
// reached the reads go through the proxy, with a warning naming the cost.
func TestSourceReadsHostDirect(t *testing.T) {
	labParallel(t)
	l, src, want, w := webApp1Source(t)
	proxy0, host0 := l.OnPrem.ESX.ProxyReads(), l.OnPrem.ESX.HostReads()
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("host-direct read differs from the source disk")
	}
	if p, h := l.OnPrem.ESX.ProxyReads()-proxy0, l.OnPrem.ESX.HostReads()-host0; p != 0 || h < 16 {
		t.Errorf("%d reads through vCenter's proxy, %d host-direct: want 0 and at least 16 (one per MiB)", p, h)
	}
	if msgs := w.all(); len(msgs) != 0 {
		t.Errorf("warnings: %q", msgs)
	}

	// The hosts stop answering: the proxy, warned once.
	l.OnPrem.ESX.Close()
	proxy0 = l.OnPrem.ESX.ProxyReads()
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("proxy read differs from the source disk")
	}
	if p := l.OnPrem.ESX.ProxyReads() - proxy0; p < 16 {
		t.Errorf("%d proxy reads after the hosts stopped, want at least 16", p)
	}
	msgs := w.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "vCenter's /folder proxy") || !strings.Contains(msgs[0], "slowest") || !strings.Contains(msgs[0], "WebApp1") {
		t.Fatalf("warnings %q: want one naming the proxy and its speed cost", msgs)
	}
	for _, secret := range []string{l.OnPrem.Password, "vmware_cgi_ticket="} {
		if strings.Contains(msgs[0], secret) {
			t.Errorf("warning holds a secret: %q", msgs[0])
		}
	}
	readAll(t, src)
	if len(w.all()) != 1 {
		t.Errorf("the fallback was warned again: %q", w.all())
	}
}

// TestSourceReadsExtentNamedByDescriptor: WebApp2's descriptor
// WebApp2.vmdk names its flat extent webapp02-flat.vmdk (renamed by hand, as
// ESXi allows); a pass reads that file, host-direct and through the proxy.
// A reader that derived WebApp2-flat.vmdk from the descriptor's name would
// find no such file and fail.
func TestSourceReadsExtentNamedByDescriptor(t *testing.T) {
	labParallel(t)
	l, c := labSource(t)
	ctx := context.Background()
	vm, err := c.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	flat := l.OnPrem.FlatFile("WebApp2")
	if filepath.Base(flat) != lab.RenamedExtent {
		t.Fatalf("the lab's WebApp2 extent is %s, want %s", flat, lab.RenamedExtent)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(flat), "WebApp2-flat.vmdk")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WebApp2-flat.vmdk exists (%v): the lab must hold only the extent its descriptor names", err)
	}
	want, err := os.ReadFile(flat)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(want[:1<<20], []byte{0}) == 1<<20 {
		t.Fatal("the extent's first MiB is zeros: the comparison would prove nothing")
	}
	var w warnings
	src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
	src.Warn = w.add
	host0 := l.OnPrem.ESX.HostReads()
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("host-direct pass read something other than the extent the descriptor names")
	}
	if h := l.OnPrem.ESX.HostReads() - host0; h < 16 {
		t.Errorf("%d host-direct reads, want at least 16", h)
	}
	src = replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
	src.ProxyOnly, src.Warn = true, w.add
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("proxied pass read something other than the extent the descriptor names")
	}
	if msgs := w.all(); len(msgs) != 0 {
		t.Errorf("warnings: %q", msgs)
	}
}

// TestSourceRefusesUnreadableDisks: opening a pass on a VM whose disk the
// transport cannot read fails with the reason, and leaves no snapshot.
func TestSourceRefusesUnreadableDisks(t *testing.T) {
	labParallel(t)
	_, c := labSource(t)
	ctx := context.Background()
	want := map[string]string{
		lab.DiskRDMPhysical: "raw device mapping",
		lab.DiskRDMVirtual:  "raw device mapping",
		lab.DiskVSAN:        "vSAN",
		lab.DiskVVol:        "vVols",
		lab.DiskEncrypted:   "encrypted",
	}
	for _, spec := range lab.RefusedVMs {
		if want[spec.Disk] == "" {
			continue
		}
		vm, err := c.VMByName(ctx, spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
		snap, err := src.Open(ctx, "", false)
		if err == nil {
			snap.Release(ctx)
			t.Errorf("%s (%s): opened", spec.Name, spec.Disk)
			continue
		}
		if !strings.Contains(err.Error(), want[spec.Disk]) {
			t.Errorf("%s (%s): %v, want %q", spec.Name, spec.Disk, err, want[spec.Disk])
		}
		after, err := c.VMByName(ctx, spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		if after.Snapshots != 0 {
			t.Errorf("%s: %d snapshot(s) left", spec.Name, after.Snapshots)
		}
	}
}

// TestHostDirectRunSharesOneTicket: a pass that reads a run of changed
// blocks in order reads it with one service ticket (one host GET), not one
// per read, and reads exactly the disk's bytes; a block read again (a
// resend) gets a GET of its own. Readers at once (as a pass's connections
// take its units) read the same bytes.
func TestHostDirectRunSharesOneTicket(t *testing.T) {
	labParallel(t)
	l, c := labSource(t)
	ctx := context.Background()
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	if err := replication.EnableCBT(ctx, c.Client.Client, vm.Ref.Reference()); err != nil {
		t.Fatal(err)
	}
	flat := l.OnPrem.FlatFile("WebApp1")
	run := make([]byte, 6<<20) // guest writes: a run of 2-8 MiB
	for i := range run {
		run[i] = byte(i*7 + i>>20)
	}
	if err := l.CBT.WriteAt(flat, run, 2<<20); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(flat)
	if err != nil {
		t.Fatal(err)
	}
	src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
	disks, err := src.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := disks[0].Key
	type unit struct{ off, n int64 }
	// pass reads the changed extents of a new snapshot with readers
	// goroutines and returns the host GETs it took.
	pass := func(readers int) int64 {
		snap, err := src.Open(ctx, "", false)
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release(ctx)
		extents, err := snap.Extents(ctx, key, "*")
		if err != nil {
			t.Fatal(err)
		}
		var units []unit
		for _, e := range extents {
			for off := e.Offset; off < e.End(); off += replication.FrameMax {
				units = append(units, unit{off, min(replication.FrameMax, e.End()-off)})
			}
		}
		host0 := l.OnPrem.ESX.HostReads()
		next := make(chan unit)
		errs := make(chan error, readers)
		got := make([]byte, len(want))
		for range readers {
			go func() {
				for u := range next {
					if err := snap.ReadAt(ctx, key, got[u.off:u.off+u.n], u.off); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for _, u := range units {
			next <- u
		}
		close(next)
		for range readers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range units {
			if !bytes.Equal(got[u.off:u.off+u.n], want[u.off:u.off+u.n]) {
				t.Fatalf("%d readers: read at %d+%d differs from the disk", readers, u.off, u.n)
			}
		}
		gets := l.OnPrem.ESX.HostReads() - host0
		if gets > int64(len(units)) {
			t.Errorf("%d readers: %d host GETs for %d reads", readers, gets, len(units))
		}
		if readers > 1 {
			return gets
		}
		// In order: the boot block alone, then one GET for 2-9 MiB (the run
		// and the block at 8 MiB it touches).
		if len(units) != 8 || gets != 2 {
			t.Errorf("%d host GETs (service tickets) for %d reads: want 2 for 8 (the boot block, then the 2-9 MiB run)", gets, len(units))
		}
		// A block of the run read again (a resend): a GET of its own,
		// the same bytes; the run is not read ahead a second time.
		for _, off := range []int64{3 << 20, 4 << 20} {
			host0 = l.OnPrem.ESX.HostReads()
			again := make([]byte, replication.FrameMax)
			if err := snap.ReadAt(ctx, key, again, off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, want[off:off+replication.FrameMax]) || l.OnPrem.ESX.HostReads()-host0 != 1 {
				t.Errorf("re-read at %d: equal=%v, %d GETs, want 1", off, bytes.Equal(again, want[off:off+replication.FrameMax]), l.OnPrem.ESX.HostReads()-host0)
			}
		}
		return gets
	}
	pass(1)
	pass(4)
}

// TestSourceReadRefusedNamesBrowse: when ferry's account lacks
// Datastore.Browse (taken away after the checks ahead ran), vCenter refuses
// the service ticket and its /folder answers 403: the pass fails naming
// the privilege, not with a bare "403 Forbidden", and leaves no snapshot.
func TestSourceReadRefusedNamesBrowse(t *testing.T) {
	labParallel(t)
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, OnPremWithheld: []string{"Datastore.Browse"}})
	ctx := context.Background()
	cfg := l.Config()
	c, err := vsphere.Connect(ctx, vsphere.Config{URL: cfg.OnPrem.URL, Username: cfg.OnPrem.Username, Password: cfg.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
	src.Warn = func(string) {}
	if _, err := src.Disks(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := src.Open(ctx, "", false)
	if err == nil {
		_ = snap.Release(ctx)
		t.Fatal("a pass opened without Datastore.Browse")
	}
	if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "needs the privilege Datastore.Browse") {
		t.Errorf("the refusal %q does not name the privilege", err)
	}
	if after, err := c.VMByName(ctx, "WebApp1"); err != nil || after.Snapshots != 0 {
		t.Errorf("WebApp1 after the refused pass: %d snapshot(s), %v; want none", after.Snapshots, err)
	}
}

// TestHostDirectReadWithATicketSpent: a GET whose one-time service ticket
// reaches the host spent already (a request net/http replayed, cookie and
// all, after a reused connection failed under it) is refused 401; the
// read is made again with a new ticket and succeeds, host-direct, with no
// fallback to vCenter's proxy and nothing warned.
func TestHostDirectReadWithATicketSpent(t *testing.T) {
	labParallel(t)
	l, src, want, w := webApp1Source(t)
	refused0, proxy0 := l.OnPrem.ESX.Refused(), l.OnPrem.ESX.ProxyReads()
	l.OnPrem.ESX.TakeNextTickets(1)
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("the read with a spent ticket differs from the source disk")
	}
	if r := l.OnPrem.ESX.Refused() - refused0; r != 1 {
		t.Errorf("%d host requests refused, want the one with the spent ticket", r)
	}
	if p := l.OnPrem.ESX.ProxyReads() - proxy0; p != 0 {
		t.Errorf("%d reads through vCenter's proxy after a spent ticket, want 0", p)
	}
	if msgs := w.all(); len(msgs) != 0 {
		t.Errorf("warnings: %q", msgs)
	}
}

// labParallel runs a test that starts a lab (or any vcsim) beside the
// others, except under the race detector: vcsim's models share
// package-level values (the evaluation license, resource pool and option
// templates) that two models write and read at the same time.
func labParallel(t *testing.T) {
	if !replication.RaceEnabled {
		t.Parallel()
	}
}

// TestHostStopsAnsweringDuringAPass (CI: a scheduled pass was reading
// host-direct when the ESXi host's HTTPS port closed; each of its retries
// read the same host again and the job was paused): a pass whose host
// stops answering after the pass chose host-direct reads the rest through
// vCenter's proxy, warns so once, and completes with the replica equal to
// the source.
func TestHostStopsAnsweringDuringAPass(t *testing.T) {
	labParallel(t)
	ctx := context.Background()
	dir := t.TempDir()
	vm, err := lab.StartBenchVM(ctx, filepath.Join(dir, "vcenter"), 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	w := &warnings{}
	vm.Source.Warn = w.add
	serverTLS, clientTLS := pairTLS(t)
	r, replicas, dev := applianceReceiver(t, dir, serverTLS, vm.Source)
	addr, st := serveReceiver(t, r, dir)
	var once sync.Once
	job := &replication.Job{VM: "bench", Org: "bench", Kind: replication.KindAppliance, Replicas: replicas, Source: vm.Source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 2,
		Events: func(ev replication.Event) {
			if ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseTransfer {
				// The snapshot is open and reads host-direct: the host's
				// port closes before the first block is read.
				once.Do(vm.ESX.Close)
			}
		}}
	host0 := vm.ESX.HostReads()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("the pass whose host stopped answering: %v", err)
	}
	if vm.ESX.HostReads() == host0 {
		t.Fatal("the pass never read host-direct: the test shows nothing")
	}
	if vm.ESX.ProxyReads() == 0 {
		t.Error("no read went through vCenter's proxy")
	}
	got, err := os.ReadFile(dev(0))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(vm.FlatFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the replica differs from the source disk")
	}
	msgs := w.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "stopped answering during a pass") || !strings.Contains(msgs[0], "vCenter's /folder proxy") || !strings.Contains(msgs[0], "slowest") {
		t.Fatalf("warnings %q: want one saying the host stopped answering and the pass reads through the proxy", msgs)
	}
	// What it means before the host's error, which names a URL (QA: at
	// 80x24 the dashboard has room for the beginning of a long warning;
	// it read the URL and cut "expect several times slower passes").
	if meaning, _, ok := strings.Cut(msgs[0], "The host's error: "); !ok || !strings.Contains(meaning, "expect several times slower passes") || !strings.Contains(meaning, "tries the host again") || strings.Contains(meaning, "https://") {
		t.Errorf("warning %q: want what it means first, then \"The host's error: ...\"", msgs[0])
	}
}

// TestSourcePoweredOffOutsideFerryIsWarned (QA: a source shut down by hand
// during warm replication read "ok" on the dashboard, and nothing said its
// services were down until the cutover's plan): a pass that finds the VM
// powered off warns once, naming the VM, and reads its disk as before; a
// pass that finds it running again says so; it warns again only after the
// VM was shut down again.
func TestSourcePoweredOffOutsideFerryIsWarned(t *testing.T) {
	labParallel(t)
	_, src, want, w := webApp1Source(t)
	ctx := context.Background()
	vm := object.NewVirtualMachine(src.Client, src.VM)
	power := func(on bool) {
		t.Helper()
		task, err := vm.PowerOff(ctx)
		if on {
			task, err = vm.PowerOn(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	offWarnings := func() (n int, last string) {
		for _, m := range w.all() {
			if strings.Contains(m, "is powered off") {
				n, last = n+1, m
			}
		}
		return n, last
	}
	readAll(t, src)
	if n, _ := offWarnings(); n != 0 {
		t.Fatalf("a running VM's pass warned that it is powered off: %q", w.all())
	}
	power(false)
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("the powered-off VM's disk read differs from its flat file")
	}
	n, msg := offWarnings()
	if n != 1 || !strings.Contains(msg, "WebApp1") || !strings.Contains(msg, "services are down") || !strings.Contains(msg, "power it on in vSphere") {
		t.Fatalf("after a pass of the VM powered off outside ferry, warnings %q: want one naming WebApp1, its services down and what to do", w.all())
	}
	readAll(t, src)
	if n, _ := offWarnings(); n != 1 {
		t.Errorf("a second pass while it stays off warned again: %q", w.all())
	}
	power(true)
	readAll(t, src)
	if msgs := w.all(); !strings.Contains(msgs[len(msgs)-1], "WebApp1 is powered on again") {
		t.Errorf("after a pass of the VM powered on again, the last warning is not that it runs: %q", msgs)
	}
	power(false)
	readAll(t, src)
	if n, _ := offWarnings(); n != 2 {
		t.Errorf("powered on and off again: %d power-off warnings, want 2: %q", n, w.all())
	}
}
