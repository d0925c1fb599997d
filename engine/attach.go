package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/user"
	"strconv"
	"sync"
	"time"
)

// Attaching a local terminal to the engine's wizard: the client's request
// line is {"op":"attach","attach":{...}}; the engine answers one JSON line
// ({"attached":true}, or an error), after which the connection carries the
// terminal: from the engine, the screen's bytes as they are; from the
// client, frames of a type byte, a big-endian uint16 length and the
// payload: frameInput (keys) or frameResize (width, height: two uint16).

// AttachRequest is a local terminal's request to attach to the wizard.
type AttachRequest struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Term   string `json:"term,omitempty"`
	// View asks to watch only; without it the terminal drives unless
	// another session already does.
	View bool `json:"view,omitempty"`
}

// WindowSize is a terminal's size in cells.
type WindowSize struct{ Width, Height int }

// Terminal is a local terminal attached over the socket.
type Terminal struct {
	AttachRequest
	User   string // the peer's user name
	PID    int    // the peer's process
	In     io.Reader
	Out    io.Writer
	Resize <-chan WindowSize // the terminal's new sizes
}

// WizardServer serves the wizard to an attached terminal until the
// terminal detaches (In ends) or ctx ends.
type WizardServer func(ctx context.Context, t *Terminal) error

// ServeWizard makes the engine accept "attach" requests on its socket,
// serving them with w. Call it before Serve.
func (e *Engine) ServeWizard(w WizardServer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wizard = w
}

// Limits of an attached terminal: the frames it may send, and how many
// terminals may attach at once (the other clients of the socket keep
// their share of maxClients).
const (
	frameInput    = 'i'
	frameResize   = 'w'
	maxFrame      = 4096
	maxAttached   = maxClients / 2
	acceptTimeout = 10 * time.Second
)

// attach serves an attach request on c: br is the connection's reader
// after the request line (lr bounds what it reads; lifted here).
func (e *Engine) attach(ctx context.Context, c net.Conn, br *bufio.Reader, lr *io.LimitedReader, req *AttachRequest, send func(reply) bool) {
	fail := func(msg string) { send(reply{Error: msg, Final: true}) }
	e.mu.Lock()
	w := e.wizard
	full := e.terminals >= maxAttached
	if w != nil && !full {
		e.terminals++
	}
	e.mu.Unlock()
	switch {
	case w == nil:
		fail("this engine serves no wizard")
		return
	case full:
		fail(fmt.Sprintf("%d terminals are attached already (the most at once); detach one first", maxAttached))
		return
	}
	// The terminal's slot is free before its client can see the session
	// end (the reply, the connection closed): a terminal that attaches
	// again at once is not refused for its own old session.
	release := sync.OnceFunc(func() {
		e.mu.Lock()
		e.terminals--
		e.mu.Unlock()
	})
	defer release()
	if req == nil || req.Width < 1 || req.Height < 1 || req.Width > 1<<15 || req.Height > 1<<15 {
		release()
		fail("bad request: attach needs the terminal's size (width and height, 1-32768 cells)")
		return
	}
	cred, _ := peer(c)
	t := &Terminal{AttachRequest: *req, PID: int(cred.Pid), User: userName(cred.Uid)}
	if !send(reply{Attached: true, Final: true}) {
		return
	}
	lr.N = 1<<63 - 1 // the terminal's stream: frames, bounded one by one

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in, keys := io.Pipe()
	resize := make(chan WindowSize, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel() // the client went away: the wizard detaches
		defer keys.Close()
		readFrames(br, func(typ byte, p []byte) bool {
			switch typ {
			case frameInput:
				_, err := keys.Write(p)
				return err == nil
			case frameResize:
				if len(p) != 4 {
					return false
				}
				ws := WindowSize{int(binary.BigEndian.Uint16(p)), int(binary.BigEndian.Uint16(p[2:]))}
				select { // the newest size wins
				case <-resize:
				default:
				}
				resize <- ws
				return true
			}
			return false // a protocol error ends the session
		})
	}()
	t.In, t.Out, t.Resize = in, &deadlineWriter{c}, resize
	if err := w(ctx, t); err != nil {
		e.log.Warn("engine socket: attached terminal", "err", err)
	}
	in.Close()
	release()
	c.Close()
	<-done
}

// readFrames reads the client's frames until an error, or f says stop.
func readFrames(r *bufio.Reader, f func(typ byte, p []byte) bool) {
	var hdr [3]byte
	buf := make([]byte, maxFrame)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[1:]))
		if n > maxFrame {
			return
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return
		}
		if !f(hdr[0], buf[:n]) {
			return
		}
	}
}

// deadlineWriter gives every write to a client writeTimeout: a terminal
// that stops reading is dropped, the engine goes on.
type deadlineWriter struct{ c net.Conn }

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return d.c.Write(p)
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid " + id
}

// Attach attaches a terminal to the engine's wizard: in carries its keys,
// out receives the screen, resize its new sizes. It returns when the
// wizard ends the session (nil: the user detached) or ctx ends (the
// connection is closed: the engine detaches the terminal; nothing stops).
func (cl *Client) Attach(ctx context.Context, req AttachRequest, in io.Reader, out io.Writer, resize <-chan WindowSize) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", cl.Socket)
	if err != nil {
		return fmt.Errorf("engine socket %s: %w", cl.Socket, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(request{Op: "attach", Attach: &req}); err != nil {
		return fmt.Errorf("engine socket: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(acceptTimeout))
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("engine socket: the engine did not answer the attach: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("engine socket: bad answer: %w", err)
	}
	if r.Error != "" || !r.Attached {
		return &RemoteError{Msg: "attach: " + r.Error, Usage: r.Usage}
	}

	var wmu sync.Mutex
	frame := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		hdr := [3]byte{typ}
		binary.BigEndian.PutUint16(hdr[1:], uint16(len(p)))
		_, err := c.Write(append(hdr[:], p...))
		return err
	}
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := in.Read(buf)
			if n > 0 && frame(frameInput, buf[:n]) != nil {
				return
			}
			if err != nil {
				return
			}
		}
	}()
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case <-quit:
				return
			case ws, ok := <-resize:
				if !ok {
					return
				}
				var p [4]byte
				binary.BigEndian.PutUint16(p[:], uint16(min(ws.Width, 1<<15)))
				binary.BigEndian.PutUint16(p[2:], uint16(min(ws.Height, 1<<15)))
				if frame(frameResize, p[:]) != nil {
					return
				}
			}
		}
	}()
	_, err = io.Copy(out, br)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("engine socket: %w", err)
	}
	return nil
}
