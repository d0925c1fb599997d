package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/term"

	"github.com/ferry-migrate/ferry/engine"
)

// attachHelp is what the wizard's --help says about a running engine.
const attachHelp = `While a ferry serve engine runs for the state file, the wizard attaches to
it instead of starting its own: this terminal shows the engine's live
journey, as an SSH session of ferry serve --ssh would. It drives (answers,
steps, the cutover confirmation) unless another terminal, local or SSH,
already drives: then it watches, read-only (the same rule as over SSH: the
first terminal drives). With --view it only watches. Quitting the wizard
(q, ctrl+c) or closing the terminal detaches: the engine and its
replication go on. An engine that stops (or dies) ends the attached wizard,
which then says so and exits 1.`

// attachWizard attaches this terminal to the wizard of the engine cl
// reaches, until the wizard is quit (nil: detached) or ctx ends (a signal:
// the terminal detaches, the engine goes on).
func attachWizard(ctx context.Context, cl *engine.Client, view bool) error {
	in, out := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	width, height, err := term.GetSize(out)
	if err != nil {
		return fmt.Errorf("the terminal's size: %w", err)
	}
	old, err := term.MakeRaw(in)
	if err != nil {
		return fmt.Errorf("the terminal: %w", err)
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		// The engine's wizard leaves the alternate screen when it ends; a
		// connection cut before that must not leave this terminal in it.
		_, _ = os.Stdout.WriteString(ansi.ResetBracketedPasteMode + ansi.ShowCursor + ansi.ResetAltScreenSaveCursorMode)
		_ = term.Restore(in, old)
	}
	defer restore()

	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	resize := make(chan engine.WindowSize, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				if w, h, err := term.GetSize(out); err == nil {
					select {
					case resize <- engine.WindowSize{Width: w, Height: h}:
					case <-done:
						return
					}
				}
			}
		}
	}()
	err = cl.Attach(ctx, engine.AttachRequest{Width: width, Height: height, Term: os.Getenv("TERM"), View: view}, os.Stdin, os.Stdout, resize)
	restore()
	var re *engine.RemoteError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("detached from the ferry serve engine (%s), which goes on (ferry status --follow shows it): %w", cl.Socket, context.Cause(ctx))
	case errors.As(err, &re) && re.Usage:
		return usageError{err}
	case err != nil:
		return err
	}
	// The engine closes the connection when its wizard ends (quit), and
	// so does a dying engine: ask it whether it goes on before saying so
	// (QA: a killed engine read "which goes on", exit 0, its source down).
	alive, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := cl.Status(alive); err != nil {
		return fmt.Errorf("the ferry serve engine (%s) ended this terminal's wizard and no longer answers (%v): it has stopped, and nothing replicates for this plan now; ferry status shows what it left, ferry serve starts it again", cl.Socket, err)
	}
	fmt.Fprintf(os.Stderr, "ferry: detached from the ferry serve engine (%s), which goes on: ferry status --follow shows it\n", cl.Socket)
	return nil
}
