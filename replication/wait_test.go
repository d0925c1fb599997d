package replication

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gate blocks the reads of a pass while it is armed, until released.
type gate struct {
	armed   atomic.Bool
	blocked chan struct{} // a read is blocked
	release chan struct{}
}

func newGate() *gate { return &gate{blocked: make(chan struct{}, 1), release: make(chan struct{})} }

func (g *gate) hook(int64) {
	if !g.armed.Load() {
		return
	}
	select {
	case g.blocked <- struct{}{}:
	default:
	}
	<-g.release
}

// waitErr runs f in a goroutine and returns its result channel.
func waitErr(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// TestSchedulerWaitPassWaitIdle: WaitPass returns when a pass that started
// after the call completes, fails when the job is paused and when ctx ends;
// WaitIdle returns when the running pass ends; Changed is closed at a
// change. Nothing here polls or sleeps.
func TestSchedulerWaitPassWaitIdle(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	src := filepath.Join(dir, "a.img")
	randomDisk(t, src, 2<<20, 3, Extent{0, 2 << 20})
	g := newGate()
	s := NewScheduler(1, nil)
	if err := s.WaitPass(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), `no replication job for VM "a"`) {
		t.Fatalf("WaitPass of an unknown VM: %v", err)
	}
	if err := s.Add(newJob(t, "a", &hookSource{Source: NewFileSource(src), hook: g.hook}, rcv.addr), time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	// The initial sync.
	if err := s.WaitPass(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	st := s.Status()[0]
	if st.LastPass.IsZero() || st.Phase != JobReplicating || st.Health != HealthOK || st.RPO != RPO(time.Minute) {
		t.Fatalf("after the initial sync: %+v", st)
	}

	// A pass that cannot complete: WaitPass ends with its ctx. The source
	// changed, so that the pass reads (and blocks).
	scribble(t, src, 4, Extent{0, 256 << 10})
	g.armed.Store(true)
	if err := s.PassNow("a"); err != nil {
		t.Fatal(err)
	}
	<-g.blocked
	wctx, wcancel := context.WithCancel(ctx)
	waited := waitErr(func() error { return s.WaitPass(wctx, "a") })
	wcancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitPass after cancel: %v", err)
	}
	if st := s.Status()[0]; !st.Running || st.PassAge < 0 {
		t.Fatalf("the blocked pass: %+v", st)
	}
	done, dcancel := context.WithCancel(ctx)
	dcancel()
	if err := s.WaitIdle(done, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitIdle with a pass running and ctx ended: %v", err)
	}

	// Pause: a waiting WaitPass fails at once (the pass still runs);
	// WaitIdle returns when the pass ends.
	passWait := waitErr(func() error { return s.WaitPass(ctx, "a") })
	changed := s.Changed()
	if err := s.Pause("a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by Pause")
	}
	if err := <-passWait; !errors.Is(err, ErrPaused) || !strings.Contains(err.Error(), "paused by request") {
		t.Fatalf("WaitPass of a paused job: %v", err)
	}
	idle := waitErr(func() error { return s.WaitIdle(ctx, "a") })
	g.armed.Store(false)
	close(g.release)
	if err := <-idle; err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.Running || st.Phase != JobPaused || !st.Paused {
		t.Fatalf("paused: %+v", st)
	}

	// Resume runs a pass at once; WaitPass after it waits for that pass,
	// whether it has started yet or not.
	before := s.Status()[0].LastPass
	if err := s.Resume("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitPass(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; !st.LastPass.After(before) || st.Phase != JobReplicating {
		t.Fatalf("after resume: %+v (last pass before %s)", st, before)
	}
}
