package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
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
	for doc, wants := range map[string][]string{
		"ferry receiver --help": {"--kind appliance", "--kind nfs", "Linux image", "disk.EnableUUID=TRUE", "--by-id",
			"--datastore-dir", "provider.receiver_kind: nfs", "senders on-prem reach", "--listen", "--cert/--key",
			"self-signed", "--ca FILE", "--pin", "ferry://replicas/<org>/<vm>"},
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
