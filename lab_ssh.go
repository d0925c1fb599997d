package main

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-migrate/ferry/lab"
)

// serveLabEngine runs an engine for the lab's plan with the wizard served
// over SSH on addr until ctx ends. It generates the key that may attach
// (DIR/ssh/id_ed25519, 0600) and a known_hosts file for the engine's host
// key, and prints the ssh command beside the lab's export lines.
func serveLabEngine(ctx context.Context, g *globalFlags, l *lab.Lab, addr string, out io.Writer) error {
	dir := filepath.Join(l.Dir, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	id := filepath.Join(dir, "id_ed25519")
	pub, err := writeClientKey(id)
	if err != nil {
		return err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	line := append(gossh.MarshalAuthorizedKey(pub)[:len(gossh.MarshalAuthorizedKey(pub))-1], " ferry lab\n"...)
	if err := os.WriteFile(authorized, line, 0o600); err != nil {
		return err
	}
	lg := *g
	lg.config = l.ConfigFile
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := writeSSHKey(hostKey, ""); err != nil {
		return fmt.Errorf("ssh host key: %w", err)
	}
	sf := serveFlags{plan: planFlags{plan: l.PlanPath()}, ssh: addr, authorizedKeys: authorized, hostKey: hostKey, sshKeepalive: sshKeepalive}
	return runServe(ctx, &lg, &sf, func(si servedInfo) error {
		b, err := os.ReadFile(si.hostKey)
		if err != nil {
			return err
		}
		hk, err := gossh.ParsePrivateKey(b)
		if err != nil {
			return fmt.Errorf("ssh host key: %w", err)
		}
		host := sshHost(si.ssh)
		_, port, _ := net.SplitHostPort(si.ssh.String())
		known := filepath.Join(dir, "known_hosts")
		kh := knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(host, port))}, hk.PublicKey()) + "\n"
		if err := os.WriteFile(known, []byte(kh), 0o600); err != nil {
			return err
		}
		printLabInfo(out, l)
		fmt.Fprintf(out, "# the engine (replication every RPO, whoever watches): ferry status --config %s --plan %s\n", l.ConfigFile, l.PlanPath())
		fmt.Fprintf(out, "# the wizard over SSH (the first session drives; add -t view to watch only):\n")
		fmt.Fprintf(out, "#   ssh -i %s -o UserKnownHostsFile=%s -p %s admin@%s\n", id, known, port, host)
		fmt.Fprintln(out, "lab ready")
		return nil
	})
}

// writeClientKey writes a new ed25519 private key at path (OpenSSH format,
// 0600) and returns its public key.
func writeClientKey(path string) (gossh.PublicKey, error) {
	pk, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	blk, err := gossh.MarshalPrivateKey(priv, "ferry lab")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	pub, err := gossh.NewPublicKey(pk)
	if err != nil {
		return nil, err
	}
	return pub, os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(pub), 0o600)
}
