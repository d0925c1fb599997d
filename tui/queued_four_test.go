package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestQueuedDetailWholeWithFourVMs (QA: at 80x24 with four VMs, their
// initial syncs and full compares done, the detail line of a queued VM
// under the cursor was cut after its figures, "WebApp3 pass: planned ...
// sent 57…": its row said "queued" and nothing said why, nor what its
// last full compare found): the detail line shows whole, wrapped, every
// VM keeps its row, and the probes keep their heading and a line that
// names them; at 120x40 too.
func TestQueuedDetailWholeWithFourVMs(t *testing.T) {
	vms := []string{"WebApp1", "WebApp2", "WebApp3", "WebApp4"}
	f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
	var jobs []replication.JobStatus
	for i, vm := range vms {
		j := replication.JobStatus{VM: vm, RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Health: replication.HealthOK,
			LastPass: t0.Add(-time.Duration(20+10*i) * time.Second), Passes: 2, NextPass: t0.Add(time.Duration(30-10*i) * time.Second), Slots: 2,
			LastCompare: &replication.CompareResult{Time: t0.Add(-2 * time.Minute), Blocks: 4096, Differing: 3, Repaired: 3}}
		if i < 2 {
			j.Running = true
		}
		jobs = append(jobs, j)
	}
	f.Seed(jobs)
	// WebApp3's pass falls due while WebApp1's and WebApp2's hold both slots.
	f.Handle(replication.Event{VM: "WebApp3", Kind: replication.EventScheduled, Time: t0, Queued: true, NextPass: t0.Add(-5 * time.Second), LastPassAge: 40 * time.Second,
		Msg: "pass due, waiting for a free pass slot (2 run at once)"})
	rows := map[string]ReplicationUpdate{}
	for u := range drainAll(f) {
		rows[u.VM] = u
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs(vms...), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 5})
		h.clock = t0
		for _, vm := range vms {
			h.send(replicationMsg(rows[vm]))
		}
		h.send(probeMsg{Pair: "WebApp1 → WebApp2", Kind: "tcp 172.16.10.12:80", Time: t0.Add(-30 * time.Second), Up: true, Latency: 2 * time.Millisecond})
		h.send(probeMsg{Pair: "WebApp3 → WebApp4", Kind: "tcp 172.16.10.14:80", Time: t0.Add(-30 * time.Second), Up: true, Latency: 2 * time.Millisecond})
		h.send(probeMsg{Pair: "WebApp4 → WebApp1", Kind: "icmp 172.16.10.11", Time: t0.Add(-30 * time.Second), Up: false, Err: "no reply"})
		h.send(press("down"))
		h.send(press("down")) // the cursor on WebApp3
		v := h.view()
		_, main, _ := shown(v)
		words := strings.Join(strings.Fields(strings.Join(main, " ")), " ")
		for _, want := range []string{
			"WebApp1 ", "WebApp2 ", "WebApp3 queued #2", "WebApp4 ",
			// Under the cursor, whole: why it waits, the plan's
			// setting, and its last full compare.
			"its pass waits for a free pass slot (2 at a time: concurrent_passes) · last full compare 2m00s ago: 4096 blocks compared, 3 differing, 3 repaired",
			// The probes: their heading, and the down one named, first.
			"Probes", "WebApp4 → WebApp1",
		} {
			if !strings.Contains(words, want) {
				t.Errorf("%dx%d: the dashboard lacks %q\n%s", size[0], size[1], want, v)
			}
		}
		if probes := words[strings.Index(words, "Probes"):]; !strings.Contains(probes, "WebApp4 → WebApp1 DOWN") && !strings.Contains(probes, "✗ WebApp4 → WebApp1") ||
			!strings.Contains(probes, "WebApp1 → WebApp2") && !strings.Contains(probes, "more") {
			t.Errorf("%dx%d: the probes are not all named, the down one first: %q\n%s", size[0], size[1], probes, v)
		}
		for _, l := range main {
			if strings.HasPrefix(l, "Probes") {
				break
			}
			if strings.Contains(l, "…") {
				t.Errorf("%dx%d: a line is cut: %q\n%s", size[0], size[1], l, v)
			}
		}
		if strings.Contains(words, "rows ") {
			t.Errorf("%dx%d: the dashboard scrolls its four VMs\n%s", size[0], size[1], v)
		}
	}
}
