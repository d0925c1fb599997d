package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held, accepted = append(held, c), accepted+1 // never read, never answered
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
	cfg, err := config.Load(l.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnPrem.URL = "https://" + ln.Addr().String() + "/sdk"
	path := filepath.Join(t.TempDir(), "silent.yaml")
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	// Not a measure of ferry's speed: a bound far above its timeouts, so
	// that a ferry waiting for ever fails the test rather than hangs it.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, "--config", path, "plan", "--plan", l.PlanPath())
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ferry plan against a vCenter that never answers still waited after 8 minutes:\n%s", out)
	}
	if code := labtest.ExitCode(err); code != exitFailed {
		t.Errorf("ferry plan: exit %d, want %d:\n%s", code, exitFailed, out)
	}
	for _, want := range []string{"vCenter " + cfg.OnPrem.URL + " does not answer", "completed no TLS handshake", "check the URL's host and port"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ferry plan's output lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 1 {
		t.Errorf("the silent vCenter took %d connections, want 1 (waited for once, not once per step)", accepted)
	}
}
