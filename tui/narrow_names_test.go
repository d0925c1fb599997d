package tui

import (
	"github.com/ferry-migrate/ferry/replication"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/config"
)

// TestHeaderAt80Columns (QA: in the lab, 80 columns read "org Company /
// C…"): the endpoints' addresses give way, the VCD's first, so that the
// lab badge and the org and VDC show whole; a wider window shows them all.
func TestHeaderAt80Columns(t *testing.T) {
	cfg := &config.Config{Lab: true,
		OnPrem: config.Endpoint{URL: "https://127.0.0.1:40117/sdk"},
		VCD:    config.Endpoint{URL: "https://127.0.0.1:39823/api"},
		Tenant: config.Endpoint{Org: "Company"}}
	h := newHarness(t, setup{cfg: cfg, pf: withVMs("WebApp2"), done: infraDone})
	h.start(80, 24)
	head, _, _ := strings.Cut(h.view(), "\n")
	if want := "ferry ·  LAB  · vCenter 127.0.0.1:40117 · org Company / Company-VDC"; strings.TrimSpace(head) != want {
		t.Errorf("header at 80 columns:\n%q\nwant\n%q", head, want)
	}
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	head, _, _ = strings.Cut(h.view(), "\n")
	if want := "ferry ·  LAB  · vCenter 127.0.0.1:40117 · VCD 127.0.0.1:39823 · org Company / Company-VDC"; strings.TrimSpace(head) != want {
		t.Errorf("header at 120 columns:\n%q\nwant\n%q", head, want)
	}
	h.send(tea.WindowSizeMsg{Width: 60, Height: 24})
	head, _, _ = strings.Cut(h.view(), "\n")
	if want := "ferry ·  LAB  · org Company / Company-VDC"; strings.TrimSpace(head) != want {
		t.Errorf("header at 60 columns:\n%q\nwant\n%q", head, want)
	}
}

// longNames are lab-like VMs whose names outgrow a narrow column.
var longNames = append(slices.Clone(fakeVMs),
	vm("kiosk-nonpersistent", "poweredOn", "172.16.10.32", 8, 1, false, 0),
	vm("oracle-rdm-physical-standby-node-02", "poweredOn", "172.16.10.33", 8, 1, false, 0))

// TestVMNamesWholeAt80Columns (QA: at 80 columns the VM table read
// "kiosk-nonpe…"): the names take the width the less important columns
// leave; a name longer than the column's cap shows whole on the line
// under the table when the cursor is on it.
func TestVMNamesWholeAt80Columns(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: longNames})
	h.start(80, 24)
	h.mustSee(t, "[ ] kiosk-nonpersistent ", "Power Mode IP")
	for range len(longNames) - 1 {
		h.send(press("down"))
	}
	_, main, _ := shown(h.view())
	if words := strings.Join(strings.Fields(strings.Join(main, " ")), " "); !strings.Contains(words, "oracle-rdm-physical-standby-node-02: warm migration") {
		t.Errorf("the VM under the cursor is not named whole:\n%s", h.view())
	}
}

// TestSidebarVMNamesWhole (QA: the sidebar cut long VM names with the
// phase): a replication row shows the name whole up to the sidebar's
// width, the phase shortened first, then dropped.
func TestSidebarVMNamesWhole(t *testing.T) {
	names := []string{"WebApp1", "fileserver-ind", "kiosk-nonpersistent1"}
	h := newHarness(t, setup{pf: withVMs(names...), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
	h.start(80, 24)
	dashboardData(h, names...)
	side, _, _ := shown(h.view())
	sidebar := strings.Join(side, "\n")
	for _, want := range []string{"● WebApp1 incremental", "● fileserver-ind incr…", "▲ kiosk-nonpersistent1"} {
		if !strings.Contains(sidebar, want) {
			t.Errorf("the sidebar lacks %q:\n%s", want, h.view())
		}
	}
}

// TestSidebarLongVMNameWraps (QA: a VM name longer than the sidebar's 20
// cells was cut, "oracle-rdm-physical…", where the main panel shows it
// whole): the name goes on under itself, broken after a hyphen, and the
// phase follows it when it fits.
func TestSidebarLongVMNameWraps(t *testing.T) {
	names := []string{"WebApp1", "oracle-rdm-physical-standby-node-02", "kiosk-nonpersistent1"}
	h := newHarness(t, setup{pf: withVMs(names...), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
	h.start(80, 24)
	dashboardData(h, names...)
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		side, _, _ := shown(h.view())
		var rows []string
		for _, l := range side {
			rows = append(rows, strings.TrimRight(l, " "))
		}
		i := slices.Index(rows, "● oracle-rdm-physical-")
		if i < 0 || i+1 >= len(rows) || !strings.HasPrefix(rows[i+1], "  standby-node-02 inc") {
			t.Errorf("at %dx%d the sidebar does not show the long name whole, wrapped under itself:\n%s", size[0], size[1], h.view())
		}
		for _, want := range []string{"● WebApp1 incremental", "▲ kiosk-nonpersistent1"} {
			if !slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, want) }) {
				t.Errorf("at %dx%d the sidebar lacks %q:\n%s", size[0], size[1], want, h.view())
			}
		}
	}
}

// TestDashboardDetailLineWhole (QA: at 120 columns in the lab the detail
// line under the VM rows ended "· RPO 5m00s · last…"): the last full
// compare shows whole, the line wrapping under itself.
func TestDashboardDetailLineWhole(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
	h.start(120, 40)
	h.send(replicationMsg(ReplicationUpdate{VM: "WebApp2", Phase: "idle", Pass: 2, Planned: 256 << 20, Read: 256 << 20, Sent: 769 << 10, Acked: 256 << 20,
		LastPass: t0.Add(-8 * time.Second), NextPass: t0.Add(292 * time.Second), RPO: 5 * time.Minute, Health: RPOOK,
		LastCompare: &replication.CompareResult{Time: t0.Add(-3 * time.Minute), Blocks: 256}}))
	_, main, _ := shown(h.view())
	if words := strings.Join(strings.Fields(strings.Join(main, " ")), " "); !strings.Contains(words, "· RPO 5m00s · last full compare 3m00s ago: 256 blocks compared, 0 differing, 0 repaired") {
		t.Errorf("the detail line is not whole:\n%s", h.view())
	}
}
