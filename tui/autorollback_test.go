package tui

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// What steps.Env.RecoverInterruptedCutovers emits for WebApp2, rolled back
// or not, when the wizard starts.
const (
	autoRolledBackMsg = "WebApp2: ROLLED BACK AUTOMATICALLY: the cutover a previous ferry process left interrupted had shut the source down at 2026-12-03 07:00:00 UTC; " +
		"ferry removed what it left at the provider (replica disks kept), powered the source on again at 07:04:10 UTC after 4m10s of downtime, and replication resumes; " +
		"cut over again with `ferry run --confirm-cutover=WebApp2`"
	autoRollbackFailedMsg = "WebApp2: AUTOMATIC ROLLBACK FAILED of the cutover a previous ferry process left interrupted before power-on of the target was requested (it shut the source down at 2026-12-03 07:00:00 UTC): " +
		"connection refused; its state and its hold on the replica stay as they were; roll it back with `ferry run --confirm-cutover=WebApp2 --rollback`, or cut over again with `--confirm-cutover=WebApp2`"
	keptMsg = "WebApp2: LEFT TO GO ON, AS DECIDED: the cutover a previous ferry process left interrupted before power-on of the target was requested shut the source down at 2026-12-03 07:00:00 UTC; " +
		"ferry leaves it as it is (a source still off stays off, its service down) for the cutover to go on from there; cut over again with `ferry run --confirm-cutover=WebApp2`, or roll it back with `--confirm-cutover=WebApp2 --rollback`"
	recoveredNote = "its cutover, interrupted before power-on of the target was requested, was ROLLED BACK AUTOMATICALLY at 2026-12-03 07:04:10 UTC: " +
		"the source was down from 2026-12-03 07:00:00 UTC (4m10s of downtime); the replica disks are kept"
)

// mainText is the main panel's text (right of the sidebar), its lines
// joined and its spaces collapsed: a sentence reads whole however it wraps.
func mainText(view string) string {
	var parts []string
	for _, l := range strings.Split(view, "\n") {
		if _, after, ok := strings.Cut(l, "│ "); ok {
			l = after
		}
		parts = append(parts, l)
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

func mustRead(t *testing.T, h *harness, want ...string) {
	t.Helper()
	v := mainText(h.view())
	for _, w := range want {
		if !strings.Contains(v, w) {
			t.Fatalf("the screen does not read %q:\n%s", w, h.view())
		}
	}
}

// TestAutoRollbackOnTheScreen (QA: the rollback ferry did by itself when
// the wizard started, of a cutover a killed ferry had left with the source
// down, was said on the terminal before the alternate screen opened, seen
// only after quitting): the screen the wizard opens on says it, naming the
// VM, when the source was down and for how long, that it was rolled back
// (replica disks kept, replication resumes) and how to cut over again;
// the cutover screen says it above its confirmation until the VM is cut
// over again; a rollback that failed is said too.
func TestAutoRollbackOnTheScreen(t *testing.T) {
	want := []string{"WebApp2: ROLLED BACK AUTOMATICALLY", "shut the source down at 2026-12-03 07:00:00 UTC",
		"powered the source on again at 07:04:10 UTC after 4m10s of downtime", "replica disks kept", "replication resumes",
		"To cut WebApp2 over again: step 8 (Cutover), type WebApp2."}
	recovered := []steps.Event{
		steps.Warning("WebApp2: a cutover a previous ferry process left interrupted before power-on of the target was requested shut the source down at 2026-12-03 07:00:00 UTC and it is still off: rolling back (replica disks kept)"),
		steps.Warning(autoRolledBackMsg),
	}
	rolledBack := func(t *testing.T, done []string) *harness {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: done, cutoverState: map[string]string{"WebApp2": "rolled back"}, recovered: recovered})
		if err := h.env.State.SetOutput("cutover", "auto_rollback.WebApp2", recoveredNote); err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		// Opened on the cutover, as after a killed cutover: above the
		// confirmation, which still asks for the names.
		h := rolledBack(t, checksDone)
		h.start(size[0], size[1])
		mustRead(t, h, append(want, "Step 8 of 8", "Type WebApp2 to confirm")...)
		h.mustNotSee(t, "ferry run --confirm-cutover")
	}
	t.Run("another first screen", func(t *testing.T) {
		// Opened elsewhere (the checks to run again): said above it; the
		// cutover screen says it too; the other screens do not.
		h := rolledBack(t, slices.Clone(checksDone[:len(checksDone)-1]))
		h.start(120, 40)
		mustRead(t, h, append(want, "Step 7 of 8")...)
		h.send(gotoStepMsg{Index: 7})
		mustRead(t, h, append(want, "Step 8 of 8")...)
		h.send(gotoStepMsg{Index: 5})
		if strings.Contains(h.view(), "ROLLED BACK AUTOMATICALLY") {
			t.Errorf("step 6 shows the notice:\n%s", h.view())
		}
	})
	t.Run("failed", func(t *testing.T) {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone, cutoverState: map[string]string{"WebApp2": "running"},
			recovered: []steps.Event{steps.Warning(autoRollbackFailedMsg)}})
		h.start(120, 40)
		mustRead(t, h, "WebApp2: AUTOMATIC ROLLBACK FAILED", "connection refused", "its state and its hold on the replica stay as they were",
			"ctrl+r and type WebApp2 to roll it back, or type WebApp2 to cut it over again", "Step 8 of 8")
	})
	t.Run("kept to go on", func(t *testing.T) {
		// The operator chose, before the screen opened, to go on with the
		// cutover (interruptedPrompt): the screen says how, and projects
		// no new window for it (its source is down since the shutdown).
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone, cutoverState: map[string]string{"WebApp2": "running"},
			recovered: []steps.Event{steps.Warning(keptMsg)}})
		if err := h.env.State.SetOutput("cutover", "source_shutdown.WebApp2", "2026-12-03T07:00:00Z"); err != nil {
			t.Fatal(err)
		}
		h.start(120, 40)
		mustRead(t, h, "WebApp2: left to go on, as decided: the source its interrupted cutover shut down (at 07:00:00 UTC) stays off, its service down, until the cutover goes on.",
			"To go on from there: step 8 (Cutover), type WebApp2 (no new power cycle); to roll it back instead: ctrl+r there, type WebApp2.", "Step 8 of 8")
		h.mustNotSee(t, "ferry run --confirm-cutover", "projected downtime ~", "This shuts down the source VMs")
		mustRead(t, h, "⚠ This starts WebApp2 in Cloud Director; its source stays down, as an interrupted cutover left it.")

		// Two VMs: said once for both (QA: 8 lines a VM at 80 columns).
		keptOf := func(vm string) steps.Event {
			return steps.Warning(strings.ReplaceAll(keptMsg, "WebApp2", vm))
		}
		h = newHarness(t, setup{pf: withVMs("WebApp2", "WebApp3"), done: checksDone, cutoverState: map[string]string{"WebApp2": "running", "WebApp3": "running"},
			recovered: []steps.Event{keptOf("WebApp2"), keptOf("WebApp3")}})
		for _, vm := range []string{"WebApp2", "WebApp3"} {
			if err := h.env.State.SetOutput("cutover", "source_shutdown."+vm, "2026-12-03T07:00:00Z"); err != nil {
				t.Fatal(err)
			}
		}
		h.start(80, 24)
		mustRead(t, h, "WebApp2 and WebApp3: left to go on, as decided: the sources their interrupted cutovers shut down (at 07:00:00 UTC) stay off, their services down, until their cutovers go on.",
			"To go on from there: step 8 (Cutover), type WebApp2,WebApp3 (no new power cycle); to roll them back instead: ctrl+r there, type WebApp2,WebApp3.",
			"⚠ This starts the VMs in Cloud Director; their sources stay down, as interrupted cutovers left them.")
		// WebApp3 rolled back since: its source runs and is shut down,
		// WebApp2's is down already.
		if err := h.env.State.SetOutput("cutover", "cutover.WebApp3", "rolled back"); err != nil {
			t.Fatal(err)
		}
		h.send(gotoStepMsg{Index: 7})
		mustRead(t, h, "⚠ This shuts down the source VMs and starts them in Cloud Director. WebApp2's source is down already (an interrupted cutover left it so): it is not shut down again.")
	})
	t.Run("no rollback", func(t *testing.T) {
		// Nothing rolled back at this start: no notice (the state's note
		// of an earlier start stays in the VM's line).
		h := rolledBack(t, checksDone)
		h.m.w.recovered = nil
		h.start(120, 40)
		h.mustNotSee(t, "ROLLED BACK AUTOMATICALLY:", "To cut WebApp2 over again")
		mustRead(t, h, "was ROLLED BACK AUTOMATICALLY at 2026-12-03 07:04:10 UTC")
	})
}

// TestAutoRollbackToAViewer (QA: a watching session was told to "type
// WebApp2", which only the driver can): a read-only session reads that
// the driver cuts the VM over again.
func TestAutoRollbackToAViewer(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone, readOnly: true, cutoverState: map[string]string{"WebApp2": "rolled back"},
		recovered: []steps.Event{steps.Warning(autoRolledBackMsg)}})
	if err := h.env.State.SetOutput("cutover", "auto_rollback.WebApp2", recoveredNote); err != nil {
		t.Fatal(err)
	}
	h.start(80, 24)
	mustRead(t, h, "WebApp2: ROLLED BACK AUTOMATICALLY", "The driver cuts WebApp2 over again on step 8 (Cutover).")
	h.mustNotSee(t, "type WebApp2", "To cut WebApp2 over again")
}
