package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// hookSource calls hook before every read of a pass snapshot.
type hookSource struct {
	Source
	hook func(n int64) // n: reads so far
	n    atomic.Int64
}

func (h *hookSource) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	s, err := h.Source.Open(ctx, resume, final)
	if err != nil {
		return nil, err
	}
	return &hookSnap{Snapshot: s, h: h}, nil
}

type hookSnap struct {
	Snapshot
	h *hookSource
}

func (s *hookSnap) ReadAt(ctx context.Context, key string, p []byte, off int64) error {
	if s.h.hook != nil {
		s.h.hook(s.h.n.Add(1))
	}
	return s.Snapshot.ReadAt(ctx, key, p, off)
}

func setup(t *testing.T, size int64) (src string, fs *FileSource, rcv *testReceiver) {
	t.Helper()
	dir := t.TempDir()
	src = filepath.Join(dir, "src.img")
	randomDisk(t, src, size, 7, Extent{0, size})
	return src, NewFileSource(src), startReceiver(t, filepath.Join(dir, "rcv"), "")
}

// TestSenderKilledResumes: a pass cancelled mid-way (the sender process
// killed) resumes in the same snapshot from its durable watermark.
func TestSenderKilledResumes(t *testing.T) {
	const size = 32 << 20
	src, fs, rcv := setup(t, size)
	ctx, cancel := context.WithCancel(context.Background())
	hs := &hookSource{Source: fs, hook: func(n int64) {
		if n == 20 {
			cancel()
		}
	}}
	job := newJob(t, "vm", hs, rcv.addr)
	job.Conns, job.Window = 2, 4<<20
	if _, err := job.RunPass(ctx, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancellation, got %v", err)
	}
	st, _ := job.State.Disk("vm/0")
	if st.Pass == "" || st.Watermark <= 0 || st.Watermark >= size {
		t.Fatalf("state after kill: %+v", st)
	}
	// "Restart": a new job over the same state and source.
	hs.hook = nil
	job2 := *job
	res, err := job2.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	// It resumes from the durable watermark: the one the sender's state
	// recorded, or a later one the receiver holds (the state follows the
	// acknowledgements in batches, and the kill may come between).
	c := res.Counters
	if c.Resumed < st.Watermark || c.Resumed+c.Planned != size {
		t.Fatalf("resumed pass: %d bytes resumed and %d planned, want at least the recorded watermark %d resumed and the rest (of %d) planned", c.Resumed, c.Planned, st.Watermark, size)
	}
	if c.Payload > c.Planned {
		t.Fatalf("resumed pass re-sent acknowledged data: payload %d > the %d planned above the watermark", c.Payload, c.Planned)
	}
	// Its progress counts what the killed attempt made durable: the whole
	// disk, not a new pass from 0%.
	if c.Resumed+c.Acked != size {
		t.Fatalf("resumed pass: %d bytes resumed and %d acknowledged, want the disk's %d", c.Resumed, c.Acked, size)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	if st, _ = job.State.Disk("vm/0"); st.Pass != "" || st.Committed == "" {
		t.Fatalf("state after resume: %+v", st)
	}
}

// TestReceiverRestartMidPass: the receiver process dies mid-pass and comes
// back; the sender reconnects and finishes from the durable watermark.
func TestReceiverRestartMidPass(t *testing.T) {
	const size = 24 << 20
	src, fs, rcv := setup(t, size)
	var once sync.Once
	hs := &hookSource{Source: fs}
	hs.hook = func(n int64) {
		if n == 12 {
			once.Do(func() { rcv = rcv.restart() })
		}
	}
	job := newJob(t, "vm", hs, rcv.addr)
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 {
		t.Fatalf("attempts %d, want a reconnect", res.Attempts)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	if err := job.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// dropConn fails the connection after limit bytes were written.
type dropConn struct {
	net.Conn
	left *atomic.Int64
}

func (c *dropConn) Write(p []byte) (int, error) {
	if c.left.Add(-int64(len(p))) < 0 {
		c.Conn.Close()
		return 0, fmt.Errorf("injected connection drop")
	}
	return c.Conn.Write(p)
}

// TestConnectionDropMidPass: a dropped connection is retried within the pass.
func TestConnectionDropMidPass(t *testing.T) {
	const size = 16 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	var left atomic.Int64
	left.Store(2 << 20)
	var drops atomic.Int32
	job.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil || drops.Add(1) > 1 {
			return c, err
		}
		return &dropConn{Conn: c, left: &left}, nil
	}
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 {
		t.Fatalf("attempts %d, want a retry", res.Attempts)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestReceiverDiskFull: a full replica disk stops the pass with a clear
// error (no retry loop), nothing is committed, and a later pass completes.
func TestReceiverDiskFull(t *testing.T) {
	const size = 8 << 20
	src, fs, rcv := setup(t, size)
	var written atomic.Int64
	full := func(path string, off int64, n int) error {
		if written.Add(int64(n)) > 3<<20 {
			return &pathError{syscall.ENOSPC}
		}
		return nil
	}
	rcv.r.writeErr.Store(&full)
	job := newJob(t, "vm", fs, rcv.addr)
	res, err := job.RunPass(context.Background(), false)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("want ErrNoSpace, got %v", err)
	}
	if res.Attempts != 1 {
		t.Fatalf("disk full was retried %d times", res.Attempts)
	}
	if st, _ := job.State.Disk("vm/0"); st.Committed != "" {
		t.Fatalf("committed after disk full: %+v", st)
	}
	rcv.r.writeErr.Store(nil)
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

type pathError struct{ err error }

func (e *pathError) Error() string { return "write replica: " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// TestCBTResetFullCompare: after a CBT reset the engine compares block
// hashes and sends only mismatching blocks.
func TestCBTResetFullCompare(t *testing.T) {
	const size = 16 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	scribble(t, src, 9, Extent{3 << 20, 4096}, Extent{11<<20 + 5, 100})
	fs.ResetCBT()
	res, err := job.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassFullCompare {
		t.Fatalf("kind %s, want full-compare", res.Kind)
	}
	if res.Counters.Payload > 2*HashBlock || res.Counters.Matched != size-2*HashBlock {
		t.Fatalf("full-compare sent %d payload bytes, matched %d", res.Counters.Payload, res.Counters.Matched)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	// CBT works again from the new base.
	scribble(t, src, 10, Extent{5 << 20, 64 << 10})
	if res, err = job.RunPass(ctx, false); err != nil || res.Kind != PassIncremental {
		t.Fatalf("after reset: %v %v", res.Kind, err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestSenderStateLost: a sender without state against a receiver that has
// a replica compares instead of copying everything again.
func TestSenderStateLost(t *testing.T) {
	const size = 8 << 20
	src, fs, rcv := setup(t, size)
	ctx := context.Background()
	if _, err := newJob(t, "vm", fs, rcv.addr).RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	scribble(t, src, 11, Extent{1 << 20, 8192})
	res, err := newJob(t, "vm", fs, rcv.addr).RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassFullCompare || res.Counters.Payload > HashBlock {
		t.Fatalf("kind %s payload %d", res.Kind, res.Counters.Payload)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestVerifyDetectsCorruption: a replica block changed behind the engine's
// back is reported by the final verify, never passed silently.
func TestVerifyDetectsCorruption(t *testing.T) {
	src, fs, rcv := setup(t, 4<<20)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	scribble(t, replicaPath(rcv, "vm", 0), 99, Extent{2<<20 + 17, 1})
	if err := job.Verify(ctx); !errors.Is(err, ErrVerifyMismatch) {
		t.Fatalf("verify of a corrupted replica: %v", err)
	}
	// A full-compare pass (here: after the sender lost its state) repairs it.
	job2 := newJob(t, "vm", fs, rcv.addr)
	if res, err := job2.RunPass(ctx, false); err != nil || res.Counters.Payload > HashBlock {
		t.Fatalf("repair: %+v %v", res.Counters, err)
	}
	if err := job2.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestNewSenderFencesOldConnections: when a new sender session starts for a
// VM, the receiver closes (and drains) the connections of the older one, so
// a killed sender's buffered frames cannot land after the new pass's.
func TestNewSenderFencesOldConnections(t *testing.T) {
	src, fs, rcv := setup(t, 2<<20)
	old, err := tls.Dial("tcp", rcv.addr, testTLS(t).client)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	fc := newFrameConn(old)
	job := newJob(t, "vm", fs, rcv.addr)
	if err := fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Kind: KindAppliance, Org: testOrg, VM: "vm", Session: "old",
		Disks: []Disk{{Key: "0", Capacity: 2 << 20}}, Replicas: []string{job.Replicas["0"]}}); err != nil {
		t.Fatal(err)
	}
	var h header
	if _, err := fc.readFrame(&h, nil); err != nil || h.Type != fReply {
		t.Fatalf("hello: %v %d", err, h.Type)
	}
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.readFrame(&h, nil); err == nil {
		t.Fatal("the old session's connection is still open")
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}
