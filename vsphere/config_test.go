package vsphere_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestVMConfigCapturesTheSource: the captured configuration of the lab's
// heterogeneous VMs is what the lab built them with.
func TestVMConfigCapturesTheSource(t *testing.T) {
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c := connectTo(t, l, l.OnPrem)
	for _, g := range lab.GuestVMs() {
		vm, err := c.VMByName(ctx, g.Name)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := c.VMConfig(ctx, vm.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Name != g.Name || cfg.GuestID != g.GuestID || cfg.Firmware != g.Firmware || cfg.SecureBoot != g.SecureBoot ||
			cfg.HWVersion != g.HWVersion || cfg.CPUs != g.CPUs || (g.CoresPerSocket > 0 && cfg.CoresPerSocket != g.CoresPerSocket) || cfg.MemoryMB != g.MemoryMB {
			t.Errorf("%s: %s, want %+v", g.Name, cfg.Summary(), g)
		}
		if g.EnableUUID != (cfg.DiskEnableUUID == "TRUE") {
			t.Errorf("%s: disk.EnableUUID %q, want set: %v", g.Name, cfg.DiskEnableUUID, g.EnableUUID)
		}
		var ctrls []vsphere.ControllerConfig
		for _, ct := range g.Controllers {
			ctrls = append(ctrls, vsphere.ControllerConfig{Type: ct.Type, Bus: ct.Bus, Sharing: "noSharing"})
		}
		// captured sorted by type, then bus
		got := map[string]vsphere.ControllerConfig{}
		for _, ct := range cfg.Controllers {
			got[ct.Type] = ct
		}
		if len(cfg.Controllers) != len(ctrls) {
			t.Errorf("%s: controllers %+v, want %+v", g.Name, cfg.Controllers, ctrls)
		}
		for _, ct := range ctrls {
			if got[ct.Type].Bus != ct.Bus || got[ct.Type].Type != ct.Type {
				t.Errorf("%s: controllers %+v, want %+v", g.Name, cfg.Controllers, ctrls)
			}
		}
		if len(cfg.Disks) != len(g.Disks) {
			t.Fatalf("%s: disks %+v", g.Name, cfg.Disks)
		}
		for i, d := range g.Disks {
			ct := g.Controllers[d.Controller]
			want := vsphere.DiskConfig{ControllerType: ct.Type, Bus: ct.Bus, Unit: d.Unit, Capacity: 16 << 20, Thin: true, File: g.DiskFile("onprem-ds", i), Mode: "persistent"}
			var found bool
			for _, cd := range cfg.Disks {
				if cd.Key == 0 {
					t.Errorf("%s: disk %s captured without its device key", g.Name, cd.File)
				}
				cd.Label, cd.Key = "", 0
				if reflect.DeepEqual(cd, want) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: disk %d %+v not in %+v", g.Name, i, want, cfg.Disks)
			}
		}
		if len(cfg.NICs) != len(g.NICs) {
			t.Fatalf("%s: NICs %+v", g.Name, cfg.NICs)
		}
		for i, n := range g.NICs {
			got := cfg.NICs[i]
			if got.Type != n.Type || got.Portgroup != n.Portgroup || got.MAC == "" || !strings.EqualFold(got.MAC, vm.MACs[i]) {
				t.Errorf("%s: NIC %d %+v, want %s on %s with MAC %s", g.Name, i, got, n.Type, n.Portgroup, vm.MACs[i])
			}
		}
		if lines := strings.Join(cfg.Lines(), "\n"); !strings.Contains(lines, g.NICs[0].Type+" ") {
			t.Errorf("%s: lines %s", g.Name, lines)
		}
	}
}

// TestCheckHWVersion: the provider cluster's hardware versions come from
// its environment browser; one it cannot create is refused with the list.
func TestCheckHWVersion(t *testing.T) {
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c := connectTo(t, l, l.Provider)
	have, err := c.HWVersions(ctx, "Provider-DC", "Company-VDC")
	if err != nil || len(have) == 0 {
		t.Fatalf("hardware versions: %v %v", have, err)
	}
	for _, v := range []string{"vmx-15", "vmx-19"} {
		if err := c.CheckHWVersion(ctx, "Provider-DC", "Company-VDC", v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	err = c.CheckHWVersion(ctx, "Provider-DC", "Company-VDC", "vmx-99")
	if err == nil || !strings.Contains(err.Error(), "vmx-99 cannot run") || !strings.Contains(err.Error(), have[0]) {
		t.Errorf("vmx-99: %v", err)
	}
}
