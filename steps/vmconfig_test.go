package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vcd"
)

// backendNetwork creates a second org VDC network, for the lab's second
// port group.
func backendNetwork(t *testing.T, env *Env, name string) {
	t.Helper()
	sys, err := env.VCD(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := sys.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: name, GatewayCIDR: "10.20.0.1/24"}); err != nil {
		t.Fatal(err)
	}
}

// TestVMSelectionCapturesConfigAndMapsNetworks: VM selection refuses a NIC
// whose port group maps to no org VDC network (or to one the VDC lacks)
// before anything changes; with the mapping, ferry plan shows the captured
// configuration and each NIC's network, and Apply persists the
// configuration with the step state.
func TestVMSelectionCapturesConfigAndMapsNetworks(t *testing.T) {
	ctx := context.Background()
	_, env := migrationLab(t, "WinSrv1")
	s := &VMSelection{}
	_, err := s.Plan(ctx, env)
	if err == nil || !strings.Contains(err.Error(), `port group "`+lab.SecondPortgroup+`"`) || !strings.Contains(err.Error(), "networks:") {
		t.Fatalf("plan with an unmapped NIC: %v", err)
	}
	if _, err := s.Apply(ctx, env, func(Event) {}); err == nil {
		t.Fatal("apply with an unmapped NIC succeeded")
	}
	if _, ok, _ := savedVMConfig(env.State, "WinSrv1"); ok {
		t.Fatal("a refused selection persisted a configuration")
	}

	env.Plan.Networks = map[string]string{lab.SecondPortgroup: "backend"}
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `"backend", which VDC Company-VDC does not have`) {
		t.Fatalf("plan with a NIC mapped to a missing network: %v", err)
	}
	backendNetwork(t, env, "backend")
	p, err := s.Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	text := p.String()
	for _, want := range []string{
		"windows2019srv_64Guest, efi + secure boot, vmx-19, 4 vCPU (2 per socket), 4096 MiB",
		"controller lsilogic-sas0", "controller pvscsi1",
		"disk lsilogic-sas0:0: [onprem-ds] WinSrv1/WinSrv1.vmdk, 16 MiB, thin",
		"disk lsilogic-sas0:1: [onprem-ds] WinSrv1/WinSrv1_1.vmdk", "disk pvscsi1:0: [onprem-ds] WinSrv1/WinSrv1_2.vmdk",
		"on company-network, connected at power on -> org VDC network company-network",
		"on " + lab.SecondPortgroup + ", connected at power on -> org VDC network backend",
		"NIC e1000e ", "NIC vmxnet3 ", "disk.EnableUUID=TRUE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if _, err := s.Apply(ctx, env, func(Event) {}); err != nil {
		t.Fatal(err)
	}
	cfg, ok, err := savedVMConfig(env.State, "WinSrv1")
	if err != nil || !ok {
		t.Fatalf("saved configuration: %v %v", ok, err)
	}
	if cfg.Firmware != "efi" || !cfg.SecureBoot || len(cfg.Disks) != 3 || len(cfg.NICs) != 2 || cfg.NICs[0].Type != "e1000e" {
		t.Errorf("saved configuration %+v", cfg)
	}
	// The state file holds it: a new process reads it back.
	st, err := LoadState(env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	if again, ok, err := savedVMConfig(st, "WinSrv1"); err != nil || !ok || again.Summary() != cfg.Summary() {
		t.Errorf("reloaded configuration %+v %v %v", again, ok, err)
	}
}
