package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSignalRules: the first SIGINT, SIGTERM or SIGHUP stops ferry (its
// context cancelled, the signal named as the cause, nothing more said); a
// SIGHUP after it never counts; the next SIGINT or SIGTERM says ferry is
// still stopping, and the one after exits at once (130). CI once saw the
// first SIGTERM counted twice, when it reached two channels in turn.
func TestSignalRules(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal)
	var mu sync.Mutex
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go stopOnSignals(cancel, sigs, writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return stderr.Write(p)
	}), func(code int) { exited <- code })
	said := func() string {
		mu.Lock()
		defer mu.Unlock()
		return stderr.String()
	}
	send := func(sig os.Signal) {
		t.Helper()
		select {
		case sigs <- sig:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v not taken: ferry no longer reads signals (said %q)", sig, said())
		}
	}
	send(syscall.SIGTERM)
	<-ctx.Done()
	if cause := context.Cause(ctx); cause == nil || cause.Error() != "terminated signal received" {
		t.Errorf("cause after SIGTERM: %v, want \"terminated signal received\"", cause)
	}
	send(syscall.SIGHUP) // taken: an unbuffered send returns once it is received
	if s := said(); s != "" {
		t.Errorf("after one SIGTERM and a SIGHUP ferry said %q, want nothing (one interrupt so far)", s)
	}
	send(os.Interrupt)
	send(syscall.SIGHUP) // the second interrupt is handled before this is received
	if s := said(); !strings.Contains(s, "ferry: still stopping") || strings.Contains(s, "exiting now") {
		t.Errorf("after the second interrupt ferry said %q, want only that it is still stopping", s)
	}
	select {
	case code := <-exited:
		t.Fatalf("exited (%d) after two interrupts", code)
	default:
	}
	send(syscall.SIGTERM)
	select {
	case code := <-exited:
		if code != exitAborted {
			t.Errorf("exit %d after the third interrupt, want %d", code, exitAborted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after the third interrupt")
	}
	if s := said(); !strings.Contains(s, "ferry: exiting now, without waiting") {
		t.Errorf("after the third interrupt ferry said %q", s)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
