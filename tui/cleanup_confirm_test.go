package tui

import (
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// TestCleanupAsksAndSaysWhatItRemoved (QA demo: the dashboard's x removed
// a test migration's VM at once, without a question, and said only "test
// cleanup: done"): x asks first, naming the test vApp and VM it deletes
// and that the replica is kept; n keeps them (nothing runs), y runs the
// cleanup, and its result line names what it removed.
func TestCleanupAsksAndSaysWhatItRemoved(t *testing.T) {
	h := newHarness(t, setup{pf: withTestNetwork(withVMs("WebApp2", "WebApp3")), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true,
		testsRecorded: []string{"WebApp2"}})
	h.start(120, 40)
	h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(press("[")) // the dashboard (step 6)
	h.mustSee(t, "TEST MIGRATION LEFT RUNNING: WebApp2 · x cleans it up")

	h.send(press("x"))
	mustRead(t, h, "Clean up the test migration of WebApp2? It deletes vApp ferry-test-WebApp2 with its VM WebApp2-ferry-test",
		"removes the receiver appliance's test snapshot (ferry-test-migration)", "The replica disks are kept and replication goes on. y cleans up, n keeps it.")
	h.mustSee(t, "y remove the test copies", "n/esc keep them")
	h.send(press("n"))
	h.mustSee(t, "Test cleanup not run: the test copies are kept (x asks again).", "TEST MIGRATION LEFT RUNNING: WebApp2")
	h.mustNotSee(t, "Clean up the test migration", "test cleanup ·")

	h.send(press("x"))
	h.deliver(press("y")) // the cleanup starts; its events are fed by hand, as steps.Env.TestCleanup emits them
	h.mustSee(t, "test cleanup · starting")
	h.mustNotSee(t, "Clean up the test migration")
	h.deliver(testEventMsg{Step: 5, Event: steps.Progress("WebApp2: VM WebApp2-ferry-test deleted at the provider (its child disks only: the replica is kept)", -1)})
	h.deliver(testEventMsg{Step: 5, Event: steps.Progress("receiver appliance: the appliance's writes since the snapshot consolidated into the replica disks", -1)})
	h.send(testDoneMsg{Step: 5})
	mustRead(t, h, "✓ test cleanup: done · WebApp2: VM WebApp2-ferry-test deleted at the provider (its child disks only: the replica is kept) · receiver appliance: the appliance's writes since the snapshot consolidated into the replica disks")
}
