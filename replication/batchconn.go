package replication

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
)

// batchSize is how many bytes a batched connection moves per system call
// at most, each way.
const batchSize = 256 << 10

// batchConn sits beneath TLS on a replication connection. crypto/tls writes
// every record (at most 16 KiB) with its own write(2) and reads about one
// record per read(2); over a sync that is hundreds of thousands of system
// calls per GiB on each side, a good share of the CPU. Once batch is called
// (after the handshake and, at the receiver, after the sender is
// authorized) writes collect in a buffer that Flush sends (frameConn
// flushes it after its own buffer) or that goes out when full, and reads
// fill a buffer in large chunks. Before that it passes everything through,
// so a connection that has not authenticated holds no buffers.
type batchConn struct {
	net.Conn
	r  atomic.Pointer[bufio.Reader]
	mu sync.Mutex // guards w: tls writes from Write and from Read (alerts)
	w  *bufio.Writer
}

// batch starts batching; call it from the goroutine that reads, before
// any other goroutine reads or writes through the connection.
func (c *batchConn) batch() {
	c.mu.Lock()
	c.w = bufio.NewWriterSize(c.Conn, batchSize)
	c.mu.Unlock()
	c.r.Store(bufio.NewReaderSize(c.Conn, batchSize))
}

func (c *batchConn) Read(p []byte) (int, error) {
	if r := c.r.Load(); r != nil {
		return r.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return c.Conn.Write(p)
	}
	return c.w.Write(p)
}

// Flush sends what Write buffered.
func (c *batchConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return nil
	}
	return c.w.Flush()
}

// Close sends what is buffered (TLS's close_notify) unless a write is
// blocked (a peer that stopped reading), then closes: it never waits.
func (c *batchConn) Close() error {
	if c.mu.TryLock() {
		if c.w != nil {
			_ = c.w.Flush()
		}
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// batchListener hands out batchConns.
type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}

// beneath returns the batchConn beneath a TLS connection, or nil.
func beneath(c net.Conn) *batchConn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		bc, _ := tc.NetConn().(*batchConn)
		return bc
	}
	return nil
}
