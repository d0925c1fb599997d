package replication

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestBandwidthServesTheDowntimeWindowFirst (QA: a final pass copied at
// ~174 KiB/s of an 8 Mbit/s cap beside another VM's pass): while a pass in
// a cutover's downtime window sends, another pass's wait does not end, and
// a wait it had reserved before is given back rather than paid for by the
// urgent pass; once the window's pass ends, the other goes on.
func TestBandwidthServesTheDowntimeWindowFirst(t *testing.T) {
	ctx := context.Background()
	b := NewBandwidth(1024, 64<<10)                     // 1 KiB/s: a reserved 64 KiB is a minute ahead
	if err := b.WaitN(ctx, 64<<10, false); err != nil { // the burst, spent
		t.Fatal(err)
	}
	// Another VM's pass reserves the next 64 KiB and waits for them.
	var other atomic.Bool
	go func() {
		if err := b.WaitN(ctx, 64<<10, false); err == nil {
			other.Store(true)
		}
	}()
	waitFor(t, "the other pass's reservation", func() bool { return b.l.TokensAt(time.Now()) < -32<<10 })
	done := b.Urgent()
	// Given back: the urgent pass does not wait behind it.
	waitFor(t, "the other pass's reservation given back", func() bool { return b.l.TokensAt(time.Now()) > -32<<10 })
	b.SetLimit(1 << 30) // fast now: the urgent pass sends at once
	for range 16 {
		if err := b.WaitN(ctx, 64<<10, true); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // room for a wrong wake-up (not a timing claim)
	if other.Load() {
		t.Fatal("another pass's wait ended while a pass in the downtime window sent")
	}
	done()
	waitFor(t, "the other pass after the window's pass", other.Load)
}

// TestBandwidthYieldsForABoundedTime: a pass outside the window waits for
// one inside it at most yieldMax before it sends a burst anyway, so that
// its connections are not idle past the receiver's timeout (10 minutes)
// while a long final pass runs.
func TestBandwidthYieldsForABoundedTime(t *testing.T) {
	defer func(d time.Duration) { yieldMax = d }(yieldMax)
	yieldMax = 100 * time.Millisecond
	b := NewBandwidth(1<<30, 64<<10)
	done := b.Urgent()
	defer done()
	var other atomic.Bool
	go func() {
		if err := b.WaitN(context.Background(), 64<<10, false); err == nil {
			other.Store(true)
		}
	}()
	waitFor(t, "a burst of the other pass while the window's pass still runs", other.Load)
}

// TestFinalPassIsUrgent: a cutover's final pass holds the cap's priority
// while it runs; a scheduled pass does not, nor a powered-off VM's pass
// outside a cutover (a cold VM's in step 6: Final, not Urgent).
func TestFinalPassIsUrgent(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 4<<20, 1, Extent{0, 4 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.Limiter = NewBandwidth(1<<30, 64<<10)
	var seen atomic.Int32 // the urgent count at the pass's transfer, +1 (0: not seen)
	job.Events = func(e Event) {
		if e.Kind == EventPhase && e.Phase == PhaseTransfer {
			job.Limiter.mu.Lock()
			seen.Store(int32(job.Limiter.urgent) + 1)
			job.Limiter.mu.Unlock()
		}
	}
	for _, c := range []struct {
		what   string
		opts   PassOptions
		urgent int32
	}{
		{"an initial sync", PassOptions{}, 0},
		{"a cold VM's pass outside a cutover", PassOptions{Final: true}, 0},
		{"a cutover's final pass", PassOptions{Final: true, Urgent: true}, 1},
	} {
		randomDisk(t, src, 4<<20, 2, Extent{0, 1 << 20}) // something to send
		seen.Store(0)
		if _, err := job.RunPassWith(context.Background(), c.opts); err != nil {
			t.Fatal(err)
		}
		if got := seen.Load() - 1; got != c.urgent {
			t.Errorf("%s: %d urgent passes while it sent, want %d", c.what, got, c.urgent)
		}
	}
	if job.Limiter.urgent != 0 {
		t.Errorf("%d urgent passes after the final pass ended", job.Limiter.urgent)
	}
}

// waitFor polls cond until it holds; what names it in the failure (after
// 30 s: a bound, not a measure).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}
