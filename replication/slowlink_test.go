package replication

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// TestSlowLinkAcknowledgedEverySecond: over a capped link a pass is
// acknowledged about every second (ackEvery), not only once per half window
// of wire bytes (at 1 Mbit/s that was more than a minute): its progress
// moves while it sends, and a sender stopped midway resumes from what was
// acknowledged instead of sending all of it again.
func TestSlowLinkAcknowledgedEverySecond(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 8 << 20
	randomDisk(t, src, size, 7, Extent{0, size}) // random: the wire carries all of it
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	// Half a window (32 MiB) is far more than the disk.
	job.Conns, job.Window = 1, 64<<20
	// The disk in about 8 s, a 1 MiB frame a second.
	job.Limiter = NewBandwidth(1<<20, 64<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var acked []int64
	job.Events = func(ev Event) {
		if ev.Kind != EventProgress || ev.Counters.Acked <= 0 || ev.Counters.Acked >= ev.Counters.Planned {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if n := len(acked); n == 0 || acked[n-1] != ev.Counters.Acked {
			acked = append(acked, ev.Counters.Acked)
		}
		if ev.Counters.Acked >= size/2 {
			cancel() // the sender stopped (a kill, a dropped session)
		}
	}
	if _, err := job.RunPass(ctx, false); err == nil {
		t.Fatal("the pass went on after it was stopped")
	}
	mu.Lock()
	t.Logf("acknowledged while sending: %v of %d bytes", acked, size)
	if len(acked) < 2 {
		t.Errorf("the pass was acknowledged %d times before half of it was durable (%v); want about every second", len(acked), acked)
	}
	mu.Unlock()
	st, err := job.State.Disk("vm/0")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pass == "" || st.Watermark < size/2 {
		t.Fatalf("the sender's store after the stop: %+v; want the initial sync in flight with at least half of it durable", st)
	}
	job.Events, job.Limiter = nil, nil
	res, err := job.RunPass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassInitial || res.Counters.Planned > size-st.Watermark || res.Counters.Resumed < st.Watermark {
		t.Errorf("the resumed pass: %s, %d planned, %d resumed; want only what lay above the durable watermark %d", res.Kind, res.Counters.Planned, res.Counters.Resumed, st.Watermark)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}
