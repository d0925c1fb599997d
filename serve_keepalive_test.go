package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestServeSSHKeepaliveAndHandshakeLimit: a client that stops answering (its process
// stopped, its network gone without a FIN) loses its session after three
// unanswered keepalives, so the driver's role is free again at once, not
// after the 30-minute idle timeout; a client that answers stays.
func TestServeSSHKeepaliveAndHandshakeLimit(t *testing.T) {
	t.Parallel()
	l, run := engineLab(t)
	key := sshKey(t)
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keys, gossh.MarshalAuthorizedKey(key.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := run("serve", "--plan", l.PlanPath(), "--ssh", "127.0.0.1:0", "--authorized-keys", keys, "--ssh-keepalive", "-1s"); code != exitUsage || !strings.Contains(out, "--ssh-keepalive") {
		t.Fatalf("serve --ssh-keepalive -1s: exit %d\n%s", code, out)
	}
	srv := startServe(t, l, "--ssh", "127.0.0.1:0", "--authorized-keys", keys, "--ssh-keepalive", "300ms")
	sshAddr := sshAddrOf(t, srv.lines["ssh"])
	cfg := sshConfig("admin", key, hostPublicKey(t, filepath.Join(l.Dir, "plan.ssh_host_ed25519_key")))

	// The frozen client: a session with a terminal and a shell whose
	// channel requests nobody answers (its data is read, so only the
	// keepalives go unanswered).
	frozen, err := gossh.Dial("tcp", sshAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	ch, _, err := frozen.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, ch)
	pty := struct {
		Term                 string
		Cols, Rows, PxW, PxH uint32
		Modes                string
	}{"xterm-256color", 120, 40, 0, 0, ""}
	if ok, err := ch.SendRequest("pty-req", true, gossh.Marshal(&pty)); !ok || err != nil {
		t.Fatalf("pty-req: %v %v", ok, err)
	}
	if ok, err := ch.SendRequest("shell", true, nil); !ok || err != nil {
		t.Fatalf("shell: %v %v", ok, err)
	}
	// waitAttached waits until the sessions attached are one of wants
	// (each their roles, comma-separated).
	waitAttached := func(wants ...string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			doc := statusJSON(t, run, l.PlanPath())
			var roles []string
			if doc.Engine != nil {
				for _, a := range doc.Engine.Attached {
					roles = append(roles, a.Role)
				}
			}
			if slices.Contains(wants, strings.Join(roles, ",")) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("attached sessions: %v, want one of %q", roles, wants)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitAttached("driver")

	// A client that answers (x/crypto/ssh answers requests it does not know).
	viewer := attach(t, sshAddr, cfg, "view")
	defer viewer.client.Close()
	viewer.waitFor(t, "WATCHING")
	// The frozen driver may be gone already on a loaded machine (its
	// keepalives time out in about a second): the viewer stays either way.
	waitAttached("driver,viewer", "viewer")

	closed := make(chan error, 1)
	go func() { closed <- frozen.Wait() }()
	select {
	case <-closed:
	case <-time.After(2 * time.Minute):
		t.Fatal("the engine kept the session of a client that answers no keepalive")
	}
	waitAttached("viewer")
	// The engine's log says how the session ended, as an ordinary end; its
	// stderr has nothing of it (wish's own middleware wrote "app exit with
	// error ... context canceled" there).
	if errs := srv.stderr.String(); strings.Contains(errs, "app exit") || strings.Contains(errs, "context canceled") {
		t.Fatalf("the engine's stderr after a dropped session:\n%s", errs)
	}
	if log, err := os.ReadFile(filepath.Join(l.Dir, "ferry.log")); err != nil || !strings.Contains(string(log), "ssh: session ended: the connection closed") {
		t.Fatalf("the engine's log after a dropped session (%v):\n%s", err, log)
	}

	// The role is free: the next session drives.
	drv := attach(t, sshAddr, cfg, "")
	defer drv.client.Close()
	drv.waitFor(t, "DRIVER")
	waitAttached("viewer,driver")

	// Before authentication one address holds at most four connections:
	// the fifth from it is closed at once, another address gets in, and a
	// slot given back (a connection closed) lets the first in again.
	banner := func(from string) (net.Conn, bool) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", sshAddr)
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return c, err == nil && strings.HasPrefix(line, "SSH-2.0-")
	}
	var held []net.Conn
	for i := range 4 {
		c, ok := banner("127.0.0.1")
		if !ok {
			t.Fatalf("handshake %d of 4 from one address refused", i+1)
		}
		held = append(held, c)
	}
	if c, ok := banner("127.0.0.1"); ok {
		c.Close()
		t.Fatal("a fifth connection in its handshake from one address was let in")
	}
	if c, ok := banner("127.0.0.2"); !ok {
		t.Fatal("a connection from another address was refused")
	} else {
		c.Close()
	}
	held[0].Close()
	for deadline := time.Now().Add(time.Minute); ; {
		c, ok := banner("127.0.0.1")
		c.Close()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a handshake slot given back was never taken again")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range held[1:] {
		c.Close()
	}
}
