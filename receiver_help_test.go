package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestReceiverHelpExplainsKinds: `ferry receiver --help` and the README
// explain the two receiver kinds, what the receiver appliance needs on a
// real provider (a Linux image, disk.EnableUUID, network to the senders),
// and the ports and certificates involved.
func TestReceiverHelpExplainsKinds(t *testing.T) {
	out, err := exec.Command(ferryBin, "receiver", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("receiver --help: %v\n%s", err, out)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// It logs to stderr: it has no state file for a ferry.log beside.
	if strings.Contains(string(out), "ferry.log") {
		t.Errorf("ferry receiver --help promises a ferry.log:\n%s", out)
	}
	for doc, wants := range map[string][]string{
		"ferry receiver --help": {"--kind appliance", "--kind nfs", "Linux image", "disk.EnableUUID=TRUE", "--by-id",
			"--datastore-dir", "provider.receiver_kind: nfs", "senders on-prem reach", "--listen", "--cert/--key",
			"self-signed", "--ca FILE", "--pin", "ferry://replicas/<org>/<vm>",
			"Logs go to stderr", "--log-file string write logs to this file, mode 0600 (default: stderr)"},
		"README.md": {"`appliance` (default)", "`nfs`:", "Deploying the receiver appliance on a real provider",
			"Linux image", "disk.EnableUUID=TRUE", "provider.receiver_kind: nfs", "on-prem senders reach that port",
			"mutual TLS 1.3", "`--cert/--key`", "FERRY_RECEIVER_PIN", "ferry://replicas/<org>/<vm>"},
	} {
		text := string(out)
		if doc == "README.md" {
			text = string(readme)
		}
		text = strings.Join(strings.Fields(text), " ")
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not say %q", doc, w)
			}
		}
	}
}

// TestReceiverRefusedStartLeavesNothing: bad flags are usage errors (exit
// 2) naming what is wrong, and a start refused for the kind's
// preconditions creates no state directory and no key.
func TestReceiverRefusedStartLeavesNothing(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--pin", "AA=Company/WebApp2"}, exitUsage, `"AA" is not a SHA-256 fingerprint`},
		{[]string{"--pin", fp + "=Company/WebApp2", "--insecure"}, exitUsage, "--insecure: the receiver has no server to verify"},
		{[]string{"--pin", fp + "=Company/WebApp2", "--by-id", "/nonexistent/by-id"}, exitFailed, "/nonexistent/by-id"},
	} {
		state := filepath.Join(t.TempDir(), "state")
		args := append([]string{"receiver", "--listen", "127.0.0.1:0", "--state-dir", state}, c.args...)
		out, err := exec.Command(ferryBin, args...).CombinedOutput()
		if code := labtest.ExitCode(err); code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("ferry %s: exit %d, want %d and %q:\n%s", strings.Join(args, " "), code, c.code, c.want, out)
		}
		if _, err := os.Stat(state); !os.IsNotExist(err) {
			t.Errorf("ferry %s: the refused start created %s", strings.Join(args, " "), state)
		}
	}
}
