package tui

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// afterCutover is the wizard after WebApp2 was cut over: its source is
// off, WebApp1 still runs on-prem, ferry's appliance runs beside them.
var afterCutover = []vsphere.VM{
	vm("WebApp1", "poweredOn", "172.16.10.11", 20, 1, true, 0),
	vm("WebApp2", "poweredOff", "", 20, 1, true, 0),
	vm("ferry-l2vpn-client", "poweredOn", "172.16.10.9", 2, 1, false, 0),
}

var allDone = append(slices.Clone(infraDone), "vm-selection", "replication", "checks", "cutover")

// TestCutOverVMOnePhaseEverywhere (issue 14 item 1): once WebApp2 is cut
// over, the dashboard, the sidebar, the resume key and the cutover prompt
// all say so, whatever the engine reported last.
func TestCutOverVMOnePhaseEverywhere(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks"),
		cutOver: []string{"WebApp2"}, feeds: true, vms: afterCutover})
	h.start(120, 40)
	// The engine's last word about WebApp2: paused by the cutover.
	h.send(replicationMsg{VM: "WebApp2", Phase: "paused", Paused: true, Health: RPOOK})
	h.send(replicationMsg{VM: "WebApp1", Phase: "idle", Health: RPOOK})
	h.mustSee(t, "Type WebApp1 to confirm:", "already cut over: WebApp2", "✓ WebApp2 cut over")
	h.mustNotSee(t, "WebApp1,WebApp2", "WebApp2 paused")
	h.typeText("WebApp2")
	h.send(press("enter"))
	h.mustSee(t, "WebApp2 is already cut over; type WebApp1.")
	if st := h.env.State.Status("cutover"); st != steps.StatusPending {
		t.Fatalf("cutover ran for a VM already cut over: %s", st)
	}
	h.send(gotoStepMsg{Index: 5})
	h.mustSee(t, "WebApp2         cut over", "✓ migrated", "1 cut over")
	h.mustNotSee(t, "WebApp2         paused", "RPO ok       \n  replication ended")
	h.send(press("down")) // WebApp2's row
	h.mustSee(t, "✗u resume: WebApp2 is cut over", "✗p pause: WebApp2 is cut over")
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.mustSee(t, "✓ WebApp2 cut over")
}

// TestCutOverVMNotPickable (item 2) and TestFerryApplianceNotPickable
// (item 3): step 5 lists them with the reason and refuses to select them;
// nothing advises powering a cut-over VM on.
func TestCutOverVMNotPickable(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: allDone, vms: afterCutover})
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 4})
	h.mustSee(t, "Every VM of the plan is cut over: press esc to select VMs for another wave", "cut over: WebApp2")
	h.send(press("esc")) // edit the answers: the table
	h.send(press("down"))
	h.mustSee(t, " ✓  WebApp2", "WebApp2 is cut over: it runs in Cloud Director now", "0 of 3 selected")
	h.mustNotSee(t, "power it on")
	h.send(press("space"))
	h.mustSee(t, "✗space select: WebApp2 is cut over", "0 of 3 selected")
}

func TestFerryApplianceNotPickable(t *testing.T) {
	h := newHarness(t, setup{pf: &steps.PlanFile{VDC: "Company-VDC", Network: steps.NetworkPlan{Name: "company-network"}}, done: infraDone, vms: afterCutover})
	h.start(120, 40)
	h.send(press("down"))
	h.send(press("down"))
	h.send(press("space"))
	h.mustSee(t, "ferry-l2vpn-client is ferry's L2 VPN client appliance: migrating it would cut the stretch", "0 of 3 selected")
}

// TestSecondWave (item 4): after WebApp2's cutover, selecting WebApp1 in
// step 5 and applying leads to step 6 ready to replicate it, with no
// trick; the plan keeps WebApp2's record.
func TestSecondWave(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: allDone, vms: afterCutover})
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 4})
	h.send(press("esc"))
	h.send(press("space")) // WebApp1
	h.send(press("enter")) // options
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	h.mustSee(t, "Plan — nothing has changed yet", "1 VM(s): WebApp1", "cut over: WebApp2")
	h.send(press("enter")) // apply
	h.mustSee(t, "✓ done")
	names := []string{}
	for _, vm := range h.env.Plan().VMs {
		names = append(names, vm.Name)
	}
	if !slices.Equal(names, []string{"WebApp2", "WebApp1"}) {
		t.Fatalf("plan VMs %v, want WebApp2 kept and WebApp1 added", names)
	}
	h.send(press("enter")) // next step
	if h.screenID() != "replication" {
		t.Fatalf("at %s", h.screenID())
	}
	h.mustSee(t, "WebApp1 added to the plan since this step ran", "enter plan replication")
	h.send(press("enter"))
	h.mustSee(t, "Plan — nothing has changed yet")
	h.send(press("enter"))
	h.mustSee(t, "✓ replication started")
	h.send(gotoStepMsg{Index: 7})
	h.mustSee(t, "Type WebApp1 to confirm:", "already cut over: WebApp2")
}

// TestPowerOnIsAToggle (item 19): the field is a toggle; typing "False"
// or "FALSE" into it leaves power-on off, never on.
func TestPowerOnIsAToggle(t *testing.T) {
	for _, typed := range []string{"False", "FALSE", "no"} {
		h := toVMScreen(t, 120, 40)
		h.send(press("space"))
		h.send(press("tab"))
		for range 5 { // job, RPO, VDC, network, storage: to power on
			h.send(press("tab"))
		}
		h.mustSee(t, "▸ Power on", "[x] yes", "space toggle")
		h.typeText(typed)
		h.mustSee(t, "[ ] no")
		h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
		if on := h.env.Plan().VMs[0].PowerOn; on == nil || *on {
			t.Fatalf("typed %q: power on %v, want false", typed, on)
		}
	}
	h := toVMScreen(t, 120, 40)
	h.send(press("space"))
	h.send(press("tab"))
	for range 5 {
		h.send(press("tab"))
	}
	h.send(press("space"))
	h.mustSee(t, "[ ] no")
	h.send(press("space"))
	h.mustSee(t, "[x] yes")
}

// TestDoneSeparatesCreatedFromUsed (item 16): what ferry created is listed
// apart from what it found and only uses.
func TestDoneSeparatesCreatedFromUsed(t *testing.T) {
	h := newHarness(t, setup{done: []string{"rights"}, mutate: func(m map[string]*fakeStep) {
		m["trunk-network"].result.Resources = []steps.Resource{{Kind: "edge gateway", Name: "company-edge", ID: "urn:edge"}}
	}})
	h.start(120, 40)
	fillTrunk(h, "172.16.10.1/24")
	h.send(press("enter"))
	h.send(press("enter"))
	h.mustSee(t, "Created by ferry", "org VDC network company-network", "Used by ferry", "edge gateway company-edge")
	v := h.view()
	if strings.Index(v, "edge gateway company-edge") < strings.Index(v, "Used by ferry") {
		t.Fatalf("the edge gateway is listed as created by ferry:\n%s", v)
	}
}

// TestStretchUpOnDone (item 18): step 4's done screen says the stretch is
// UP on both ends.
func TestStretchUpOnDone(t *testing.T) {
	h := newHarness(t, setup{done: []string{"rights", "trunk-network", "appliance"}, mutate: func(m map[string]*fakeStep) {
		m["dc-extension"].err = nil
	}})
	h.start(80, 24)
	h.send(press("enter"))
	h.send(press("enter"))
	h.mustSee(t, "✓ done", "The stretch is UP on both ends")
}

// TestDowntimeReportKeptAfterRestart (item 17): a wizard opened after the
// cutover shows the saved report's figures, worded as its Markdown, and
// what to do next, and the target as the provider vCenter showed it (the
// name Cloud Director gave it, with its moref), as the report holds it.
func TestDowntimeReportKeptAfterRestart(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: allDone})
	rep := &steps.CutoverReport{Started: t0, Finished: t0.Add(6105 * time.Millisecond),
		VMs: []steps.VMReport{{VM: "WebApp2", Outcome: "migrated", MeasuredDowntimeSeconds: 3.19, ServiceWindowSeconds: 3.21,
			ProviderVM: "WebApp2 (5b0e3f0c-2a9e-4c1d-9d55-0c7f4e1a2b3c) [vm-54]"}}}
	md, _, err := rep.Save(filepath.Dir(h.env.State.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.env.State.SetOutput("cutover", "report", md); err != nil {
		t.Fatal(err)
	}
	h.start(120, 40)
	h.mustSee(t, "✓ cutover complete", "Downtime report · the cutover took 6.105s", "WebApp2: migrated · measured downtime 3.2s · shutdown to power-on 3.2s",
		"in the provider vCenter: WebApp2 (5b0e3f0c-2a9e-4c1d-9d55-0c7f4e1a2b3c) [vm-54]",
		filepath.Base(md), "Next: every VM of the job is cut over")
	b, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(b), "| WebApp2 | migrated | 3.2s | 3.2s |") ||
		!strings.Contains(string(b), "Target in the provider vCenter: WebApp2 (5b0e3f0c-2a9e-4c1d-9d55-0c7f4e1a2b3c) [vm-54].") {
		t.Fatalf("the Markdown report does not carry the same figures: %v\n%s", err, b)
	}
}

// TestVMScreenAfterCutoverInSession: step 5's screen, built before the
// cutover, no longer counts the cut-over VM as selected.
func TestVMScreenAfterCutoverInSession(t *testing.T) {
	on := slices.Clone(afterCutover)
	on[1].PowerState = "poweredOn"
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks"), vms: on})
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 4}) // step 5 read the VMs: WebApp2 runs
	h.send(gotoStepMsg{Index: 7})
	h.typeText("WebApp2")
	h.send(press("enter"))
	h.mustSee(t, "✓ cutover complete")
	off := slices.Clone(afterCutover)
	off[1].PowerState = "poweredOff"
	h.inventory = func(context.Context) ([]vsphere.VM, error) { return off, nil }
	h.send(gotoStepMsg{Index: 4})
	h.send(press("esc"))
	h.mustSee(t, "0 of 3 selected", " ✓  WebApp2                  off")
}

// TestReplicationEndedWhenAllCutOver (QA: after the last wave, step 6 still
// read "✓ replication started"): once every VM of the plan is cut over,
// step 6 says replication ended, naming them.
func TestReplicationEndedWhenAllCutOver(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks", "cutover"),
		cutOver: []string{"WebApp1", "WebApp2"}})
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 5})
	h.mustSee(t, "✓ replication ended", "every VM is cut over: WebApp1, WebApp2")
	h.mustNotSee(t, "replication started")
}

// TestDashboardDonePass (QA: an idle VM's row read "pass 100% ETA —"): a
// pass all acknowledged says done, not an unknown ETA.
func TestDashboardDonePass(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
	h.start(120, 40)
	h.send(replicationMsg(ReplicationUpdate{VM: "WebApp2", Phase: "idle", Pass: 2, Planned: 16 << 20, Read: 16 << 20, Sent: 1 << 20, Acked: 16 << 20,
		LastPass: t0.Add(-time.Second), NextPass: t0.Add(59 * time.Second), RPO: time.Minute, Health: RPOOK}))
	h.mustSee(t, "pass 100% done")
	h.mustNotSee(t, "ETA —")
}

// TestCreatedIDsWhole: a resource's ID is shown whole at 80 columns, on
// its own line when kind, name and ID do not fit one (QA: "org VDC network
// company-network urn:vcloud:network:0…").
func TestCreatedIDsWhole(t *testing.T) {
	const id = "urn:vcloud:network:0b6f43c2-8a51-4e07-9d4e-27c1a3f0e9b5"
	const sess = "da37933b-47ec-460f-8a66-c2e41f6b8a90"
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{done: []string{"rights"}, mutate: func(m map[string]*fakeStep) {
			m["trunk-network"].result.Resources = []steps.Resource{
				{Kind: "org VDC network", Name: "company-network", ID: id, Created: true},
				{Kind: "L2VPN session", Name: "ferry-l2vpn", ID: sess, Created: true},
			}
		}})
		h.start(size[0], size[1])
		fillTrunk(h, "172.16.10.1/24")
		h.send(press("enter"))
		h.send(press("enter"))
		h.mustSee(t, "Created by ferry", "org VDC network company-network", id, "L2VPN session ferry-l2vpn", sess)
	}
}

// TestSecondWaveJobNamesItsVMs (QA: a second wave of WebApp1 and WebApp3,
// after WebApp2 was cut over, was named "WebApp2-and-2-more-Migration"):
// the default job name names the wave's VMs, not one cut over before, and
// the first wave's default name in the plan follows the new selection.
func TestSecondWaveJobNamesItsVMs(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		pf := withVMs("WebApp2")
		pf.Job = "WebApp2-Migration"
		vms := append(slices.Clone(afterCutover), vm("WebApp3", "poweredOn", "172.16.10.13", 40, 1, true, 0))
		h := newHarness(t, setup{pf: pf, done: allDone, vms: vms})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 4})
		h.send(press("esc"))
		h.mustSee(t, "WebApp3", "0 of 4 selected")
		h.mustNotSee(t, "job WebApp2-Migration") // the first wave's
		h.send(press("space"))                   // WebApp1
		h.mustSee(t, "job WebApp1-Migration")
		for range 5 {
			if strings.Contains(h.view(), "▸ [ ] WebApp3") {
				break
			}
			h.send(press("down"))
		}
		h.send(press("space")) // WebApp3
		h.mustSee(t, "[x] WebApp1", "[x] WebApp3", "job WebApp1-WebApp3-Migration")
		h.mustNotSee(t, "WebApp2-and-")
		h.send(press("tab"))
		h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
		if j := h.env.Plan().Job; j != "WebApp1-WebApp3-Migration" {
			t.Fatalf("%dx%d: job %q, want WebApp1-WebApp3-Migration", size[0], size[1], j)
		}
	}
}

// TestWrapKeepsHyphenatedWordsWhole (QA walk at 80x24: the cutover report
// read "WebApp2 (6bbd74f4-80a5-" / "44c3-9c45-ad87095de44c)", step 2's
// changes "company-" / "edge"): wrapped text breaks between words, never
// at a hyphen inside an ID or a name.
func TestWrapKeepsHyphenatedWordsWhole(t *testing.T) {
	const uuid, edge = "(6bbd74f4-80a5-44c3-9c45-ad87095de44c)", "company-edge"
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{done: []string{"rights"}, mutate: func(m map[string]*fakeStep) {
			m["trunk-network"].events = append(m["trunk-network"].events,
				steps.Warning("the provider vCenter holds WebApp2 "+uuid+" [vm-50] behind edge gateway "+edge+" of Company-VDC"))
		}})
		h.start(size[0], size[1])
		fillTrunk(h, "172.16.10.1/24")
		h.send(press("enter"))
		h.send(press("enter"))
		h.mustSee(t, "Warnings", uuid, edge)
	}
}
