package replication

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReceiverServesWhileStrangersHang: 1,000 TCP connections that never
// start TLS (anyone who can reach the port) neither stop the receiver nor
// cost it more than a few KiB each, and a legitimate sender replicates
// meanwhile. Loopback only, bounded in count.
func TestReceiverServesWhileStrangersHang(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, dir, "")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var strangers []net.Conn
	defer func() {
		for _, c := range strangers {
			c.Close()
		}
	}()
	for range 1000 {
		c, err := net.Dial("tcp", rcv.addr)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(strangers), err)
		}
		strangers = append(strangers, c)
	}
	disk := filepath.Join(t.TempDir(), "d-flat.vmdk")
	randomDisk(t, disk, 4<<20, 1, Extent{0, 1 << 20}, Extent{3 << 20, 1 << 20})
	job := newJob(t, "vm1", NewFileSource(disk), rcv.addr)
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatalf("a legitimate sender while 1,000 strangers hang: %v", err)
	}
	sameFiles(t, disk, replicaPath(rcv, "vm1", 0))
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if growth := int64(after.HeapInuse) - int64(before.HeapInuse); growth > 64<<20 {
		t.Errorf("1,000 unauthenticated connections grew the heap by %d MiB (buffers before authentication?)", growth>>20)
	}
}

// TestReceiverRefusesAbsurdCapacity: a hello with a disk capacity near
// 2^63 is refused with a reason, not a panic that stops the receiver for
// everyone.
func TestReceiverRefusesAbsurdCapacity(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, dir, "")
	disk := filepath.Join(t.TempDir(), "d-flat.vmdk")
	randomDisk(t, disk, 1<<20, 1, Extent{0, 1 << 20})
	job := newJob(t, "vm1", NewFileSource(disk), rcv.addr)
	job.Source = &hugeSource{Source: job.Source}
	_, err := job.RunPass(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("a hello with an absurd capacity: %v", err)
	}
	// The receiver still serves.
	ok := newJob(t, "vm2", NewFileSource(disk), rcv.addr)
	if _, err := ok.RunPass(context.Background(), false); err != nil {
		t.Fatalf("after the absurd hello: %v", err)
	}
}

// hugeSource claims a capacity no disk has.
type hugeSource struct{ Source }

func (h *hugeSource) Disks(ctx context.Context) ([]Disk, error) {
	ds, err := h.Source.Disks(ctx)
	for i := range ds {
		ds[i].Capacity = 1<<63 - 4096
	}
	return ds, err
}

// TestReceiverNamesAndErrors: a VM name with a newline or a quote is
// refused (it would inject lines into what the receiver logs and writes),
// and what the sender is told never shows the receiver's local paths.
func TestReceiverNamesAndErrors(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, dir, "")
	disk := filepath.Join(t.TempDir(), "d-flat.vmdk")
	randomDisk(t, disk, 1<<20, 1, Extent{0, 1 << 20})
	for _, name := range []string{"evil\nvm", `say "hi"`, "a/b"} {
		job := newJob(t, "vm1", NewFileSource(disk), rcv.addr)
		job.VM = name
		if _, err := job.RunPass(context.Background(), false); err == nil || !strings.Contains(err.Error(), "namespace") {
			t.Errorf("VM name %q: %v", name, err)
		}
	}
	// A device that fails a write (the OS names its path in the error).
	eio := func(path string, off int64, n int) error {
		return &os.PathError{Op: "write", Path: path, Err: syscall.EIO}
	}
	rcv.r.writeErr.Store(&eio)
	defer rcv.r.writeErr.Store(nil)
	job := newJob(t, "vm2", NewFileSource(disk), rcv.addr)
	job.Retries = 1
	_, err := job.RunPass(context.Background(), false)
	if err == nil {
		t.Fatal("a pass onto a failing device succeeded")
	}
	if strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("the sender was told the receiver's local paths (or not the cause): %v", err)
	}
}

// flakyListener fails its first Accepts as a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestReceiverSurvivesAcceptFailures: "too many open files" from accept no
// longer ends Serve (and with it replication for every VM): it waits and
// accepts again.
func TestReceiverSurvivesAcceptFailures(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "by-id"), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := NewReceiver(testReceiverConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, &flakyListener{Listener: ln, fails: 5}) }()
	if err := Probe(ctx, ln.Addr().String(), testTLS(t).client); err != nil {
		t.Fatalf("after accept failures: %v", err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve ended: %v", err)
	default:
	}
}

// TestReceiverRefusesMismatchedDigestQuery: a digest query whose range
// lists do not match its blocks gets an error, and the receiver keeps
// serving (it used to unlock its mutex twice and die).
func TestReceiverRefusesMismatchedDigestQuery(t *testing.T) {
	const capacity = 1 << 20
	rcv := startReceiver(t, t.TempDir(), "")
	names, _ := DeviceNames(testUUID("vm", 0))
	if err := blockDeviceFile(filepath.Join(rcv.byID, names[0]), capacity); err != nil {
		t.Fatal(err)
	}
	client := testTLS(t).client
	c, err := tls.Dial("tcp", rcv.addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fc := newFrameConn(c)
	if err := fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Kind: KindAppliance, Org: testOrg, VM: "vm",
		Session: t.Name(), Disks: []Disk{{Key: "0", Capacity: capacity}}, Replicas: []string{testUUID("vm", 0)}}); err != nil {
		t.Fatal(err)
	}
	var h header
	if _, err := fc.readFrame(&h, nil); err != nil || h.Type != fReply {
		t.Fatalf("hello: %v (frame %d)", err, h.Type)
	}
	begin, _ := json.Marshal(diskMsg{Disk: 0, Pass: "p1", Kind: PassInitial})
	if err := fc.writeFrame(&header{Type: fBegin}, begin, true); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.readFrame(&h, nil); err != nil {
		t.Fatalf("begin: %v", err)
	}
	q, _ := json.Marshal(diskMsg{Disk: 0, Blocks: []int64{0}, Ranges: [][]Extent{{{0, 512}}, {{512, 512}}}})
	if err := fc.writeFrame(&header{Type: fDigests}, q, true); err != nil {
		t.Fatal(err)
	}
	payload, err := fc.readFrame(&h, nil)
	if err == nil && !bytes.Contains(payload, []byte("range lists")) {
		t.Errorf("mismatched digest query answered frame %d %q: want an error naming the range lists", h.Type, payload)
	}
	c.Close()
	if err := Probe(context.Background(), rcv.addr, client); err != nil {
		t.Fatalf("the receiver stopped serving: %v", err)
	}
}
