package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestRefusedVMHeadless: a plan naming a VM whose disks ferry cannot read is
// refused by `ferry plan` and `ferry run` with the reason, exit 1, and
// nothing changes (the VM keeps changed block tracking off and has no
// snapshot; no step state is written).
func TestRefusedVMHeadless(t *testing.T) {
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	raw, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "refused.yaml")
	text := strings.Replace(string(raw), "vms:\n  - name: WebApp2", "vms:\n  - name: hr-encrypted", 1)
	if text == string(raw) {
		t.Fatal("the lab plan has no vms: entry for WebApp2")
	}
	if err := os.WriteFile(plan, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"plan", "run"} {
		c := exec.Command(ferryBin, "--config", l.ConfigFile, cmd, "--plan", plan)
		c.Env = cleanEnv()
		out, err := c.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitFailed || !strings.Contains(string(out), "hr-encrypted") || !strings.Contains(string(out), "encrypted (VM encryption)") || !strings.Contains(string(out), "decrypt the VM") {
			t.Errorf("ferry %s: exit %d, want %d and the reason:\n%s", cmd, code, exitFailed, out)
		}
	}
	vc, err := vsphere.Connect(context.Background(), vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close(context.Background())
	vm, err := vc.VMByName(context.Background(), "hr-encrypted")
	if err != nil {
		t.Fatal(err)
	}
	if vm.CBT || vm.Snapshots != 0 {
		t.Errorf("hr-encrypted changed: CBT %v, %d snapshot(s)", vm.CBT, vm.Snapshots)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(plan), "*.state.json")); len(m) != 0 {
		t.Errorf("state written: %v", m)
	}
}
