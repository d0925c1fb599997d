package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-migrate/ferry/accept"
	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/steps"
)

// The socket protocol: the client writes one JSON request line; the engine
// answers with JSON lines: events (a run), then one final reply.
type request struct {
	Op     string         `json:"op"`             // "status", "plan", "run", "attach", "pause" or "resume"
	Redo   string         `json:"redo,omitempty"` // plan: as --redo would run
	Run    *RunRequest    `json:"run,omitempty"`
	Attach *AttachRequest `json:"attach,omitempty"`
	// VMs are the VMs to pause or resume, as ferry pause or resume was
	// given them (steps.ControlNames).
	VMs []string `json:"vms,omitempty"`
}

type reply struct {
	Event   *steps.Event    `json:"event,omitempty"`
	Status  *Status         `json:"status,omitempty"`
	Outcome *steps.Outcome  `json:"outcome,omitempty"`
	Plans   []steps.PlanDoc `json:"plans,omitempty"`
	// Endpoints are the engine's, with a plan (where each came from).
	Endpoints []config.Origin `json:"endpoints,omitempty"`
	Error     string          `json:"error,omitempty"`
	Usage     bool            `json:"usage,omitempty"` // the error is bad input (exit 2)
	// Attached accepts an attach: the terminal's stream follows.
	Attached bool `json:"attached,omitempty"`
	// Lines say what a pause or a resume did, a line per VM.
	Lines []string `json:"lines,omitempty"`
	Final bool     `json:"final,omitempty"`
}

// Limits of the socket listener: it is owner-only (0600), but a stuck or
// buggy client must not hold the engine.
const (
	maxClients     = 16
	requestTimeout = 5 * time.Second
	maxRequest     = 64 << 10
	writeTimeout   = 10 * time.Second
)

// Listen opens the engine's Unix socket for statePath, owner only (0600). A
// socket file left by an engine that died (kill -9) is replaced: the
// caller holds the state lock, so no other engine serves this plan.
func Listen(statePath string) (net.Listener, error) {
	path := SocketPath(statePath)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("engine socket: %w", err)
	}
	old := syscall.Umask(0o177) // created 0600, not chmod-ed after a window
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("engine socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("engine socket: %w", err)
	}
	return ln, nil
}

// Serve answers clients on ln until ctx ends.
func (e *Engine) Serve(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	sem := make(chan struct{}, maxClients)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Out of file descriptors or another passing failure: accept.Next
		// waits and accepts again rather than leave every client without
		// its engine.
		c, ok := accept.Next(ctx, ln, nil)
		if !ok {
			return nil
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close() // too many clients at once
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer c.Close()
			e.serveConn(ctx, c)
		}()
	}
}

// sameUser says whether the peer of a Unix connection runs as this
// process's user (the socket is 0600 already; this is the second lock).
func sameUser(c net.Conn) bool {
	cred, ok := peer(c)
	return ok && int(cred.Uid) == os.Getuid()
}

// peer is the credentials of a Unix connection's peer process.
func peer(c net.Conn) (unix.Ucred, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return unix.Ucred{}, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return unix.Ucred{}, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || cerr != nil {
		return unix.Ucred{}, false
	}
	return *cred, true
}

func (e *Engine) serveConn(ctx context.Context, c net.Conn) {
	if !sameUser(c) {
		e.log.Warn("engine socket: a client of another user was refused")
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(requestTimeout))
	lr := &io.LimitedReader{R: c, N: maxRequest}
	br := bufio.NewReaderSize(lr, 4096)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var mu sync.Mutex
	enc := json.NewEncoder(c)
	dead := false
	send := func(r reply) bool {
		mu.Lock()
		defer mu.Unlock()
		if dead {
			return false
		}
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := enc.Encode(r); err != nil {
			dead = true // the client went away; the engine goes on
		}
		return !dead
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		send(reply{Error: "bad request: " + err.Error(), Final: true})
		return
	}
	switch req.Op {
	case "status":
		st, err := e.Status(time.Now())
		r := reply{Status: &st, Final: true}
		if err != nil {
			r.Error = err.Error()
		}
		send(r)
	case "plan":
		plans, err := e.Plan(ctx, req.Redo)
		r := reply{Plans: steps.PlanDocs(plans), Endpoints: e.Env.Config.Origins(), Final: true}
		if err != nil {
			r.Error = err.Error()
			var ue UsageError
			r.Usage = errors.As(err, &ue)
		}
		send(r)
	case "run":
		if req.Run == nil {
			send(reply{Error: "bad request: run without parameters", Final: true})
			return
		}
		// The run belongs to the engine, not to the connection: a client
		// that goes away (ctrl+c, a dropped session) does not stop it.
		out, err := e.Run(ctx, *req.Run, func(ev steps.Event) { send(reply{Event: &ev}) })
		r := reply{Outcome: &out, Final: true}
		if err != nil {
			r.Error = err.Error()
			var ue UsageError
			r.Usage = errors.As(err, &ue)
		}
		send(r)
	case "attach":
		e.attach(ctx, c, br, lr, req.Attach, send)
	case "pause", "resume":
		// Who asks is the peer's user, as the kernel says, not what
		// the client claims.
		cred, _ := peer(c)
		lines, err := e.Control(req.Op == "pause", req.VMs, userName(cred.Uid)+" (ferry "+req.Op+")")
		r := reply{Lines: lines, Final: true}
		if err != nil {
			r.Error = err.Error()
			var ue UsageError
			r.Usage = errors.As(err, &ue)
		}
		send(r)
	default:
		send(reply{Error: fmt.Sprintf("bad request: op %q (want status, plan, run, attach, pause or resume)", req.Op), Final: true})
	}
}

// ErrNotRunning is returned by Dial when no engine serves the state file.
var ErrNotRunning = errors.New("no ferry serve engine runs for this state file")

// Client talks to a running engine.
type Client struct {
	Socket string
}

// Dial finds the engine serving statePath: ErrNotRunning when there is
// none (no socket, or one an engine that died left behind).
func Dial(statePath string) (*Client, error) {
	path := SocketPath(statePath)
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("engine socket %s: %w", path, err)
	}
	c.Close()
	return &Client{Socket: path}, nil
}

// ErrEngineGone is matched (errors.Is) by a call whose engine closed the
// connection before its answer: it stopped, or was killed, meanwhile.
var ErrEngineGone = errors.New("the engine closed the connection before answering")

// RemoteError is an error the engine reported.
type RemoteError struct {
	Msg   string
	Usage bool
}

func (r *RemoteError) Error() string { return r.Msg }

func (cl *Client) call(ctx context.Context, req request, each func(reply)) (reply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", cl.Socket)
	if err != nil {
		return reply{}, fmt.Errorf("engine socket %s: %w", cl.Socket, err)
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return reply{}, fmt.Errorf("engine socket: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var r reply
		if err := dec.Decode(&r); err != nil {
			if ctx.Err() != nil {
				return reply{}, ctx.Err()
			}
			return reply{}, fmt.Errorf("engine socket: %w: %w", ErrEngineGone, err)
		}
		if !r.Final {
			each(r)
			continue
		}
		if r.Error != "" {
			return r, &RemoteError{Msg: r.Error, Usage: r.Usage}
		}
		return r, nil
	}
}

// Status asks the engine for its status document. A document comes back
// with an error when the jobs could not be read.
func (cl *Client) Status(ctx context.Context) (Status, error) {
	r, err := cl.call(ctx, request{Op: "status"}, func(reply) {})
	if r.Status != nil {
		return *r.Status, err
	}
	return Status{}, err
}

// Run asks the engine to run the steps; emit receives their events. If ctx
// ends first, the client stops listening: the run goes on in the engine.
func (cl *Client) Run(ctx context.Context, req RunRequest, emit steps.Emit) (steps.Outcome, error) {
	r, err := cl.call(ctx, request{Op: "run", Run: &req}, func(r reply) {
		if r.Event != nil {
			emit(*r.Event)
		}
	})
	if r.Outcome != nil {
		return *r.Outcome, err
	}
	return steps.Outcome{}, err
}

// Control asks the engine to pause (or resume) the replication of vms, as
// ferry pause (or resume) was given them; the lines say what it did, a
// line per VM. A refusal is a RemoteError with Usage set: nothing was
// changed.
func (cl *Client) Control(ctx context.Context, pause bool, vms []string) ([]string, error) {
	op := "resume"
	if pause {
		op = "pause"
	}
	r, err := cl.call(ctx, request{Op: op, VMs: vms}, func(reply) {})
	return r.Lines, err
}

// Plan asks the engine for the plans of its itinerary's steps (it changes
// nothing), given back as steps of it (the client's; both are
// steps.NewItinerary), and the endpoints the engine uses. The error is the
// engine's, as PlanAll's.
func (cl *Client) Plan(ctx context.Context, it steps.Itinerary, redo string) ([]steps.StagePlan, []config.Origin, error) {
	r, err := cl.call(ctx, request{Op: "plan", Redo: redo}, func(reply) {})
	byID := map[string]steps.Step{}
	for _, st := range it {
		byID[st.Step.ID()] = st.Step
	}
	var out []steps.StagePlan
	for _, w := range r.Plans {
		st, ok := byID[w.Step]
		if !ok {
			return out, r.Endpoints, fmt.Errorf("the engine planned a step this ferry does not know: %q (another ferry version?)", w.Step)
		}
		sp := steps.StagePlan{Index: w.Index, Of: len(it), Step: st, Status: w.Status, Skipped: w.Skipped, Redo: w.Redo, Plan: steps.Plan{Step: w.Step, Items: w.Items}}
		if w.Error != "" {
			sp.Err = errors.New(w.Error)
		}
		out = append(out, sp)
	}
	return out, r.Endpoints, err
}
