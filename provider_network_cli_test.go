package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/vsphere"
)

// TestProviderNetworkTypoRefusedBeforeShutdown (QA: a plan whose
// provider.network names no port group of the provider vCenter passed every
// step, and the cutover shut the source down before it failed to build the
// VM there, then rolled back): the cutover is refused with the field, the
// name and the networks that exist, before the source is shut down.
func TestProviderNetworkTypoRefusedBeforeShutdown(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := headlessLab(t)
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") || !strings.Contains(out, "replication stopped with this run") {
		t.Fatalf("run without confirmation: exit %d\n%s", code, out)
	}
	editPlan(t, l.PlanPath(), "  network: vcd-company-network\n", "  network: vcd-company-netwrk\n")
	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != exitFailed {
		t.Errorf("cutover with a provider.network that does not exist: exit %d, want %d\n%s", code, exitFailed, out)
	}
	for _, want := range []string{"provider.network", `"vcd-company-netwrk"`, "vcd-company-network"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "WebApp2: shutdown") {
		t.Errorf("the cutover shut the source down:\n%s", out)
	}
	// The source never stopped.
	vc, err := vsphere.Connect(context.Background(), vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close(context.Background())
	if vm, err := vc.VMByName(context.Background(), "WebApp2"); err != nil || !vm.PoweredOn() {
		t.Errorf("WebApp2 is not running: %+v, %v", vm, err)
	}
}
