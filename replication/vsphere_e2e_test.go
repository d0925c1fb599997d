package replication_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/workload"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type vcsimLab struct {
	model   *simulator.Model
	tracker *cbt.Tracker
	client  *vim25.Client
	vm      *object.VirtualMachine
	flat    string // source VM's flat file
}

const labDisk = 32 << 20

// labRegions start the 3 MiB regions of random data of the lab disk.
var labRegions = []int64{0, 9 << 20, 20<<20 + 4096}

// allocatedAbove is the lab disk's data at or above off, in 64 KiB CBT blocks.
func allocatedAbove(off int64) int64 {
	var n int64
	for _, r := range labRegions {
		start, end := r/(64<<10)*(64<<10), (r+3<<20+64<<10-1)/(64<<10)*(64<<10)
		n += max(0, end-max(start, off))
	}
	return n
}

// newVcsimLab starts a VPX model with CBT and gives DC0_H0_VM0's first disk
// labDisk bytes of content.
func newVcsimLab(t testing.TB) *vcsimLab { return newVcsimLabSize(t, labDisk, true) }

func newVcsimLabSize(t testing.TB, size int64, fill bool) *vcsimLab {
	t.Helper()
	m := simulator.VPX()
	m.Host, m.Machine = 1, 1
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	tr := cbt.Install(m)
	s := m.Service.NewServer()
	t.Cleanup(func() { s.Close(); m.Remove() })
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	l := &vcsimLab{model: m, tracker: tr, client: c.Client}
	for _, o := range m.Map().All("VirtualMachine") {
		vm := o.(*simulator.VirtualMachine)
		if vm.Name != "DC0_H0_VM0" {
			continue
		}
		l.vm = object.NewVirtualMachine(c.Client, vm.Self)
		for _, d := range vm.Config.Hardware.Device {
			if vd, ok := d.(*types.VirtualDisk); ok {
				vd.CapacityInBytes, vd.CapacityInKB = size, size/1024
				b := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
				var p object.DatastorePath
				p.FromString(b.FileName)
				ds := m.Map().Any("Datastore").(*simulator.Datastore)
				l.flat = path.Join(ds.Info.GetDatastoreInfo().Url, simulator.VirtualDiskBackingFileName(p.Path))
				break
			}
		}
	}
	if l.vm == nil || l.flat == "" {
		t.Fatal("no VM disk in the model")
	}
	// Content: random data in some regions, zeros elsewhere.
	f, err := os.OpenFile(l.flat, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if !fill {
		return l
	}
	rng := rand.New(rand.NewPCG(3, 3))
	buf := make([]byte, 3<<20)
	for _, off := range labRegions {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func pairTLS(t testing.TB) (server, client *tls.Config) {
	sc, err := replication.SelfSignedCert("receiver")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := replication.SelfSignedCert("sender")
	if err != nil {
		t.Fatal(err)
	}
	return replication.PinnedServerTLS(sc, replication.Fingerprint(cc.Certificate[0])),
		replication.PinnedClientTLS(cc, replication.Fingerprint(sc.Certificate[0]))
}

func fileSum(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// applianceReceiver is a receiver writing as in the receiver appliance: the
// replica disks of src's disks are files under dir/by-id, named by disk
// UUID as the appliance's kernel would list them. It returns the job's
// replica map and the device of disk i.
func applianceReceiver(t testing.TB, dir string, serverTLS *tls.Config, src replication.Source) (*replication.Receiver, map[string]string, func(i int) string) {
	t.Helper()
	disks, err := src.Disks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byID := filepath.Join(dir, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	replicas := map[string]string{}
	var devs []string
	for i, d := range disks {
		uuid := fmt.Sprintf("6000c290-0000-0000-0000-%012x", i+1)
		names, _ := replication.DeviceNames(uuid)
		p := filepath.Join(byID, names[0])
		f, err := os.Create(p)
		if err == nil {
			err = f.Truncate(d.Capacity)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		replicas[d.Key], devs = uuid, append(devs, p)
	}
	r, err := replication.NewReceiver(replication.ReceiverConfig{StateDir: filepath.Join(dir, "state"),
		Writer: replication.ApplianceWriter{ByID: byID}, TLS: serverTLS,
		Authorize: func(tls.ConnectionState, string, string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return r, replicas, func(i int) string { return devs[i] }
}

// serveReceiver serves r on a loopback port until the test ends, and opens
// the sender's state under dir (closed at the end too); it returns the
// receiver's address.
func serveReceiver(t testing.TB, r *replication.Receiver, dir string) (string, *replication.StateStore) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	go r.Serve(rctx, ln)
	t.Cleanup(func() { stop(); r.Close() })
	st, err := replication.OpenState(filepath.Join(dir, "sender", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return ln.Addr().String(), st
}

// TestVSphereEndToEnd: preflight, CBT enable, initial sync and incremental
// passes while the workload writes, a CBT reset, then the final pass with
// the VM off: the replica equals the source, block for block.
func TestVSphereEndToEnd(t *testing.T) {
	labParallel(t)
	l := newVcsimLab(t)
	ctx := context.Background()

	rep, err := replication.Preflight(ctx, l.client, l.vm.Reference())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() == nil || rep.CBTEnabled {
		t.Fatalf("preflight should flag CBT off: %+v", rep)
	}
	if err := replication.EnableCBT(ctx, l.client, l.vm.Reference()); err != nil {
		t.Fatal(err)
	}
	if rep, _ = replication.Preflight(ctx, l.client, l.vm.Reference()); rep.Err() != nil {
		t.Fatal(rep.Err())
	}

	serverTLS, clientTLS := pairTLS(t)
	dir := t.TempDir()
	source := replication.NewVSphereSource(l.client, l.vm.Reference())
	r, replicas, device := applianceReceiver(t, dir, serverTLS, source)
	addr, st := serveReceiver(t, r, dir)
	var kinds []replication.PassKind
	job := &replication.Job{VM: "WebApp1", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 2, Window: 8 << 20,
		Events: func(e replication.Event) {
			if e.Kind == replication.EventPassDone {
				kinds = append(kinds, e.Pass)
				t.Logf("%s pass: planned %d read %d sent %d zero %d matched %d", e.Pass, e.Planned, e.Read, e.Sent, e.ZeroSkipped, e.Matched)
			}
		}}

	w := workload.Start(ctx, l.model, workload.Options{VMs: []string{"DC0_H0_VM0"}, Rate: 4 << 20, Tick: 10 * time.Millisecond, Write: l.tracker.WriteAt})
	defer w.Stop()
	for i := range 3 {
		if i == 2 {
			if err := l.tracker.Reset("DC0_H0_VM0"); err != nil {
				t.Fatal(err)
			}
		}
		before := w.Written("DC0_H0_VM0")
		if _, err := job.RunPass(ctx, false); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		// Let the guest write something before the next pass.
		for w.Written("DC0_H0_VM0") < before+(1<<20) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	// Cutover: power off (no write lands after PowerOff returns), final pass, verify.
	task, err := l.vm.PowerOff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := job.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	want := []replication.PassKind{replication.PassInitial, replication.PassIncremental, replication.PassFullCompare, replication.PassFinal}
	if len(kinds) != len(want) {
		t.Fatalf("passes %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("passes %v, want %v", kinds, want)
		}
	}
	replica := device(0)
	if a, b := fileSum(t, l.flat), fileSum(t, replica); !bytes.Equal(a[:], b[:]) {
		t.Fatal("replica differs from source after the final pass")
	}
	// No snapshot of ours is left behind.
	if rep, _ = replication.Preflight(ctx, l.client, l.vm.Reference()); len(rep.Snapshots) != 0 {
		t.Fatalf("snapshots left: %v", rep.Snapshots)
	}
}

// cancelConn cancels a context once n bytes were written through it.
type cancelConn struct {
	net.Conn
	left   *atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelConn) Write(p []byte) (int, error) {
	if c.left.Add(-int64(len(p))) < 0 {
		c.cancel()
	}
	return c.Conn.Write(p)
}

// TestVSphereSenderKilledResumesSnapshot: a sender killed mid-pass resumes
// in the same vSphere snapshot from its durable watermark, and the
// snapshot is deleted afterwards.
func TestVSphereSenderKilledResumesSnapshot(t *testing.T) {
	labParallel(t)
	l := newVcsimLab(t)
	ctx := context.Background()
	if err := replication.EnableCBT(ctx, l.client, l.vm.Reference()); err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := pairTLS(t)
	dir := t.TempDir()
	source := replication.NewVSphereSource(l.client, l.vm.Reference())
	r, replicas, device := applianceReceiver(t, dir, serverTLS, source)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	rctx, stop := context.WithCancel(ctx)
	go r.Serve(rctx, ln)
	t.Cleanup(func() { stop(); r.Close() })
	st, err := replication.OpenState(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	kctx, kill := context.WithCancel(ctx)
	var left atomic.Int64
	left.Store(5 << 20)
	job := &replication.Job{VM: "vm", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
		Addr: ln.Addr().String(), TLS: clientTLS, State: st, Conns: 1, Window: 2 << 20,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return &cancelConn{Conn: c, left: &left, cancel: kill}, err
		}}
	if _, err := job.RunPass(kctx, false); err == nil {
		t.Fatal("pass survived the kill")
	}
	disks, err := job.Source.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := st.Disk("vm/" + disks[0].Key)
	rep, _ := replication.Preflight(ctx, l.client, l.vm.Reference())
	if ds.Pass == "" || ds.Watermark == 0 {
		t.Fatalf("state after kill: %+v", ds)
	}
	var left1 mo.VirtualMachine
	if err := l.vm.Properties(ctx, l.vm.Reference(), []string{"snapshot"}, &left1); err != nil || left1.Snapshot == nil || len(left1.Snapshot.RootSnapshotList) != 1 {
		t.Fatalf("the killed pass's snapshot: %+v %v", left1.Snapshot, err)
	}
	taken := left1.Snapshot.RootSnapshotList[0].CreateTime
	time.Sleep(1500 * time.Millisecond) // the sender stays down a while
	job2 := *job
	job2.Dial = nil
	res, err := job2.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	// The replica holds the source as of that snapshot: the pass (its
	// status's last pass, the replication lag, the RPO) dates from it, not
	// from the restart.
	vs, _ := st.VM("vm")
	if d := res.Start.Sub(taken); d < -time.Second || d > time.Second || !vs.LastPass.Equal(res.Start) {
		t.Errorf("resumed pass dated %s (state: last pass %s), its snapshot was taken %s", res.Start, vs.LastPass, taken)
	}
	if want := allocatedAbove(ds.Watermark); res.Kind != replication.PassInitial || res.Counters.Payload+res.Counters.ZeroSkipped > want {
		t.Fatalf("resumed pass %s sent %d bytes, watermark was %d: acknowledged data re-sent", res.Kind, res.Counters.Payload, ds.Watermark)
	}
	if rep2, _ := replication.Preflight(ctx, l.client, l.vm.Reference()); len(rep.Snapshots)+len(rep2.Snapshots) != 0 {
		t.Fatal("foreign snapshots reported")
	}
	var vm mo.VirtualMachine
	if err := l.vm.Properties(ctx, l.vm.Reference(), []string{"snapshot"}, &vm); err != nil || vm.Snapshot != nil {
		t.Fatalf("pass snapshot left behind: %v %v", vm.Snapshot, err)
	}
	finalPassEqual(t, l, &job2, device)
}

// finalPassEqual powers the lab's VM off, runs job's final pass and
// checks that the replica (device 0) equals the source disk.
func finalPassEqual(t *testing.T, l *vcsimLab, job *replication.Job, device func(int) string) {
	t.Helper()
	ctx := context.Background()
	task, _ := l.vm.PowerOff(ctx)
	_ = task.Wait(ctx)
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if a, b := fileSum(t, l.flat), fileSum(t, device(0)); a != b {
		t.Fatal("replica differs")
	}
}

// TestVSpherePausedPassKeepsWhatWasDurable: an initial sync paused mid-way
// releases its vSphere snapshot; the next pass, in a new snapshot, asks
// QueryChangedDiskAreas what changed since the paused pass's changeId
// (whose snapshot is deleted) and sends only that of what was durable.
func TestVSpherePausedPassKeepsWhatWasDurable(t *testing.T) {
	labParallel(t)
	l := newVcsimLab(t)
	ctx := context.Background()
	if err := replication.EnableCBT(ctx, l.client, l.vm.Reference()); err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := pairTLS(t)
	dir := t.TempDir()
	source := replication.NewVSphereSource(l.client, l.vm.Reference())
	r, replicas, device := applianceReceiver(t, dir, serverTLS, source)
	addr, st := serveReceiver(t, r, dir)

	pctx, pause := context.WithCancelCause(ctx)
	var left atomic.Int64
	left.Store(4 << 20)
	job := &replication.Job{VM: "vm", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 1, Window: 2 << 20,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return &cancelConn{Conn: c, left: &left, cancel: func() { pause(replication.ErrPaused) }}, err
		}}
	if _, err := job.RunPass(pctx, false); err == nil {
		t.Fatal("the paused pass committed")
	}
	disks, err := job.Source.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := st.Disk("vm/" + disks[0].Key)
	if ds.Pass == "" || ds.Watermark < 1<<20 {
		t.Fatalf("state after the pause: %+v, want a pass in flight at least 1 MiB durable", ds)
	}
	var vm mo.VirtualMachine
	if err := l.vm.Properties(ctx, l.vm.Reference(), []string{"snapshot"}, &vm); err != nil || vm.Snapshot != nil {
		t.Fatalf("the paused pass's snapshot: %+v %v, want it deleted", vm.Snapshot, err)
	}
	// The guest writes inside what the paused pass made durable.
	changed := bytes.Repeat([]byte{0xa5}, 64<<10)
	if err := l.tracker.WriteAt(l.flat, changed, 512<<10); err != nil {
		t.Fatal(err)
	}
	job2 := *job
	job2.Dial = nil
	res, err := job2.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Counters
	durable := allocatedAbove(0) - allocatedAbove(ds.Watermark)
	if c.Resumed < durable-int64(len(changed)) || c.Resent != 0 || c.Payload+c.ZeroSkipped > allocatedAbove(ds.Watermark)+int64(len(changed)) {
		t.Fatalf("after a pause with %d bytes durable: %d resumed, %d sent (%d as zero runs), %d block(s) re-sent; want at least %d resumed, only the rest and the %d bytes changed since sent, none re-sent",
			durable, c.Resumed, c.Payload, c.ZeroSkipped, c.Resent, durable-int64(len(changed)), len(changed))
	}
	finalPassEqual(t, l, &job2, device)
}

// BenchmarkVSphereInitialSync: initial sync of a 256 MiB disk (random data)
// through the vSphere path: vcsim snapshot, QueryChangedDiskAreas, /folder
// range reads over HTTP, TLS to a receiver.
func BenchmarkVSphereInitialSync(b *testing.B) {
	const size = 256 << 20
	l := newVcsimLabSize(b, size, false)
	ctx := context.Background()
	f, err := os.OpenFile(l.flat, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	cc := rand.NewChaCha8([32]byte{9})
	for off := int64(0); off < size; off += int64(len(buf)) {
		_, _ = cc.Read(buf)
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	if err := replication.EnableCBT(ctx, l.client, l.vm.Reference()); err != nil {
		b.Fatal(err)
	}
	serverTLS, clientTLS := pairTLS(b)
	b.SetBytes(size)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		source := replication.NewVSphereSource(l.client, l.vm.Reference())
		r, replicas, _ := applianceReceiver(b, dir, serverTLS, source)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		rctx, stop := context.WithCancel(ctx)
		go r.Serve(rctx, ln)
		st, err := replication.OpenState(filepath.Join(dir, "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		job := &replication.Job{VM: "vm", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
			Addr: ln.Addr().String(), TLS: clientTLS, State: st}
		b.StartTimer()
		if _, err := job.RunPass(ctx, false); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		stop()
		r.Close()
		b.StartTimer()
	}
}

// TestCBTTurnedOffIsTurnedOnAgain (QA): changed block tracking turned off
// on a replicated VM behind ferry's back. The next pass cannot trust any
// changeId and compares the whole disk, and turns CBT on again (it stayed
// off: every later pass, the cutover's final one inside the downtime among
// them, was a full compare); the pass after it is incremental again.
func TestCBTTurnedOffIsTurnedOnAgain(t *testing.T) {
	l := newVcsimLab(t)
	ctx := context.Background()
	job, msgs := cbtJob(t, l)
	if res, err := job.RunPass(ctx, false); err != nil || res.Kind != replication.PassInitial {
		t.Fatalf("first pass: %v %v", res.Kind, err)
	}
	task, err := l.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := job.RunPass(ctx, false)
	if err != nil || res.Kind != replication.PassFullCompare {
		t.Fatalf("pass with CBT off: %v %v; want a full compare", res.Kind, err)
	}
	if !strings.Contains(strings.Join(*msgs, "\n"), "changed block tracking had been turned off on VM") {
		t.Errorf("the pass did not say CBT was off and turned on again: %q", *msgs)
	}
	var vm mo.VirtualMachine
	if err := l.vm.Properties(ctx, l.vm.Reference(), []string{"config.changeTrackingEnabled"}, &vm); err != nil {
		t.Fatal(err)
	}
	if on := vm.Config.ChangeTrackingEnabled; on == nil || !*on {
		t.Error("CBT still off after the pass")
	}
	if res, err := job.RunPass(ctx, false); err != nil || res.Kind != replication.PassIncremental {
		t.Errorf("the pass after: %v %v; want an incremental one", res.Kind, err)
	}
}

// cbtJob is a job of the lab's VM with CBT on, replicating to an appliance
// receiver, and the errors its passes report.
func cbtJob(t *testing.T, l *vcsimLab) (*replication.Job, *[]string) {
	t.Helper()
	ctx := context.Background()
	if err := replication.EnableCBT(ctx, l.client, l.vm.Reference()); err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := pairTLS(t)
	dir := t.TempDir()
	source := replication.NewVSphereSource(l.client, l.vm.Reference())
	r, replicas, _ := applianceReceiver(t, dir, serverTLS, source)
	addr, st := serveReceiver(t, r, dir)
	var msgs []string
	job := &replication.Job{VM: "WebApp1", Org: "Company", Kind: replication.KindAppliance, Replicas: replicas, Source: source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 2, Window: 8 << 20,
		Events: func(e replication.Event) {
			if e.Kind == replication.EventError && e.Err != nil {
				msgs = append(msgs, e.Err.Error())
			}
		}}
	return job, &msgs
}

// TestCBTResetBetweenPassesIsAFullCompare (audit: the lab kept tracking
// while CBT was off and answered an old changeId after it was turned on
// again): a tool that turns changed block tracking off and on between two
// passes (a backup product's "CBT reset") ends the tracking; what the guest
// wrote meanwhile is known to nobody and no changeId of before holds. The
// next pass sees the new tracking identity, compares the whole disk, and
// the replica equals the source.
func TestCBTResetBetweenPassesIsAFullCompare(t *testing.T) {
	l := newVcsimLab(t)
	ctx := context.Background()
	job, msgs := cbtJob(t, l)
	if res, err := job.RunPass(ctx, false); err != nil || res.Kind != replication.PassInitial {
		t.Fatalf("first pass: %v %v", res.Kind, err)
	}
	cbtOn := func(on bool) {
		t.Helper()
		task, err := l.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(on)})
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cbtOn(false)
	// The guest writes while nothing tracks it.
	if err := l.tracker.WriteAt(l.flat, bytes.Repeat([]byte{0x5a}, 64<<10), 1<<20); err != nil {
		t.Fatal(err)
	}
	cbtOn(true)
	res, err := job.RunPass(ctx, false)
	if err != nil || res.Kind != replication.PassFullCompare {
		t.Fatalf("pass after a CBT reset: %v %v; want a full compare", res.Kind, err)
	}
	if !strings.Contains(strings.Join(*msgs, "\n"), "changed block tracking was reset since the last pass") {
		t.Errorf("the pass did not say CBT was reset: %q", *msgs)
	}
	// The whole-disk verify (BLAKE3 of source and replica) of the VM
	// powered off.
	task, err := l.vm.PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Verify(ctx); err != nil {
		t.Errorf("replica after the pass: %v", err)
	}
}
