package replication

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// benchSize is the disk of the Go benchmarks; `ferry bench replicate`
// measures larger disks (1 GiB default, 4 GiB allowed).
const benchSize = 256 << 20

func BenchmarkRawCopy(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.img")
	if err := fillDisk(src, benchSize, 1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := rawCopy(src, filepath.Join(dir, "copy.img")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInitialSync: a fresh replica each iteration (new receiver dir
// and sender state).
func BenchmarkInitialSync(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.img")
	if err := fillDisk(src, benchSize, 1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	var sent int64
	for b.Loop() {
		b.StopTimer()
		rdir := b.TempDir()
		rcv := startReceiver(b, rdir, "")
		job := newJob(b, "vm", NewFileSource(src), rcv.addr)
		job.Conns = 4
		b.StartTimer()
		res, err := job.RunPass(context.Background(), false)
		if err != nil {
			b.Fatal(err)
		}
		sent += res.Counters.Sent
		b.StopTimer()
		rcv.stop()
		os.RemoveAll(rdir)
		b.StartTimer()
	}
	b.ReportMetric(float64(sent)/float64(int64(b.N)*benchSize), "wire/disk")
}

// BenchmarkIncremental: 16 MiB of random changes per pass; reports bytes
// sent per byte changed.
func BenchmarkIncremental(b *testing.B) {
	const changed = 16 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "src.img")
	if err := fillDisk(src, benchSize, 1); err != nil {
		b.Fatal(err)
	}
	rcv := startReceiver(b, filepath.Join(dir, "rcv"), "")
	source := NewTrackedFileSource(src)
	job := newJob(b, "vm", source, rcv.addr)
	job.Conns = 4
	if _, err := job.RunPass(context.Background(), false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(changed)
	var sent int64
	seed := uint64(10)
	for b.Loop() {
		b.StopTimer()
		seed++
		if err := changeDisk(src, benchSize, changed, seed, source); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := job.RunPass(context.Background(), false)
		if err != nil {
			b.Fatal(err)
		}
		sent += res.Counters.Sent
	}
	b.ReportMetric(float64(sent)/float64(int64(b.N)*changed), "sent/changed")
}

// BenchmarkReceiverHashes: full-compare hash map of a replica.
func BenchmarkReceiverHashes(b *testing.B) {
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "r.img"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := fillDisk(f.Name(), 64<<20, 2); err != nil {
		b.Fatal(err)
	}
	rep := &replica{f: f, size: 64 << 20, hashes: make([]uint64, 64), valid: make([]bool, 64), dirty: map[int]uint64{}, read: new(atomic.Int64)}
	b.SetBytes(64 << 20)
	for b.Loop() {
		rep.invalidate(0, 64<<20)
		if _, err := rep.blockHashes(0, 64, false); err != nil {
			b.Fatal(err)
		}
	}
}
