package replication

import (
	"bytes"
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// pair holds TLS configs for a receiver and a sender paired by fingerprint.
type pair struct {
	server, client *tls.Config
}

var (
	pairOnce sync.Once
	thePair  pair
)

func testTLS(t testing.TB) pair {
	pairOnce.Do(func() {
		sc, err := SelfSignedCert("receiver")
		if err != nil {
			t.Fatal(err)
		}
		cc, err := SelfSignedCert("sender")
		if err != nil {
			t.Fatal(err)
		}
		thePair = pair{
			server: PinnedServerTLS(sc, Fingerprint(cc.Certificate[0])),
			client: PinnedClientTLS(cc, Fingerprint(sc.Certificate[0])),
		}
	})
	return thePair
}

// testReceiver runs a receiver on a loopback port; restart() stops and
// starts it again on the same address and directory.
type testReceiver struct {
	t      testing.TB
	dir    string
	addr   string
	r      *Receiver
	cancel context.CancelFunc
	done   chan struct{}
}

func startReceiver(t testing.TB, dir, addr string) *testReceiver {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	r, err := NewReceiver(dir, testTLS(t).server, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testReceiver{t: t, dir: dir, addr: ln.Addr().String(), r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		_ = r.Serve(ctx, ln)
	}()
	t.Cleanup(tr.stop)
	return tr
}

func (tr *testReceiver) stop() {
	if tr.cancel == nil {
		return
	}
	tr.cancel()
	<-tr.done
	tr.r.Close()
	tr.cancel = nil
}

func (tr *testReceiver) restart() *testReceiver {
	tr.stop()
	return startReceiver(tr.t, tr.dir, tr.addr)
}

// randomDisk creates a sparse disk file of size bytes with random data in
// the given extents.
func randomDisk(t testing.TB, path string, size int64, seed uint64, ext ...Extent) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, e := range ext {
		b := make([]byte, e.Length)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(b, e.Offset); err != nil {
			t.Fatal(err)
		}
	}
}

// scribble writes random bytes into an existing file.
func scribble(t testing.TB, path string, seed uint64, ext ...Extent) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, e := range ext {
		b := make([]byte, e.Length)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(b, e.Offset); err != nil {
			t.Fatal(err)
		}
	}
}

func sameFiles(t testing.TB, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != len(y) {
		t.Fatalf("%s: %d bytes, %s: %d bytes", a, len(x), b, len(y))
	}
	if !bytes.Equal(x, y) {
		for i := 0; i < len(x); i += 4096 {
			if !bytes.Equal(x[i:min(i+4096, len(x))], y[i:min(i+4096, len(y))]) {
				t.Fatalf("%s and %s differ in the 4 KiB block at %d", a, b, i)
			}
		}
	}
}

func newJob(t testing.TB, vm string, src Source, addr string) *Job {
	t.Helper()
	st, err := OpenState(filepath.Join(t.TempDir(), "sender.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Job{VM: vm, Source: src, Addr: addr, TLS: testTLS(t).client, State: st, Conns: 3, Window: 8 << 20}
}
