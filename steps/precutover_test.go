package steps

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestAnotherPreCutoverPass: a long pre-cutover pass is followed by another
// while the passes get shorter, never more than maxPreCutoverPasses in all;
// a short one goes straight to the shutdown.
func TestAnotherPreCutoverPass(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		took []time.Duration
		want bool
	}{
		{nil, true},                     // the first pass always runs
		{[]time.Duration{s / 2}, false}, // short: the final pass has little left
		{[]time.Duration{s}, false},     // at the threshold
		{[]time.Duration{8 * s}, true},  // long (far behind): once more
		{[]time.Duration{8 * s, 2 * s}, true},
		{[]time.Duration{8 * s, s / 2}, false},        // settled
		{[]time.Duration{4 * s, 7 * s / 2}, false},    // not getting shorter: the guest writes as fast as a pass copies
		{[]time.Duration{8 * s, 4 * s, 2 * s}, false}, // at most maxPreCutoverPasses
	} {
		if got := anotherPreCutoverPass(c.took); got != c.want {
			t.Errorf("after passes of %v: another %v, want %v", c.took, got, c.want)
		}
	}
}

// TestWaveGate: a VM ready to shut down waits for the wave's other VMs
// preparing beside it until each is ready or has ended; a VM cut over alone (no
// gate) never waits; a VM that gets its slot later holds back nobody
// already past the gate; a cancelled context stops the wait.
func TestWaveGate(t *testing.T) {
	var none *waveGate
	ready, leave := none.enter()
	ready(context.Background())
	leave()

	g := newWaveGate()
	readyA, leaveA := g.enter()
	readyB, leaveB := g.enter()
	defer leaveA()
	aDone := make(chan struct{})
	go func() { readyA(context.Background()); close(aDone) }()
	pending := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.pending
	}
	for pending() != 1 { // A is past its own release, waiting for B
		runtime.Gosched()
	}
	select {
	case <-aDone:
		t.Fatal("A passed the gate while B was neither ready nor ended")
	default:
	}
	leaveB() // B ended (a failure before its shutdown): A goes on
	<-aDone
	readyB(context.Background()) // after leaving: does not count twice
	if n := pending(); n != 0 {
		t.Fatalf("%d pending after both went, want 0", n)
	}

	// C gets a slot later; D, still pending, holds C back until the
	// context is cancelled.
	readyC, leaveC := g.enter()
	_, leaveD := g.enter()
	defer leaveC()
	defer leaveD()
	ctx, cancel := context.WithCancel(context.Background())
	cDone := make(chan struct{})
	go func() { readyC(ctx); close(cDone) }()
	for pending() != 1 {
		runtime.Gosched()
	}
	cancel()
	<-cDone
}

// TestWaveGateReleasesABatch: the VMs ready together are released together,
// even when the next VM of the wave begins to prepare (enters the gate) the
// moment the last of them is ready: it waits for its own batch and holds
// back none of the released ones.
func TestWaveGateReleasesABatch(t *testing.T) {
	g := newWaveGate()
	readyA, leaveA := g.enter()
	readyB, leaveB := g.enter()
	defer leaveA()
	defer leaveB()
	aDone := make(chan struct{})
	go func() { defer close(aDone); readyA(context.Background()) }()
	// A waits at the gate for B.
	for {
		g.mu.Lock()
		n := g.pending
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	readyB(context.Background()) // the last of the batch: at once
	readyC, leaveC := g.enter()  // the next VM begins to prepare
	select {
	case <-aDone:
	case <-time.After(10 * time.Second):
		t.Fatal("A, released with B, still waits: the next VM to prepare holds it back")
	}
	// C waits for the VMs of its own batch (D), not for A or B.
	readyD, leaveD := g.enter()
	cDone := make(chan struct{})
	go func() { defer close(cDone); readyC(context.Background()) }()
	select {
	case <-cDone:
		t.Fatal("C went through with D still preparing")
	case <-time.After(50 * time.Millisecond):
	}
	leaveD() // D ends without being ready (a failed check): C goes
	select {
	case <-cDone:
	case <-time.After(10 * time.Second):
		t.Fatal("C still waits with D ended")
	}
	leaveC()
	_ = readyD
}
