package replication

import (
	"context"
	"path/filepath"
	"testing"
)

func TestInitialAndIncremental(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 24 << 20
	randomDisk(t, src, size, 1, Extent{0, 3 << 20}, Extent{10 << 20, 5<<20 + 12345}, Extent{size - 70000, 70000})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	fs := NewFileSource(src)
	job := newJob(t, "vm1", fs, rcv.addr)
	ctx := context.Background()
	res, err := job.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassInitial {
		t.Fatalf("kind %s", res.Kind)
	}
	replica := replicaPath(rcv, "vm1", 0)
	sameFiles(t, src, replica)

	changed := []Extent{{1 << 20, 64 << 10}, {17 << 20, 1 << 20}, {20 << 20, 128 << 10}}
	scribble(t, src, 2, changed...)
	res, err = job.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassIncremental {
		t.Fatalf("kind %s", res.Kind)
	}
	sameFiles(t, src, replica)
	want := totalLength(changed)
	if res.Counters.Sent > want*11/10 {
		t.Fatalf("incremental pass sent %d wire bytes for %d changed bytes (> 1.1x)", res.Counters.Sent, want)
	}
	t.Logf("incremental: changed %d, sent %d (%.3fx)", want, res.Counters.Sent, float64(res.Counters.Sent)/float64(want))
	if err := job.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// With two passes recorded, events carry the age of the last pass.
	var got Event
	job.Events = func(e Event) {
		if e.Kind == EventPhase && e.Phase == PhaseSnapshot {
			got = e
		}
	}
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got.LastPassAge <= 0 {
		t.Fatalf("event without RPO age: %+v", got)
	}
}

// TestSmallWindow: a window smaller than a frame still makes progress (the
// window is at least 4 frames and one frame per half window asks for an ack).
func TestSmallWindow(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 20<<20, 4, Extent{0, 20 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.Conns, job.Window = 1, 1
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestMultiDiskKilledBetweenDisks: a VM with two disks, the sender killed
// while sending the second disk; the resumed pass skips the committed first
// disk and finishes the second.
func TestMultiDiskKilledBetweenDisks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	randomDisk(t, a, 6<<20, 1, Extent{0, 6 << 20})
	randomDisk(t, b, 10<<20, 2, Extent{0, 10 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	ctx, cancel := context.WithCancel(context.Background())
	fs := NewFileSource(a, b)
	hs := &hookSource{Source: fs, hook: func(n int64) {
		if n == 10 { // disk a has 6 units: this is inside disk b
			cancel()
		}
	}}
	job := newJob(t, "vm", hs, rcv.addr)
	job.Conns = 1
	if _, err := job.RunPass(ctx, false); err == nil {
		t.Fatal("pass survived the kill")
	}
	if st, _ := job.State.Disk("vm/0"); st.Committed == "" || st.Pass != "" {
		t.Fatalf("disk 0 not committed: %+v", st)
	}
	hs.hook = nil
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassInitial || res.Counters.Planned > 10<<20 {
		t.Fatalf("resumed %s pass planned %d", res.Kind, res.Counters.Planned)
	}
	sameFiles(t, a, replicaPath(rcv, "vm", 0))
	sameFiles(t, b, replicaPath(rcv, "vm", 1))
	scribble(t, b, 5, Extent{3 << 20, 64 << 10})
	if res, err = job.RunPass(context.Background(), false); err != nil || res.Counters.Planned != 64<<10 {
		t.Fatalf("incremental: %+v %v", res, err)
	}
	sameFiles(t, b, replicaPath(rcv, "vm", 1))
	if err := job.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBatches: passes over more read units than a batch (initial, kill and
// resume across batches, full-compare) stay correct.
func TestBatches(t *testing.T) {
	saved := batchUnits
	batchUnits = 3
	defer func() { batchUnits = saved }()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 16<<20, 8, Extent{0, 5 << 20}, Extent{7<<20 + 3, 6 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	fs := NewFileSource(src)
	ctx, cancel := context.WithCancel(context.Background())
	hs := &hookSource{Source: fs, hook: func(n int64) {
		if n == 8 {
			cancel()
		}
	}}
	job := newJob(t, "vm", hs, rcv.addr)
	if _, err := job.RunPass(ctx, false); err == nil {
		t.Fatal("pass survived the kill")
	}
	st, _ := job.State.Disk("vm/0")
	if st.Watermark < 3<<20 {
		t.Fatalf("watermark %d after two batches", st.Watermark)
	}
	hs.hook = nil
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	scribble(t, src, 12, Extent{9 << 20, 10}, Extent{15 << 20, 10})
	fs.ResetCBT()
	res, err := job.RunPass(context.Background(), false)
	if err != nil || res.Kind != PassFullCompare || res.Counters.Payload > 2*HashBlock {
		t.Fatalf("full-compare: %+v %v", res, err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestTrackedFileSource: with changes reported by the writer (as a CBT
// bitmap would), an incremental pass moves exactly the written blocks and
// the replica equals the source.
func TestTrackedFileSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	if err := fillDisk(src, 32<<20, 7); err != nil {
		t.Fatal(err)
	}
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	source := NewTrackedFileSource(src)
	job := newJob(t, "vm", source, rcv.addr)
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if err := changeDisk(src, 32<<20, 1<<20, 9, source); err != nil {
		t.Fatal(err)
	}
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counters.Planned != 1<<20 {
		t.Errorf("planned %d bytes, want the 1 MiB written", res.Counters.Planned)
	}
	if err := job.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	source.ResetCBT()
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatalf("pass after a CBT reset: %v", err)
	}
}

// TestPassWithNoChangeIsRecorded: an incremental pass that finds nothing
// changed is recorded as such (LastIncremental with LastPlanned 0: the
// projected downtime says "no change seen"), and it keeps the throughput
// the pass before measured: with nothing to copy, it measured none.
func TestPassWithNoChangeIsRecorded(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	if err := fillDisk(src, 8<<20, 7); err != nil {
		t.Fatal(err)
	}
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	source := NewTrackedFileSource(src)
	job := newJob(t, "vm", source, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := changeDisk(src, 8<<20, 1<<20, 9, source); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	before, err := job.State.VM("vm")
	if err != nil {
		t.Fatal(err)
	}
	if before.LastPlanned != 1<<20 || before.LastRate <= 0 || !before.LastIncremental.Equal(before.LastPass) {
		t.Fatalf("record after a pass with changes: %+v", before)
	}
	res, err := job.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassIncremental || res.Counters.Planned != 0 {
		t.Fatalf("pass with nothing changed: %s, %+v", res.Kind, res.Counters)
	}
	vs, err := job.State.VM("vm")
	if err != nil {
		t.Fatal(err)
	}
	if vs.LastPlanned != 0 || !vs.LastIncremental.Equal(res.Start) || vs.LastRate != before.LastRate {
		t.Errorf("record after a pass with nothing changed: planned %d, incremental at %s (pass at %s), rate %.0f (before %.0f)",
			vs.LastPlanned, vs.LastIncremental, res.Start, vs.LastRate, before.LastRate)
	}
}
