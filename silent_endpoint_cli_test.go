package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestSilentVCenterIsNotWaitedForEver: a vCenter URL at which something
// takes the TCP connection and never answers (a wrong port, a firewall that
// holds connections, a hung vCenter) ends `ferry plan` with exit 1 and a
// message naming the endpoint and what did not come, instead of holding it
// for ever (QA h8: govmomi's TLS dial has no timeout and ignores the
// context: `ferry plan` still waited after 5 minutes). The run's steps ask
// for the same vCenter; it is not waited for once per step.
func TestSilentVCenterIsNotWaitedForEver(t *testing.T) {
	t.Parallel() // a lab of its own; the command waits out the dial timeout
	silentEndpoint(t, "vCenter", "/sdk", func(c *config.Config, url string) { c.OnPrem.URL = url })
}

// TestSilentCloudDirectorIsNotWaitedForEver: the same of Cloud Director
// (QA h3: each step that logs in to it waited 15 s for a TLS handshake
// timeout, and said only that). The provider administrator and the tenant
// log in to the same Cloud Director: it is waited for once.
func TestSilentCloudDirectorIsNotWaitedForEver(t *testing.T) {
	t.Parallel()
	silentEndpoint(t, "Cloud Director", "/api", func(c *config.Config, url string) { c.VCD.URL, c.Tenant.URL = url, url })
}

// TestUnreachableVCenterIsNotWaitedForEver: a vCenter URL whose address
// takes no TCP connection (a wrong host, a firewall dropping the packets;
// here a listener whose queue is full, so the system drops the connect's
// packets) ends `ferry plan` with exit 1 and a message saying the TCP
// connection did not come, and why that happens, not that a TLS handshake
// did not (QA: it said "completed no TLS handshake" of a connect that timed
// out).
func TestUnreachableVCenterIsNotWaitedForEver(t *testing.T) {
	t.Parallel()
	unreachableEndpoint(t, "vCenter", "/sdk", func(c *config.Config, url string) { c.OnPrem.URL = url })
}

// TestUnreachableCloudDirectorIsNotWaitedForEver: the same of Cloud
// Director.
func TestUnreachableCloudDirectorIsNotWaitedForEver(t *testing.T) {
	t.Parallel()
	unreachableEndpoint(t, "Cloud Director", "/api", func(c *config.Config, url string) { c.VCD.URL, c.Tenant.URL = url, url })
}

// unreachableEndpoint runs `ferry plan` with the lab's config but for an
// endpoint (set by point) at a droppingListener: exit 1, a message naming
// product and the endpoint and that no TCP connection came.
func unreachableEndpoint(t *testing.T, product, path string, point func(c *config.Config, url string)) {
	sp := newPlanAt(t, droppingListener(t), path, point)
	out, err := sp.cmd.CombinedOutput()
	if sp.ctx.Err() != nil {
		t.Fatalf("ferry plan against a %s that takes no connection still waited after 8 minutes:\n%s", product, out)
	}
	if code := labtest.ExitCode(err); code != exitFailed {
		t.Errorf("ferry plan: exit %d, want %d:\n%s", code, exitFailed, out)
	}
	for _, want := range []string{product + " " + sp.url + " does not answer", "took no TCP connection within 30s (nothing answered the connect: a wrong host or port, or a firewall dropping the packets)", "check the URL's host and port (" + product + "'s API: https://HOST" + path} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ferry plan's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "TLS handshake") {
		t.Errorf("ferry plan speaks of a TLS handshake, though no TCP connection was made:\n%s", out)
	}
}

// droppingListener is a loopback address at which no TCP connect completes:
// a socket listening with a queue of one, filled by a connection never
// accepted, so that the system drops further connects' packets as a
// firewall does. It skips the test where the system does not.
func droppingListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	fill, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fill.Close() })
	// Not a measure: a connect that completes means the queue is not full
	// here (another system), and the test cannot make its case.
	if c, err := net.DialTimeout("tcp", addr, 3*time.Second); err == nil {
		c.Close()
		t.Skip("this system completes connects to a listener whose queue is full")
	}
	return addr
}

// silentEndpoint runs `ferry plan` with the lab's config but for an
// endpoint (set by point) at which a listener takes connections and never
// answers: exit 1, a message naming product and the endpoint, and one
// connection only.
func silentEndpoint(t *testing.T, product, path string, point func(c *config.Config, url string)) {
	sp := newSilentPlan(t, path, point)
	out, err := sp.cmd.CombinedOutput()
	if sp.ctx.Err() != nil {
		t.Fatalf("ferry plan against a %s that never answers still waited after 8 minutes:\n%s", product, out)
	}
	url, accepted := sp.url, sp.accepted
	if code := labtest.ExitCode(err); code != exitFailed {
		t.Errorf("ferry plan: exit %d, want %d:\n%s", code, exitFailed, out)
	}
	for _, want := range []string{product + " " + url + " does not answer", "took the TCP connection but completed no TLS handshake within 30s (what listens on that port is not the API's TLS listener, or the server hangs)", "check the URL's host and port (" + product + "'s API: https://HOST" + path} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ferry plan's output lacks %q:\n%s", want, out)
		}
	}
	if n := accepted(); n != 1 {
		t.Errorf("the silent %s took %d connections, want 1 (waited for once, not once per step)", product, n)
	}
}

// silentListener listens on a loopback address it returns, takes every
// connection and never answers. first is closed once it took one;
// accepted counts them.
func silentListener(t *testing.T) (addr string, first <-chan struct{}, accepted func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	took := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if len(held) == 0 {
				close(took)
			}
			held = append(held, c) // never read, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String(), took, func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}
}

// silentPlan is `ferry plan` of the plan of a lab of its own, with the
// lab's config but for an endpoint that point sets to url, at which a
// silentListener listens.
type silentPlan struct {
	cmd      *exec.Cmd
	ctx      context.Context // ends the command, should it hang
	url      string          // https://ADDR + path
	first    <-chan struct{} // closed once the listener took a connection
	accepted func() int      // how many it took
}

func newSilentPlan(t *testing.T, path string, point func(c *config.Config, url string)) *silentPlan {
	addr, first, accepted := silentListener(t)
	sp := newPlanAt(t, addr, path, point)
	sp.first, sp.accepted = first, accepted
	return sp
}

// newPlanAt is `ferry plan` of the plan of a lab of its own, with the lab's
// config but for an endpoint that point sets to https://addr + path.
func newPlanAt(t *testing.T, addr, path string, point func(c *config.Config, url string)) *silentPlan {
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	cfg, err := config.Load(l.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + addr + path
	point(cfg, url)
	conf := filepath.Join(t.TempDir(), "silent.yaml")
	if err := cfg.Save(conf); err != nil {
		t.Fatal(err)
	}
	// Not a measure of ferry's speed: a bound far above its timeouts, so
	// that a ferry waiting for ever fails the test rather than hangs it.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, ferryBin, "--config", conf, "plan", "--plan", l.PlanPath())
	cmd.Env = cleanEnv()
	return &silentPlan{cmd: cmd, ctx: ctx, url: url}
}
