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
	if err := printStatus(&b, st, false, true); err != nil {
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
