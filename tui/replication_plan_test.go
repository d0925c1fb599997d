package tui

import (
	"context"
	"errors"
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
	h.mustSee(t, `check datastore "provider-ds"`, "the replica disks of WebApp1, WebApp2 will")
	h.send(press("home"))
	h.mustSee(t, `+ create replica "WebApp1"`)
	h.send(press("enter")) // apply
	h.mustSee(t, "✓ replication started")
	h.mustNotSee(t, "pgup/pgdn scroll", "lines 1–")
}

// TestTestNetworkAskedOnTheDashboard (QA: the wizard never asked
// test_migration.network; t was disabled while the plan named none, saying
// to edit the plan file and start ferry again): t asks it, offering the
// networks the steps list for it (the VDC's isolated ones); the pick is
// saved to the plan file and t test-migrates right after.
func TestTestNetworkAskedOnTheDashboard(t *testing.T) {
	var saved []*steps.PlanFile
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"),
		savePlan: func(pf *steps.PlanFile) error { saved = append(saved, pf); return nil }})
	h.start(80, 24)
	h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(press("[")) // the dashboard (step 6)
	h.mustSee(t, "t test migration")
	h.mustNotSee(t, "✗t test migration")
	h.send(press("t"))
	h.mustSee(t, "isolated network of VDC Company-VDC", "› test-bubble", "  other-bubble", "enter use this network")
	h.mustNotSee(t, "test migration of WebApp2")
	h.send(press("down"))
	h.mustSee(t, "  test-bubble", "› other-bubble")
	h.send(press("up"))
	h.send(press("enter"))
	if got := h.env.Plan().TestMigration.Network; got != "test-bubble" {
		t.Fatalf("test_migration.network after the pick = %q, want test-bubble", got)
	}
	if len(saved) == 0 || saved[len(saved)-1].TestMigration.Network != "test-bubble" {
		t.Fatalf("the plan file was not saved with test_migration.network test-bubble (%d saves)", len(saved))
	}
	h.mustSee(t, "Test copies run on test-bubble (saved in the plan). Press t again to", "test-migrate WebApp2.")
	h.mustNotSee(t, "› test-bubble")
	h.send(press("t"))
	h.mustSee(t, "test migration of WebApp2")
	h.mustNotSee(t, "name the ISOLATED org VDC network")
}

// TestTestNetworkNoneToPick: when the VDC has no network a test copy may
// run on, t says so with why and what to do (414c1bf's plan-file advice
// kept), offers nothing, saves nothing; a network created in the VDC
// meanwhile is listed by t again, without starting ferry again.
func TestTestNetworkNoneToPick(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	none := &steps.FieldError{Key: steps.TestNetworkKey, Err: errors.New("VDC Company-VDC has no ISOLATED org VDC network for the test copies (its networks: company-network (NAT_ROUTED)): create one in Cloud Director (no uplink)")}
	var created bool
	h.m.w.choices = func(ctx context.Context, key string, answers map[string]string) ([]steps.Choice, error) {
		if key == steps.TestNetworkKey && !created {
			return nil, none
		}
		return fakeChoices(ctx, key, answers)
	}
	h.start(120, 40)
	h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
	h.send(press("[")) // the dashboard (step 6)
	h.send(press("t"))
	h.mustSee(t, "the plan names no isolated network for test copies: add test_migration: network:", "to the plan file",
		"nothing to pick: test_migration.network: VDC Company-VDC has no ISOLATED org VDC network", "create one in Cloud Director", "press t to list the networks again",
		"✗enter use this network")
	h.send(press("enter"))
	h.send(press("t"))
	h.mustNotSee(t, "test migration of WebApp2")
	if got := h.env.Plan().TestMigration.Network; got != "" {
		t.Fatalf("test_migration.network = %q with nothing to pick, want none", got)
	}
	created = true // an isolated network created in the VDC
	h.send(press("t"))
	h.mustSee(t, "› test-bubble")
	h.send(press("esc"))
	h.mustNotSee(t, "› test-bubble", "nothing to pick")
	if got := h.env.Plan().TestMigration.Network; got != "" {
		t.Fatalf("test_migration.network = %q after esc, want none", got)
	}
}
