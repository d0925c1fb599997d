package tui

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

var checksDone = append(slices.Clone(infraDone), "vm-selection", "replication", "checks")

// TestCutoverConfirmProjectsDowntime (issue 12 item 4): the confirmation
// projects the whole window per VM (not only the final pass), marks what is
// a default, and, for VMs confirmed together, the wave's downtime.
func TestCutoverConfirmProjectsDowntime(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone})
	h.start(120, 40)
	h.mustSee(t, "projected downtime ~1m13s", "shutdown 30s* · final pass 10s*", "power on 5.0s* · probes green: none", "(* default: not recorded yet)",
		"Confirmed together they are one wave: both at once (cutover.parallel allows it)", "rollback · projected wave downtime ~1m13s")
	// QA: "2 at a time (cutover.parallel)" read as if the setting were 2
	// (it is 4 by default).
	h.mustNotSee(t, "2 at a time")
}

// TestCutoverConfirmSaysCold: a VM step 6 found to be migrated cold gets
// no warm projection; the confirmation says what its window does, and
// counts it in the wave (QA: a wave of 5 with a cold VM read "all 4 at
// once", its line "last pass 29s ago · no complete pass yet", and "a
// running source is shut down first" for a source that was off).
func TestCutoverConfirmSaysCold(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "legacy-ftp"), done: checksDone})
	if err := h.env.State.SetOutput("replication", "mode.legacy-ftp", steps.ModeCold); err != nil {
		t.Fatal(err)
	}
	h.start(160, 40)
	h.mustSee(t, "cold migration: its source is shut down first if it runs, then one pass without a snapshot inside the window",
		"Confirmed together they are one wave: both at once", "for the 1 with a projection (a cold migration's window is its one pass, not projected)")
	if strings.Count(h.view(), "projected downtime ~") != 1 {
		t.Errorf("want a projection for the warm VM only:\n%s", h.view())
	}
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "cold migration:") && strings.Contains(l, "last pass") {
			t.Errorf("the cold VM's line ages a last pass: %s", l)
		}
	}
}

// TestCutoverConfirmProjectsFromRecords: with a recorded change rate and
// pass throughput (the replication store) and an earlier cutover's report
// beside the state file, the projection comes from them: no defaults left.
// A probe watches WebApp2, so its cutover waits for it to answer: the
// projection counts the recorded "probes green".
func TestCutoverConfirmProjectsFromRecords(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.Probes = []steps.ProbePlan{{Name: "WebApp2 (tcp)", VM: "WebApp2", TCP: "172.16.10.12:80"}}
	h := newHarness(t, setup{pf: pf, done: checksDone})
	dir := filepath.Dir(h.env.State.Path())
	store, err := replication.OpenState(h.env.State.Path() + ".replication.db")
	if err != nil {
		t.Fatal(err)
	}
	// 60 MiB a minute, the last pass took 2 s at 20 MiB/s.
	if err := store.PutVM("WebApp2", replication.VMState{LastPass: t0, LastPlanned: 60 << 20, LastInterval: time.Minute, LastDuration: 2 * time.Second, LastRate: 20 << 20}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	ph := func(name string, s float64) steps.PhaseRecord {
		return steps.PhaseRecord{Name: name, Start: t0, End: t0.Add(time.Duration(s * float64(time.Second)))}
	}
	rep := steps.CutoverReport{Started: t0, Finished: t0.Add(time.Minute), VMs: []steps.VMReport{{VM: "WebApp1", Outcome: "migrated",
		Phases: []steps.PhaseRecord{ph("shutdown", 4), ph("final pass", 1), ph("verify", 1), ph("create VM at provider", 1),
			ph("import into vCD", 2), ph("connect networks", 1), ph("power on", 1), ph("probes green", 9)}}}}
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(filepath.Join(dir, "cutover-20261124-120000.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start(120, 40)
	// shutdown 4 + final pass (2 s + 4 s) x 1 MiB/s / 20 MiB/s = 0.3 + 1+1+2+1+1+9.
	h.mustSee(t, "projected downtime ~19s", "shutdown 4.0s · final pass 0.3s · verify 1.0s", "probes green 9.0s")
	h.mustNotSee(t, "* default", "one wave")
}

// TestCutoverConfirmNoChangeSeen: when the last incremental pass found
// nothing changed, the confirmation's projection says so beside the final
// pass, which is not a default.
func TestCutoverConfirmNoChangeSeen(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone})
	store, err := replication.OpenState(h.env.State.Path() + ".replication.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutVM("WebApp2", replication.VMState{LastPass: t0, LastIncremental: t0, LastInterval: time.Minute, LastDuration: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	h.start(120, 40)
	h.mustSee(t, "shutdown 30s* · final pass 0.0s (no change in the last pass) · verify 0.0s*")
	h.mustNotSee(t, "0 B/s", "final pass 0.0s*")
}

// TestCutoverTimelinePerVM (item 5): the VMs of a wave report at once; the
// timeline times each phase to the next line of the same VM, not to
// whichever VM spoke next, and shows every VM's current phase as running.
func TestCutoverTimelinePerVM(t *testing.T) {
	h := runningWave(t, 120, 40, 10*time.Second, []steps.Event{
		{Kind: steps.EventProgress, Message: "WebApp1: shutdown", Fraction: -1, Time: t0},
		{Kind: steps.EventProgress, Message: "WebApp2: shutdown", Fraction: -1, Time: t0.Add(time.Second)},
		{Kind: steps.EventProgress, Message: "WebApp1: final pass", Fraction: -1, Time: t0.Add(3 * time.Second)},
		{Kind: steps.EventProgress, Message: "WebApp2: final pass", Fraction: -1, Time: t0.Add(7 * time.Second)},
	}, "WebApp1", "WebApp2")
	h.mustSee(t, "✓    +0s  3s      WebApp1: shutdown", "✓    +1s  6s      WebApp2: shutdown",
		"+3s  7s      WebApp1: final pass", "+7s  3s      WebApp2: final pass")
}

// TestDashboardDetailOfAColdVM (QA: the replication dashboard's detail line
// of a cold VM read "pass: planned 0 B · read 0 B · sent 0 B · acked 0 B ·
// RPO 1m00s" beside "cold: no RPO"): it says what a cold migration does.
func TestDashboardDetailOfAColdVM(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("legacy-ftp"), done: append(slices.Clone(infraDone), "vm-selection"), running: []string{"replication"}})
	if err := h.env.State.SetOutput("replication", "mode.legacy-ftp", steps.ModeCold); err != nil {
		t.Fatal(err)
	}
	h.start(120, 40)
	h.mustSee(t, "cold: no RPO", "legacy-ftp: cold migration, no pass every RPO")
	h.mustNotSee(t, "legacy-ftp pass: planned", "RPO 1m00s")
	// Nothing to compare (QA: v was offered and then failed).
	h.send(press("v"))
	h.mustSee(t, "legacy-ftp is a cold migration: no passes to pause or compare")
}

// TestLiveTimelineFoldsEndedPhases (QA: in a wave at 120x40 the passes'
// parts, snapshot, plan, transfer, commit... of each VM pushed the phases
// out of the live view): while the cutover runs, a phase under way shows
// its parts indented under it, a phase that ended is one line; the
// report lists every part.
func TestLiveTimelineFoldsEndedPhases(t *testing.T) {
	ev := phaseEvent
	events := []steps.Event{
		ev("WebApp1: pre-cutover pass", 0, true),
		ev("WebApp1: snapshot", 100*time.Millisecond, false),
		ev("WebApp1: transfer", 200*time.Millisecond, false),
		ev("WebApp1: pre-cutover pass done in 1s (4 MiB changed, 4 MiB sent)", time.Second, false),
		ev("WebApp1: shutdown", time.Second, true),
		ev("WebApp1: shutdown done in 1s (guest shut down)", 2*time.Second, false),
		ev("WebApp1: final pass", 2*time.Second, true),
		ev("WebApp1: snapshot", 2100*time.Millisecond, false),
		ev("WebApp1: transfer", 2200*time.Millisecond, false),
	}
	h := runningWave(t, 120, 40, 3*time.Second, events, "WebApp1")
	h.mustSee(t, "✓    +0s  1s      WebApp1: pre-cutover pass (4 MiB changed, 4 MiB sent)",
		"✓    +1s  1s      WebApp1: shutdown (guest shut down)",
		"+2s  1s      WebApp1: final pass", "+2s  100ms     WebApp1: snapshot", "+2s  800ms     WebApp1: transfer")
	var parts int
	for _, l := range panel(h.view()) {
		if strings.Contains(l, "WebApp1: snapshot") || strings.Contains(l, "WebApp1: transfer") {
			parts++
		}
	}
	if parts != 2 {
		t.Errorf("the live view shows %d parts of passes, want the 2 of the final pass under way (the ended pass's are in its line):\n%s", parts, h.view())
	}
}

// TestFailedPhaseMarkedAboveItsRollback (QA: a phase that failed read ✓
// above the rollback that followed it): a phase the cutover began and
// never said done, another begun after it, is marked ✗.
func TestFailedPhaseMarkedAboveItsRollback(t *testing.T) {
	ev := phaseEvent
	h := toCutover(t, func(m map[string]*fakeStep) {
		m["cutover"].events = []steps.Event{
			ev("WebApp2: shutdown", 0, true),
			ev("WebApp2: shutdown done in 1s (guest shut down)", time.Second, false),
			ev("WebApp2: create VM at provider", time.Second, true),
			ev("WebApp2: source answering", 3*time.Second, true),
			ev("WebApp2: source answering done in 1s (probes answering)", 4*time.Second, false),
		}
		m["cutover"].err = errors.New("WebApp2: create VM at provider: vCenter refused")
	})
	h.typeText("WebApp2")
	h.send(press("enter"))
	h.send(tea.WindowSizeMsg{Width: 120, Height: 60})
	for _, want := range []string{"✓    +0s  1s      WebApp2: shutdown (guest shut down)", "✗    +1s  2s      WebApp2: create VM at provider", "✓    +3s  1s      WebApp2: source answering (probes answering)"} {
		if !slices.ContainsFunc(panel(h.view()), func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("no line %q:\n%s", want, h.view())
		}
	}
}

// TestCutoverProjectionReadOffTheView: the confirmation's projections read
// the replication store and every saved report; the view read them itself,
// for each VM, at a frame every 5 s (N VMs times M reports, stalling the
// screen of a large wave). Now they are read in the background, again at
// most every 5 s after a message: a report saved meanwhile changes
// nothing in a frame drawn before one, and shows after it.
func TestCutoverProjectionReadOffTheView(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone})
	h.start(120, 40)
	h.mustSee(t, "projected downtime ~1m13s", "shutdown 30s*")
	ph := func(name string, s float64) steps.PhaseRecord {
		return steps.PhaseRecord{Name: name, Start: t0, End: t0.Add(time.Duration(s * float64(time.Second)))}
	}
	rep := steps.CutoverReport{Started: t0, Finished: t0.Add(time.Minute), VMs: []steps.VMReport{{VM: "WebApp1", Outcome: "migrated",
		Phases: []steps.PhaseRecord{ph("shutdown", 4)}}}}
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(filepath.Join(filepath.Dir(h.env.State.Path()), "cutover-20261124-120000.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	h.clock = h.clock.Add(6 * time.Second)
	if v := h.m.View(); !strings.Contains(v, "shutdown 30s*") || strings.Contains(v, "shutdown 4.0s") {
		t.Fatalf("the frame read the reports itself:\n%s", v)
	}
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.mustSee(t, "shutdown 4.0s")
	h.mustNotSee(t, "shutdown 30s*")
}

// TestLiveTimelineKeepsWaitingVMs (QA: at 80x24 the live view showed the
// latest lines only, so in a wave larger than cutover.parallel the line of
// a VM waiting for its window went out of view under the phases of the
// VMs in theirs): a line still under way stays in view, its time running.
func TestLiveTimelineKeepsWaitingVMs(t *testing.T) {
	ev := phaseEvent
	const waiting = "WebApp3: ready to shut down; waiting for a place among the wave's cutover.parallel windows (2 at a time): WebApp1 and WebApp2 are in theirs"
	events := []steps.Event{
		ev("WebApp3: pre-cutover pass", 0, true),
		ev("WebApp3: pre-cutover pass done in 1s (4 MiB changed, 4 MiB sent)", time.Second, false),
		ev(waiting, time.Second, false),
	}
	for i, phase := range []string{"shutdown", "final pass", "verify", "create VM at provider", "import into vCD", "connect networks", "power on"} {
		for _, vm := range []string{"WebApp1", "WebApp2"} {
			at := time.Second + time.Duration(i)*time.Second
			events = append(events, ev(vm+": "+phase, at, true), ev(vm+": "+phase+" done in 1s", at+time.Second, false))
		}
	}
	events = append(events, ev("WebApp1: probes green", 9*time.Second, true), ev("WebApp2: probes green", 9*time.Second, true))
	h := runningWave(t, 80, 24, 10*time.Second, events, "WebApp1", "WebApp2", "WebApp3")
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		var line string
		for _, l := range panel(h.view()) {
			if strings.Contains(l, "WebApp3: ready to shut down") {
				line = l
			}
		}
		// Its time runs from its start (+1s) to now (+10s).
		if !strings.Contains(line, "+1s  9s") || !strings.Contains(h.view(), "WebApp2: probes green") {
			t.Errorf("%dx%d: WebApp3's wait %q, want it in view (+1s, 9s so far) beside the latest phases:\n%s", size[0], size[1], line, h.view())
		}
	}
}

// phaseEvent is a cutover progress line at t0+at; begins: a phase starts.
func phaseEvent(msg string, at time.Duration, begins bool) steps.Event {
	return steps.Event{Kind: steps.EventProgress, Message: msg, Fraction: -1, Time: t0.Add(at), Begins: begins}
}

// runningWave confirms vms as one wave on a w x h wizard whose cutover
// reports events and goes on running (until the test ends), the clock at
// t0+now once they are delivered.
func runningWave(t *testing.T, w, h int, now time.Duration, events []steps.Event, vms ...string) *harness {
	t.Helper()
	release := make(chan struct{})
	hs := newHarness(t, setup{pf: withVMs(vms...), done: checksDone, mutate: func(m map[string]*fakeStep) {
		m["cutover"].block = release
		m["cutover"].events = events
	}})
	t.Cleanup(func() { close(release) }) // before the harness's own
	hs.start(w, h)
	hs.typeText(strings.Join(vms, ","))
	hs.deliver(press("enter"))
	hs.clock = t0.Add(now)
	for _, e := range events {
		hs.deliver(stepEventMsg{Step: 7, Event: e})
	}
	return hs
}

// TestCutoverEstimateBreaksBetweenPhases (QA walk: the confirmation read
// "import into vCD" / "10s*" at 80 and 120 columns, "· probes" / "green
// 0.9s", and "(*" alone at a line's end): the projection's phases wrap
// between phases, each with its figure.
func TestCutoverEstimateBreaksBetweenPhases(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone})
		h.start(size[0], size[1])
		h.mustSee(t, "shutdown 30s*", "import into vCD 10s*", "create VM at provider 5.0s*", "probes green: none", "(* default:")
		for _, l := range strings.Split(h.view(), "\n") {
			if l = strings.TrimRight(l, " "); strings.HasSuffix(l, "(*") || strings.HasSuffix(l, "import into") || strings.HasSuffix(l, "· probes") {
				t.Errorf("at %dx%d a phase is cut from its figure: %q", size[0], size[1], l)
			}
		}
	}
}

// TestCutoverWaveFollowsTheNamesTyped (QA: with three VMs, typing two of
// the names still read "one wave: all 3", and the prompt said naming some
// cuts them over "one by one", while they are cut over together): the wave
// line names the VMs the typed names choose, and projects their wave.
func TestCutoverWaveFollowsTheNamesTyped(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone})
	h.start(120, 40)
	h.mustSee(t, "Confirmed together they are one wave: all 3 at once", "or some of the names to cut over only those:")
	h.mustNotSee(t, "one by one")
	h.typeText("WebApp1,WebApp3")
	h.mustSee(t, "Confirmed, WebApp1 and WebApp3 are one wave: both at once (cutover.parallel allows it)", "projected wave downtime ~1m13s")
	h.mustNotSee(t, "all 3 at once")
	// One name: no wave; a name not listed: the whole list's, as before.
	h.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	h.typeText("WebApp2")
	h.mustNotSee(t, "one wave")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	h.typeText("WebApp1,WebApp9")
	h.mustSee(t, "Confirmed together they are one wave: all 3 at once")
}
