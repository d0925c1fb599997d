package replication

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/noanswer"
)

// schedulerWith runs a scheduler with job (RPO an hour) until the test
// ends, its events in ev.
func schedulerWith(t *testing.T, job *Job) (*Scheduler, *events) {
	t.Helper()
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.Run(ctx)
	return s, ev
}

// TestSchedulerRetriesWhileTheReceiverIsDown: a pass that fails because
// the receiver does not answer (an appliance rebooting, a WAN link down for
// longer than the pass's own retries) does not pause the job for a person
// to resume: it is tried again later, less often each time, and goes on
// by itself once the receiver answers.
func TestSchedulerRetriesWhileTheReceiverIsDown(t *testing.T) {
	_, fs, rcv := setup(t, 2<<20)
	job := newJob(t, "vm", fs, rcv.addr)
	job.Retries = 1
	rcv.stop() // nothing listens at its address now
	s, ev := schedulerWith(t, job)
	failed := func(e Event) bool { return e.Kind == EventError && !e.NextPass.IsZero() }
	ev.wait(t, 1, failed)
	st := idleStatus(t, s)
	if st.Paused || st.Phase != JobReplicating || !strings.Contains(st.Waiting, "network error") {
		t.Fatalf("status after a pass the receiver did not answer: %+v, want replicating (not paused), waiting on the network", st)
	}
	first := time.Until(st.NextPass)
	if first <= 0 || first > transientRetryFirst {
		t.Fatalf("next try in %v, want within %v", first, transientRetryFirst)
	}
	// Failed again: the next try is later.
	if err := s.PassNow("vm"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 2, failed)
	st = idleStatus(t, s)
	if next := time.Until(st.NextPass); st.Paused || next <= transientRetryFirst || next > 2*transientRetryFirst {
		t.Fatalf("after a second failure in a row: %+v, next try in %v; want not paused, between %v and %v", st, next, transientRetryFirst, 2*transientRetryFirst)
	}
	// Stored for ferry status (written after the status changed).
	var stored string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if vs, _ := job.State.VM("vm"); strings.Contains(vs.Waiting, "2 pass(es) in a row") {
			stored = vs.Waiting
			break
		}
	}
	if stored == "" {
		t.Errorf("stored waiting reason: never counted the 2 failures in a row")
	}
	// The receiver is back: the next try completes the pass.
	rcv.restart()
	if err := s.PassNow("vm"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPassDone })
	if err := s.WaitIdle(context.Background(), "vm"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.Paused || st.Waiting != "" {
		t.Fatalf("status once the receiver answered: %+v", st)
	}
}

// TestSchedulerPausesWhenTheReceiverRefusesTheSender: a receiver that
// refuses the sender's certificate is no network failure to try again:
// the job pauses, saying why (a person must look).
func TestSchedulerPausesWhenTheReceiverRefusesTheSender(t *testing.T) {
	_, fs, rcv := setup(t, 2<<20)
	job := newJob(t, "vm", fs, rcv.addr)
	job.Retries = 1
	other, err := SelfSignedCert("another sender")
	if err != nil {
		t.Fatal(err)
	}
	job.TLS = testTLS(t).client.Clone()             // the receiver's pin ...
	job.TLS.Certificates = []tls.Certificate{other} // ... and a certificate it was not paired with
	s, ev := schedulerWith(t, job)
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPaused })
	if st := idleStatus(t, s); !st.Paused {
		t.Fatalf("status after the receiver refused the sender's certificate: %+v, want paused", st)
	}
}

// TestTransientErrors: which failures of a pass the scheduler tries again
// later (the network) and which pause the job (a person must look).
func TestTransientErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("connect to receiver: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{fmt.Errorf("receiver connection: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("list disks: %w", &url.Error{Op: "Post", URL: "https://vc/sdk", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}), true},
		{fmt.Errorf("vCenter: %w", noanswer.Error{Detail: "vc:443 took no TCP connection in 30s"}), true},
		{fmt.Errorf("receiver connection: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}), false},
		{fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{&RemoteError{Code: "io", Msg: "no space left on device"}, false},
		{fmt.Errorf("%w: block 3", ErrVerifyMismatch), false},
		{errors.New("something else"), false},
		{fmt.Errorf("connect to receiver: %w", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "receiver.example", IsNotFound: true}}), false},
		{fmt.Errorf("connect to receiver: %w", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "receiver.example", IsTimeout: true}}), true},
		{fmt.Errorf("connect to receiver: %w", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "receiver.example", IsTemporary: true}}), true},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
