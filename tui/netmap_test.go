package tui

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestVMTableShowsUnmappedPortgroup (QA: WinSrv1 on backend-network could
// be selected and only ctrl+s failed): the table says, under the cursor,
// that its port group maps to no org VDC network and what to do (map it in
// the options' Other networks), and the VM cannot be selected.
func TestVMTableShowsUnmappedPortgroup(t *testing.T) {
	web := vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0)
	web.Networks = []string{"company-network"} // the stretched port group
	win := vm("WinSrv1", "poweredOn", "172.16.10.21", 20, 1, true, 0)
	win.Networks = []string{"backend-network"}
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: []vsphere.VM{web, win}})
	h.start(80, 24) // the whole notice shows at the QA's size
	h.mustSee(t, "Step 5 of 8")
	h.send(press("down"))
	h.mustSee(t, `WinSrv1: port group "backend-network" maps to no org`, "Other networks as", "backend-network=<org VDC network>")
	h.mustNotSee(t, "start ferry again")
	h.send(press("space"))
	h.mustSee(t, "0 of 2 selected")
	h.send(press("up"))
	h.send(press("space"))
	h.mustSee(t, "1 of 2 selected")
}

// TestUnmappedPortgroupOffersNoRetry: when planning fails because a NIC's
// port group maps to no org VDC network (a plan that names such a VM), the
// wizard says to map it in the options' Other networks, not "press r to
// retry", which would read the same plan.
func TestUnmappedPortgroupOffersNoRetry(t *testing.T) {
	mutate := func(m map[string]*fakeStep) {
		m["vm-selection"].planErr = fmt.Errorf("VM WinSrv1: NIC vmxnet3 00:50:56:01 is on port group %q, which %w: add it to the plan's networks:", "backend-network", steps.ErrNoNetworkMapping)
	}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: slices.Clone(infraDone), mutate: mutate})
	h.start(120, 40)
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	h.mustSee(t, "✗ failed", "which maps to no org", "map the port group in the options' Other networks", "or deselect the VM")
	h.mustNotSee(t, "press r to retry", "start ferry again", "has no field")
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

// networksFields are VM selection's own answers from "Other networks" (the
// plan's networks:) on, as the step asks them, for the fake step 5.
func networksFields(t *testing.T) []steps.Field {
	t.Helper()
	fs := (&steps.VMSelection{}).Fields()
	for i, f := range fs {
		if f.Key == steps.NetworksKey {
			return fs[i:]
		}
	}
	t.Fatal("VM selection asks no networks answer")
	return nil
}

// webAndWin are WebApp2 on the stretched port group and WinSrv1 with a
// second NIC on backend-network, as in the lab.
func webAndWin() []vsphere.VM {
	web := vm("WebApp2", "poweredOn", "172.16.10.12", 20, 1, true, 0)
	web.Networks = []string{"company-network"}
	win := vm("WinSrv1", "poweredOn", "172.16.10.21", 20, 1, true, 0)
	win.Networks = []string{"company-network", "backend-network"}
	return []vsphere.VM{web, win}
}

// TestOtherNetworksMapsAPortgroupInTheWizard (the wizard had no field for
// networks: a VM with a NIC on another port group could only be migrated by
// quitting, editing the plan file and starting again): WinSrv1 is refused
// for backend-network; the operator answers Other networks in the options,
// picking backend-network=company-network from its pick list; back in the
// table WinSrv1 can be selected, and the plan file saved holds the
// networks: entry.
func TestOtherNetworksMapsAPortgroupInTheWizard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.yaml")
	mutate := func(m map[string]*fakeStep) { m["vm-selection"].fields = networksFields(t) }
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: webAndWin(), mutate: mutate,
		savePlan: func(pf *steps.PlanFile) error { return pf.Save(path) }})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8")
	h.send(press("down"))
	h.mustSee(t, `WinSrv1: port group "backend-network" maps to no org`)
	h.send(press("space"))
	h.mustSee(t, "0 of 2 selected")

	// The options; Other networks is the one before the probes, the last.
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyShiftTab})
	h.send(tea.KeyMsg{Type: tea.KeyShiftTab})
	h.mustSee(t, "▸ Other networks", "stretched one go: port group=org VDC")
	h.typeText("backend")
	h.mustSee(t, "› backend-network=company-network", "backend-network=test-bubble")
	h.send(press("enter"))
	if got := h.env.Plan().Networks; !maps.Equal(got, map[string]string{"backend-network": "company-network"}) {
		t.Fatalf("plan's networks after the pick: %v", got)
	}
	h.mustSee(t, "▸ Service probes")
	h.send(press("esc")) // out of the field
	h.send(press("esc")) // to the table
	h.mustNotSee(t, "maps to no org")
	h.send(press("space"))
	h.mustSee(t, "1 of 2 selected")

	h.send(press("enter")) // the options
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	pf, err := steps.LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(pf.Networks, map[string]string{"backend-network": "company-network"}) || len(pf.VMs) != 1 || pf.VMs[0].Name != "WinSrv1" {
		b, _ := os.ReadFile(path)
		t.Fatalf("saved plan: networks %v, VMs %v:\n%s", pf.Networks, pf.VMs, b)
	}
}

// TestOtherNetworksRefusesBadPairs: what is not port group=network pairs is
// refused in the field, saying what is wrong and what would be valid, the
// plan keeping its networks; an entry picked after others is added to them.
func TestOtherNetworksRefusesBadPairs(t *testing.T) {
	mutate := func(m map[string]*fakeStep) { m["vm-selection"].fields = networksFields(t) }
	pf := withVMs()
	pf.Networks = map[string]string{"backend-network": "company-network"}
	h := newHarness(t, setup{pf: pf, done: infraDone, vms: webAndWin(), mutate: mutate})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8")
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyShiftTab})
	h.send(tea.KeyMsg{Type: tea.KeyShiftTab})
	h.mustSee(t, "▸ Other networks  backend-network=company-network")
	for _, c := range []struct{ typed, want string }{
		{", backend-network", `"backend-network": want port group=org VDC network`},
		{"=company-network, backend-network=other", `port group "backend-network" is mapped twice`},
	} {
		h.typeText(c.typed)
		h.mustSee(t, c.want)
		if got := h.env.Plan().Networks; !maps.Equal(got, map[string]string{"backend-network": "company-network"}) {
			t.Errorf("after typing %q the plan's networks are %v", c.typed, got)
		}
	}
	// Back to one good pair, then another port group picked after it.
	for range len(", backend-network=company-network, backend-network=other") {
		h.send(tea.KeyMsg{Type: tea.KeyBackspace})
	}
	h.typeText(", ")
	h.mustSee(t, "dmz-network=company-network")
	h.mustNotSee(t, "backend-network=test-bubble") // mapped already
	h.send(press("enter"))
	if got := h.env.Plan().Networks; !maps.Equal(got, map[string]string{"backend-network": "company-network", "dmz-network": "company-network"}) {
		t.Errorf("after the pick the plan's networks are %v", got)
	}
}

// TestNetworksRefusalOpensOtherNetworks: a plan refused for a NIC's port
// group (mapped to nothing, or to a network the VDC lacks) says it refused
// an answer, and esc opens Other networks, where it is mapped.
func TestNetworksRefusalOpensOtherNetworks(t *testing.T) {
	mutate := func(m map[string]*fakeStep) {
		m["vm-selection"].fields = networksFields(t)
		m["vm-selection"].planErr = &steps.NetworksError{Err: fmt.Errorf("VM WinSrv1: NIC vmxnet3 00:50:56:01 on port group %q maps to org VDC network %q, which VDC Company-VDC does not have (networks: company-network)", "backend-network", "backend")}
	}
	pf := withVMs("WinSrv1")
	pf.Networks = map[string]string{"backend-network": "backend"}
	h := newHarness(t, setup{pf: pf, done: slices.Clone(infraDone), vms: webAndWin(), mutate: mutate})
	h.start(120, 40)
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	h.mustSee(t, "✗ failed", "which VDC Company-VDC does not have", "the plan refused an answer")
	h.send(press("esc"))
	h.mustSee(t, "▸ Other networks  backend-network=backend")
}

// TestProbeConflictOpensServiceProbes (QA: a probe VM selection found
// closed planned a conflict, and esc went back to the table): a conflict
// of step 5's plan that names one of its answers brings esc to it.
func TestProbeConflictOpensServiceProbes(t *testing.T) {
	mutate := func(m map[string]*fakeStep) {
		m["vm-selection"].fields = networksFields(t)
		m["vm-selection"].plan.Items = []steps.Item{{Action: steps.ActionConflict, Kind: "probe", Name: "WebApp2 (tcp)",
			Detail: "tcp 172.16.10.12:81 does not answer (connection refused) while WebApp2 runs on-prem", Field: "probes"}}
	}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: slices.Clone(infraDone), vms: webAndWin(), mutate: mutate})
	h.start(120, 40)
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	h.mustSee(t, "1 conflict(s)", "does not answer (connection refused)")
	h.send(press("esc"))
	h.mustSee(t, "▸ Service probes")
}
