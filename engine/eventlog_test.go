package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestEventLogRotatesAndFollows: the log rotates at its size, keeps its
// old files (0600) up to keep, and a follower started before sees every
// record once, in order, across a rotation.
func TestEventLogRotatesAndFollows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.events.jsonl")
	l, err := OpenEventLog(path, 400, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(Record{Source: "engine", Kind: "started"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string, 100)
	go func() {
		_ = Follow(ctx, path, 10, 10*time.Millisecond, func(b []byte) error {
			lines <- string(b)
			return nil
		})
	}()
	next := func() Record {
		t.Helper()
		select {
		case s := <-lines:
			var r Record
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				t.Fatalf("not a record: %q", s)
			}
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("the follower saw nothing more")
		}
		return Record{}
	}
	if r := next(); r.Kind != "started" {
		t.Fatalf("first record: %+v", r)
	}
	// Each write waits for the follower: a rotation at a time.
	for i := range 12 {
		l.Write(Record{Source: "replication", Kind: "pass-done", VM: fmt.Sprintf("vm%d", i)})
		if r := next(); r.VM != fmt.Sprintf("vm%d", i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	for _, f := range []string{path, path + ".1", path + ".2"} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() > 400 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("more old files than kept: %v", err)
	}
}

// TestEventLogSaysWhenTheNextPassIsDue: the scheduler's due time for a
// VM's next pass is a field of its log line (next_pass), not only words in
// the message.
func TestEventLogSaysWhenTheNextPassIsDue(t *testing.T) {
	due := time.Date(2026, 12, 6, 8, 25, 40, 0, time.UTC)
	b, err := json.Marshal(replicationRecord(replication.Event{VM: "WebApp2", Kind: replication.EventScheduled, NextPass: due, Msg: "next pass due at 08:25:40"}))
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil || r["next_pass"] != "2026-12-06T08:25:40Z" || r["kind"] != "scheduled" {
		t.Errorf("log line %s: want kind scheduled and next_pass 2026-12-06T08:25:40Z", b)
	}
	// A record with no due time has no such field; a pass-done line says
	// the pass's number and how long it took (QA: neither was in the log).
	rec := replicationRecord(replication.Event{VM: "WebApp2", Kind: replication.EventPassDone, Pass: replication.PassIncremental,
		Number: 7, Took: 1234 * time.Millisecond, Counters: replication.Counters{Planned: 3 << 20, Sent: 1 << 20}})
	b, _ = json.Marshal(rec)
	var done map[string]any
	if err := json.Unmarshal(b, &done); err != nil || done["next_pass"] != nil || done["number"] != 7.0 || done["duration_ns"] != 1.234e9 {
		t.Errorf("log line %s: want number 7, duration_ns 1234000000, no next_pass", b)
	}
	if txt := rec.Text(); !strings.Contains(txt, "WebApp2 pass-done #7 incremental pass: 3.0 MiB changed, 1.0 MiB sent in 1.234s") {
		t.Errorf("ferry status --follow's line %q: want the pass number and its time", txt)
	}
}
