// Package accept is the accept loop of ferry's listeners (the engine's
// socket, the replication receiver): a passing accept failure, such as a
// process out of file descriptors, never ends a listener; it waits and
// accepts again, as net/http does.
package accept

import (
	"context"
	"errors"
	"net"
	"time"
)

// The wait after a failed accept: from MinBackoff, doubled after each
// further failure, at most MaxBackoff.
const (
	MinBackoff = 5 * time.Millisecond
	MaxBackoff = time.Second
)

// Next returns the next connection on ln. When Accept fails for another
// reason than ln being closed, Next calls retry (unless nil) with the error
// and the wait, waits, and accepts again. ok is false once ctx is done or
// ln is closed; the caller closes ln when ctx ends (Accept does not watch
// ctx).
func Next(ctx context.Context, ln net.Listener, retry func(err error, wait time.Duration)) (c net.Conn, ok bool) {
	var wait time.Duration
	for {
		c, err := ln.Accept()
		if err == nil {
			return c, true
		}
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			return nil, false
		}
		wait = min(max(2*wait, MinBackoff), MaxBackoff)
		if retry != nil {
			retry(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false
		case <-t.C:
		}
	}
}
