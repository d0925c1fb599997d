package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/tlsconf"
	"github.com/spf13/cobra"
)

type receiverFlags struct {
	listen, kind  string
	stateDir      string
	byID, dsDir   string
	cert, key, ca string
	pins          []string
}

func newReceiverCmd(g *globalFlags) *cobra.Command {
	var f receiverFlags
	var endpointFlags func() error
	cmd := &cobra.Command{
		Use:   "receiver --listen ADDR --state-dir DIR [--kind appliance|nfs] (--ca FILE | --pin FP=ORG/VM ...)",
		Short: "Provider-side replication receiver (runs in the receiver appliance)",
		Long: `Run the provider-side end of ferry replication: accept senders over mutual
TLS 1.3, write their extents in place into replica disks, sync, acknowledge,
and answer block-hash and verify queries. Runs until interrupted.

The replica disks are created by the provider vCenter (thin, in
[datastore] ferry-replicas/<org>/<vm>/<vm>_<n>.vmdk); the receiver never creates
a disk, a descriptor or a datastore file. Two kinds:

  --kind appliance (default)
      The receiver runs inside the receiver appliance: a small Linux VM at the
      provider, named in the plan (provider.receiver_vm). ferry hot-adds each
      replica disk to that VM before a pass (no copy) and detaches it at
      cutover to give it to the migrated VM. The receiver finds each disk by
      its UUID under --by-id (wwn-0x<uuid> or scsi-3<uuid>) and writes it with
      pwrite + fdatasync. The appliance VM needs: a Linux image with udev
      (any current distribution), disk.EnableUUID=TRUE in its advanced
      configuration (without it Linux lists no disk UUIDs and the receiver
      finds nothing), a SCSI controller with free slots (pvscsi), the ferry
      binary run as a user that may open the disks (root, or the disk group),
      and a network that the senders on-prem reach on --listen's port.
  --kind nfs
      The receiver runs on a host that mounts the NFS export of the provider
      datastore read-write at --datastore-dir. vCenter still creates the disks;
      the receiver writes only into the flat extent named by each disk's
      descriptor. The plan sets provider.receiver_kind: nfs and
      provider.datastore to that NFS datastore, which must back the provider
      VDC. (VMFS and vSAN datastores cannot be written this way.)

Replicas are namespaced per org and VM. A sender may write only the
namespaces its identity grants:
  --ca FILE        senders present certificates signed by this CA; a
                   certificate grants the namespaces of its URI SANs
                   ferry://replicas/<org>/<vm> or ferry://replicas/<org>/*
  --pin FP=ORG/VM  pair one sender certificate by its SHA-256 fingerprint for
                   ORG/VM or ORG/* (repeatable)
A replica disk written for one namespace is never opened for another.

Ports and certificates: the receiver listens on --listen (TCP, e.g. :8444;
open it from the on-prem senders only). It presents --cert/--key, or a
self-signed certificate kept in --state-dir (0600 key) whose fingerprint it
prints for senders to pin (FERRY_RECEIVER_PIN). State (bbolt) lives in
--state-dir (e.g. /var/lib/ferry-receiver). Logs go to stderr, or with
--log-file to that file (0600). A start that is refused (a flag, the kind's
preconditions, --ca) creates nothing: no --state-dir, no key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := endpointFlags(); err != nil {
				return err
			}
			return runReceiver(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "address to listen on, e.g. :8444 or 10.0.0.5:8444 (required)")
	fl.StringVar(&f.kind, "kind", replication.KindAppliance, "receiver kind: appliance (writes disks hot-added to this VM) or nfs (writes flat extents on a mounted NFS datastore)")
	fl.StringVar(&f.stateDir, "state-dir", "", "directory for the receiver state and its self-signed certificate, e.g. /var/lib/ferry-receiver (required)")
	fl.StringVar(&f.byID, "by-id", replication.DefaultByID, "appliance: where the kernel lists disks by identity")
	fl.StringVar(&f.dsDir, "datastore-dir", "", "nfs: where the provider's NFS datastore is mounted (read-write)")
	fl.StringVar(&f.cert, "cert", "", "receiver certificate (PEM); default: self-signed, kept in --state-dir")
	fl.StringVar(&f.key, "key", "", "receiver private key (PEM), with --cert")
	fl.StringVar(&f.ca, "ca", "", "CA certificate(s) (PEM) that sign sender certificates (namespaces from their ferry://replicas URIs)")
	fl.StringSliceVar(&f.pins, "pin", nil, "FINGERPRINT=ORG/VM (or ORG/*): a sender certificate's SHA-256 fingerprint and the namespace it may write (repeatable)")
	// The receiver has no state file to log beside: the global flag's
	// default does not hold here.
	fl.StringVar(&g.logFile, "log-file", "", "write logs to this file, mode 0600 (default: stderr)")
	endpointFlags = notForEndpoints(cmd, "the receiver talks to no endpoint: its flags are all it takes",
		"the receiver has no server to verify; it authenticates its senders by --ca or --pin, which cannot be skipped")
	return cmd
}

func runReceiver(cmd *cobra.Command, g *globalFlags, f receiverFlags) error {
	switch {
	case f.listen == "":
		return usagef("--listen is required (e.g. --listen :8444)")
	case f.stateDir == "":
		return usagef("--state-dir is required (e.g. --state-dir /var/lib/ferry-receiver)")
	case (f.cert == "") != (f.key == ""):
		return usagef("--cert and --key go together")
	case f.ca == "" && len(f.pins) == 0:
		return usagef("senders must be authenticated: give --ca FILE or --pin FINGERPRINT=ORG/VM")
	case f.ca != "" && len(f.pins) > 0:
		return usagef("give either --ca or --pin, not both")
	}
	var writer replication.ReplicaWriter
	switch f.kind {
	case replication.KindAppliance:
		if f.dsDir != "" {
			return usagef("--datastore-dir is for --kind nfs")
		}
		writer = replication.ApplianceWriter{ByID: f.byID}
	case replication.KindNFS:
		if f.dsDir == "" {
			return usagef("--kind nfs needs --datastore-dir (where the provider's NFS datastore is mounted)")
		}
		writer = replication.NFSWriter{Dir: f.dsDir}
	default:
		return usagef("--kind %q: want appliance or nfs", f.kind)
	}
	pins := map[string][]string{}
	for _, p := range f.pins {
		fp, ns, ok := strings.Cut(p, "=")
		if !ok {
			return usagef("--pin %q: want FINGERPRINT=ORG/VM or FINGERPRINT=ORG/* (the namespace this sender may write)", p)
		}
		if !replication.ValidFingerprint(fp) {
			return usagef("--pin %q: %q is not a SHA-256 fingerprint: want 64 hex digits (colons allowed), as ferry prints for a sender certificate", p, fp)
		}
		if _, _, err := replication.ParseNamespace(ns); err != nil {
			return usagef("--pin %q: %v", p, err)
		}
		pins[fp] = append(pins[fp], ns)
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return usagef("--listen %q: want host:port or :port", f.listen)
	}
	// Everything that can refuse the start is checked before the state
	// directory, its certificate and key are made: a refused start leaves
	// nothing behind.
	if err := writer.Check(); err != nil {
		return err
	}
	var pool *x509.CertPool
	if f.ca != "" {
		var err error
		pool, err = tlsconf.Pool(f.ca)
		if errors.Is(err, tlsconf.ErrNoPEM) {
			return usagef("--ca: %v", err)
		}
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
	}
	logTo := cmd.ErrOrStderr()
	if g.logFile != "" {
		lf, err := os.OpenFile(g.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer lf.Close()
		logTo = lf
	}
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir %s: %w", f.stateDir, err)
	}
	cert, err := receiverCert(f)
	if err != nil {
		return err
	}
	var cfg *tls.Config
	authorize := replication.CertNamespaces()
	if pool != nil {
		cfg = replication.CATLS(cert, pool, true, "")
	} else {
		fps := make([]string, 0, len(pins))
		for fp := range pins {
			fps = append(fps, fp)
		}
		cfg = replication.PinnedServerTLS(cert, fps...)
		authorize = replication.PinnedNamespaces(pins)
	}
	log := slog.New(slog.NewTextHandler(logTo, nil))
	rcv, err := replication.NewReceiver(replication.ReceiverConfig{StateDir: f.stateDir, Writer: writer, TLS: cfg, Authorize: authorize, Log: log})
	if err != nil {
		return err
	}
	defer rcv.Close()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	out := cmd.OutOrStdout()
	where := "disks hot-added to this appliance, found under " + f.byID
	if f.kind == replication.KindNFS {
		where = "flat extents on the NFS datastore at " + f.dsDir
	}
	fmt.Fprintf(out, "ferry receiver listening on %s, %s receiver: %s\n", ln.Addr(), f.kind, where)
	fmt.Fprintf(out, "receiver certificate fingerprint (sha256): %s\n", replication.Fingerprint(cert.Certificate[0]))
	err = rcv.Serve(cmd.Context(), ln)
	fmt.Fprintln(cmd.ErrOrStderr(), "receiver stopped")
	return err
}

// receiverCert loads --cert/--key or a self-signed certificate kept in --state-dir
// (so its fingerprint, pinned by senders, survives restarts).
func receiverCert(f receiverFlags) (tls.Certificate, error) {
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return c, fmt.Errorf("--cert/--key: %w", err)
		}
		return c, nil
	}
	certPath := filepath.Join(f.stateDir, "receiver-cert.pem")
	keyPath := filepath.Join(f.stateDir, "receiver-key.pem")
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("receiver certificate in %s: %w", f.stateDir, err)
	}
	c, err = replication.SelfSignedCert("ferry-receiver")
	if err != nil {
		return c, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return c, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return c, err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		return c, err
	}
	return c, nil
}
