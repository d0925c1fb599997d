// Package netbatch batches a connection's system calls beneath TLS.
//
// crypto/tls writes every record (at most 16 KiB) with its own write(2) and
// reads about one record per read(2); moving gigabytes that is hundreds of
// thousands of system calls per GiB on each side, a good share of the CPU.
// A Conn sits beneath TLS and, once told to, moves up to Size bytes per
// system call: reads fill a buffer in large chunks, writes collect until
// Flush. Until then it passes everything through, so a connection that has
// not authenticated holds no buffers.
package netbatch

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// Size is how many bytes a batched connection moves per system call at
// most, each way.
const Size = 256 << 10

// Conn is a connection beneath TLS whose reads and writes can be batched.
type Conn struct {
	net.Conn
	r  atomic.Pointer[bufio.Reader]
	mu sync.Mutex // guards w: tls writes from Write and from Read (alerts)
	w  *bufio.Writer
}

// Batch batches reads and writes (BatchReads and BatchWrites).
func (c *Conn) Batch() {
	c.BatchWrites()
	c.BatchReads()
}

// BatchWrites makes writes collect in a buffer that Flush sends, or that
// goes out when full. Whoever writes must Flush when a message is complete.
func (c *Conn) BatchWrites() {
	c.mu.Lock()
	if c.w == nil {
		c.w = bufio.NewWriterSize(c.Conn, Size)
	}
	c.mu.Unlock()
}

// BatchReads makes reads fill a buffer in large chunks (a read returns
// what one read(2) got; it never waits for more). Reads may run while it
// is called: those already in the connection finish there.
func (c *Conn) BatchReads() {
	if c.r.Load() == nil {
		c.r.CompareAndSwap(nil, bufio.NewReaderSize(c.Conn, Size))
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	if r := c.r.Load(); r != nil {
		return r.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return c.Conn.Write(p)
	}
	return c.w.Write(p)
}

// Flush sends what Write buffered.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return nil
	}
	return c.w.Flush()
}

// Close sends what is buffered (TLS's close_notify) unless a write is
// blocked (a peer that stopped reading), then closes: it never waits.
func (c *Conn) Close() error {
	if c.mu.TryLock() {
		if c.w != nil {
			_ = c.w.Flush()
		}
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// Listener hands out Conns.
type Listener struct{ net.Listener }

func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// Beneath returns the Conn beneath a TLS connection, or nil.
func Beneath(c net.Conn) *Conn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		bc, _ := tc.NetConn().(*Conn)
		return bc
	}
	return nil
}

// TLSConn is a server TLS connection over a Conn that flushes after every
// Write: for a server (net/http's) that does not know about Flush. Once
// BatchWrites is called, each Write of the TLS layer above (a response
// body's chunk: up to Size of records) costs one write(2) instead of one
// per record.
type TLSConn struct {
	*tls.Conn
	b *Conn
}

// BatchWrites batches the writes beneath the TLS layer.
func (c *TLSConn) BatchWrites() { c.b.BatchWrites() }

func (c *TLSConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil {
		err = c.b.Flush()
	}
	return n, err
}

// TLSListener accepts TLS connections (TLSConns) over Conns.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return tlsListener{ln, cfg}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

func (l tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	b := &Conn{Conn: c}
	return &TLSConn{Conn: tls.Server(b, l.cfg), b: b}, nil
}
