package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestPlanProblemsNameTheirLine: the answers a plan file's validation
// refuses name the line of the file they are on, as the problems found
// while it is read do (QA h3: a /33 gateway named none, a bad RPO its
// line); an answer the file lacks has no line to name.
func TestPlanProblemsNameTheirLine(t *testing.T) {
	t.Parallel()
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	body := `org: Company
vdc: Company-VDC
edge_gateway: company-edge
network:
  name: company-network
  gateway_cidr: 172.16.10.1/33
skip:
  - rights
  - right
vms:
  - name: WebApp2
probes:
  - name: web
    vm: WebApp2
    tcp: 127.16.10.12
`
	if err := os.WriteFile(plan, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"plan", "run"} {
		cmd := exec.Command(ferryBin, sub, "--plan", plan)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage {
			t.Errorf("ferry %s: exit %d, want %d:\n%s", sub, code, exitUsage, out)
		}
		for _, want := range []string{
			"\n  line 6: network.gateway_cidr: \"172.16.10.1/33\" is not a gateway in CIDR notation",
			"\n  line 9: skip[1]: \"right\" is not a step",
			"\n  line 13: probes[0] (web): tcp \"127.16.10.12\": want host:port",
			"\n  appliance.ovf: is required",
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("ferry %s does not say %q:\n%s", sub, want, out)
			}
		}
	}
}
