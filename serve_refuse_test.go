package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestServeRefusesBadListenersAndHostKey: ferry serve with a port already
// in use (--metrics, --ssh), a --host-key that is missing, readable by
// others or not a key, or --ssh-keepalive without --ssh says which and exits non-zero before it writes
// anything beside the state file (no log, no replication store, no event
// log, no host key); without --host-key it creates its own key, 0600,
// and leaves the plan directory's mode alone.
func TestServeRefusesBadListenersAndHostKey(t *testing.T) {
	l, _ := engineLab(t)
	dir := filepath.Dir(l.PlanPath())
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keys, gossh.MarshalAuthorizedKey(sshKey(t).PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	keyDir := t.TempDir()
	openKey := filepath.Join(keyDir, "open_key")
	if err := writeSSHKey(openKey, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openKey, 0o644); err != nil {
		t.Fatal(err)
	}
	notKey := filepath.Join(keyDir, "not_a_key")
	if err := os.WriteFile(notKey, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(keyDir, "typo", "ssh_host_key")
	sshArgs := []string{"--ssh", "127.0.0.1:0", "--authorized-keys", keys}
	cases := []struct {
		name string
		args []string
		want []string // in the error
	}{
		{"metrics port in use", []string{"--metrics", busy.Addr().String()}, []string{"--metrics", busy.Addr().String(), "address already in use"}},
		{"ssh port in use", []string{"--ssh", busy.Addr().String(), "--authorized-keys", keys}, []string{"--ssh", busy.Addr().String(), "address already in use"}},
		{"missing host key", append(sshArgs, "--host-key", missing), []string{"--host-key " + missing, "no such file"}},
		{"host key readable by others", append(sshArgs, "--host-key", openKey), []string{"--host-key " + openKey, "mode 0644", "chmod 600"}},
		{"host key not a key", append(sshArgs, "--host-key", notKey), []string{"--host-key " + notKey, "not an SSH private key"}},
		// QA: --ssh-keepalive without --ssh was taken silently, as if it did something.
		{"keepalive without ssh", []string{"--ssh-keepalive", "5s"}, []string{"--ssh-keepalive", "go with --ssh ADDR"}},
	}
	for _, c := range cases {
		out, err := serveRefused(t, l, c.args...)
		if labtest.ExitCode(err) == 0 {
			t.Errorf("%s: ferry serve exit 0, want a refusal:\n%s", c.name, out)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: output does not say %q:\n%s", c.name, w, out)
			}
		}
		for _, f := range []string{"plan.replication.db", "plan.events.jsonl", "ferry.log", "plan.ssh_host_ed25519_key"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("%s: refused, but %s was written", c.name, f)
			}
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("a missing --host-key created %s", filepath.Dir(missing))
	}
	if fi, _ := os.Stat(openKey); fi.Mode().Perm() != 0o644 {
		t.Errorf("ferry serve changed the mode of %s to %v", openKey, fi.Mode().Perm())
	}

	srv := startServe(t, l, sshArgs...)
	hostKey := hostPublicKey(t, filepath.Join(dir, "plan.ssh_host_ed25519_key")) // 0600, a key
	// QA: ssh asks "Are you sure you want to continue connecting?" with the
	// key's fingerprint on the first connection; the engine says it, so the
	// answer can be checked rather than guessed.
	if fp, got := gossh.FingerprintSHA256(hostKey), srv.lines["ssh host key"]; !strings.HasPrefix(got, fp+" ") {
		t.Errorf("ferry serve's ssh host key line: %q, want the fingerprint %s first", got, fp)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("ferry serve changed the plan directory's mode to %v, want it left 0755", fi.Mode().Perm())
	}
	newcomer := sshKey(t)
	dial := func() error {
		c, err := gossh.Dial("tcp", sshAddrOf(t, srv.lines["ssh"]), sshConfig("admin", newcomer, hostKey))
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err == nil {
		t.Errorf("a key not in --authorized-keys was let in")
	} else if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("dial with the served host key: %v, want only the client key refused", err)
	}
	// QA: the file was read once, at the start: a key added was refused,
	// and a key removed (revoked) let in until a restart. It is read again
	// at each login, as sshd does.
	before, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, append(before, gossh.MarshalAuthorizedKey(newcomer.PublicKey())...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Errorf("a key added to --authorized-keys while ferry serve runs: %v, want it let in", err)
	}
	if err := os.WriteFile(keys, before, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err == nil {
		t.Errorf("a key removed from --authorized-keys while ferry serve runs was still let in")
	}
}

// serveRefused runs ferry serve for the lab's plan and returns its output
// and exit error; an engine that says "engine ready" is stopped (SIGTERM)
// and the test fails: it should have refused.
func serveRefused(t *testing.T, l *lab.Lab, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "serve", "--plan", l.PlanPath()}, args...)...)
	cmd.Env = cleanEnv()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if sc.Text() == "engine ready" {
			t.Errorf("ferry serve %s: the engine started", strings.Join(args, " "))
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	return out.String(), <-done
}

// TestServeRunRefusesChangedPlanFile: while ferry serve runs a plan, an
// operator edits the plan file (a second wave, another RPO) and runs ferry
// run. The engine runs the plan it loaded, so the run is refused, naming
// the file and what changed, and saying to restart the engine; nothing is
// run (the state file is as it was). With the file as the engine loaded
// it, the same run goes through.
func TestServeRunRefusesChangedPlanFile(t *testing.T) {
	l, run := engineLab(t)
	startServe(t, l)
	orig, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(filepath.Dir(l.PlanPath()), "plan.state.json")
	stateBefore, _ := os.ReadFile(statePath)
	changed := strings.Replace(string(orig), "\nvms:\n", "\nvms:\n  - name: WebApp3\n", 1)
	if changed == string(orig) {
		t.Fatalf("the lab's plan has no vms: list to add to:\n%s", orig)
	}
	if err := os.WriteFile(l.PlanPath(), []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := run("run", "--plan", l.PlanPath())
	if code == 0 || !strings.Contains(out, "plan file "+l.PlanPath()+" has changed since the engine loaded it (vms)") || !strings.Contains(out, "restart ferry serve") {
		t.Errorf("ferry run with a plan file edited under the engine: exit %d, want a refusal naming the file, vms and the restart\n%s", code, out)
	}
	if strings.Contains(out, "already done") {
		t.Errorf("the engine ran its old plan:\n%s", out)
	}
	if stateAfter, _ := os.ReadFile(statePath); !bytes.Equal(stateBefore, stateAfter) {
		t.Errorf("a refused run changed the state file")
	}
	if err := os.WriteFile(l.PlanPath(), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := run("run", "--plan", l.PlanPath(), "--test-cleanup"); code != 0 || !strings.Contains(out, "the steps run in the ferry serve engine") {
		t.Errorf("ferry run --test-cleanup with the plan file the engine loaded: exit %d\n%s", code, out)
	}
}

// TestServeHelpStatesSSHLimits (QA: ferry serve --help gave the listener's
// bounds without the per-address one the README states): the help names
// both, as the code sets them.
func TestServeHelpStatesSSHLimits(t *testing.T) {
	out, err := exec.Command(ferryBin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("ferry serve --help: %v\n%s", err, out)
	}
	want := fmt.Sprintf("at most %d connections, of which at most %d from one address still in their handshake", sshMaxConns, sshMaxPreauthPerIP)
	if got := strings.Join(strings.Fields(string(out)), " "); !strings.Contains(got, want) {
		t.Errorf("ferry serve --help does not say %q:\n%s", want, out)
	}
}
