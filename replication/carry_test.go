package replication

import (
	"context"
	"errors"
	"testing"
)

// pausedPass runs a pass of job that is paused (as the scheduler pauses a
// job: its context cancelled with ErrPaused) at the reads-th source read,
// and returns the disk's state after it.
func pausedPass(t *testing.T, job *Job, hs *hookSource, reads int64) DiskState {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	hs.n.Store(0)
	hs.hook = func(n int64) {
		if n == reads {
			cancel(ErrPaused)
		}
	}
	defer func() { hs.hook = nil }()
	if _, err := job.RunPass(ctx, false); err == nil {
		t.Fatal("the paused pass committed")
	}
	st, err := job.State.Disk("vm/0")
	if err != nil {
		t.Fatal(err)
	}
	// Paused, the pass released its snapshot (nothing grows on the
	// source while the job waits): the next pass opens a new one.
	if _, err := hs.Source.Open(context.Background(), st.Pass, false); !errors.Is(err, ErrSnapshotGone) {
		t.Fatalf("the paused pass's snapshot %q: %v, want released", st.Pass, err)
	}
	return st
}

// TestPausedPassKeepsWhatWasDurable: an initial sync paused half-way
// (by a user, or after a failed pass) does not start over in its next
// snapshot: what it made durable at the receiver is not sent again, except
// where the guest wrote since; the replica equals the source after it.
func TestPausedPassKeepsWhatWasDurable(t *testing.T) {
	const size = 32 << 20
	src, fs, rcv := setup(t, size)
	hs := &hookSource{Source: fs}
	job := newJob(t, "vm", hs, rcv.addr)
	job.Conns, job.Window = 2, 4<<20
	st := pausedPass(t, job, hs, 20)
	if st.Pass == "" || st.Watermark < 4<<20 || st.Watermark > size-(4<<20) {
		t.Fatalf("state after the pause: %+v, want a pass in flight with a watermark inside the disk", st)
	}
	// The guest writes below the watermark (durable: must be sent again)
	// and above it (not durable: sent anyway).
	below := Extent{st.Watermark / 2 / fs.TrackBlock * fs.TrackBlock, fs.TrackBlock}
	above := Extent{size - fs.TrackBlock, fs.TrackBlock}
	scribble(t, src, 11, below, above)

	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Counters
	if c.Resumed < st.Watermark-below.Length || c.Planned > size-st.Watermark+below.Length || c.Resumed+c.Planned != size {
		t.Fatalf("after a pause with %d bytes durable: %d bytes resumed and %d planned, want at least %d resumed (all but the %d the guest changed there) and the rest of %d planned",
			st.Watermark, c.Resumed, c.Planned, st.Watermark-below.Length, below.Length, size)
	}
	if c.Payload > c.Planned {
		t.Fatalf("payload %d > the %d bytes planned: durable data sent again", c.Payload, c.Planned)
	}
	// What the guest changed under the watermark was planned, not found
	// wrong by the read-back and repaired.
	if c.Resent != 0 {
		t.Fatalf("%d block(s) re-sent after reading back wrong: the changes since the paused pass were not planned", c.Resent)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	if st, _ := job.State.Disk("vm/0"); st.Pass != "" || st.Committed == "" || st.Carry != nil || st.CarryFrom != "" {
		t.Fatalf("state after the pass: %+v, want committed and nothing carried", st)
	}
	// The digest map holds what the replica holds: a full compare finds
	// nothing to repair.
	res, err = job.RunPassWith(context.Background(), PassOptions{Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	if cmp := res.Compare; cmp == nil || cmp.Differing != 0 || cmp.Unreported != 0 {
		t.Fatalf("full compare after the resumed pass: %+v, want nothing different", cmp)
	}
}

// TestPausedTwiceKeepsBoth: paused again in its new snapshot, the pass
// after keeps what both made durable, counting changes since the first.
func TestPausedTwiceKeepsBoth(t *testing.T) {
	const size = 32 << 20
	src, fs, rcv := setup(t, size)
	hs := &hookSource{Source: fs}
	job := newJob(t, "vm", hs, rcv.addr)
	job.Conns, job.Window = 2, 4<<20
	first := pausedPass(t, job, hs, 12)
	// Changed between the two paused passes, below the first's watermark.
	scribble(t, src, 12, Extent{0, fs.TrackBlock})
	second := pausedPass(t, job, hs, 12)
	if second.CarryFrom != first.Target || len(second.Carry) == 0 || second.Carry[0].End() < first.Watermark {
		t.Fatalf("second paused pass: carries %v from %q, want from the first's target %q at least [0, %d)", second.Carry, second.CarryFrom, first.Target, first.Watermark)
	}
	// Changed after both: inside what the second kept.
	scribble(t, src, 13, Extent{first.Watermark / fs.TrackBlock * fs.TrackBlock, fs.TrackBlock})
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Counters
	durable := max(second.Watermark, totalLength(second.Carry))
	if c.Resumed < durable-2*fs.TrackBlock || c.Resent != 0 {
		t.Fatalf("after two pauses (%d bytes durable): %d resumed, %d planned, %d re-sent; want at least %d resumed, none re-sent", durable, c.Resumed, c.Planned, c.Resent, durable-2*fs.TrackBlock)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestPausedPassAfterCBTReset: when changed block tracking cannot say what
// changed since the paused pass, nothing of it is kept.
func TestPausedPassAfterCBTReset(t *testing.T) {
	const size = 16 << 20
	src, fs, rcv := setup(t, size)
	hs := &hookSource{Source: fs}
	job := newJob(t, "vm", hs, rcv.addr)
	job.Conns, job.Window = 2, 4<<20
	st := pausedPass(t, job, hs, 10)
	scribble(t, src, 14, Extent{0, fs.TrackBlock})
	fs.ResetCBT()
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Counters; c.Resumed != 0 || c.Planned != size {
		t.Fatalf("after a CBT reset (%d bytes were durable): %d resumed, %d planned, want the whole disk sent", st.Watermark, c.Resumed, c.Planned)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestDurableCountsWhatIsCarried: the record a pass in a new snapshot
// writes before it planned its disk (no progress yet, watermark 0) says
// what it carries is durable (ferry status: not "stopped before any of it
// was durable" while the next run keeps it).
func TestDurableCountsWhatIsCarried(t *testing.T) {
	st := DiskState{Pass: "snap-2", Carry: []Extent{{0, 12 << 20}, {20 << 20, 1 << 20}}, CarryFrom: "1/1", Size: 32 << 20}
	if d, of := st.Durable(); d != 13<<20 || of != 32<<20 {
		t.Fatalf("durable %d of %d, want %d of %d", d, of, 13<<20, 32<<20)
	}
	st.Watermark = 14 << 20 // an older ferry's record of a pass resumed: its watermark
	if d, _ := st.Durable(); d != 15<<20 {
		t.Fatalf("durable %d with watermark %d, want %d", d, st.Watermark, 15<<20)
	}
}
