package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// TestStatusCutOverHealth (QA): a VM cut over keeps its job's paused
// record ("paused by request", as the cutover paused it); ferry status
// says "cut over", not "cut over: paused by request". A VM that still
// replicates and is paused says why.
func TestStatusCutOverHealth(t *testing.T) {
	now := time.Now()
	rpo := replication.RPO(time.Minute)
	cut := replication.StoredStatus("WebApp2", rpo, replication.VMState{LastPass: now, Paused: true, PausedReason: "paused by request"}, now).WithPhase(replication.JobCutOver)
	paused := replication.StoredStatus("WebApp1", rpo, replication.VMState{LastPass: now, Paused: true, PausedReason: "paused by request"}, now)
	st := engine.Status{Jobs: []steps.VMStatus{{JobStatus: cut, Summary: "cut over"}, {JobStatus: paused, Summary: "paused"}}}
	var b bytes.Buffer
	if err := printStatus(&b, st, false, false); err != nil { // a ferry runs for the plan
		t.Fatal(err)
	}
	out := b.String()
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "WebApp2 "):
			if !strings.Contains(l, "cut over") || strings.Contains(l, "paused") {
				t.Errorf("cut-over VM: %q", l)
			}
		case strings.HasPrefix(l, "WebApp1 "):
			if !strings.Contains(l, "paused: paused by request") {
				t.Errorf("paused VM: %q", l)
			}
		}
	}
	if !strings.Contains(out, "WebApp2 ") || !strings.Contains(out, "WebApp1 ") {
		t.Fatalf("status lacks the jobs:\n%s", out)
	}
}

// TestStatusLongHealthBelowTable (QA: a held job's health, some 500
// characters, pushed LAST FULL COMPARE far to the right and made the
// table unreadable at 80 columns): the table keeps the first words of a
// long health, and the whole of it follows the table, once per VM.
func TestStatusLongHealthBelowTable(t *testing.T) {
	now := time.Now()
	rpo := replication.RPO(time.Minute)
	long := "held by its cutover, which a previous ferry process left unfinished before power-on of the target was requested (the target VM may hold the replica disks): run the cutover again"
	held := replication.StoredStatus("WebApp2", rpo, replication.VMState{LastPass: now}, now)
	ok := replication.StoredStatus("WebApp1", rpo, replication.VMState{LastPass: now}, now)
	st := engine.Status{Jobs: []steps.VMStatus{{JobStatus: held, Summary: long}, {JobStatus: ok, Summary: "ok"}}}
	var b bytes.Buffer
	if err := printStatus(&b, st, false, false); err != nil { // a ferry runs for the plan
		t.Fatal(err)
	}
	out := b.String()
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "WebApp") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 3 || !strings.Contains(rows[0], "held by its cutover (below)") || len(rows[0]) > 100 ||
		!strings.Contains(rows[1], "  ok  ") || rows[2] != "WebApp2: "+long {
		t.Errorf("status with a long health:\n%s", out)
	}
}
