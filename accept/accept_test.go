package accept_test

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/accept"
)

// failing fails its first fails Accepts as a process out of file
// descriptors does, then accepts from the real listener; after gone is
// set, an Accept is a test failure.
type failing struct {
	net.Listener
	t     *testing.T
	fails int
	gone  bool
}

func (l *failing) Accept() (net.Conn, error) {
	if l.gone {
		l.t.Error("Accept called again after the context was cancelled")
		return nil, net.ErrClosed
	}
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestNextRetriesPassingFailures: three failed accepts are retried with a
// doubling wait, reported to retry, and the connection that follows is
// returned.
func TestNextRetriesPassingFailures(t *testing.T) {
	ln := listen(t)
	dialed := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	var waits []time.Duration
	c, ok := accept.Next(context.Background(), &failing{Listener: ln, t: t, fails: 3}, func(err error, wait time.Duration) {
		if !errors.Is(err, syscall.EMFILE) {
			t.Errorf("retry told %v, want the accept error", err)
		}
		waits = append(waits, wait)
	})
	if !ok {
		t.Fatal("Next gave up after passing accept failures")
	}
	defer c.Close()
	client := <-dialed
	defer client.Close()
	if c.RemoteAddr().String() != client.LocalAddr().String() {
		t.Fatalf("accepted %s, want the dialed %s", c.RemoteAddr(), client.LocalAddr())
	}
	if want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
}

// TestNextWaitsAtMostASecond: the wait doubles up to MaxBackoff and stays
// there.
func TestNextWaitsAtMostASecond(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &failing{Listener: listen(t), t: t, fails: 1 << 30}
	var waits []time.Duration
	_, ok := accept.Next(ctx, l, func(_ error, wait time.Duration) {
		waits = append(waits, wait)
		if len(waits) == 10 {
			cancel()
			l.gone = true
		}
	})
	if ok {
		t.Fatal("Next returned a connection from a listener that only fails")
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
}

// TestNextStops: a closed listener, or a context cancelled before or
// during a wait, ends Next without a connection and without retrying.
func TestNextStops(t *testing.T) {
	closed := listen(t)
	closed.Close()
	if _, ok := accept.Next(context.Background(), closed, func(err error, _ time.Duration) {
		t.Errorf("retried a closed listener: %v", err)
	}); ok {
		t.Fatal("a closed listener gave a connection")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := accept.Next(ctx, &failing{Listener: listen(t), t: t, fails: 1}, func(err error, _ time.Duration) {
		t.Errorf("retried after the context ended: %v", err)
	}); ok {
		t.Fatal("a cancelled context gave a connection")
	}

	// Cancelled during the wait: Next returns without accepting again.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	l := &failing{Listener: listen(t), t: t, fails: 1}
	if _, ok := accept.Next(ctx, l, func(error, time.Duration) { cancel(); l.gone = true }); ok {
		t.Fatal("a context cancelled during the wait gave a connection")
	}
}
