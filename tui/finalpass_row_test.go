package tui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestFinalPassRowSaysNoSnapshot (QA: during a cutover's final pass the
// dashboard's row of the VM read "snapshot", although the VM is off and
// the pass takes none; the cutover's progress read "open the disks (no
// snapshot: the VM is powered off)"): the row and the sidebar read "open
// disks", at 120 and 80 columns; a running VM's pass still reads
// "snapshot".
func TestFinalPassRowSaysNoSnapshot(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
		h.start(size[0], size[1])
		f := NewReplicationFeed(nil)
		for _, vm := range []string{"WebApp1", "WebApp2"} {
			f.Handle(replication.Event{VM: vm, Kind: replication.EventPassDone, Pass: replication.PassIncremental, Number: 3, Time: t0})
			h.send(replicationMsg(<-f.Updates()))
		}
		// As replication.Job emits them: a final pass's open, a pass's snapshot.
		f.Handle(replication.Event{VM: "WebApp1", Kind: replication.EventPhase, Phase: replication.PhaseSnapshot,
			Msg: "open the disks (no snapshot: the VM is powered off)", Time: t0.Add(time.Second)})
		h.send(replicationMsg(<-f.Updates()))
		f.Handle(replication.Event{VM: "WebApp2", Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Time: t0.Add(time.Second)})
		h.send(replicationMsg(<-f.Updates()))
		h.mustSee(t, "open disks #3", "● WebApp1 open disks", "snapshot #3", "● WebApp2 snapshot")
		if n := strings.Count(h.view(), "snapshot #3"); n != 1 {
			t.Errorf("%dx%d: %d rows read \"snapshot\"; want WebApp2's only:\n%s", size[0], size[1], n, h.view())
		}
	}
}
