package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// TestStatusSaysAHoldOnceForItsVMs (QA: with a wave's cutover interrupted,
// ferry status repeated the "held by its cutover" paragraph, about ten
// lines, once per VM): the paragraph the held VMs share is said once,
// naming every one of them, with what differs between them (when each
// source was shut down, the command of each) kept; each VM's row still
// says it is held; every line fits in 80 columns.
func TestStatusSaysAHoldOnceForItsVMs(t *testing.T) {
	dir := t.TempDir()
	st, err := steps.LoadState(filepath.Join(dir, "plan.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	held := []string{"WebApp1", "WebApp2", "WebApp3"}
	off := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	for i, vm := range held {
		if err := st.SetOutput("cutover", "cutover."+vm, "running"); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOutput("cutover", "source_shutdown."+vm, off.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	store, err := replication.OpenState(st.Path() + ".replication.db")
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range held {
		if err := store.PutVM(vm, replication.VMState{LastPass: now.Add(-30 * time.Second), Paused: true, Held: replication.HoldCutover, PausedReason: "held by its cutover"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.PutVM("db01", replication.VMState{LastPass: now.Add(-20 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	pf := &steps.PlanFile{}
	for _, vm := range append(held, "db01") {
		pf.VMs = append(pf.VMs, steps.VMPlan{Name: vm, RPO: replication.RPO(time.Minute)})
	}
	jobs, err := steps.NewEnv(nil, pf, st).ReplicationStatus(now)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := printStatus(&b, engine.Status{Jobs: jobs}, false, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("ferry status:\n%s", out)
	const paragraph = "held by its cutover, which a previous ferry process left unfinished before power-on of the target was requested"
	flat := unwrapped(out)
	if n := strings.Count(flat, paragraph); n != 1 {
		t.Errorf("the held VMs' paragraph said %d times, want once", n)
	}
	var said string
	for _, l := range strings.Split(flat, "\n") {
		if strings.Contains(l, paragraph) {
			said = l
		}
	}
	head, _, _ := strings.Cut(said, paragraph)
	for i, vm := range held {
		if !strings.Contains(head, vm) {
			t.Errorf("the paragraph does not name %s: %q", vm, head)
		}
		if !strings.HasSuffix(jobRows(out)[vm], "held by its cutover (below)") {
			t.Errorf("%s's row: %q, want it held", vm, jobRows(out)[vm])
		}
		// What differs between them stays: when each source was shut
		// down, and the command that rolls each back.
		if at := off.Add(time.Duration(i) * time.Second).Format("15:04:05"); !strings.Contains(said, at) {
			t.Errorf("%s's shutdown at %s not said: %q", vm, at, said)
		}
		if !strings.Contains(said, "--confirm-cutover="+vm+" ") && !strings.Contains(said, "--confirm-cutover=VM ") {
			t.Errorf("%s's rollback command not said: %q", vm, said)
		}
	}
	if strings.Contains(head, "db01") || !strings.HasSuffix(jobRows(out)["db01"], "(below)") && !strings.Contains(jobRows(out)["db01"], "not replicating") {
		t.Errorf("db01, not held, is in the held VMs' paragraph, or its row lost: %q", jobRows(out)["db01"])
	}
	for _, line := range strings.Split(out, "\n") {
		if w := ansi.StringWidth(line); w > textWidth {
			t.Errorf("a line of %d columns: %q", w, line)
		}
	}
}

// TestSayHealthsOnceMarksOnlyWholeNames: a VM's name inside a word or
// another VM's name is not taken for it.
func TestSayHealthsOnceMarksOnlyWholeNames(t *testing.T) {
	got := sayHealthsOnce([]healthDetail{
		{vm: "it", health: "held by its cutover; `ferry run --confirm-cutover=it` (not it2)"},
		{vm: "db", health: "held by its cutover; `ferry run --confirm-cutover=db` (not it2)"},
		{vm: "it2", health: "held by its cutover; `ferry run --confirm-cutover=it2` (not it2)"},
	})
	want := []string{
		"it and db, each: held by its cutover; `ferry run --confirm-cutover=VM` (not it2)",
		"it2: held by its cutover; `ferry run --confirm-cutover=it2` (not it2)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sayHealthsOnce:\n%q\nwant\n%q", got, want)
	}
}

// TestSayHealthsOnceGroupsNotReplicating: healths that are not holds are
// grouped the same way: "not replicating ..." that several VMs share is
// said once naming each of them, where the first was; one that differs
// otherwise (its RPO missed, not within it; missed by another age) is
// said apart, for its VM.
func TestSayHealthsOnceGroupsNotReplicating(t *testing.T) {
	within := stoppedSummary + "; its last pass is still within the RPO"
	missed := stoppedSummary + "; RPO missed: last complete pass 10m0s ago, RPO 1m"
	got := sayHealthsOnce([]healthDetail{
		{vm: "WebApp1", health: within},
		{vm: "db01", health: missed},
		{vm: "WebApp2", health: within},
		{vm: "WebApp3", health: within},
		{vm: "db02", health: strings.Replace(missed, "10m0s", "12m0s", 1)},
		{vm: "db03", health: missed},
		{vm: "mail", health: "failed: its last pass failed; ferry resume mail"},
	})
	want := []string{
		"WebApp1, WebApp2 and WebApp3, each: " + within,
		"db01 and db03, each: " + missed,
		"db02: " + strings.Replace(missed, "10m0s", "12m0s", 1),
		"mail: failed: its last pass failed; ferry resume mail",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sayHealthsOnce:\n%q\nwant\n%q", got, want)
	}
}
