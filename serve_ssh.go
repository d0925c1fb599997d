package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	bm "github.com/charmbracelet/wish/bubbletea"
	gossh "golang.org/x/crypto/ssh"
)

// Limits of the SSH listener, all applied before authentication: a client
// must authenticate and open its session within sshHandshake; a session
// without traffic either way is closed after sshIdle; at most
// sshMaxConns connections at once (handshakes included), and at most
// sshMaxPreauthPerIP of them from one address not yet past their handshake
// (one client cannot take every slot and keep the presenter out).
const (
	sshHandshake       = 10 * time.Second
	sshIdle            = 30 * time.Minute
	sshMaxConns        = 16
	sshMaxPreauthPerIP = 4
	// sshKeepalive is --ssh-keepalive's default.
	sshKeepalive = 15 * time.Second
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
	return parseAuthorizedKeys(path, b)
}

// parseAuthorizedKeys reads b, the authorized_keys file at path.
func parseAuthorizedKeys(path string, b []byte) ([]authorizedKey, error) {
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

// sshWizard serves the wizard of an engine to SSH clients, each session
// an attachment of the engine's served wizard.
type sshWizard struct {
	*servedWizard
	// keysPath is --authorized-keys, read again at each authentication
	// as sshd does: a key added is let in, a key removed refused from the
	// next login on, without a restart. keys is its last good reading;
	// keysRead the bytes it was read from ("" until the first reading by
	// lookup: keys holds the one ferry serve checked at its start).
	keysPath string
	keysMu   sync.Mutex
	keys     []authorizedKey
	keysRead string
	// keepalive: how often a session's client must answer (0: never
	// asked); sshKeepaliveMisses unanswered in a row end the session.
	keepalive time.Duration

	conns atomic.Int32
	// preauth counts, per remote address, the connections still in their
	// handshake.
	mu      sync.Mutex
	preauth map[string]int
}

// takePreauth takes one of ip's handshake slots; false: it has none left.
func (w *sshWizard) takePreauth(ip string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.preauth[ip] >= sshMaxPreauthPerIP {
		return false
	}
	if w.preauth == nil {
		w.preauth = map[string]int{}
	}
	w.preauth[ip]++
	return true
}

func (w *sshWizard) givePreauth(ip string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.preauth[ip]--; w.preauth[ip] <= 0 {
		delete(w.preauth, ip)
	}
}

func (w *sshWizard) lookup(key ssh.PublicKey) (authorizedKey, bool) {
	for _, ak := range w.authorizedKeys() {
		if ssh.KeysEqual(ak.key, key) {
			return ak, true
		}
	}
	return authorizedKey{}, false
}

// authorizedKeys reads --authorized-keys again. A file that cannot be
// read or parsed any more (removed, a line mistyped while it is edited)
// lets no key in until it is mended (said once in the log, as is each
// change): sessions already open go on; which keys a broken file meant to
// keep cannot be known.
func (w *sshWizard) authorizedKeys() []authorizedKey {
	if w.keysPath == "" {
		return w.keys
	}
	w.keysMu.Lock()
	defer w.keysMu.Unlock()
	b, err := os.ReadFile(w.keysPath)
	read := string(b)
	if err != nil {
		read = "error: " + err.Error()
	}
	if read == w.keysRead {
		return w.keys
	}
	first := w.keysRead == ""
	w.keysRead = read
	var keys []authorizedKey
	if err == nil {
		keys, err = parseAuthorizedKeys(w.keysPath, b)
	} else {
		err = fmt.Errorf("--authorized-keys: %w", err)
	}
	if err != nil {
		w.keys = nil
		w.log.Error("ssh: --authorized-keys cannot be read: every key is refused until it is mended (sessions open go on)", "error", err)
		return nil
	}
	if !first {
		w.log.Info("ssh: --authorized-keys changed: read again", "keys", len(keys), "file", w.keysPath)
	}
	w.keys = keys
	return keys
}

// readHostKey reads the SSH host key at path (what names it: flag): it
// must exist, parse, and be readable by its owner only, as sshd wants.
func readHostKey(flag, path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: no such file (the engine's SSH host key; without --host-key ferry serve creates and keeps one beside the state file)", flag, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s %s: a directory, not a private key file", flag, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s: mode %04o: a private key must be readable by its owner only (chmod 600 %s)", flag, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if _, err := gossh.ParsePrivateKey(b); err != nil {
		return nil, fmt.Errorf("%s %s: not an SSH private key without a passphrase: %v", flag, path, err)
	}
	return b, nil
}

// defaultHostKey reads the host key at path beside the state file, or
// creates it (ed25519, 0600, and path.pub) on first use. It changes
// nothing else: the directory's mode is the operator's.
func defaultHostKey(path string) ([]byte, error) {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return readHostKey("ssh host key", path)
	}
	if err := writeSSHKey(path, ""); err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	return readHostKey("ssh host key", path)
}

// writeSSHKey writes a new ed25519 private key at path (OpenSSH format,
// 0600; never over an existing file) and its public key at path.pub.
func writeSSHKey(path, comment string) error {
	pk, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	blk, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(pem.EncodeToMemory(blk)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	pub, err := gossh.NewPublicKey(pk)
	if err != nil {
		return err
	}
	line := gossh.MarshalAuthorizedKey(pub)
	if comment != "" {
		line = append(line[:len(line)-1], " "+comment+"\n"...)
	}
	return os.WriteFile(path+".pub", line, 0o600)
}

// newSSHServer returns the SSH server of w (its listener is the caller's)
// with the host key hostKey (PEM).
func newSSHServer(w *sshWizard, hostKey []byte) (*ssh.Server, error) {
	srv, err := wish.NewServer(
		wish.WithHostKeyPEM(hostKey),
		wish.WithPublicKeyAuth(func(ctx ssh.Context, key ssh.PublicKey) bool {
			_, ok := w.lookup(key)
			if !ok {
				w.log.Warn("ssh: key refused", "user", ctx.User(), "remote", ctx.RemoteAddr().String(), "fingerprint", gossh.FingerprintSHA256(key))
			}
			return ok
		}),
		wish.WithIdleTimeout(sshIdle),
		wish.WithMiddleware(w.wizardMiddleware),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	srv.ConnCallback = w.admit
	return srv, nil
}

// wizardMiddleware runs a session's wizard, as wish's bubbletea middleware
// does, but says how the session ended in ferry's log: a session its client
// closed or dropped is an ordinary end (wish's middleware logs it as "app
// exit with error ... context canceled" to its own logger).
func (w *sshWizard) wizardMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		p := w.program(sess)
		if p == nil {
			next(sess)
			return
		}
		_, resized, _ := sess.Pty() // program refused a session without one
		ctx, cancel := context.WithCancel(sess.Context())
		go func() {
			for {
				select {
				case <-ctx.Done():
					p.Quit()
					return
				case win := <-resized:
					p.Send(tea.WindowSizeMsg{Width: win.Width, Height: win.Height})
				}
			}
		}()
		_, err := p.Run()
		p.Kill() // restores the terminal if the wizard panicked
		cancel()
		attrs := []any{"user", sess.User(), "remote", sess.RemoteAddr().String()}
		switch {
		case err == nil:
			w.log.Info("ssh: session ended", attrs...)
		case errors.Is(err, tea.ErrProgramKilled) && sess.Context().Err() != nil:
			w.log.Info("ssh: session ended: the connection closed", attrs...)
		default:
			w.log.Error("ssh: session ended: the wizard failed", append(attrs, "error", err)...)
		}
		next(sess)
	}
}

// admit bounds connections before anything else: their number, and the
// time to authenticate and open a session.
func (w *sshWizard) admit(ctx ssh.Context, c net.Conn) net.Conn {
	if w.conns.Add(1) > sshMaxConns {
		w.conns.Add(-1)
		w.log.Warn("ssh: connection refused: too many", "remote", c.RemoteAddr().String(), "max", sshMaxConns)
		return nil
	}
	ip := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	if !w.takePreauth(ip) {
		w.conns.Add(-1)
		w.log.Warn("ssh: connection refused: too many handshakes from one address", "remote", c.RemoteAddr().String(), "max", sshMaxPreauthPerIP)
		return nil
	}
	hc := &handshakeConn{Conn: c, deadline: time.Now().Add(sshHandshake), release: func() { w.conns.Add(-1) }, handshook: func() { w.givePreauth(ip) }}
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
	// handshook gives back the address's handshake slot (once: at the
	// session's start, or at the close of one that never started).
	handshook     func()
	handshookOnce sync.Once
}

// start marks the handshake done: the session runs.
func (c *handshakeConn) start() {
	c.started.Store(true)
	c.handshookOnce.Do(c.handshook)
}

func (c *handshakeConn) SetDeadline(t time.Time) error {
	if !c.started.Load() && (t.IsZero() || t.After(c.deadline)) {
		t = c.deadline
	}
	return c.Conn.SetDeadline(t)
}

func (c *handshakeConn) Close() error {
	c.handshookOnce.Do(c.handshook)
	c.once.Do(c.release)
	return c.Conn.Close()
}

// program is one session's wizard.
func (w *sshWizard) program(sess ssh.Session) *tea.Program {
	if hc, ok := sess.Context().Value(handshakeKey{}).(*handshakeConn); ok {
		hc.start()
		_ = hc.SetDeadline(time.Now().Add(sshIdle))
	}
	ak, ok := w.lookup(sess.PublicKey())
	if !ok { // removed from --authorized-keys since it authenticated
		wish.Fatalln(sess, "ferry: this key is no longer in --authorized-keys")
		return nil
	}
	a := attachee{who: sess.User(), fingerprint: gossh.FingerprintSHA256(ak.key), remote: sess.RemoteAddr().String(), via: "ssh"}
	if ak.comment != "" {
		a.who += " (" + ak.comment + ")"
	}
	switch cmd := strings.Join(sess.Command(), " "); {
	case ak.viewer:
		a.viewer = "this key only watches"
	case cmd == "view":
		a.viewer = "view mode"
	case cmd != "" && cmd != "drive":
		wish.Fatalf(sess, "ferry: unknown command %q: ssh … (the wizard; the first session drives) or ssh … -t view (watch only)\r\n", cmd)
		return nil
	}
	pty, _, ok := sess.Pty()
	if !ok {
		wish.Fatalln(sess, "ferry: the wizard needs a terminal: ssh -t …")
		return nil
	}
	w.log.Info("ssh: session", "user", sess.User(), "comment", ak.comment, "fingerprint", a.fingerprint, "remote", a.remote)
	p, cancel := w.attach(sess.Context(), a, bm.MakeOptions(sess)...)
	go p.Send(tea.WindowSizeMsg{Width: pty.Window.Width, Height: pty.Window.Height})
	go func() {
		// The session's end (a dropped connection) ends the program; the
		// middleware's own wait covers the rest.
		<-sess.Context().Done()
		cancel()
	}()
	if w.keepalive > 0 {
		go w.keepAlive(sess)
	}
	return p
}

// sshKeepaliveMisses is how many keepalives in a row a client may leave
// unanswered before its session ends.
const sshKeepaliveMisses = 3

// keepAlive asks the session's client for an answer every w.keepalive
// (keepalive@openssh.com, as OpenSSH's ClientAliveInterval does) and ends
// the connection after sshKeepaliveMisses unanswered: a client gone
// without closing (network lost, laptop asleep, process stopped) does not
// keep the driver's role until the idle timeout.
func (w *sshWizard) keepAlive(sess ssh.Session) {
	ctx := sess.Context()
	tick := time.NewTicker(w.keepalive)
	defer tick.Stop()
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		answered := make(chan error, 1)
		go func() {
			// Any answer counts (OpenSSH answers "failure"); one request
			// is in flight at a time on the channel.
			_, err := sess.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case <-ctx.Done():
			return
		case err := <-answered:
			if err == nil {
				missed = 0
				continue
			}
			missed = sshKeepaliveMisses
		case <-time.After(w.keepalive):
			missed++
		}
		if missed >= sshKeepaliveMisses {
			w.log.Warn("ssh: session ended: its client stopped answering keepalives", "user", sess.User(), "remote", sess.RemoteAddr().String(), "every", w.keepalive, "missed", missed)
			if hc, ok := ctx.Value(handshakeKey{}).(*handshakeConn); ok {
				hc.Close()
			} else {
				sess.Close()
			}
			return
		}
	}
}

// serveSSH serves the wizard on ln until ctx ends.
func serveSSH(ctx context.Context, srv *ssh.Server, ln net.Listener) error {
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
