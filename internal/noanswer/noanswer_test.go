package noanswer

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestDialTimedOutBeforeItsContext (CI, under load: `ferry plan` against a
// Cloud Director that takes no TCP connection said "dial tcp ...: i/o
// timeout" instead of that no connection came): the network poller's
// deadline fired before the context's timer marked the dial's context done.
// A connect that timed out at Dial's bound is no answer whichever fired
// first; one that timed out at the caller's earlier deadline, or failed
// otherwise, is returned as it is.
func TestDialTimedOutBeforeItsContext(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	// The poller first: the dial returns its timeout while the context's
	// timer has not marked its context done.
	pollerFirst := func(err error) func(context.Context) (net.Conn, error) {
		return func(dctx context.Context) (net.Conn, error) {
			if dctx.Err() != nil {
				t.Fatal("the dial's context ended already")
			}
			return nil, err
		}
	}
	_, err := Dial(context.Background(), "192.0.2.1:443", pollerFirst(connectError{timeout}))
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "192.0.2.1:443 took no TCP connection within 30s") {
		t.Errorf("a connect that timed out at Dial's bound: %v", err)
	}
	_, err = Dial(context.Background(), "192.0.2.1:443", pollerFirst(timeout))
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "completed no TLS handshake") {
		t.Errorf("a handshake that timed out at Dial's bound: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout/2)
	defer cancel()
	if _, err = Dial(ctx, "192.0.2.1:443", pollerFirst(connectError{timeout})); errors.Is(err, ErrNoAnswer) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connect that timed out at the caller's earlier deadline: %v, want its own error", err)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	if _, err = Dial(context.Background(), "192.0.2.1:443", pollerFirst(connectError{refused})); errors.Is(err, ErrNoAnswer) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a refused connect: %v, want its own error", err)
	}
}
