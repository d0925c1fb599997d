package replication

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zeebo/xxh3"
)

func TestPlanReads(t *testing.T) {
	ext := normalize([]Extent{
		{0, 4096}, {100 << 10, 4096}, // merged: gap < 256 KiB
		{2 << 20, 4096},      // alone: gap > 256 KiB, not inflated
		{4 << 20, 3<<20 + 5}, // split into 1 MiB reads
	}, 16<<20)
	units := planReads(ext)
	if len(units) != 6 {
		t.Fatalf("%d units: %+v", len(units), units)
	}
	if units[0].Length != 100<<10+4096 || len(units[0].parts) != 2 {
		t.Fatalf("merge: %+v", units[0])
	}
	if units[1].Length != 4096 {
		t.Fatalf("small extent inflated: %+v", units[1])
	}
	for _, u := range units {
		if u.Length > FrameMax {
			t.Fatalf("unit larger than a frame: %+v", u)
		}
	}
	if got := trimBelow(ext, 4<<20+10); got[0].Offset != 4<<20+10 || len(got) != 1 {
		t.Fatalf("trim: %+v", got)
	}
}

func TestSplitZero(t *testing.T) {
	data := make([]byte, 256<<10)
	data[70<<10] = 1 // second 64 KiB grain is not zero
	got := splitZero(Extent{0, int64(len(data))}, data)
	want := []frameSpec{{0, 64 << 10, true}, {64 << 10, 64 << 10, false}, {128 << 10, 128 << 10, true}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%+v, want %+v", got, want)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	raw := []byte(strings.Repeat("ferry ", 10000))
	enc := make([]byte, 2*len(raw))
	payload, flags := encodeData(enc, raw)
	if flags&flagCompressed == 0 || len(payload) >= len(raw) {
		t.Fatal("compressible data not compressed")
	}
	h := header{Type: fData, Flags: flags, Length: uint32(len(raw)), Hash: xxh3.Hash(raw)}
	out, err := decodeData(&h, payload, make([]byte, FrameMax))
	if err != nil || string(out) != string(raw) {
		t.Fatal("round trip", err)
	}
	h.Hash++
	if _, err := decodeData(&h, payload, make([]byte, FrameMax)); err == nil {
		t.Fatal("corrupted block accepted")
	}
	rnd := make([]byte, 4096)
	for i := range rnd {
		rnd[i] = byte(rand.Uint32())
	}
	if _, flags := encodeData(enc, rnd); flags != 0 {
		t.Fatal("incompressible data sent compressed")
	}
}

func TestMutualTLSRequired(t *testing.T) {
	sc, _ := SelfSignedCert("receiver")
	if _, err := NewReceiver(ReceiverConfig{StateDir: t.TempDir(), Writer: ApplianceWriter{ByID: t.TempDir()},
		TLS: &tls.Config{Certificates: []tls.Certificate{sc}}, Authorize: CertNamespaces()}); err == nil {
		t.Fatal("receiver accepted a config without client authentication")
	}
	// A sender whose certificate is not pinned is refused.
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 1<<20, 1, Extent{0, 1 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	stranger, _ := SelfSignedCert("stranger")
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.TLS = PinnedClientTLS(stranger, Fingerprint(testTLSServerCert(t)))
	job.Retries = 1
	if _, err := job.RunPass(context.Background(), false); err == nil {
		t.Fatal("unpinned sender replicated")
	}
	// A receiver with another certificate is refused by the sender.
	job = newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.TLS = PinnedClientTLS(testTLS(t).client.Certificates[0], Fingerprint(stranger.Certificate[0]))
	job.Retries = 1
	if _, err := job.RunPass(context.Background(), false); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("sender accepted an unpinned receiver: %v", err)
	}
}

func testTLSServerCert(t *testing.T) []byte { return testTLS(t).server.Certificates[0].Certificate[0] }

// TestBandwidthLimiter: frames larger than the limiter's burst are paid in
// burst-sized pieces of one shared limiter.
func TestBandwidthLimiter(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 4<<20, 1, Extent{0, 4 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	lim := NewBandwidth(1<<30, 64<<10)
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.Limiter = lim
	var mu sync.Mutex
	var ev []Event
	job.Events = func(e Event) { mu.Lock(); ev = append(ev, e); mu.Unlock() }
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	var sawDone bool
	for _, e := range ev {
		if e.Kind == EventPassDone {
			sawDone = e.Compression >= 0.99 && e.Sent > 4<<20 && e.Rate > 0
		}
	}
	if !sawDone {
		t.Fatal("no pass-done event with counters")
	}
}
