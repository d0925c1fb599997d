package tui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestLongWarningStaysInTheDashboard (QA at 80x24: the warning of an ESXi
// host that stopped answering mid-pass, wrapped to 11 lines under the VM's
// detail line, went past the dashboard's height: the probe panel was
// pushed off the screen and the warning's end lost with no mark; it read
// "WebApp1: VM WebApp1: reading disks ..."): the warning names its VM
// once, the probe panel stays, and a warning cut says so with "…". At
// 120x40 it has room and shows whole.
func TestLongWarningStaysInTheDashboard(t *testing.T) {
	msg := "VM WebApp1: reading disks through vCenter's /folder proxy, not host-direct: ESXi host esx-02.onprem.lab (127.0.0.1:43217) stopped answering during a pass; the pass goes on through the proxy, the slowest read path (virt-v2v calls it so; expect several times slower passes and a longer cutover), and the next pass tries the host again. The host's error: host esx-02.onprem.lab: Get \"https://127.0.0.1:43217/folder/WebApp1/WebApp1.vmdk?dsName=onprem-ds\": dial tcp 127.0.0.1:43217: connect: connection refused"
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
		handle := func(vm string, ev replication.Event) {
			ev.VM, ev.Time = vm, t0
			f.Handle(ev)
			h.send(replicationMsg(<-f.Updates()))
		}
		for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
			handle(vm, replication.Event{Kind: replication.EventPassDone, Number: 4, LastPassAge: 50 * time.Second})
		}
		handle("WebApp1", replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Pass: replication.PassIncremental})
		handle("WebApp1", replication.Event{Kind: replication.EventWarning, Msg: msg})
		h.send(press("[")) // the dashboard (step 6)
		view := h.view()
		h.mustSee(t, "VM WebApp1: reading disks through vCenter's", "Probes")
		h.mustNotSee(t, "WebApp1: VM WebApp1")
		// The panel's lines, the note from its first line to its last.
		var note []string
		for _, l := range strings.Split(view, "\n") {
			_, r, _ := strings.Cut(l, "│ ")
			r = strings.TrimRight(r, " ")
			if strings.HasPrefix(r, "VM WebApp1: reading") || len(note) > 0 && strings.HasPrefix(r, "  ") {
				note = append(note, strings.TrimSpace(r))
				continue
			}
			if len(note) > 0 {
				break
			}
		}
		text := strings.Join(note, " ")
		if size[0] == 120 {
			if !strings.HasSuffix(text, "connect: connection refused") {
				t.Errorf("at 120x40 the warning is not whole: %q\n%s", text, view)
			}
			continue
		}
		if !strings.HasSuffix(text, "…") || !strings.Contains(text, "stopped answering during a pass") {
			t.Errorf("at 80x24 the warning reads %q, want its beginning, cut with …:\n%s", text, view)
		}
	}
}

// TestWaitNoteEndsWithTheWait: a pass's snapshot waits for another task on
// the VM (a backup job's): the job's warning says so under the VM's detail
// line while it waits, and is gone once the pass moves on (it read "ferry
// waits for it" after the pass had long ended); a warning of what ferry
// did (reads through vCenter's proxy) stays until the next such news.
func TestWaitNoteEndsWithTheWait(t *testing.T) {
	wait := "vCenter refused a task: another task (task-busy-1, in vCenter's recent tasks) holds the VM; ferry waits for it to end and tries again, for up to 3m0s"
	proxy := "VM WebApp1: reading disks through vCenter's /folder proxy, not host-direct"
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
	h.start(120, 40)
	f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
	handle := func(ev replication.Event) {
		ev.VM, ev.Time = "WebApp1", t0
		f.Handle(ev)
		h.send(replicationMsg(<-f.Updates()))
	}
	handle(replication.Event{Kind: replication.EventPassDone, Number: 4, LastPassAge: 50 * time.Second})
	handle(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Pass: replication.PassIncremental})
	handle(replication.Event{Kind: replication.EventWarning, Msg: wait, Transient: true})
	h.send(press("[")) // the dashboard (step 6)
	h.mustSee(t, "another task (task-busy-1")
	handle(replication.Event{Kind: replication.EventPhase, Phase: replication.PhasePlan, Pass: replication.PassIncremental})
	h.mustNotSee(t, "another task (task-busy-1")
	handle(replication.Event{Kind: replication.EventWarning, Msg: proxy})
	handle(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseTransfer, Pass: replication.PassIncremental})
	h.mustSee(t, "reading disks through vCenter's /folder proxy")
}
