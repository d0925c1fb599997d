package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferry-migrate/ferry/tui"
)

// TestExitCodeKeepsTheCause: only the operator aborts (a signal, ctrl+c in
// the wizard) exit 130; a context cancelled below ferry (the receiver lost
// during a pass or a verify) is a failure.
func TestExitCodeKeepsTheCause(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(live)
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{live, fmt.Errorf("cutover verify: receiver lost: %w", context.Canceled), exitFailed},
		{live, tui.ErrInterrupted, exitAborted},
		{stopped, fmt.Errorf("step 6: %w", context.Canceled), exitAborted},
		{live, usagef("bad"), exitUsage},
		{live, nil, exitOK},
	} {
		if got := exitCode(c.ctx, c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
