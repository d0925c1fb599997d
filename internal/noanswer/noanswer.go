// Package noanswer bounds ferry's connections and logins to the API
// endpoints whose client libraries do not (govmomi's TLS dial has no
// timeout and ignores its context; go-vcloud-director takes no context at
// all): vCenter and Cloud Director. A server that takes the TCP connection
// and never answers (a wrong port, a firewall that holds connections, a
// hung server) ends in an error that Is ErrNoAnswer, naming what did not
// come in time, instead of holding ferry for ever; the session remembers
// such an endpoint for a while (session.Session) so that each step does not
// wait for it again.
package noanswer

import (
	"context"
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

// ErrNoAnswer: the server took the connection and did not answer in time.
var ErrNoAnswer = errors.New("does not answer")

// Error is ErrNoAnswer with what did not come in time.
type Error struct{ Detail string }

func (e Error) Error() string        { return e.Detail }
func (e Error) Is(target error) bool { return target == ErrNoAnswer }

// Dial runs dial (a TLS dial of addr, which may try more than once) with
// DialTimeout and ctx as its bound; when the bound, not ctx, ended it, the
// error is an Error.
func Dial(ctx context.Context, addr string, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	conn, err := dial(dctx)
	if err != nil && ctx.Err() == nil && dctx.Err() != nil {
		return nil, Error{fmt.Sprintf("%s took the connection but completed no TLS handshake within %s", addr, DialTimeout)}
	}
	return conn, err
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
