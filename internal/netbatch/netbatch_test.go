package netbatch

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestFlushesAndNeverBlocksClose: once batching, writes reach the
// peer on Flush (not before), and Close returns at once even while a write
// is blocked on a peer that stopped reading (a dropped session must not
// hang the receiver), unblocking that write.
func TestFlushesAndNeverBlocksClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := &Conn{Conn: a}
	// Before batch: straight through (the handshake).
	go func() { _, _ = c.Write([]byte("hello")) }()
	got := make([]byte, 5)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "hello" {
		t.Fatalf("unbatched write: %q %v", got, err)
	}
	c.Batch()
	if _, err := c.Write([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := b.Read(got); n != 0 {
		t.Fatalf("a batched write reached the peer before Flush: %q", got[:n])
	}
	_ = b.SetReadDeadline(time.Time{})
	go func() { _ = c.Flush() }()
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "frame" {
		t.Fatalf("after Flush: %q %v", got, err)
	}
	// A write larger than the buffer blocks: nobody reads b.
	done := make(chan error, 1)
	go func() { _, err := c.Write(bytes.Repeat([]byte{1}, 2*Size)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a blocked write")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the blocked write succeeded after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked write was not unblocked by Close")
	}
}
