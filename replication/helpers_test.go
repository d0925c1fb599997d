package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
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
	sender         string // the sender's fingerprint
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
			sender: Fingerprint(cc.Certificate[0]),
		}
	})
	return thePair
}

// testOrg is the namespace org of test jobs; the test sender may write
// every VM of it.
const testOrg = "test"

// testReceiver runs an appliance receiver on a loopback port, its state in
// dir/state, the replica "devices" (files) in dir/by-id; restart() stops
// and starts it again on the same address and directory.
type testReceiver struct {
	t      testing.TB
	dir    string
	byID   string
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
	byID := filepath.Join(dir, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := NewReceiver(testReceiverConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testReceiver{t: t, dir: dir, byID: byID, addr: ln.Addr().String(), r: r, cancel: cancel, done: make(chan struct{})}
	byIDOf.Store(tr.addr, byID)
	go func() {
		defer close(tr.done)
		_ = r.Serve(ctx, ln)
	}()
	t.Cleanup(tr.stop)
	return tr
}

func testReceiverConfig(t testing.TB, dir string) ReceiverConfig {
	return ReceiverConfig{
		StateDir:  filepath.Join(dir, "state"),
		Writer:    ApplianceWriter{ByID: filepath.Join(dir, "by-id")},
		TLS:       testTLS(t).server,
		Authorize: PinnedNamespaces(map[string][]string{testTLS(t).sender: {testOrg + "/*"}}),
	}
}

// byIDOf maps a test receiver's address to its by-id directory, so that
// newJob can "hot-add" the job's replica disks there.
var byIDOf sync.Map

// testUUID is the disk UUID of replica disk i of vm.
func testUUID(vm string, i int) string {
	s := sha256.Sum256(fmt.Appendf(nil, "%s/%d", vm, i))
	h := hex.EncodeToString(s[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// replicaPath is the "device" of replica disk i of vm at rcv.
func replicaPath(rcv *testReceiver, vm string, i int) string {
	names, _ := DeviceNames(testUUID(vm, i))
	return filepath.Join(rcv.byID, names[0])
}

// hotAdd creates the replica "devices" of src's disks for vm under byID
// (as the appliance's kernel shows disks ferry hot-added) and returns the
// job's replica map.
func hotAdd(t testing.TB, byID, vm string, src Source) map[string]string {
	t.Helper()
	disks, err := src.Disks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, d := range disks {
		uuid := testUUID(vm, i)
		names, _ := DeviceNames(uuid)
		p := filepath.Join(byID, names[0])
		if _, err := os.Stat(p); err != nil {
			if err := blockDeviceFile(p, d.Capacity); err != nil {
				t.Fatal(err)
			}
		}
		out[d.Key] = uuid
	}
	return out
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
	var replicas map[string]string
	if byID, ok := byIDOf.Load(addr); ok {
		replicas = hotAdd(t, byID.(string), vm, src)
	}
	return &Job{VM: vm, Org: testOrg, Kind: KindAppliance, Replicas: replicas, Source: src, Addr: addr, TLS: testTLS(t).client, State: st, Conns: 3, Window: 8 << 20}
}
