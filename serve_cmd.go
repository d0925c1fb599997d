package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

// serveFlags are `ferry serve`'s own flags.
type serveFlags struct {
	plan           planFlags
	metrics        string
	ssh            string
	authorizedKeys string
	hostKey        string
	sshKeepalive   time.Duration
	keepaliveSet   bool // --ssh-keepalive was given
}

func newServeCmd(g *globalFlags) *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "serve --plan FILE [--state FILE] [--metrics ADDR]",
		Short: "The long-running engine: replication every RPO, probes and cutovers, whoever watches",
		Long: `Run the engine for a plan until stopped (SIGTERM or SIGINT; SIGHUP is
ignored, so a closed terminal does not stop it). The engine holds the plan's
state and replication store, passes every replicated VM every RPO, runs the
plan's probes, and resumes all of it by itself after a restart (a pass that
was interrupted, even by kill -9, continues from the point below which the
receiver acknowledged everything).

While it runs, ferry run, ferry status, ferry pause and ferry resume for
the same state file are its clients: they talk to it over a Unix socket
beside the state file (plan.state.json -> plan.sock, mode 0600, owner
only). A ferry run's steps run in the engine, with the same confirmation rules (--confirm-cutover); if the
client goes away (ctrl+c, a dropped session) the steps go on, and ferry
status --follow shows them. One step run at a time: a second one is refused
while the first runs. The engine runs the plan it loaded at its start (and
what its wizard saved since): a ferry run after the plan file was edited
(a second wave's VMs, say) is refused, naming what changed; restart the
engine to run the edited plan.

Events (replication passes, step progress, attached sessions) are appended
to a JSON-lines event log beside the state file (plan.events.jsonl, 0600,
rotated at 16 MiB, 3 old files kept), which ferry status --follow tails.

--metrics ADDR serves Prometheus metrics at http://ADDR/metrics: per VM
ferry_replication_lag_seconds (age of the replica's data),
ferry_replication_last_pass_completed_age_seconds,
ferry_replication_bytes_sent_total, ferry_replication_bytes_changed_total,
ferry_replication_passes_total and ferry_replication_pass_duration_seconds
(by pass kind), ferry_replication_rpo_seconds,
ferry_replication_rpo_violations_total (from the first violation on),
ferry_replication_last_full_compare_timestamp_seconds and
..._differing_blocks, ferry_replication_paused, ferry_replication_pass_running,
ferry_cutover_phase{phase=selected|replicating|cutting over|decision
needed|cut over}, and ferry_sessions_attached{role}.

The wizard started in a terminal (ferry --plan FILE, no command) by this
engine's user attaches to the engine over the socket and shows its live
journey, as an SSH session does; the rule for who drives is the same for
both: the first terminal drives, the others watch (ferry --view: watch
only). Quitting it or closing its terminal detaches: nothing stops.

--ssh ADDR serves the wizard to SSH clients (public-key authentication
only, the keys of --authorized-keys, an OpenSSH authorized_keys file, read
again at each login as sshd does: a key added or removed counts from the
next login, no restart; each session is logged with its key's fingerprint). The first session (SSH or
local) drives; the others watch, read-only, as does a session opened with the command
"view" (ssh -t -p PORT HOST view) or with a key marked command="view" in
the file. Only the driver can confirm a cutover; its confirmation screen
lists who else is attached. A dropped connection detaches: nothing stops.
The listener is bounded before authentication: 10 s to authenticate and
open a session, at most 16 connections, of which at most 4 from one
address still in their handshake, a 30 min idle timeout. The host key
is --host-key (an existing private key file, readable by its owner only:
a missing one is refused, never created), or PLAN.ssh_host_ed25519_key
beside the state file (created, 0600, on first use); ferry serve prints
its SHA256 fingerprint ("ssh host key: SHA256:..."), which ssh shows on a
client's first connection.

The engine prints "engine ready" on standard output once its socket
listens. Logs go to --log-file (default: ferry.log beside the state file).

` + stateHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// A server survives the terminal it was started from.
			signal.Ignore(syscall.SIGHUP)
			sf.keepaliveSet = cmd.Flags().Changed("ssh-keepalive")
			out := cmd.OutOrStdout()
			return runServe(cmd.Context(), g, &sf, func(si servedInfo) error {
				fmt.Fprintf(out, "ferry serve: engine for %s (pid %d)\n", si.plan, os.Getpid())
				fmt.Fprintf(out, "socket: %s\n", si.socket)
				fmt.Fprintf(out, "event log: %s (ferry status --follow)\n", si.eventLog)
				if si.metrics != nil {
					fmt.Fprintf(out, "metrics: http://%s/metrics\n", si.metrics)
				}
				if si.ssh != nil {
					_, port, _ := net.SplitHostPort(si.ssh.String())
					fmt.Fprintf(out, "ssh: ssh -p %s %s (add -t view to watch only)\n", port, sshHost(si.ssh))
					fmt.Fprintf(out, "ssh host key: %s (%s; ssh shows this fingerprint on the first connection: compare before you answer yes)\n", si.hostFingerprint, si.hostKey)
				}
				fmt.Fprintln(out, "engine ready")
				return nil
			})
		},
	}
	sf.plan.register(cmd, false)
	cmd.Flags().StringVar(&sf.metrics, "metrics", "", "serve Prometheus metrics on this address (host:port), at /metrics")
	cmd.Flags().StringVar(&sf.ssh, "ssh", "", "serve the wizard to SSH clients on this address (host:port); needs --authorized-keys")
	cmd.Flags().StringVar(&sf.authorizedKeys, "authorized-keys", "", "OpenSSH authorized_keys file of the keys that may attach (command=\"view\" before a key: it only watches)")
	cmd.Flags().DurationVar(&sf.sshKeepalive, "ssh-keepalive", sshKeepalive, "with --ssh: ask each SSH client for an answer this often and end its session after 3 unanswered (a client gone without closing gives up the driver's role); 0 never asks")
	cmd.Flags().StringVar(&sf.hostKey, "host-key", "", "the SSH host key, an existing private key file (mode 0600) (default: PLAN.ssh_host_ed25519_key beside the state file, created 0600 on first use)")
	return cmd
}

// servedInfo is where a started engine listens.
type servedInfo struct {
	plan, socket, eventLog, hostKey string
	hostFingerprint                 string   // the host key's SHA256 fingerprint, as ssh shows it
	metrics, ssh                    net.Addr // nil: not served
}

// runServe runs the engine of sf until ctx ends; ready is called once it
// listens everywhere it should.
func runServe(ctx context.Context, g *globalFlags, sf *serveFlags, ready func(servedInfo) error) error {
	var metricsLn net.Listener
	if sf.metrics != "" {
		if _, _, err := net.SplitHostPort(sf.metrics); err != nil {
			return usagef("--metrics %q: want host:port (e.g. 127.0.0.1:9464): %v", sf.metrics, err)
		}
	}
	var keys []authorizedKey
	var hostKeyPEM []byte
	switch {
	case sf.sshKeepalive < 0:
		return usagef("--ssh-keepalive %s: want a duration of 0 (never ask) or more, e.g. 15s", sf.sshKeepalive)
	case sf.ssh == "" && (sf.authorizedKeys != "" || sf.hostKey != "" || sf.keepaliveSet):
		return usagef("--authorized-keys, --host-key and --ssh-keepalive go with --ssh ADDR")
	case sf.ssh != "":
		if _, _, err := net.SplitHostPort(sf.ssh); err != nil {
			return usagef("--ssh %q: want host:port (e.g. 0.0.0.0:2222): %v", sf.ssh, err)
		}
		if sf.authorizedKeys == "" {
			return usagef("--ssh needs --authorized-keys FILE: the public keys that may attach (public-key authentication only)")
		}
		var err error
		if keys, err = loadAuthorizedKeys(sf.authorizedKeys); err != nil {
			return usageError{err}
		}
		if sf.hostKey != "" {
			// Named, it must exist: a mistyped path must not give the
			// engine a new identity that every client then warns about.
			if hostKeyPEM, err = readHostKey("--host-key", sf.hostKey); err != nil {
				return usageError{err}
			}
		}
	}
	env, it, lock, err := sf.plan.session(g, true)
	if err != nil {
		if errors.Is(err, steps.ErrStateLocked) {
			return fmt.Errorf("%w (is a ferry serve already running? ferry status says)", err)
		}
		return err
	}
	// Refused before it opens the replication store, serve leaves the
	// disk as it found it (no lock file, no log), as ferry run does.
	started := false
	defer func() {
		if started {
			lock.Release()
		} else {
			lock.Discard()
		}
	}()
	// The listeners come before anything is written beside the state file
	// (its log, its replication store, its event log): a bad address or a
	// port in use changes nothing.
	if sf.metrics != "" {
		if metricsLn, err = net.Listen("tcp", sf.metrics); err != nil {
			env.Close(ctx)
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metricsLn.Close()
	}
	var sshLn net.Listener
	if sf.ssh != "" {
		if sshLn, err = net.Listen("tcp", sf.ssh); err != nil {
			env.Close(ctx)
			return fmt.Errorf("--ssh: %w", err)
		}
		defer sshLn.Close()
	}
	if err := env.CheckReplicationStore(); err != nil {
		env.Close(ctx)
		if errors.Is(err, session.ErrStoreOwned) {
			return usageError{err}
		}
		return err
	}
	logf := newRunLog(logPath(g, env.State.Path()))
	defer logf.Close()
	logger := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.Log = logger
	if err := logf.begin(); err != nil {
		env.Close(ctx)
		return err
	}
	started = true
	if err := env.OpenReplicationStore(); err != nil {
		env.Close(ctx)
		if errors.Is(err, session.ErrStoreOwned) {
			return usageError{err}
		}
		return err
	}
	sock, err := engine.Listen(env.State.Path())
	if err != nil {
		env.Close(ctx)
		return err
	}
	eng, err := engine.Start(ctx, env, it, engine.Options{Log: logger, Warnings: os.Stderr})
	if err != nil {
		sock.Close()
		env.Close(ctx)
		return err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	logger.Info("engine start", "state", env.State.Path(), "pid", os.Getpid())

	// The wizard's styles render for the attached terminals, not for this
	// process's (which has none as a service).
	lipgloss.SetColorProfile(termenv.ANSI256)
	wiz := &servedWizard{eng: eng, plan: sf.plan.plan, log: logger}
	eng.ServeWizard(wiz.serveTerminal)
	errc := make(chan error, 3)
	go func() { errc <- eng.Serve(ctx, sock) }()
	si := servedInfo{plan: env.State.Plan, socket: engine.SocketPath(env.State.Path()), eventLog: engine.EventLogPath(env.State.Path())}
	if metricsLn != nil {
		go func() { errc <- eng.ServeMetrics(ctx, metricsLn) }()
		si.metrics = metricsLn.Addr()
	}
	if sshLn != nil {
		si.hostKey = sf.hostKey
		if si.hostKey == "" {
			si.hostKey = hostKeyPath(env.State.Path())
			if hostKeyPEM, err = defaultHostKey(si.hostKey); err != nil {
				return err
			}
		}
		srv, err := newSSHServer(&sshWizard{servedWizard: wiz, keys: keys, keysPath: sf.authorizedKeys, keepalive: sf.sshKeepalive}, hostKeyPEM)
		if err != nil {
			return err
		}
		signer, err := gossh.ParsePrivateKey(hostKeyPEM)
		if err != nil {
			return fmt.Errorf("ssh host key %s: %w", si.hostKey, err)
		}
		si.hostFingerprint = gossh.FingerprintSHA256(signer.PublicKey())
		go func() { errc <- serveSSH(ctx, srv, sshLn) }()
		si.ssh = sshLn.Addr()
	}
	if err := ready(si); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("engine stop", "cause", context.Cause(ctx))
		return nil
	case err := <-errc:
		return err
	}
}

// hostKeyPath is the default SSH host key of a state file.
func hostKeyPath(statePath string) string {
	return strings.TrimSuffix(strings.TrimSuffix(statePath, filepath.Ext(statePath)), ".state") + ".ssh_host_ed25519_key"
}

// sshHost is what a client types to reach addr: the address, or localhost
// for a wildcard one.
func sshHost(addr net.Addr) string {
	host, _, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return "localhost"
	}
	return host
}
