package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoEngine is an engine serving, over a socket in a temporary directory,
// a wizard that writes back what it is sent and the sizes it is given.
func echoEngine(t *testing.T) (*Client, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "plan.state.json")
	ln, err := Listen(state)
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{log: slog.New(slog.DiscardHandler)}
	e.ServeWizard(func(ctx context.Context, term *Terminal) error {
		fmt.Fprintf(term.Out, "hello %s %dx%d\n", term.User, term.Width, term.Height)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ws := <-term.Resize:
					fmt.Fprintf(term.Out, "size %dx%d\n", ws.Width, ws.Height)
				}
			}
		}()
		sc := bufio.NewScanner(term.In)
		for sc.Scan() {
			if sc.Text() == "quit" {
				return nil
			}
			fmt.Fprintf(term.Out, "key %s\n", sc.Text())
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return &Client{Socket: SocketPath(state)}, SocketPath(state)
}

// screen collects what an attached terminal was sent.
type screen struct {
	lines chan string
}

func (s *screen) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		s.lines <- l
	}
	return len(p), nil
}

func (s *screen) want(t *testing.T, line string) {
	t.Helper()
	select {
	case got := <-s.lines:
		if got != line {
			t.Fatalf("the terminal showed %q, want %q", got, line)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the terminal never showed %q", line)
	}
}

func TestAttachStreamsTheTerminal(t *testing.T) {
	cl, sock := echoEngine(t)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v, want mode 0600", sock, fi.Mode(), err)
	}
	keys, typing := io.Pipe()
	resize := make(chan WindowSize)
	scr := &screen{lines: make(chan string, 16)}
	done := make(chan error, 1)
	go func() {
		done <- cl.Attach(context.Background(), AttachRequest{Width: 100, Height: 30}, keys, scr, resize)
	}()
	scr.want(t, "hello "+userName(uint32(os.Getuid()))+" 100x30")
	io.WriteString(typing, "abc\n")
	scr.want(t, "key abc")
	resize <- WindowSize{140, 40}
	scr.want(t, "size 140x40")
	io.WriteString(typing, "quit\n")
	if err := <-done; err != nil {
		t.Errorf("the wizard ended the session: %v, want nil (detached)", err)
	}
}

func TestAttachLimits(t *testing.T) {
	cl, sock := echoEngine(t)
	// No size: refused before the terminal's stream starts.
	err := cl.Attach(context.Background(), AttachRequest{}, strings.NewReader(""), io.Discard, nil)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "width and height") {
		t.Errorf("attach without a size: %v", err)
	}

	// A frame over the limit ends the session.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	json.NewEncoder(c).Encode(request{Op: "attach", Attach: &AttachRequest{Width: 80, Height: 24}})
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, `"attached":true`) {
		t.Fatalf("attach: %q %v", line, err)
	}
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "hello") {
		t.Fatalf("the wizard's first line: %q", line)
	}
	hdr := []byte{frameInput, 0, 0}
	binary.BigEndian.PutUint16(hdr[1:], maxFrame+1)
	c.Write(append(hdr, make([]byte, maxFrame+1)...))
	c.SetReadDeadline(time.Now().Add(time.Minute))
	// (Closed with the frame unread: a reset, or an end of file.)
	if rest, err := io.ReadAll(br); (err != nil && !errors.Is(err, syscall.ECONNRESET)) || len(rest) != 0 {
		t.Errorf("after an oversized frame: %q %v, want the connection closed", rest, err)
	}

	// At most maxAttached terminals at once; the others are refused.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ends := make(chan error, maxAttached)
	for range maxAttached {
		scr := &screen{lines: make(chan string, 4)}
		keys, _ := io.Pipe()
		go func() { ends <- cl.Attach(ctx, AttachRequest{Width: 80, Height: 24}, keys, scr, nil) }()
		scr.want(t, "hello "+userName(uint32(os.Getuid()))+" 80x24")
	}
	err = cl.Attach(context.Background(), AttachRequest{Width: 80, Height: 24}, strings.NewReader(""), io.Discard, nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "terminals are attached already") {
		t.Errorf("attach %d: %v, want refused", maxAttached+1, err)
	}
	// The status still answers beside them.
	if _, err := cl.call(context.Background(), request{Op: "nope"}, func(reply) {}); err == nil || !strings.Contains(err.Error(), "attach") {
		t.Errorf("a bad request beside the attached terminals: %v", err)
	}
	cancel()
	for range maxAttached {
		if err := <-ends; !errors.Is(err, context.Canceled) {
			t.Errorf("a terminal detached by its context: %v", err)
		}
	}
}
