package replication

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// passGates blocks the reads of the source's first pass on first and of
// every later pass on later, each until released.
type passGates struct {
	Source
	opens        atomic.Int32
	first, later *gate
}

func (p *passGates) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	s, err := p.Source.Open(ctx, resume, final)
	if err != nil {
		return nil, err
	}
	g := p.later
	if p.opens.Add(1) == 1 {
		g = p.first
	}
	return &hookSnap{Snapshot: s, h: &hookSource{hook: g.hook}}, nil
}

// TestWaitFirstPassWhileTheNextRuns (QA: step 6 resumed after a kill -9
// during three initial syncs sharing an 8 Mbit/s cap waited four passes
// more, its bar going back from 96% to 13%: it waited for a moment with
// no pass running, and the full compare starts right after the initial
// sync, and passes followed each other): WaitFirstPass returns once the
// job's first pass completed, though its next pass runs already and does
// not end.
func TestWaitFirstPassWhileTheNextRuns(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	src := filepath.Join(dir, "a.img")
	randomDisk(t, src, 2<<20, 3, Extent{0, 2 << 20})
	first, later := newGate(), newGate()
	first.armed.Store(true)
	later.armed.Store(true)
	s := NewScheduler(1, nil)
	if err := s.Add(newJob(t, "a", &passGates{Source: NewFileSource(src), first: first, later: later}, rcv.addr), time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s.Run(ctx) }()
	defer func() { cancel(); close(later.release); <-ran }()

	<-first.blocked // the initial sync reads
	if st := s.Status()[0]; !st.Running || !st.LastPass.IsZero() {
		t.Fatalf("the initial sync: %+v", st)
	}
	close(first.release)
	<-later.blocked // the full compare right after it reads, and blocks
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := s.WaitFirstPass(wctx, "a"); err != nil {
		t.Fatalf("WaitFirstPass with the initial sync complete and the compare after it running: %v", err)
	}
	if st := s.Status()[0]; st.LastPass.IsZero() || !st.Running {
		t.Fatalf("after the wait: %+v; want a complete pass and the next one running", st)
	}
}
