package steps

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestResumedPassProgressAndSummary (QA: a ferry run killed in the initial
// sync, run again, printed "39 MiB of 39 MiB acknowledged (resumed ...),
// 0 B/s" about eight times while the resumed pass read back and checked
// what the killed run had made durable, and its summary said "initial
// pass: 0 B planned"): while nothing is acknowledged yet, the progress says
// the pass checks the durable data, without a rate, and once, however many
// events come; the summary counts the whole pass and what was durable.
func TestResumedPassProgressAndSummary(t *testing.T) {
	t.Parallel()
	var got []string
	emit := progressEmitter(func(ev Event) { got = append(got, ev.Message) }, "WebApp2")
	checking := replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Resumed: 39 << 20}}
	for range 8 {
		emit(checking)
		time.Sleep(260 * time.Millisecond) // past the emitter's throttle
	}
	if len(got) != 1 {
		t.Errorf("8 identical progress events of a resumed pass checking its durable data: %d lines, want 1: %q", len(got), got)
	}
	for _, line := range got {
		if strings.Contains(line, "0 B/s") || !strings.Contains(line, "39 MiB an earlier attempt made durable") {
			t.Errorf("progress of a resumed pass checking its durable data: %q", line)
		}
	}
	// Then the rest is sent: the usual line, counting the durable part.
	emit(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Resumed: 30 << 20, Planned: 9 << 20, Acked: 3 << 20}, AckRate: 1 << 20, Rate: 1 << 20})
	if last := got[len(got)-1]; !strings.Contains(last, "33 MiB of 39 MiB acknowledged (resumed: 30 MiB were durable already), 1.0 MiB/s") {
		t.Errorf("progress of a resumed pass sending the rest: %q", last)
	}

	if s := plannedText(replication.Counters{Resumed: 39 << 20}); s != "39 MiB planned (resumed: 39 MiB of it durable before the interruption, checked and not sent again; 0 B to send now)" {
		t.Errorf("summary of a resumed pass with everything durable: %q", s)
	}
	// QA: blocks the resumed pass's check found differing were sent again
	// all the same; the summary said none were.
	if s := plannedText(replication.Counters{Resumed: 39 << 20, Resent: 2}); !strings.Contains(s, "checked and not sent again but for 2 block(s) the check found differing, sent again") {
		t.Errorf("resumed with 2 blocks sent again: %q", s)
	}
	if s := plannedText(replication.Counters{Planned: 12 << 20}); s != "12 MiB planned" {
		t.Errorf("summary of a pass not resumed: %q", s)
	}
}

// TestResumedStepStartsFromWhatIsDurable (QA: after the wizard restarted
// with step 6 mid-way, the step's first line, "replicating WebApp1,
// WebApp2: their passes run together", said 0% of the step, and the bar
// read so until the passes' first progress lines, though WebApp2's
// interrupted initial sync goes on from what the receiver holds durably):
// the step starts from what the store records durable of each VM's pass
// in flight (WebApp2 half of its initial sync, WebApp1 nothing, WebApp3
// none: its pass in flight is not the one the step waits for), and WebApp2's
// resumed pass, reporting that half, keeps the step there without saying
// it was held.
func TestResumedStepStartsFromWhatIsDurable(t *testing.T) {
	t.Parallel()
	store, err := replication.OpenState(filepath.Join(t.TempDir(), "plan.replication.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d := replication.DiskState{Pass: "snapshot-1", Base: replication.AllChanged, Target: "1", Kind: replication.PassInitial, Watermark: 32 << 20, Size: 64 << 20}
	if err := store.PutDisk("WebApp2/2000", d); err != nil {
		t.Fatal(err)
	}
	// WebApp3 has a complete pass and one in flight: the step waits for
	// its next pass, which starts from 0.
	if err := store.PutVM("WebApp3", replication.VMState{LastPass: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp3/2000", replication.DiskState{Pass: "snapshot-2", Base: "1", Target: "2", Kind: replication.PassIncremental, Committed: "1", Watermark: 8 << 20, Size: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	fracs, err := resumedFractions(store, []string{"WebApp1", "WebApp2", "WebApp3"})
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	p := newStepProgress(func(ev Event) { got = append(got, ev) }, []VMPlan{{Name: "WebApp1"}, {Name: "WebApp2"}, {Name: "WebApp3"}})
	if from := p.seed(fracs); math.Abs(from-1.0/6) > 1e-9 {
		t.Errorf("the step starts from %v, want 1/6 (WebApp2's initial sync half durable; WebApp1 none; WebApp3 waits for a pass after its own)", from)
	}
	web2 := p.emitter("WebApp2")
	web2(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	web2(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Resumed: 32 << 20, Planned: 32 << 20}})
	last := got[len(got)-1]
	if math.Abs(last.Fraction-1.0/6) > 1e-9 || strings.Contains(last.Message, "the step counts it") {
		t.Errorf("WebApp2's resumed pass's first line: %q at %v, want 1/6 and no hold", last.Message, last.Fraction)
	}
}

// TestStepProgressBeforeTheRunIsItsFirstLine (step 6's bar before the
// run's first progress line, Env.StepProgress): it is what the first line
// of the warm VMs' passes will say (applyWarm's seed), so the bar does not
// move when that line comes. A cold VM does not count: its one pass runs
// before the warm VMs' and its lines carry no fraction of the step (when
// it is not the step's only VM), so counting what of it is durable would
// have the bar go back at the warm VMs' first line. Here WebApp2's initial
// sync is half durable, WebApp1 has nothing, and Archive1 (cold) has 3/4
// of its pass durable: the step starts from 1/4, not 5/12.
func TestStepProgressBeforeTheRunIsItsFirstLine(t *testing.T) {
	t.Parallel()
	env := NewEnv(nil, &PlanFile{VMs: []VMPlan{{Name: "WebApp1"}, {Name: "Archive1"}, {Name: "WebApp2"}}}, NewState(filepath.Join(t.TempDir(), "plan.state.json")))
	defer env.Close(t.Context())
	if err := env.State.SetOutput("replication", coldKey("Archive1"), ModeCold); err != nil {
		t.Fatal(err)
	}
	store, err := env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	for key, d := range map[string]replication.DiskState{
		"WebApp2/2000":  {Pass: "snapshot-1", Base: replication.AllChanged, Target: "1", Kind: replication.PassInitial, Watermark: 32 << 20, Size: 64 << 20},
		"Archive1/2000": {Pass: "cold-1", Base: replication.AllChanged, Target: "1", Kind: replication.PassInitial, Watermark: 48 << 20, Size: 64 << 20},
	} {
		if err := store.PutDisk(key, d); err != nil {
			t.Fatal(err)
		}
	}
	// What applyWarm's first line says, of the warm VMs.
	warm := []VMPlan{{Name: "WebApp1"}, {Name: "WebApp2"}}
	fracs, err := resumedFractions(store, []string{"WebApp1", "WebApp2"})
	if err != nil {
		t.Fatal(err)
	}
	first := newStepProgress(func(Event) {}, warm).seed(fracs)
	if got := env.StepProgress("replication"); math.Abs(got-first) > 1e-9 || math.Abs(got-0.25) > 1e-9 {
		t.Errorf("step 6 before its first line: %v, want %v, its first line's (1/4: WebApp2 half durable, WebApp1 nothing; Archive1, cold, not counted)", got, first)
	}
}
