package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	bm "github.com/charmbracelet/wish/bubbletea"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/tui"
)

// Limits of the SSH listener, all applied before authentication: a client
// must authenticate and open its session within sshHandshake; a session
// without traffic either way is closed after sshIdle; at most
// sshMaxConns connections at once (handshakes included).
const (
	sshHandshake = 10 * time.Second
	sshIdle      = 30 * time.Minute
	sshMaxConns  = 16
)

// Roles of an SSH session.
const (
	roleDriver = "driver"
	roleViewer = "viewer"
)

// authorizedKey is one line of --authorized-keys.
type authorizedKey struct {
	key     gossh.PublicKey
	comment string
	viewer  bool // command="view": this key only watches
}

// loadAuthorizedKeys reads an OpenSSH authorized_keys file. The one option
// ferry knows is command="view" (the key watches, whatever the client
// asks); any other option is refused, naming the line, so that a
// restriction meant for sshd is not silently dropped here.
func loadAuthorizedKeys(path string) ([]authorizedKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--authorized-keys: %w", err)
	}
	var out []authorizedKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, comment, opts, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("--authorized-keys %s line %d: %v (want an OpenSSH public key line: [command=\"view\"] ssh-ed25519 AAAA... comment)", path, n, err)
		}
		ak := authorizedKey{key: key, comment: comment}
		for _, o := range opts {
			switch o {
			case `command="view"`:
				ak.viewer = true
			case `command="drive"`:
			default:
				return nil, fmt.Errorf("--authorized-keys %s line %d: option %s: ferry knows command=\"view\" (the key only watches) and command=\"drive\"", path, n, o)
			}
		}
		out = append(out, ak)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--authorized-keys: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--authorized-keys %s: no keys (one OpenSSH public key per line)", path)
	}
	return out, nil
}

// sshWizard serves the wizard of an engine to SSH clients: one bubbletea
// model per session over the engine's shared env; one driver at a time,
// the other sessions watch.
type sshWizard struct {
	eng  *engine.Engine
	keys []authorizedKey
	plan string
	log  *slog.Logger

	conns  atomic.Int32
	mu     sync.Mutex
	driver string // the driving session's user, "" when none
}

func (w *sshWizard) lookup(key ssh.PublicKey) (authorizedKey, bool) {
	for _, ak := range w.keys {
		if ssh.KeysEqual(ak.key, key) {
			return ak, true
		}
	}
	return authorizedKey{}, false
}

// newSSHServer returns the SSH server of w on addr (its listener is the
// caller's), with hostKey (created, ed25519 and 0600, when missing).
func newSSHServer(w *sshWizard, hostKey string) (*ssh.Server, error) {
	srv, err := wish.NewServer(
		wish.WithHostKeyPath(hostKey),
		wish.WithPublicKeyAuth(func(ctx ssh.Context, key ssh.PublicKey) bool {
			_, ok := w.lookup(key)
			if !ok {
				w.log.Warn("ssh: key refused", "user", ctx.User(), "remote", ctx.RemoteAddr().String(), "fingerprint", gossh.FingerprintSHA256(key))
			}
			return ok
		}),
		wish.WithIdleTimeout(sshIdle),
		wish.WithMiddleware(
			bm.MiddlewareWithProgramHandler(w.program, termenv.ANSI256),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	srv.ConnCallback = w.admit
	return srv, nil
}

// admit bounds connections before anything else: their number, and the
// time to authenticate and open a session.
func (w *sshWizard) admit(ctx ssh.Context, c net.Conn) net.Conn {
	if w.conns.Add(1) > sshMaxConns {
		w.conns.Add(-1)
		w.log.Warn("ssh: connection refused: too many", "remote", c.RemoteAddr().String(), "max", sshMaxConns)
		return nil
	}
	hc := &handshakeConn{Conn: c, deadline: time.Now().Add(sshHandshake), release: func() { w.conns.Add(-1) }}
	_ = c.SetDeadline(hc.deadline)
	ctx.SetValue(handshakeKey{}, hc)
	return hc
}

type handshakeKey struct{}

// handshakeConn holds a connection to its handshake deadline until its
// session starts; the server's idle deadline applies after.
type handshakeConn struct {
	net.Conn
	deadline time.Time
	started  atomic.Bool
	once     sync.Once
	release  func()
}

func (c *handshakeConn) SetDeadline(t time.Time) error {
	if !c.started.Load() && (t.IsZero() || t.After(c.deadline)) {
		t = c.deadline
	}
	return c.Conn.SetDeadline(t)
}

func (c *handshakeConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// program is one session's wizard.
func (w *sshWizard) program(sess ssh.Session) *tea.Program {
	if hc, ok := sess.Context().Value(handshakeKey{}).(*handshakeConn); ok {
		hc.started.Store(true)
		_ = hc.SetDeadline(time.Now().Add(sshIdle))
	}
	ak, ok := w.lookup(sess.PublicKey())
	if !ok { // not reached: authentication checked it
		return nil
	}
	fp := gossh.FingerprintSHA256(ak.key)
	who := sess.User()
	if ak.comment != "" {
		who += " (" + ak.comment + ")"
	}
	role, why := roleDriver, ""
	switch cmd := strings.Join(sess.Command(), " "); {
	case ak.viewer:
		role, why = roleViewer, "this key only watches"
	case cmd == "view":
		role, why = roleViewer, "view mode"
	case cmd != "" && cmd != "drive":
		wish.Fatalf(sess, "ferry: unknown command %q: ssh … (the wizard; the first session drives) or ssh … -t view (watch only)\r\n", cmd)
		return nil
	}
	if _, _, ok := sess.Pty(); !ok {
		wish.Fatalln(sess, "ferry: the wizard needs a terminal: ssh -t …")
		return nil
	}
	if role == roleDriver {
		w.mu.Lock()
		if w.driver != "" {
			role, why = roleViewer, w.driver+" drives"
		} else {
			w.driver = who
		}
		w.mu.Unlock()
	}
	remote := sess.RemoteAddr().String()
	w.log.Info("ssh: session", "user", sess.User(), "comment", ak.comment, "fingerprint", fp, "role", role, "remote", remote)
	detach := w.eng.Attach(engine.Attachment{User: who, Fingerprint: fp, Role: role, Remote: remote})
	ctx, cancel := context.WithCancel(sess.Context())
	context.AfterFunc(ctx, func() {
		detach()
		if role == roleDriver {
			w.mu.Lock()
			w.driver = ""
			w.mu.Unlock()
		}
		w.log.Info("ssh: session ended", "user", sess.User(), "fingerprint", fp, "role", role)
	})

	env := w.eng.Env
	feed := tui.NewReplicationFeed(func(vm string) time.Duration {
		for _, v := range env.Plan.VMs {
			if v.Name == vm {
				return v.RPO.Duration()
			}
		}
		return 0
	})
	unsubscribe := w.eng.Subscribe(feed.Handle)
	context.AfterFunc(ctx, unsubscribe)
	feed.Seed(w.eng.Sched.Status())
	feeds := tui.Feeds{Replication: feed.Updates(),
		Pause:  func(_ context.Context, vm string) error { return w.eng.Sched.Pause(vm) },
		Resume: func(_ context.Context, vm string) error { return w.eng.Sched.Resume(vm) },
		Verify: func(_ context.Context, vm string) error { return env.VerifyNow(vm) },
	}
	if w.eng.Probes != nil {
		feeds.Probes = tui.ProbeFeed(ctx, w.eng.Probes.Subscribe(64), nil)
	}
	engineCtx := w.eng.Context()
	session := &tui.Session{Who: who, RunCtx: engineCtx, Emit: w.eng.StepEmit,
		Exclusive: func(who string) (func(), error) { return w.eng.Exclusive(who + " over SSH") },
		Others: func() []string {
			var o []string
			for _, a := range w.eng.Attached() {
				if a.Fingerprint == fp && a.Remote == remote {
					continue
				}
				o = append(o, fmt.Sprintf("%s (%s, key %s)", a.User, a.Role, a.Fingerprint))
			}
			return o
		}}
	if role == roleViewer {
		session.Viewer = why
	}
	deps := tui.Deps{Env: env, Itinerary: w.eng.Itinerary, Feeds: feeds, Session: session,
		SavePlan: func(pf *steps.PlanFile) error { return pf.Save(w.plan) }}
	model := tui.New(ctx, deps)
	opts := append(bm.MakeOptions(sess), tea.WithAltScreen(), tea.WithContext(ctx))
	p := tea.NewProgram(model, opts...)
	if pty, _, ok := sess.Pty(); ok {
		go p.Send(tea.WindowSizeMsg{Width: pty.Window.Width, Height: pty.Window.Height})
	}
	go func() {
		// The session's end (a dropped connection) ends the program; the
		// middleware's own wait covers the rest.
		<-sess.Context().Done()
		cancel()
	}()
	return p
}

// serveSSH serves the wizard on ln until ctx ends.
func serveSSH(ctx context.Context, srv *ssh.Server, ln net.Listener) error {
	// The wizard's styles render for the SSH clients' terminals, not for
	// this process's (which has none as a service).
	lipgloss.SetColorProfile(termenv.ANSI256)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
		return fmt.Errorf("ssh: %w", err)
	}
	return nil
}
