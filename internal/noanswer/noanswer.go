// Package noanswer bounds ferry's connections and logins to the API
// endpoints whose client libraries do not (govmomi's TLS dial has no
// timeout and ignores its context; go-vcloud-director takes no context at
// all): vCenter and Cloud Director. An address that takes no TCP
// connection in time (a wrong host or port, a firewall dropping packets), or
// a server that takes it and completes no TLS handshake (something that is
// not the API's TLS listener on that port, a hung server), or no login,
// ends in an error that Is ErrNoAnswer, naming which did not come in time,
// instead of holding ferry for ever; the session remembers
// such an endpoint for a while (session.Session) so that each step does not
// wait for it again.
package noanswer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// DialTimeout bounds a connection (TCP connect and TLS handshake);
// LoginTimeout bounds a login's calls.
const (
	DialTimeout  = 30 * time.Second
	LoginTimeout = 2 * time.Minute
)

// ErrNoAnswer: the server took no TCP connection, or completed no TLS
// handshake or login, in time.
var ErrNoAnswer = errors.New("does not answer")

// Error is ErrNoAnswer with what did not come in time.
type Error struct{ Detail string }

func (e Error) Error() string        { return e.Detail }
func (e Error) Is(target error) bool { return target == ErrNoAnswer }

// Dial runs dial (a TLS dial of addr with DialTLS, which may try more than
// once) with DialTimeout and ctx as its bound; when the bound, not ctx,
// ended it, the error is an Error saying whether the TCP connection or the
// TLS handshake did not come.
func Dial(ctx context.Context, addr string, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	conn, err := dial(dctx)
	var ce connectError
	if err != nil && ctx.Err() == nil && boundEnded(ctx, dctx, err) {
		return nil, timedOut(addr, errors.As(err, &ce))
	}
	if errors.As(err, &ce) {
		err = ce.err // a connect that failed otherwise: its own error
	}
	return conn, err
}

// boundEnded says whether Dial's own bound (dctx's deadline) ended a dial
// that failed with err: dctx is done, or the dial timed out while ctx's
// own deadline, if any, is later. The network poller's deadline and the
// context's timer fire at the same moment, in either order: a connect
// that timed out before the timer marked dctx done was reported as its
// bare "i/o timeout" (CI, under load), not as a connection that did not
// come.
func boundEnded(ctx, dctx context.Context, err error) bool {
	if dctx.Err() != nil {
		return true
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return false
	}
	own, _ := dctx.Deadline()
	theirs, ok := ctx.Deadline()
	return !ok || theirs.After(own)
}

// timedOut is the Error of a dial of addr that DialTimeout ended in its TCP
// connect (connecting) or, the connection made, in its TLS handshake.
func timedOut(addr string, connecting bool) Error {
	if connecting {
		return Error{fmt.Sprintf("%s took no TCP connection within %s (nothing answered the connect: a wrong host or port, or a firewall dropping the packets)", addr, DialTimeout)}
	}
	return Error{fmt.Sprintf("%s took the TCP connection but completed no TLS handshake within %s (what listens on that port is not the API's TLS listener, or the server hangs)", addr, DialTimeout)}
}

// connectError is the error of DialTLS's TCP connect, so that Dial tells a
// connect that did not come from a handshake that did not.
type connectError struct{ err error }

func (e connectError) Error() string { return e.err.Error() }
func (e connectError) Unwrap() error { return e.err }

// DialTLS connects to addr over TCP, then completes a TLS handshake with
// cfg (its ServerName, when empty, addr's host), as tls.Dialer does, both
// bounded by ctx.
func DialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, connectError{err}
	}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// Login says so when a login bounded by lctx (LoginTimeout) ran out of its
// time; other errors are returned as they are.
func Login(lctx context.Context, err error) error {
	if errors.Is(lctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrNoAnswer) {
		return Error{fmt.Sprintf("no answer to the login within %s (%v)", LoginTimeout, err)}
	}
	return err
}

// Explain is the message of a no-answer error of the endpoint of product
// (its API's address being api), and whether err is one.
func Explain(product, endpoint, api string, err error) (error, bool) {
	var na Error
	if !errors.As(err, &na) {
		return nil, false
	}
	return fmt.Errorf("%s %s %w: %s; check the URL's host and port (%s's API: %s, port 443) and that %s runs", product, endpoint, ErrNoAnswer, na.Detail, product, api, product), true
}
