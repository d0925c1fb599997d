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

	"github.com/ferry-migrate/ferry/replication"
	"github.com/spf13/cobra"
)

type receiverFlags struct {
	listen, dir   string
	cert, key, ca string
	pins          []string
}

func newReceiverCmd(g *globalFlags) *cobra.Command {
	var f receiverFlags
	cmd := &cobra.Command{
		Use:   "receiver --listen ADDR --dir DIR",
		Short: "Provider-side replication receiver",
		Long: `Run the provider-side end of ferry replication: accept senders over mutual
TLS 1.3, write their extents in place into replica disks under DIR, fsync,
acknowledge, and answer block-hash and verify queries. Runs until interrupted.

Replica layout under DIR (DIR is typically a datastore directory, so a VM can be
created over the replica with "[datastore] <vm>/<vm>.vmdk"):
  <vm>/<vm>.vmdk, <vm>/<vm>-flat.vmdk        disk 0 (descriptor, raw data)
  <vm>/<vm>_N.vmdk, <vm>/<vm>_N-flat.vmdk    disk N
  .ferry-receiver.db                         receiver state

Senders are authenticated either by a CA (--ca) or by pinned certificate
fingerprints (--pin, SHA-256 of the sender certificate). Without --cert/--key the
receiver creates a self-signed certificate in DIR (kept across restarts) and
prints its fingerprint for the sender to pin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReceiver(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "address to listen on, e.g. :8444 or 10.0.0.5:8444 (required)")
	fl.StringVar(&f.dir, "dir", "", "directory for replica disks, e.g. the provider datastore directory (required)")
	fl.StringVar(&f.cert, "cert", "", "receiver certificate (PEM); default: self-signed, kept in DIR")
	fl.StringVar(&f.key, "key", "", "receiver private key (PEM), with --cert")
	fl.StringVar(&f.ca, "ca", "", "CA certificate(s) (PEM) that sign sender certificates")
	fl.StringSliceVar(&f.pins, "pin", nil, "SHA-256 fingerprint of an accepted sender certificate (repeatable)")
	return cmd
}

func runReceiver(cmd *cobra.Command, f receiverFlags) error {
	switch {
	case f.listen == "":
		return usagef("--listen is required (e.g. --listen :8444)")
	case f.dir == "":
		return usagef("--dir is required (the directory that receives replica disks)")
	case (f.cert == "") != (f.key == ""):
		return usagef("--cert and --key go together")
	case f.ca == "" && len(f.pins) == 0:
		return usagef("senders must be authenticated: give --ca FILE or --pin FINGERPRINT")
	case f.ca != "" && len(f.pins) > 0:
		return usagef("give either --ca or --pin, not both")
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return usagef("--listen %q: want host:port or :port", f.listen)
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("--dir %s: %w", f.dir, err)
	}
	cert, err := receiverCert(f)
	if err != nil {
		return err
	}
	var cfg *tls.Config
	if f.ca != "" {
		pemBytes, err := os.ReadFile(f.ca)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return usagef("--ca %s: no PEM certificate found", f.ca)
		}
		cfg = replication.CATLS(cert, pool, true, "")
	} else {
		cfg = replication.PinnedServerTLS(cert, f.pins...)
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	rcv, err := replication.NewReceiver(f.dir, cfg, log)
	if err != nil {
		return err
	}
	defer rcv.Close()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "ferry receiver listening on %s, replicas in %s\n", ln.Addr(), f.dir)
	fmt.Fprintf(out, "receiver certificate fingerprint (sha256): %s\n", replication.Fingerprint(cert.Certificate[0]))
	err = rcv.Serve(cmd.Context(), ln)
	fmt.Fprintln(cmd.ErrOrStderr(), "receiver stopped")
	return err
}

// receiverCert loads --cert/--key or a self-signed certificate kept in DIR
// (so its fingerprint, pinned by senders, survives restarts).
func receiverCert(f receiverFlags) (tls.Certificate, error) {
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return c, fmt.Errorf("--cert/--key: %w", err)
		}
		return c, nil
	}
	certPath := filepath.Join(f.dir, ".ferry-receiver-cert.pem")
	keyPath := filepath.Join(f.dir, ".ferry-receiver-key.pem")
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("receiver certificate in %s: %w", f.dir, err)
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
