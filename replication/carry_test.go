package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// pausedPass runs a pass of job that is paused (as the scheduler pauses a
// job: its context cancelled with ErrPaused) at the reads-th source read,
// and returns the disk's state after it.
func pausedPass(t *testing.T, job *Job, hs *hookSource, reads int64) DiskState {
	t.Helper()
	return pausedPassOnce(t, job, hs, reads, nil)
}

// pausedPassOnce is pausedPass that, from the reads-th read on, holds the
// reader until durable (polled for at most 20 s) says what the test needs
// durable is, then pauses.
func pausedPassOnce(t *testing.T, job *Job, hs *hookSource, reads int64, durable func(DiskState) bool) DiskState {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	hs.n.Store(0)
	hs.hook = func(n int64) {
		if n != reads {
			return
		}
		for end := time.Now().Add(20 * time.Second); durable != nil && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if st, err := job.State.Disk("vm/0"); err == nil && durable(st) {
				break
			}
		}
		cancel(ErrPaused)
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
	if st, _ := job.State.Disk("vm/0"); st.Pass != "" || st.Committed == "" || st.Carry != nil {
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
// after keeps what both made durable, each since its own pass's changeId:
// what the second re-sent of the guest's changes after the first is not
// sent a third time.
func TestPausedTwiceKeepsBoth(t *testing.T) {
	const size = 32 << 20
	src, fs, rcv := setup(t, size)
	hs := &hookSource{Source: fs}
	job := newJob(t, "vm", hs, rcv.addr)
	job.Conns, job.Window = 2, 4<<20
	first := pausedPass(t, job, hs, 12)
	// Changed between the two paused passes, below the first's watermark.
	scribble(t, src, 12, Extent{0, fs.TrackBlock})
	// Paused once it made that block durable again.
	second := pausedPassOnce(t, job, hs, 20, func(st DiskState) bool { return st.Pass != first.Pass && st.Watermark > fs.TrackBlock })
	if len(second.Carry) != 1 || second.Carry[0].From != first.Target || second.Carry[0].Ranges[0].End() < first.Watermark {
		t.Fatalf("second paused pass carries %+v, want what the first made durable (at least [0, %d)) since its target %q", second.Carry, first.Watermark, first.Target)
	}
	if second.Watermark <= fs.TrackBlock {
		t.Fatalf("second paused pass: watermark %d, want past the block the guest changed", second.Watermark)
	}
	// Changed after both, inside what they made durable.
	after := Extent{first.Watermark / fs.TrackBlock * fs.TrackBlock, fs.TrackBlock}
	scribble(t, src, 13, after)
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Counters
	d := withRange(carried(second.Carry), Extent{0, second.Watermark})
	for _, e := range second.Acked {
		d = withRange(d, e)
	}
	durable := totalLength(d)
	if c.Resumed < durable-after.Length || c.Resent != 0 {
		t.Fatalf("after two pauses (%d bytes durable): %d resumed, %d planned, %d re-sent; want at least %d resumed (all but the %d bytes changed after both), none re-sent",
			durable, c.Resumed, c.Planned, c.Resent, durable-after.Length, after.Length)
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
	st := DiskState{Pass: "snap-2", Carry: []CarryTier{{From: "1/1", Ranges: []Extent{{0, 12 << 20}}}, {From: "1/2", Ranges: []Extent{{20 << 20, 1 << 20}}}}, Size: 32 << 20}
	if d, of := st.Durable(); d != 13<<20 || of != 32<<20 {
		t.Fatalf("durable %d of %d, want %d of %d", d, of, 13<<20, 32<<20)
	}
	st.Watermark = 14 << 20 // an older ferry's record of a pass resumed: its watermark
	if d, _ := st.Durable(); d != 15<<20 {
		t.Fatalf("durable %d with watermark %d, want %d", d, st.Watermark, 15<<20)
	}
}

// TestCarryTiersStayBounded: each pass paused in a row adds a tier (its
// durable ranges, since its target), taken out of the older ones; past
// maxCarryTiers the oldest two merge under the older changeId.
func TestCarryTiersStayBounded(t *testing.T) {
	const size = 64 << 20
	var ss DiskState
	for k := range 6 {
		pass, target := fmt.Sprintf("snap-%d", k), fmt.Sprintf("1/%d", k)
		if k > 0 {
			ss.Carry = carryOver(ss, replyMsg{Pass: ss.Pass, Target: ss.Target}, false, AllChanged, size)
		}
		// Each pass makes the first (k+1) MiB durable, and one MiB of its own further on.
		ss = DiskState{Pass: pass, Base: AllChanged, Target: target, Size: size, Carry: ss.Carry,
			Watermark: int64(k+1) << 20, Acked: []Extent{{int64(10+2*k) << 20, 1 << 20}}}
	}
	tiers := carryOver(ss, replyMsg{Pass: ss.Pass, Target: ss.Target}, false, AllChanged, size)
	if len(tiers) != maxCarryTiers {
		t.Fatalf("%d tiers after 6 paused passes, want %d: %+v", len(tiers), maxCarryTiers, tiers)
	}
	if tiers[0].From != "1/0" || tiers[len(tiers)-1].From != "1/5" {
		t.Fatalf("tiers from %q to %q, want the first pass's target to the last's: %+v", tiers[0].From, tiers[len(tiers)-1].From, tiers)
	}
	var all int64
	for _, tr := range tiers {
		all += totalLength(tr.Ranges)
	}
	// Disjoint, and all of it: [0, 6 MiB) and six further MiB.
	if u := totalLength(carried(tiers)); u != all || u != 12<<20 {
		t.Fatalf("tiers cover %d bytes (%d counted with overlaps), want 12 MiB once: %+v", u, all, tiers)
	}
	// The last pass's own durable ranges are its tier, since its target.
	if last := tiers[len(tiers)-1]; totalLength(last.Ranges) != 7<<20 {
		t.Fatalf("the last pass's tier: %+v, want its 6 MiB watermark and 1 MiB acknowledged", last)
	}
	// A receiver in another pass (something else wrote the replica): none.
	if tiers := carryOver(ss, replyMsg{Pass: "other", Target: ss.Target}, false, AllChanged, size); tiers != nil {
		t.Fatalf("carried %+v though the receiver is in another pass", tiers)
	}
}
