package tui

import (
	"bytes"
	"fmt"
	"github.com/ferry-migrate/ferry/replication"
	"slices"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/ferry-migrate/ferry/steps"
)

// scenario drives a fresh wizard to one screen in one state.
type scenario struct {
	name  string
	build func(t testing.TB) *harness
}

func fillTrunk(h *harness, cidr string) {
	h.send(press("enter")) // org from the pick list
	for _, v := range []string{"Company-VDC", "company-edge", "company-network", cidr} {
		h.typeText(v)
		h.send(press("enter"))
	}
}

func dashboardData(h *harness, vms ...string) {
	for i, vm := range vms {
		u := ReplicationUpdate{VM: vm, Phase: "incremental", Pass: 12 + i, Planned: int64(400+100*i) << 20, Read: int64(300+50*i) << 20,
			Sent: int64(200+40*i) << 20, Acked: int64(180+40*i) << 20, ETA: time.Duration(20+i*7) * time.Second,
			LastPass: t0.Add(-time.Duration(40+i*5) * time.Second), NextPass: t0.Add(20 * time.Second), RPO: time.Minute,
			Health: RPOOK}
		if i == 2 {
			u.Phase, u.Health, u.Paused = "idle", RPOWarning, true
		}
		for k := 0; k < 12; k++ {
			u.Rate = float64((k*37+i*11)%23+4) * (1 << 20)
			h.send(replicationMsg(u))
		}
	}
	h.send(probeMsg{Pair: "WebApp1 → WebApp2", Kind: "tcp 172.16.10.12:80", Time: t0.Add(-30 * time.Second), Up: true, Latency: 2 * time.Millisecond})
	h.send(probeMsg{Pair: "WebApp2 → WebApp1", Kind: "icmp 172.16.10.11", Time: t0.Add(-90 * time.Second), Up: false})
	h.send(probeMsg{Pair: "WebApp2 → WebApp1", Kind: "icmp 172.16.10.11", Time: t0.Add(-81 * time.Second), Up: true, Latency: 3 * time.Millisecond})
}

// recordedPasses are the replication records of vms as dashboardData
// shows them (the last pass's snapshot), each with an incremental pass
// recorded: what their projected final passes come from.
func recordedPasses(vms ...string) map[string]replication.VMState {
	out := map[string]replication.VMState{}
	for i, vm := range vms {
		last := t0.Add(-time.Duration(40+i*5) * time.Second)
		out[vm] = replication.VMState{LastPass: last, LastIncremental: last, LastPlanned: int64(40+20*i) << 20,
			IncrementalInterval: time.Minute, IncrementalDuration: time.Duration(2+i) * time.Second, PassCount: 12 + i}
	}
	return out
}

func scenarios() []scenario {
	vmsDone := append(slices.Clone(infraDone), "vm-selection")
	return []scenario{
		{"rights-form", func(t testing.TB) *harness {
			h := newHarness(t, setup{lab: true})
			h.start(120, 40)
			return h
		}},
		{"trunk-form-error", func(t testing.TB) *harness {
			h := newHarness(t, setup{lab: true, done: []string{"rights"}})
			h.start(120, 40)
			fillTrunk(h, "172.16.10.0/24")
			h.send(press("enter"))
			return h
		}},
		{"trunk-plan", func(t testing.TB) *harness {
			h := newHarness(t, setup{done: []string{"rights"}})
			h.start(120, 40)
			fillTrunk(h, "172.16.10.1/24")
			h.send(press("enter"))
			return h
		}},
		{"trunk-applying", func(t testing.TB) *harness {
			h := newHarness(t, setup{done: []string{"rights"}})
			h.start(120, 40)
			fillTrunk(h, "172.16.10.1/24")
			h.send(press("enter"))
			h.deliver(press("enter")) // apply; events are fed by hand
			ev := h.steps["trunk-network"].events
			h.deliver(stepEventMsg{Step: 1, Event: ev[0]}, stepEventMsg{Step: 1, Event: ev[1]}, stepEventMsg{Step: 1, Event: steps.Progress("creating tunnel", 0.6)})
			return h
		}},
		{"trunk-done", func(t testing.TB) *harness {
			h := newHarness(t, setup{done: []string{"rights"}})
			h.start(120, 40)
			fillTrunk(h, "172.16.10.1/24")
			h.send(press("enter"))
			h.send(press("enter"))
			return h
		}},
		{"appliance-conflict", func(t testing.TB) *harness {
			h := newHarness(t, setup{done: []string{"rights", "trunk-network"}})
			h.start(120, 40)
			h.send(press("enter"))
			h.typeText("172.16.10.250")
			h.send(press("enter"))
			h.send(press("enter"))
			return h
		}},
		{"dcext-failed", func(t testing.TB) *harness {
			h := newHarness(t, setup{done: []string{"rights", "trunk-network", "appliance"}})
			h.start(120, 40)
			h.send(press("enter"))
			h.send(press("enter"))
			return h
		}},
		{"vm-table", func(t testing.TB) *harness {
			h := toVMScreen(t.(*testing.T), 120, 40)
			h.send(press("down"))
			h.send(press("space"))
			for range 3 {
				h.send(press("down"))
			}
			return h
		}},
		{"vm-options", func(t testing.TB) *harness {
			h := toVMScreen(t.(*testing.T), 120, 40)
			h.send(press("space"))
			h.send(press("tab"))
			h.send(press("tab"))
			h.typeText("30s")
			return h
		}},
		{"replication-dashboard", func(t testing.TB) *harness {
			h := newHarness(t, setup{pf: withTestNetwork(withVMs("WebApp1", "WebApp2", "WebApp3")), done: vmsDone, feeds: true,
				replicas: recordedPasses("WebApp1", "WebApp2", "WebApp3")})
			h.start(120, 40)
			dashboardData(h, "WebApp1", "WebApp2", "WebApp3")
			h.send(press("down"))
			return h
		}},
		{"checks", func(t testing.TB) *harness {
			h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(vmsDone, "replication")})
			h.start(120, 40)
			dashboardData(h, "WebApp2")
			return h
		}},
		{"cutover-confirm", func(t testing.TB) *harness {
			h := toCutover(t.(*testing.T), nil)
			dashboardData(h, "WebApp2")
			h.typeText("WebApp")
			h.send(press("enter"))
			return h
		}},
		{"cutover-confirm-wave", func(t testing.TB) *harness {
			h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone})
			h.start(120, 40)
			dashboardData(h, "WebApp1", "WebApp2", "WebApp3")
			h.typeText("WebApp")
			h.send(press("enter"))
			return h
		}},
		{"cutover-running", func(t testing.TB) *harness {
			h := toCutover(t.(*testing.T), nil)
			h.typeText("WebApp2")
			h.deliver(press("enter"))
			h.clock = t0.Add(23 * time.Second)
			for _, ev := range h.steps["cutover"].events[:3] {
				h.deliver(stepEventMsg{Step: 7, Event: ev})
			}
			h.deliver(probeMsg{Pair: "WebApp1 → WebApp2", Kind: "tcp 172.16.10.12:80", Time: t0.Add(15 * time.Second), Up: false})
			return h
		}},
		{"cutover-report", func(t testing.TB) *harness {
			h := toCutover(t.(*testing.T), nil)
			dashboardData(h, "WebApp2")
			h.send(probeMsg{Pair: "WebApp1 → WebApp2", Kind: "tcp 172.16.10.12:80", Time: t0.Add(15 * time.Second), Up: false})
			h.send(probeMsg{Pair: "WebApp1 → WebApp2", Kind: "tcp 172.16.10.12:80", Time: t0.Add(44 * time.Second), Up: true, Latency: 2 * time.Millisecond})
			h.typeText("WebApp2")
			_, run := h.m.Update(press("enter"))
			h.clock = t0.Add(3*time.Minute + 5*time.Second)
			h.settle(run)
			return h
		}},
		{"help", func(t testing.TB) *harness {
			h := newHarness(t, setup{pf: withVMs("WebApp2"), done: vmsDone, feeds: true})
			h.start(120, 40)
			h.send(press("?"))
			return h
		}},
	}
}

var goldenSizes = [][2]int{{80, 24}, {120, 40}}

// TestGolden runs each scenario's model in a bubbletea program (teatest) at
// 80x24 and 120x40 and compares the final screen, colours stripped, with
// testdata/TestGolden/<scenario>/<size>.golden (go test ./tui -update
// rewrites them).
func TestGolden(t *testing.T) {
	for _, sc := range scenarios() {
		for _, sz := range goldenSizes {
			t.Run(fmt.Sprintf("%s/%dx%d", sc.name, sz[0], sz[1]), func(t *testing.T) {
				h := sc.build(t)
				tm := teatest.NewTestModel(t, h.m, teatest.WithInitialTermSize(sz[0], sz[1]))
				// The size message is queued before the quit: the final
				// model has seen it.
				if err := tm.Quit(); err != nil {
					t.Fatal(err)
				}
				fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
				golden.RequireEqual(t, []byte(ansi.Strip(fm.View())+"\n"))
			})
		}
	}
}

// TestProgramFlow drives the real bubbletea loop (teatest): the plan and
// the apply run as commands and stream back, and the screen shows each
// phase as it arrives.
func TestProgramFlow(t *testing.T) {
	h := newHarness(t, setup{})
	tm := teatest.NewTestModel(t, h.m, teatest.WithInitialTermSize(100, 30))
	waitFor := func(s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	waitFor("Company-Dev") // choices loaded asynchronously
	tm.Send(press("enter"))
	waitFor("nothing has changed yet")
	tm.Send(press("enter"))
	waitFor("done")
	tm.Send(press("enter"))
	waitFor("Step 2 of 8")
	tm.Send(press("ctrl+c"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
	if !fm.Interrupted() || h.env.State.Status("rights") != steps.StatusDone {
		t.Fatalf("final: interrupted %v, rights %s", fm.Interrupted(), h.env.State.Status("rights"))
	}
}
