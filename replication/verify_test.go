package replication

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

// TestPassChecksWhatItWrote: a block that the receiver reads back
// differently from what the pass sent (here: overwritten behind the
// receiver's back after it was written, before the pass's check) is found by
// the pass's own check and sent again within the pass.
func TestPassChecksWhatItWrote(t *testing.T) {
	const size = 8 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	job.Conns = 1
	replica := replicaPath(rcv, "vm", 0)
	var once sync.Once
	hook := func(path string, off int64, n int) error {
		if off >= 5<<20 {
			// Block 2 was written already in this batch: damage it.
			once.Do(func() { scribble(t, replica, 42, Extent{2<<20 + 100, 10}) })
		}
		return nil
	}
	rcv.r.writeErr.Store(&hook)
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counters.Resent != 1 || res.Counters.Checked != size/HashBlock+1 {
		t.Fatalf("checked %d blocks, re-sent %d; want every block checked and block 2 re-sent (and checked again)", res.Counters.Checked, res.Counters.Resent)
	}
	sameFiles(t, src, replica)
}

// TestFullCompareRepairsCorruption: a replica block corrupted behind the
// receiver's back is found by the next full compare (an incremental pass
// that also compares every other block, read back from the replica), sent
// again and recorded; blocks changed at the source are sent, not counted.
func TestFullCompareRepairsCorruption(t *testing.T) {
	const size = 16 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	replica := replicaPath(rcv, "vm", 0)
	scribble(t, replica, 99, Extent{9<<20 + 17, 1})
	scribble(t, src, 5, Extent{3 << 20, 64 << 10})
	// An ordinary pass sends the change and does not see the corruption.
	res, err := job.RunPass(ctx, false)
	if err != nil || res.Compare != nil {
		t.Fatalf("incremental: %+v %v", res, err)
	}
	scribble(t, src, 6, Extent{5 << 20, 64 << 10})
	res, err = job.RunPassWith(ctx, PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Compare
	if c == nil || c.Blocks != size/HashBlock || c.Differing != 1 || c.Repaired != 1 {
		t.Fatalf("compare result %+v", c)
	}
	if res.Kind != PassIncremental || res.Counters.Payload != HashBlock+64<<10 {
		t.Fatalf("%s pass sent %d payload bytes, want the repaired block and the change", res.Kind, res.Counters.Payload)
	}
	// Its progress covers the whole disk: planned and acknowledged alike
	// (the rest of the changed block is read and checked, not sent).
	if res.Counters.Planned != size || res.Counters.Acked != size {
		t.Fatalf("compare pass planned %d and acknowledged %d bytes, want both the disk's %d", res.Counters.Planned, res.Counters.Acked, size)
	}
	sameFiles(t, src, replica)
	vs, _ := job.State.VM("vm")
	if l := vs.LastCompare; l == nil || !l.Time.Equal(c.Time) || l.Blocks != c.Blocks || l.Differing != 1 || l.Repaired != 1 {
		t.Fatalf("last compare not recorded: %+v", vs.LastCompare)
	}
	// The replica is clean again: the next compare finds nothing.
	if res, err = job.RunPassWith(ctx, PassOptions{Compare: true}); err != nil || res.Compare.Differing != 0 {
		t.Fatalf("second compare: %+v %v", res.Compare, err)
	}
}

// TestVerifyFinalReadsFinalPassBlocks: the cutover's verify reads only the
// blocks the final pass touched, and a receiver restarted before it still
// has its digest map (it reads no block to answer the root).
func TestVerifyFinalReadsFinalPassBlocks(t *testing.T) {
	t.Parallel()
	const size = 32 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPassWith(ctx, PassOptions{Compare: true}); err != nil {
		t.Fatal(err)
	}
	scribble(t, src, 3, Extent{4<<20 + 5, 100}, Extent{20 << 20, 1<<20 + 10})
	rcv = rcv.restart()
	res, err := job.RunPass(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassFinal || res.Counters.Checked != 3 {
		t.Fatalf("%s pass checked %d blocks, want 3", res.Kind, res.Counters.Checked)
	}
	v, err := job.VerifyFinal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Full || v.Blocks != 3 || v.BytesRead != 3*HashBlock || v.RootBlocks != size/HashBlock || v.ReceiverHashed != 0 {
		t.Fatalf("verify %+v: want the 3 blocks of the final pass read, roots over %d blocks, nothing hashed by the receiver", v, size/HashBlock)
	}
	// The receiver read back only what the final pass and the verify
	// touched, never the whole replica.
	if got := rcv.r.Stats().BlocksRead; got != 6 {
		t.Fatalf("restarted receiver read %d blocks, want 6 (3 read back by the final pass, 3 by the verify)", got)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	if err := job.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyFinalRootMismatch: when the receiver's digest map disagrees
// with the sender's (here: the receiver's state was replaced by an older
// copy after a later pass), the root comparison fails the verify.
func TestVerifyFinalRootMismatch(t *testing.T) {
	const size = 8 << 20
	_, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Corrupt the replica and let the receiver read it (a restart with
	// its digests forgotten), so that its map says what the replica holds.
	scribble(t, replicaPath(rcv, "vm", 0), 8, Extent{6<<20 + 1, 1})
	rcv.stop()
	st, err := OpenState(filepath.Join(rcv.dir, "state", ".ferry-receiver.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ResetDigests(diskStateKey(testOrg+"/vm", "0")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	rcv = startReceiver(t, rcv.dir, rcv.addr)
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := job.VerifyFinal(ctx); !errors.Is(err, ErrVerifyMismatch) {
		t.Fatalf("verify with differing digest maps: %v", err)
	}
}

// TestVerifyFinalWithoutMap: a sender with no digest map (state from
// before digest maps) says so, so that the caller verifies whole disks.
func TestVerifyFinalWithoutMap(t *testing.T) {
	_, fs, rcv := setup(t, 4<<20)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := job.State.ResetDigests("vm/0"); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := job.VerifyFinal(ctx); !errors.Is(err, ErrNoDigestMap) {
		t.Fatalf("verify without a map: %v", err)
	}
}

// TestDigestStore: digest maps round-trip in chunks and are replaced whole.
func TestDigestStore(t *testing.T) {
	st, err := OpenState(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := digestChunk*2 + 5
	if err := st.PutDigests("vm/0", n, map[int]uint64{0: 1, digestChunk: 2, n - 1: 3}); err != nil {
		t.Fatal(err)
	}
	ds, err := st.Digests("vm/0", n)
	if err != nil || ds[0] != 1 || ds[digestChunk] != 2 || ds[n-1] != 3 || ds[1] != 0 {
		t.Fatalf("digests %v %v", err, []uint64{ds[0], ds[digestChunk], ds[n-1]})
	}
	all := zeroDigests(int64(n) * HashBlock)
	if err := st.PutAllDigests("vm/0", all); err != nil {
		t.Fatal(err)
	}
	if ds, _ = st.Digests("vm/0", n); ds[n-1] != all[n-1] || ds[0] != all[0] {
		t.Fatal("PutAllDigests did not replace the map")
	}
	if err := st.ResetDigests("vm/0"); err != nil {
		t.Fatal(err)
	}
	if ds, _ = st.Digests("vm/0", n); ds[0] != 0 {
		t.Fatal("ResetDigests kept the map")
	}
}
