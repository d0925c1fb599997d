package replication

// The sender's connections to the receiver: dial, TLS and hello, the
// reader of acknowledgements and replies, and the window of unacknowledged
// bytes per connection (flow control with an acknowledgement timeout).

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/internal/netbatch"
)

// dial opens n connections to the receiver, each with its hello answered,
// and splits the job's window between them (at least 4 frames each).
func (p *pass) dial(ctx context.Context, cancel context.CancelCauseFunc, n int) error {
	p.stop = make(chan struct{})
	j := p.job
	dial := j.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}).DialContext
	}
	cfg := j.TLS.Clone()
	cfg.MinVersion = tls.VersionTLS13
	per := max(j.window()/int64(n), 4*FrameMax)
	session := rand.Text()
	replicas := make([]string, len(p.disks))
	for i, d := range p.disks {
		if replicas[i] = j.Replicas[d.Key]; replicas[i] == "" {
			return fmt.Errorf("%w: no replica disk prepared for %s disk %s", ErrNoReplicaDisk, j.VM, d.Key)
		}
	}
	for range n {
		raw, err := dial(ctx, "tcp", j.Addr)
		if err != nil {
			return fmt.Errorf("connect to receiver %s: %w", j.Addr, err)
		}
		bc := &netbatch.Conn{Conn: raw}
		tc := tls.Client(bc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return fmt.Errorf("TLS handshake with receiver %s: %w", j.Addr, err)
		}
		bc.Batch()
		fc := newFrameConn(tc)
		fc.flush = bc.Flush
		sc := &senderConn{p: p, c: tc, fc: fc, max: per, flagged: time.Now(), replies: make(chan replyMsg, 1), readDone: make(chan struct{})}
		sc.cond = sync.NewCond(&sc.mu)
		p.conns = append(p.conns, sc)
		if err := sc.fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Kind: j.Kind, Org: j.Org, VM: j.VM, Session: session, Disks: p.disks, Replicas: replicas}); err != nil {
			return err
		}
		p.loops.Go(func() { sc.readLoop(cancel) })
		if _, err := sc.await(ctx); err != nil {
			return fmt.Errorf("receiver hello: %w", err)
		}
	}
	// Unblock writers waiting for window space when the pass ends.
	context.AfterFunc(ctx, func() {
		for _, c := range p.conns {
			c.fail(context.Cause(ctx))
		}
	})
	return nil
}

// senderConn is one TLS connection: frames out, acks and replies in.
type senderConn struct {
	p   *pass
	c   net.Conn
	fc  *frameConn
	wmu sync.Mutex // serializes writes

	mu        sync.Mutex
	cond      *sync.Cond
	inflight  int64     // unacknowledged wire bytes
	unflagged int64     // wire bytes sent since the last frame that asked for an ack
	flagged   time.Time // when a frame last asked for an ack (or the connection opened)
	max       int64
	err       error

	replies  chan replyMsg
	readDone chan struct{} // closed when readLoop returns
}

func (c *senderConn) fail(err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cond.Broadcast()
	c.c.Close()
}

func (c *senderConn) readLoop(cancel context.CancelCauseFunc) {
	defer close(c.readDone)
	var h header
	var buf []byte
	for {
		var err error
		buf, err = c.fc.readFrame(&h, buf)
		if err != nil {
			err = fmt.Errorf("receiver connection: %w", err)
			c.fail(err)
			cancel(err)
			close(c.replies)
			return
		}
		switch h.Type {
		case fAck:
			var m ackMsg
			if err := json.Unmarshal(buf, &m); err == nil {
				c.p.acked(c, m.Seqs)
			}
		case fReply:
			var m replyMsg
			if err := json.Unmarshal(buf, &m); err == nil {
				select {
				case c.replies <- m:
				case <-c.p.stop: // the pass is over: nobody awaits it
				}
			}
		case fError:
			var m errorMsg
			_ = json.Unmarshal(buf, &m)
			err := &RemoteError{Code: m.Code, Msg: m.Msg}
			c.fail(err)
			cancel(err)
			close(c.replies)
			return
		}
	}
}

func (c *senderConn) await(ctx context.Context) (replyMsg, error) {
	select {
	case m, ok := <-c.replies:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return m, err
		}
		return m, nil
	case <-ctx.Done():
		return replyMsg{}, context.Cause(ctx)
	}
}

func (c *senderConn) control(ctx context.Context, t frameType, disk int, m diskMsg) (replyMsg, error) {
	m.Disk = uint16(disk)
	b, _ := json.Marshal(m)
	if err := c.write(ctx, &header{Type: t, Disk: uint16(disk)}, b, true); err != nil {
		return replyMsg{}, err
	}
	return c.await(ctx)
}

func (c *senderConn) write(ctx context.Context, h *header, payload []byte, flush bool) error {
	n := headerSize + len(payload)
	if l := c.p.job.Limiter; l != nil {
		for rem := n; rem > 0; {
			k := min(rem, max(l.Burst(), 1))
			if err := l.WaitN(ctx, k, c.p.urgent); err != nil {
				return err
			}
			rem -= k
		}
	}
	c.wmu.Lock()
	err := c.fc.writeFrame(h, payload, flush)
	if err == nil && c.askedLate(h) {
		// An acknowledgement of everything sent so far (the receiver syncs
		// first), without waiting for it.
		if l := c.p.job.Limiter; l != nil {
			err = l.WaitN(ctx, headerSize, c.p.urgent)
		}
		if err == nil {
			err = c.fc.writeFrame(&header{Type: fSync}, nil, true)
		}
		n += headerSize
	}
	c.wmu.Unlock()
	if err == nil {
		c.p.sent.Add(int64(n))
		return nil
	}
	// The receiver may have explained why it closed the connection (disk
	// full...): give the reader a moment to deliver that before failing.
	select {
	case <-c.readDone:
	case <-time.After(2 * time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return err
}

// reserve waits for window space for n wire bytes and reports whether the
// frame should ask for an fsync and acknowledgement: one frame in every
// max/2 bytes does, so whenever the window is full an acknowledgement is on
// its way (max >= 4 frames). On a slow link write asks sooner (ackEvery).
func (c *senderConn) reserve(n int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.wait(func() bool { return c.inflight > 0 && c.inflight+n > c.max }); err != nil {
		return false, err
	}
	c.inflight += n
	c.unflagged += n
	if c.unflagged >= c.max/2 {
		c.unflagged = 0
		return true, nil
	}
	return false, nil
}

// ackEvery is how long a connection sends data at most before it asks for
// an acknowledgement, however few bytes that was: on a slow or capped link
// half a window takes minutes (8 MiB at 1 Mbit/s: 67 s, and a connection
// gets a share of the cap), and until an acknowledgement nothing of it is
// durable for the sender (a kill sends it again) nor shown as progress.
const ackEvery = time.Second

// askedLate reports, once a data or zero frame was written, whether the
// connection has sent for ackEvery since it last asked for an
// acknowledgement: then an fSync follows the frame at once.
func (c *senderConn) askedLate(h *header) bool {
	if h.Type != fData && h.Type != fZero {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if h.Flags&flagSync != 0 {
		c.flagged = now
		return false
	}
	if now.Sub(c.flagged) < ackEvery {
		return false
	}
	c.flagged, c.unflagged = now, 0
	return true
}

// wait waits (c.mu held) while blocked() holds, failing the connection if
// no acknowledgement moves it for AckTimeout.
func (c *senderConn) wait(blocked func() bool) error {
	if c.err != nil || !blocked() {
		return c.err
	}
	d := c.p.job.ackTimeout()
	t := time.AfterFunc(d, func() { c.fail(fmt.Errorf("receiver sent no acknowledgement for %s", d)) })
	defer t.Stop()
	for c.err == nil && blocked() {
		c.cond.Wait()
	}
	return c.err
}

func (c *senderConn) release(n int64) {
	c.mu.Lock()
	c.inflight -= n
	c.mu.Unlock()
	c.cond.Broadcast()
}

// drain waits until everything sent on c is acknowledged.
func (c *senderConn) drain(ctx context.Context) error {
	if err := c.write(ctx, &header{Type: fSync}, nil, true); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unflagged, c.flagged = 0, time.Now()
	return c.wait(func() bool { return c.inflight > 0 })
}

// Probe proves that the receiver at addr answers and accepts this sender:
// a TLS handshake with cfg (its trust and client certificate) and a protocol
// hello that opens nothing. Preflight calls it before any step changes
// anything, so a wrong address, pin or certificate is found first.
func Probe(ctx context.Context, addr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to receiver %s: %w", addr, err)
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	cfg = cfg.Clone()
	cfg.MinVersion = tls.VersionTLS13
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake with receiver %s: %w", addr, err)
	}
	fc := newFrameConn(tc)
	if err := fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Probe: true}); err != nil {
		return fmt.Errorf("receiver %s: %w", addr, err)
	}
	// TLS 1.3 reports a refused client certificate on the first read.
	var h header
	buf, err := fc.readFrame(&h, nil)
	if err != nil {
		return fmt.Errorf("receiver %s did not accept this sender (check its client certificate or pin): %w", addr, err)
	}
	switch h.Type {
	case fReply:
		return nil
	case fError:
		var em errorMsg
		_ = json.Unmarshal(buf, &em)
		return fmt.Errorf("receiver %s: %w", addr, &RemoteError{Code: em.Code, Msg: em.Msg})
	}
	return fmt.Errorf("receiver %s answered frame type %d to a hello: not a ferry receiver", addr, h.Type)
}
