package tui

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/steps"
)

// TestEscFromReplicationOpensTheRefusedAnswer (QA walk: step 6's plan
// refused provider.receiver_vm, "Press esc to correct it (it opens that
// answer)", and esc stayed on step 6's dashboard, which asks nothing):
// esc goes to VM selection with that answer focused, from a refused
// answer or a conflict naming it, in step 6 and in step 7 (which asks
// nothing either).
func TestEscFromReplicationOpensTheRefusedAnswer(t *testing.T) {
	for _, c := range []struct {
		name, step, heading, see, field string
		mutate                          func(*fakeStep)
	}{
		{"refused answer", "replication", "Step 6 of 8", "Press esc to correct it", "▸ Receiver appliance", func(f *fakeStep) {
			f.planErr = &steps.FieldError{Key: "provider.receiver_vm", Err: errors.New("name the receiver appliance, the provider VM that runs `ferry receiver`")}
		}},
		{"conflict", "replication", "Step 6 of 8", "a VM Cloud Director runs for the tenant", "▸ Receiver appliance", func(f *fakeStep) {
			f.plan.Items = []steps.Item{{Action: steps.ActionConflict, Kind: "VM", Name: "WebApp2 (669225db)",
				Detail: "a VM Cloud Director runs for the tenant, not the receiver appliance", Field: "provider.receiver_vm"}}
		}},
		{"checks conflict", "checks", "Step 7 of 8", "does not answer", "▸ Service probes", func(f *fakeStep) {
			f.plan.Items = []steps.Item{{Action: steps.ActionConflict, Kind: "probe", Name: "WebApp2 (tcp)",
				Detail: "tcp 172.16.10.12:81 does not answer", Field: "probes"}}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := append(slices.Clone(infraDone), "vm-selection")
			if c.step == "checks" {
				done = append(done, "replication")
			}
			h := newHarness(t, setup{pf: withVMs("WebApp2"), done: done, vms: webAndWin(),
				mutate: func(m map[string]*fakeStep) {
					m["vm-selection"].fields = (&steps.VMSelection{}).Fields()
					c.mutate(m[c.step])
				}})
			h.start(120, 40)
			h.mustSee(t, c.heading)
			h.send(press("enter"))
			h.mustSee(t, c.see)
			h.send(press("esc"))
			h.mustSee(t, "Step 5 of 8", c.field)
			// Back on the step, enter plans it again (with the answer
			// corrected), rather than the refusal showing again.
			idx := map[string]int{"replication": 5, "checks": 6}[c.step]
			h.send(gotoStepMsg{Index: idx})
			h.mustSee(t, c.heading, "Press enter to plan")
			h.mustNotSee(t, c.see)
		})
	}
}

// TestEscToAnEarlierStepsAnswerPlansAnewOnReturn (hB QA: step 4 refused
// appliance.ip, esc opened step 3 with it, the answer was corrected, and
// back on step 4 the old refusal still showed): back on the step, its
// answers (or enter) plan it anew.
func TestEscToAnEarlierStepsAnswerPlansAnewOnReturn(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: []string{"rights", "trunk-network", "appliance"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].fields = (&steps.Appliance{}).Fields()
			m["dc-extension"].planErr = &steps.FieldError{Key: "appliance.ip", Err: errors.New("172.16.10.250 answers ARP from another MAC")}
		}})
	h.start(120, 40)
	h.mustSee(t, "Step 4 of 8")
	h.send(press("enter"))
	h.mustSee(t, "answers ARP from another MAC")
	h.send(press("esc"))
	h.mustSee(t, "Step 3 of 8", "▸ Appliance IP")
	h.send(gotoStepMsg{Index: 3})
	h.mustSee(t, "Step 4 of 8")
	h.mustNotSee(t, "answers ARP from another MAC")
}

// TestEscFromVMSelectionToAnEarlierAnswerPlansAnewOnReturn: the same for
// step 5, whose refusal names step 2's network.gateway_cidr.
func TestEscFromVMSelectionToAnEarlierAnswerPlansAnewOnReturn(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: infraDone, vms: webAndWin(),
		mutate: func(m map[string]*fakeStep) {
			m["trunk-network"].fields = (&steps.Trunk{}).Fields()
			m["vm-selection"].planErr = &steps.FieldError{Key: "network.gateway_cidr", Err: errors.New("WebApp2's address 10.0.0.5 is outside 172.16.10.1/24")}
		}})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8")
	h.send(press("enter"))                 // options
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS}) // plan now
	h.mustSee(t, "is outside 172.16.10.1/24")
	h.send(press("esc"))
	h.mustSee(t, "Step 2 of 8", "▸ Gateway CIDR")
	h.send(gotoStepMsg{Index: 4})
	h.mustSee(t, "Step 5 of 8")
	h.mustNotSee(t, "is outside 172.16.10.1/24")
}

// TestEscFromVMSelectionOpensARefusedOption (QA walk hB: step 5's plan
// refused a storage policy the VDC lacks, "Press esc to correct it (it
// opens that answer)", and esc left the options for the VM table): esc
// opens the job option the refusal names, in this step's options.
func TestEscFromVMSelectionOpensARefusedOption(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: infraDone, vms: webAndWin(),
		mutate: func(m map[string]*fakeStep) {
			m["vm-selection"].planErr = fmt.Errorf("VM WebApp2: %w", &steps.FieldError{Key: "storage_profile", Err: errors.New(`storage policy "Golden" not found (available: *, NFS)`)})
		}})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8")
	h.send(press("enter"))                 // options
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS}) // plan now
	h.mustSee(t, `storage policy "Golden" not found`, "Press esc to correct it (it opens that")
	h.send(press("esc"))
	h.mustSee(t, "Step 5 of 8", "▸ Storage policy")
}
