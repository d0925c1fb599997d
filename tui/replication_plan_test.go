package tui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// TestReplicationPlanScrollsAt80 (QA: at 80x24 the replication step's plan
// for two VMs was cut after its third item, the space checks below it out
// of sight, with no way to scroll): the plan says how much there is and
// pgdn brings its last item into view; the arrows still move the
// dashboard's cursor, and the help bar says which keys scroll.
func TestReplicationPlanScrollsAt80(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"),
		mutate: func(m map[string]*fakeStep) {
			var items []steps.Item
			for _, vm := range []string{"WebApp1", "WebApp2"} {
				items = append(items,
					steps.Item{Action: steps.ActionCreate, Kind: "replica", Name: vm, Detail: "initial sync of 256 MiB to 127.0.0.1:45715; then, in the background, a full compare"},
					steps.Item{Action: steps.ActionCreate, Kind: "replica disk", Name: fmt.Sprintf("[provider-ds] ferry-replicas/Company/%s/%s_0.vmdk", vm, vm), Detail: "thin, 256 MiB, by the provider vCenter; hot-added to the receiver appliance ferry-receiver"})
			}
			items = append(items, steps.Item{Action: steps.ActionCheck, Kind: "datastore", Name: "provider-ds", Detail: "2.0 TiB free of 2.0 TiB; the replica disks of WebApp1, WebApp2 will take 508 MiB"})
			m["replication"].plan = steps.Plan{Items: items}
		}})
	h.start(80, 24)
	if got := h.screenID(); got != "replication" {
		t.Fatalf("started at %q, want replication", got)
	}
	h.send(press("enter"))
	h.mustSee(t, `+ create replica "WebApp1"`, "lines 1–", "pgup/pgdn home/end to scroll", "pgup/pgdn scroll")
	h.mustNotSee(t, `check datastore "provider-ds"`)
	h.send(press("down")) // the dashboard's cursor, not the plan
	h.mustSee(t, `+ create replica "WebApp1"`)
	for range 3 {
		h.send(press("pgdown"))
	}
	h.mustSee(t, `check datastore "provider-ds"`, "the replica disks of WebApp1, WebApp2 will take")
	h.send(press("home"))
	h.mustSee(t, `+ create replica "WebApp1"`)
	h.send(press("enter")) // apply
	h.mustSee(t, "✓ replication started")
	h.mustNotSee(t, "pgup/pgdn scroll", "lines 1–")
}

// TestTestMigrationKeySaysThePlanLacksItsNetwork (QA: from a plan begun in
// the wizard, which never asks test_migration.network, t pressed twice
// ran a test that failed with "test_migration.network: name the ISOLATED
// org VDC network", not saying where): the key is disabled, saying what
// to add to the plan file; no test runs.
func TestTestMigrationKeySaysThePlanLacksItsNetwork(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	h.start(80, 24)
	h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(press("[")) // the dashboard (step 6)
	h.mustSee(t, "✗t test migration")
	h.send(press("t"))
	h.send(press("t"))
	h.mustSee(t, "the plan names no isolated network for test copies: add", "test_migration: network:", "to the plan file")
	h.mustNotSee(t, "test migration of WebApp2")
}

// TestApplyingProgressWholeAt80 (QA: step 4 waiting on a wrong edge API
// port read "waiting up to 2m for the edge's API at https://127.5…" at 80
// columns for two minutes: the address and port the operator had to fix
// were cut off): the running step's progress wraps, whole.
func TestApplyingProgressWholeAt80(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	msg := "waiting up to 2m for the edge's API at https://127.50.0.10:443 (appliance ferry-l2vpn-client's management address (nsx_ip_0))"
	h := newHarness(t, setup{done: []string{"rights", "trunk-network", "appliance"}, mutate: func(m map[string]*fakeStep) {
		m["dc-extension"].err = nil
		m["dc-extension"].block = release
		m["dc-extension"].events = []steps.Event{steps.Progress(msg, -1)}
	}})
	h.start(80, 24)
	if got := h.screenID(); got != "dc-extension" {
		t.Fatalf("started at %q, want dc-extension", got)
	}
	h.send(press("enter")) // plan
	h.mustSee(t, "Plan")
	h.deliver(press("enter")) // apply: held running
	h.deliver(stepEventMsg{Step: 3, Event: steps.Progress(msg, -1)})
	h.mustSee(t, "https://127.50.0.10:443", "(nsx_ip_0))")
	h.mustNotSee(t, "127.5…")
}
