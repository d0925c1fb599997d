package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestVMTableShowsUnmappedPortgroup (QA: WinSrv1 on backend-network could
// be selected and only ctrl+s failed): the table says, under the cursor,
// that its port group maps to no org VDC network and what to do, and the
// VM cannot be selected.
func TestVMTableShowsUnmappedPortgroup(t *testing.T) {
	web := vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0)
	web.Networks = []string{"company-network"} // the stretched port group
	win := vm("WinSrv1", "poweredOn", "172.16.10.21", 20, 1, true, 0)
	win.Networks = []string{"backend-network"}
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: []vsphere.VM{web, win}})
	h.start(80, 24) // the whole notice shows at the QA's size
	h.mustSee(t, "Step 5 of 8")
	h.send(press("down"))
	h.mustSee(t, `WinSrv1: port group "backend-network" maps to no org`, "networks: in the plan file", "and start ferry again")
	h.send(press("space"))
	h.mustSee(t, "0 of 2 selected")
	h.send(press("up"))
	h.send(press("space"))
	h.mustSee(t, "1 of 2 selected")
}

// TestUnmappedPortgroupOffersNoRetry: when planning fails because a NIC's
// port group maps to no org VDC network (a plan that names such a VM), the
// wizard says to add a networks: entry to the plan file and start again,
// not "press r to retry", which would read the same plan.
func TestUnmappedPortgroupOffersNoRetry(t *testing.T) {
	mutate := func(m map[string]*fakeStep) {
		m["vm-selection"].planErr = fmt.Errorf("VM WinSrv1: NIC vmxnet3 00:50:56:01 is on port group %q, which %w: add it to the plan's networks:", "backend-network", steps.ErrNoNetworkMapping)
	}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: slices.Clone(infraDone), mutate: mutate})
	h.start(120, 40)
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	h.mustSee(t, "✗ failed", "which maps to no org", "the wizard has no field", "start ferry again")
	h.mustNotSee(t, "press r to retry")
	h.send(press("r"))
	h.mustSee(t, "✗ failed", "a retry reads the same plan")
	h.mustNotSee(t, "Plan — nothing has changed yet")
}

// TestRefusedVMHelpBarSaysWhy (QA: on a VM that cannot be selected the
// help bar read "✗space select: WinSrv1", the VM's name where the reason
// belongs): it gives the reason's first clause.
func TestRefusedVMHelpBarSaysWhy(t *testing.T) {
	web := vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0)
	web.Networks = []string{"company-network"}
	win := vm("WinSrv1", "poweredOn", "172.16.10.21", 20, 1, true, 0)
	win.Networks = []string{"backend-network"}
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: []vsphere.VM{web, win}})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8")
	h.send(press("down"))
	_, _, footer := shown(h.view())
	if bar := strings.Join(footer, "\n"); !strings.Contains(bar, `✗space select: port group "backend-network" maps to no org VDC network`) {
		t.Errorf("the help bar does not say why WinSrv1 cannot be selected:\n%s", bar)
	}
}

// TestVMRefusalWholeAt80x24 (QA: at 80x24 the reason a VM cannot be
// selected was cut at three lines, losing what to do): the notice under
// the table is whole, the table giving up rows for it.
func TestVMRefusalWholeAt80x24(t *testing.T) {
	web := vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0)
	web.Networks = []string{"company-network"}
	indep := vm("fileserver-indep", "poweredOn", "172.16.10.37", 20, 1, true, 0)
	indep.Networks = []string{"company-network"}
	indep.Unreadable = []string{"Hard disk 2 is an independent disk (independent_persistent): snapshots do not freeze it, so no consistent copy can be read; change it to dependent (persistent) mode with the VM powered off first"}
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: []vsphere.VM{web, indep}})
	h.start(80, 24)
	h.mustSee(t, "Step 5 of 8")
	h.send(press("down"))
	h.mustSee(t, "fileserver-indep: Hard disk 2 is an independent disk", "dependent (persistent) mode with the VM powered off", "▸  -  fileserver-indep")
}

// TestVMModeColumnOfVMsThatCannotBePicked (QA: the Mode column said "cold"
// for a cut-over VM's powered-off source and "warm" for a running VM
// refused for its disks): a VM that cannot be picked has no mode, a dash.
func TestVMModeColumnOfVMsThatCannotBePicked(t *testing.T) {
	migrated := vm("WebApp1", "poweredOff", "", 20, 1, true, 0)
	migrated.Networks = []string{"company-network"}
	web := vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0)
	web.Networks = []string{"company-network"}
	indep := vm("fileserver-indep", "poweredOn", "172.16.10.37", 20, 1, true, 0)
	indep.Networks = []string{"company-network"}
	indep.Unreadable = []string{"Hard disk 2 is an independent disk (independent_persistent): change it to dependent (persistent) mode with the VM powered off first"}
	h := newHarness(t, setup{pf: withVMs("WebApp1"), done: infraDone, vms: []vsphere.VM{migrated, web, indep}, cutOver: []string{"WebApp1"}})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8")
	_, main, _ := shown(h.view())
	want := map[string]string{"WebApp1": "—", "WebApp2": "warm", "fileserver-indep": "—"}
	for name, mode := range want {
		row := ""
		for _, l := range main {
			if strings.Contains(l, " "+name+" ") {
				row = l
			}
		}
		if f := strings.Fields(row); len(f) < 4 || !slices.Contains(f, mode) || (mode == "—" && (slices.Contains(f, "warm") || slices.Contains(f, "cold"))) {
			t.Errorf("%s's row %q: want Mode %q", name, row, mode)
		}
	}
}
