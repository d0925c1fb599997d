package replication

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// readCounter counts the bytes each pass snapshot reads from the source,
// per disk, and calls kill (if set) before the read that brings the count of
// reads to killAt.
type readCounter struct {
	Source
	mu     sync.Mutex
	bytes  map[string]int64 // disk key -> bytes read
	reads  int64
	killAt int64
	kill   func()
}

func (r *readCounter) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	s, err := r.Source.Open(ctx, resume, final)
	if err != nil {
		return nil, err
	}
	return &countedSnap{Snapshot: s, r: r}, nil
}

// reset forgets the counts and sets the next kill (0: none).
func (r *readCounter) reset(killAt int64, kill func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bytes, r.reads, r.killAt, r.kill = map[string]int64{}, 0, killAt, kill
}

func (r *readCounter) read(key string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes[key]
}

type countedSnap struct {
	Snapshot
	r *readCounter
}

func (s *countedSnap) ReadAt(ctx context.Context, key string, p []byte, off int64) error {
	s.r.mu.Lock()
	s.r.reads++
	s.r.bytes[key] += int64(len(p))
	if s.r.reads == s.r.killAt && s.r.kill != nil {
		s.r.kill()
	}
	s.r.mu.Unlock()
	return s.Snapshot.ReadAt(ctx, key, p, off)
}

// setBatchUnits makes the scan's batches small (each one ends compared,
// checked and recorded) for a test; the returned func restores it.
func setBatchUnits(n int64) func() {
	saved := batchUnits
	batchUnits = n
	return func() { batchUnits = saved }
}

// compared runs an initial sync of a size-byte disk and a first full
// compare that completes (so no compare is due by the schedule), its
// source reads counted.
func compared(t *testing.T, size int64) (src string, rc *readCounter, job *Job, rcv *testReceiver) {
	t.Helper()
	src, fs, rcv := setup(t, size)
	rc = &readCounter{Source: fs}
	rc.reset(0, nil)
	job = newJob(t, "vm", rc, rcv.addr)
	job.Conns = 2
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPassWith(context.Background(), PassOptions{Compare: true}); err != nil {
		t.Fatal(err)
	}
	return src, rc, job, rcv
}

// compareKilled runs an initial sync of a size-byte disk and a full
// compare, corrupts the replica's blocks at the given indexes, then runs a
// full compare killed
// (its context cancelled, as a killed process stops) before its killAt-th
// source read.
func compareKilled(t *testing.T, size int64, killAt int64, corrupt ...int64) (src string, rc *readCounter, job *Job, rcv *testReceiver) {
	t.Helper()
	src, rc, job, rcv = compared(t, size)
	for _, b := range corrupt {
		scribble(t, replicaPath(rcv, "vm", 0), uint64(b), Extent{b*HashBlock + 17, 3})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc.reset(killAt, cancel)
	if _, err := job.RunPassWith(ctx, PassOptions{Compare: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("compare killed at read %d: %v, want a cancellation", killAt, err)
	}
	return src, rc, job, rcv
}

// deletePassSnapshot deletes the source snapshot of the pass a kill left in
// flight (vm/0's), as an administrator might.
func deletePassSnapshot(t *testing.T, job *Job, rc *readCounter) {
	t.Helper()
	st, err := job.State.Disk("vm/0")
	if err != nil || st.Pass == "" {
		t.Fatalf("state after the kill: %+v %v", st, err)
	}
	snap, err := rc.Source.Open(context.Background(), st.Pass, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCompareKilledResumes: a full compare killed midway resumes its scan
// from the last durably compared block, in the same snapshot: the resumed
// compare reads only the rest of the disk from the source, its progress
// counts the part compared before the kill, and its result counts every
// corrupted replica block once, whether the killed run had compared and
// repaired it (before the kill point, below or above its last recorded
// block) or not (after the kill point). The result says it was resumed.
func TestCompareKilledResumes(t *testing.T) {
	// Sequential: it changes batchUnits (setBatchUnits).
	defer setBatchUnits(4)()
	const size = 32 << 20
	const blocks = size / HashBlock
	// Killed before reading block 15: blocks 0-11 (three batches) were
	// compared, repaired and checked; block 13 was read and found
	// differing, and its repair may have reached the replica.
	src, rc, job, rcv := compareKilled(t, size, 16, 3, 13, 25)
	// A scheduler started again (ferry serve after the kill) goes on with
	// the compare, whatever its schedule.
	sched := NewScheduler(1, nil)
	again := *job
	if err := sched.Add(&again, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := sched.Status(); len(st) != 1 || !st[0].CompareDue {
		t.Fatalf("status after the kill %+v: want the interrupted compare due", st)
	}

	rc.reset(0, nil)
	res, err := job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Compare
	if c == nil {
		t.Fatal("the resumed compare has no result")
	}
	if !c.Resumed || c.ResumedBlocks < 12 || c.ResumedBlocks >= blocks {
		t.Fatalf("result %+v: want it resumed after at least the 12 blocks of the batches completed before the kill", c)
	}
	// The part compared before the kill is not read again.
	if got, want := rc.read("0"), size-c.ResumedBlocks*HashBlock; got != want {
		t.Fatalf("the resumed compare read %d bytes from the source, want %d (the disk after the %d blocks compared before the kill)", got, want, c.ResumedBlocks)
	}
	if c.Blocks != blocks || c.Differing != 3 || c.Repaired != 3 || c.Unreported != 0 {
		t.Fatalf("result %+v: want %d blocks compared, the 3 corrupted ones differing and repaired", c, blocks)
	}
	// Progress counts the part compared before the kill.
	k := res.Counters
	if k.Resumed != c.ResumedBlocks*HashBlock || k.Resumed+k.Planned != size || k.Resumed+k.Acked != size {
		t.Fatalf("counters %+v: want %d bytes resumed, and resumed+planned and resumed+acknowledged the disk's %d", k, c.ResumedBlocks*HashBlock, size)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	vs, _ := job.State.VM("vm")
	if vs.LastCompare == nil || !vs.LastCompare.Resumed || vs.LastCompare.Differing != 3 {
		t.Fatalf("recorded compare %+v", vs.LastCompare)
	}
	// A new compare is a new pass: it starts at block 0, and finds the
	// replica clean.
	rc.reset(0, nil)
	res, err = job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Compare; c == nil || c.Resumed || c.Blocks != blocks || c.Differing != 0 || rc.read("0") != size {
		t.Fatalf("next compare %+v read %d bytes: want every block read and none differing", res.Compare, rc.read("0"))
	}
}

// TestCompareResumedInNewSnapshotStartsOver: a killed compare whose
// snapshot is gone when it resumes compares a new snapshot, so it starts
// over at block 0: a block of the replica damaged after the kill, below
// the point the killed run had compared, is found and repaired.
func TestCompareResumedInNewSnapshotStartsOver(t *testing.T) {
	// Sequential: it changes batchUnits (setBatchUnits).
	defer setBatchUnits(4)()
	const size = 32 << 20
	src, rc, job, rcv := compareKilled(t, size, 16, 25)
	// The pass's snapshot is deleted (by an administrator, say).
	deletePassSnapshot(t, job, rc)
	scribble(t, replicaPath(rcv, "vm", 0), 2, Extent{2*HashBlock + 5, 1})

	rc.reset(0, nil)
	res, err := job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Compare
	if c == nil || c.Resumed || c.ResumedBlocks != 0 || res.Counters.Resumed != 0 || rc.read("0") != size {
		t.Fatalf("compare of a new snapshot %+v, counters %+v, %d bytes read: want a compare from block 0 reading the whole disk", c, res.Counters, rc.read("0"))
	}
	if c.Blocks != size/HashBlock || c.Differing != 2 || c.Repaired != 2 {
		t.Fatalf("result %+v: want blocks 2 and 25 differing and repaired", c)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestCompareKilledOnSecondDisk: a compare killed while scanning a VM's
// second disk does not compare the first one again when it resumes, and its
// result still counts what the first disk's scan found.
func TestCompareKilledOnSecondDisk(t *testing.T) {
	defer setBatchUnits(4)()
	const size = 8 << 20
	dir := t.TempDir()
	srcs := []string{filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")}
	for i, p := range srcs {
		randomDisk(t, p, size, uint64(10+i), Extent{0, size})
	}
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	rc := &readCounter{Source: NewFileSource(srcs...)}
	rc.reset(0, nil)
	job := newJob(t, "vm", rc, rcv.addr)
	job.Conns = 2
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	scribble(t, replicaPath(rcv, "vm", 0), 1, Extent{2*HashBlock + 9, 1})
	scribble(t, replicaPath(rcv, "vm", 1), 2, Extent{6*HashBlock + 9, 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc.reset(8+6, cancel) // before reading block 5 of the second disk
	if _, err := job.RunPassWith(ctx, PassOptions{Compare: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("compare killed on the second disk: %v", err)
	}

	rc.reset(0, nil)
	res, err := job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Compare
	if c == nil || !c.Resumed || rc.read("0") != 0 {
		t.Fatalf("resumed compare %+v read %d bytes of the first disk: want it resumed, the first disk not read again", c, rc.read("0"))
	}
	if got, want := rc.read("1"), 2*size-c.ResumedBlocks*HashBlock; c.ResumedBlocks < size/HashBlock+4 || got != want {
		t.Fatalf("resumed after %d blocks, read %d bytes of the second disk: want at least the first disk and a batch of the second resumed, and the rest (%d bytes) read", c.ResumedBlocks, got, want)
	}
	if c.Blocks != 2*size/HashBlock || c.Differing != 2 || c.Repaired != 2 {
		t.Fatalf("result %+v: want every block of both disks compared, one block of each differing and repaired", c)
	}
	if k := res.Counters; k.Resumed+k.Acked != 2*size || k.Resumed+k.Planned != 2*size {
		t.Fatalf("counters %+v: want resumed+acknowledged and resumed+planned both disks' %d bytes", k, 2*size)
	}
	for i, p := range srcs {
		sameFiles(t, p, replicaPath(rcv, "vm", i))
	}
}

// TestCompareStartedOverKeepsEarlierFindings: a killed compare whose
// snapshot is gone when it resumes starts over in a new snapshot, and its
// recorded result still counts what the killed attempt found and repaired
// (real repairs of the replica: block 3, repaired and checked before the
// kill, and block 13, found and its repair sent), says they came from the
// interrupted attempt, and counts each block once: block 13, damaged
// again after the kill, is found by the new scan too and counted once.
// Blocks 25 (not reached before the kill) and 2 (damaged after it) are
// the new scan's own findings.
func TestCompareStartedOverKeepsEarlierFindings(t *testing.T) {
	defer setBatchUnits(4)()
	const size = 32 << 20
	src, rc, job, rcv := compareKilled(t, size, 16, 3, 13, 25)
	ic, err := job.State.InterruptedCompare("vm")
	if err != nil || ic == nil {
		t.Fatalf("interrupted compare after the kill: %+v %v", ic, err)
	}
	// Blocks 0-11 were settled; block 13 was found (its read precedes the
	// kill's), and may be settled too.
	if ic.Blocks < 12 || ic.Total != size/HashBlock || ic.Differing != 2 || ic.Repaired < 1 {
		t.Fatalf("interrupted compare %+v: want at least 12 of %d blocks compared, blocks 3 and 13 found differing, 3 repaired", ic, size/HashBlock)
	}
	deletePassSnapshot(t, job, rc)
	scribble(t, replicaPath(rcv, "vm", 0), 2, Extent{2*HashBlock + 5, 1})
	scribble(t, replicaPath(rcv, "vm", 0), 4, Extent{13*HashBlock + 7, 1})

	rc.reset(0, nil)
	res, err := job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	if rc.read("0") != size {
		t.Fatalf("the compare of a new snapshot read %d bytes, want the whole disk", rc.read("0"))
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	vs, err := job.State.VM("vm")
	if err != nil {
		t.Fatal(err)
	}
	c := vs.LastCompare
	if c == nil || c.Resumed || !c.StartedOver || c.Blocks != size/HashBlock {
		t.Fatalf("recorded compare %+v: want a compare of every block that started over", c)
	}
	if c.Differing != 4 || c.Repaired != 4 || c.Unreported != 0 {
		t.Fatalf("recorded compare %+v: want blocks 2, 3, 13 and 25 differing and repaired, each once", c)
	}
	if c.EarlierDiffering != 2 || c.EarlierRepaired != 2 {
		t.Fatalf("recorded compare %+v: want blocks 3 and 13 given as the interrupted attempt's", c)
	}
	if r := res.Compare; r == nil || r.Differing != c.Differing || r.EarlierDiffering != c.EarlierDiffering || !r.Time.Equal(c.Time) {
		t.Fatalf("pass result %+v, recorded %+v", res.Compare, c)
	}
	if s := c.Summary(); !strings.Contains(s, "4 differing, 4 repaired") || !strings.Contains(s, "2 differing and 2 repaired of these found by the interrupted attempt") {
		t.Fatalf("summary %q", s)
	}
	if ic, err := job.State.InterruptedCompare("vm"); err != nil || ic != nil {
		t.Fatalf("compare in flight after it completed: %+v %v", ic, err)
	}
	// The next compare carries nothing.
	rc.reset(0, nil)
	res, err = job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Compare; c == nil || c.StartedOver || c.Differing != 0 || c.EarlierDiffering != 0 {
		t.Fatalf("next compare %+v: want a clean compare carrying nothing", res.Compare)
	}
}

// TestCompareWithChangesSettlesAsItGoes (found in the lab: a full compare
// of a 4 GiB disk with a few changed blocks, stopped and run again, started
// each time from the same block): the source changed near the start of
// the disk, a compare stopped late in its scan has settled its progress
// up to near where it was stopped, not only up to the first changed block
// (whose frames the receiver acknowledged only when the whole disk's batch
// was drained).
// testScanBatch is the scan batch (Job.scanBatch) of the tests that stop
// a compare in its third batch: a disk of three batches of 128 blocks took
// 40 s under the race detector.
const testScanBatch = 16

func TestCompareWithChangesSettlesAsItGoes(t *testing.T) {
	t.Parallel()
	const size = 3 * testScanBatch * HashBlock
	src, rc, job, _ := compared(t, size)
	job.scanBatch = testScanBatch
	scribble(t, src, 5, Extent{2*HashBlock + 100, 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killAt := int64(2*testScanBatch + testScanBatch/2)
	rc.reset(killAt, cancel)
	if _, err := job.RunPassWith(ctx, PassOptions{Compare: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("compare stopped at read %d: %v, want a cancellation", killAt, err)
	}
	c, err := job.State.compareProgress("vm/0")
	if err != nil {
		t.Fatal(err)
	}
	if c.Next < 2*testScanBatch {
		t.Errorf("a compare stopped after reading %d blocks had settled %d; want at least %d (all batches before the one it was stopped in)", killAt, c.Next, 2*testScanBatch)
	}
}

// TestResumedCompareDoesNotBlameItsOwnWrites (found in the lab: a compare
// stopped several times and run to its end reported "1 differing, 1
// repaired" on a replica nothing had damaged): an attempt stopped after it
// wrote part of a changed block (one of the block's two changed ranges)
// leaves the replica ahead of the sender's map there; the resumed compare
// sends the block and finds it right, without counting it as a replica
// that differed.
func TestResumedCompareDoesNotBlameItsOwnWrites(t *testing.T) {
	t.Parallel()
	const size = 3 * testScanBatch * HashBlock
	src, rc, job, rcv := compared(t, size)
	job.scanBatch = testScanBatch
	blk := int64(2*testScanBatch + 10) // in a batch the stopped attempt did not reach
	first, second := Extent{blk*HashBlock + 100, 10}, Extent{blk*HashBlock + 600<<10, 10}
	scribble(t, src, 5, first, second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc.reset(20, cancel)
	if _, err := job.RunPassWith(ctx, PassOptions{Compare: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("compare stopped: %v, want a cancellation", err)
	}
	// What the stopped attempt may have written and not had acknowledged:
	// the block's first changed range, not its second.
	buf := make([]byte, first.Length)
	sf, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if _, err := sf.ReadAt(buf, first.Offset); err != nil {
		t.Fatal(err)
	}
	rf, err := os.OpenFile(replicaPath(rcv, "vm", 0), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rf.WriteAt(buf, first.Offset); err != nil {
		t.Fatal(err)
	}
	rf.Close()

	rc.reset(0, nil)
	res, err := job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Compare; c == nil || c.Differing != 0 || c.Unreported != 0 {
		t.Errorf("resumed compare %+v: want nothing differing (the replica held only what this pass wrote)", res.Compare)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}
