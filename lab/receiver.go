package lab

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/workload"
	"github.com/ferry-migrate/ferry/replication"
)

// startReplication gives the on-prem vCenter changed block tracking and a
// guest workload, and runs ferry's replication receiver as in the receiver
// appliance at the provider: an appliance receiver that finds the replica
// disks ferry hot-adds to the appliance VM under the by-id directory the
// lab's appliance kernel keeps. It has no datastore directory to write
// into. The receiver and its senders authenticate each other with
// certificates from the lab CA (mutual TLS); the sender's certificate
// grants it the tenant org's replica namespace only.
func (l *Lab) startReplication(ctx context.Context, rate int64) error {
	if l.Reach != nil {
		l.Reach.setImages(l.CBT.Images)
	}
	if rate > 0 {
		l.Workload = workload.Start(context.WithoutCancel(ctx), l.OnPrem.Model, workload.Options{Rate: rate, Write: l.guestWrite, Refused: stun})
	}

	serverCert, err := l.CA.Issue("ferry-receiver", "127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	l.SenderCert = filepath.Join(l.Dir, "sender.pem")
	l.SenderKey = filepath.Join(l.Dir, "sender-key.pem")
	if err := l.CA.IssueFiles(l.SenderCert, l.SenderKey, "ferry-sender", "ferry-sender", replication.NamespaceURI(TenantOrg, "*").String()); err != nil {
		return fmt.Errorf("lab sender certificate: %w", err)
	}
	l.receiver = &labReceiver{cfg: replication.ReceiverConfig{
		StateDir:  filepath.Join(l.Dir, "receiver-appliance", "var", "lib", "ferry-receiver"),
		Writer:    replication.ApplianceWriter{ByID: l.Appliance.ByID},
		TLS:       replication.CATLS(serverCert, l.CA.Pool, true, ""),
		Authorize: replication.CertNamespaces(),
		Log:       slog.New(slog.DiscardHandler),
	}}
	return l.receiver.start(l, "127.0.0.1:0")
}

// installTracking gives the on-prem vCenter changed block tracking (and
// disks that extend as on ESXi, tracking following). It wraps vCenter's
// calls, so it runs before any lab client calls in the background.
func (l *Lab) installTracking() {
	l.CBT = cbt.Install(l.OnPrem.Model)
	installDiskExtend(l.OnPrem, l.CBT)
	installAnswers(l.OnPrem) // a VM paused by a full datastore (guestWrite)
	// The receiver appliance paused by a full provider datastore
	// (appliancestun.go).
	installAnswers(l.Provider)
	// A snapshotted VM's delta takes datastore space as the guest writes.
	deltas := l.CBT.DeltaBytes
	l.OnPrem.storage.deltas.Store(&deltas)
	// Readers of a snapshotted VM's base get it as the snapshot froze it.
	l.OnPrem.ESX.SetFrozen(l.CBT.Reader)
	// Snapshot removals whose consolidation fails, ConsolidateVMDisks_Task.
	installConsolidations(l.OnPrem, l.CBT)
}

// labReceiver is the receiver process of the lab's receiver appliance.
type labReceiver struct {
	cfg  replication.ReceiverConfig
	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
}

func (r *labReceiver) start(l *Lab, addr string) error {
	rcv, err := replication.NewReceiver(r.cfg)
	if err != nil {
		return fmt.Errorf("lab replication receiver: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		rcv.Close()
		return fmt.Errorf("lab replication receiver: %w", err)
	}
	l.Receiver, l.ReceiverAddr = rcv, ln.Addr().String()
	// The receiver runs in the appliance: paused with it (appliancestun.go).
	ln = l.applianceGate().listener(ln)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		_ = rcv.Serve(ctx, ln)
	}()
	return nil
}

func (r *labReceiver) close(l *Lab) error {
	if r.stop == nil {
		return nil
	}
	r.stop()
	<-r.done
	r.stop = nil
	return l.Receiver.Close()
}

// RestartReceiver kills the receiver appliance's receiver process and
// starts it again on the same address, state and devices, as a reboot of
// the process (or the appliance) would.
func (l *Lab) RestartReceiver() error {
	r := l.receiver
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.close(l); err != nil {
		return err
	}
	return r.start(l, l.ReceiverAddr)
}

func (l *Lab) stopReplication() error {
	if l.Workload != nil {
		l.Workload.Stop()
	}
	if l.receiver != nil {
		l.receiver.mu.Lock()
		defer l.receiver.mu.Unlock()
		return l.receiver.close(l)
	}
	return nil
}
