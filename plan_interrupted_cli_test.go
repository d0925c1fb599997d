package main

import (
	"bytes"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestPlanInterrupted: `ferry plan` stopped by SIGTERM while it plans step
// 1 (its Cloud Director takes the connection and has not answered yet)
// exits 130 and says it was interrupted, in which step, which steps it did
// not plan, and that nothing was changed; the step is numbered of the
// whole itinerary (QA h3: "[1/2]" of eight steps, and only "context
// canceled").
func TestPlanInterrupted(t *testing.T) {
	t.Parallel() // a lab of its own
	sp := newSilentPlan(t, "/api", func(c *config.Config, url string) { c.VCD.URL, c.Tenant.URL = url, url })
	cmd, ctx := sp.cmd, sp.ctx
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sp.first: // step 1 waits for Cloud Director
	case <-ctx.Done():
		t.Fatal("ferry plan never connected to Cloud Director")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("ferry plan did not stop on SIGTERM:\n%s%s", &stdout, &stderr)
	}
	if code := labtest.ExitCode(err); code != exitAborted {
		t.Errorf("exit %d, want %d:\n%s%s", code, exitAborted, &stdout, &stderr)
	}
	for _, want := range []string{"[1/8] Rights\n", "    interrupted: not planned to its end\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
	}
	want := "ferry: interrupted (terminated signal received) while planning step 1 of 8 (Rights); steps 2 to 8 were not planned: nothing was changed (ferry plan changes nothing, not even the state file)"
	if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("stderr does not say %q (and never context canceled):\n%s", want, &stderr)
	}
}
