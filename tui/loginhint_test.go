package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestRefusedLoginSaysRestart (QA: a wrong password in the --config file
// failed step 1's plan with "Fix the cause named above, then press r to
// plan again"; the file corrected, r failed again, since ferry reads it
// once, at its start): a refused login says that a retry uses the same
// username and password, and how to correct them. A password typed at
// ferry's prompt is asked again, and the hint says so once one was asked.
func TestRefusedLoginSaysRestart(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"vCenter", fmt.Errorf("vCenter https://vc.example/sdk: %w for ferry@vsphere.local (the config's onprem.username and onprem.password, or GOVC_USERNAME and GOVC_PASSWORD)", vsphere.ErrLogin)},
		{"Cloud Director", fmt.Errorf("Cloud Director https://vcd.example/api: %w for administrator@System (the config's vcd.username and vcd.password, or VCD_USER and VCD_PASSWORD)", vcd.ErrLogin)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
				mutate: func(m map[string]*fakeStep) { m["appliance"].planErr = c.err }})
			h.start(80, 24)
			answerAppliance(h)
			mustRead(t, h, "wrong username or password", "Nothing was changed: the login was refused", "a retry (r) uses them again", "quit (q), correct them, and start ferry again")
			for _, w := range []string{"Fix the cause named above", "asked again"} {
				if strings.Contains(mainText(h.view()), w) {
					t.Errorf("the screen reads %q:\n%s", w, h.view())
				}
			}
		})
	}

	// Attached to ferry serve, the engine read them: it is what restarts.
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"}, session: &Session{Who: "alice"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].planErr = fmt.Errorf("vCenter https://vc.example/sdk: %w for ferry@vsphere.local", vsphere.ErrLogin)
		}})
	h.start(120, 40)
	answerAppliance(h)
	mustRead(t, h, "ferry serve read the username and password named above when it started", "correct them and start ferry serve again")

	h = newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].planErr = fmt.Errorf("Cloud Director https://vcd.example/api: %w for administrator@System", vcd.ErrLogin)
		}})
	h.start(120, 40)
	reply := make(chan secretReply, 1)
	h.send(secretAskMsg{Name: "VCD_PASSWORD", What: "the Cloud Director provider administrator's password", Reply: reply})
	h.typeText("typed-wrong")
	h.send(press("enter"))
	<-reply
	answerAppliance(h)
	mustRead(t, h, "the login was refused", "A password typed at ferry's prompt is asked again: press r to type it again")
}
