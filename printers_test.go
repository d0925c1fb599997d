package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

func TestPrinters(t *testing.T) {
	for _, tc := range []struct {
		ev   steps.Event
		want string
	}{
		{steps.Event{Step: "appliance", Index: 3, Kind: steps.EventProgress, Message: "uploading", Fraction: 0.5}, "[3/8] appliance:  50% uploading\n"},
		{steps.Event{Step: "appliance", Index: 3, Kind: steps.EventProgress, Message: "waiting", Fraction: -1}, "[3/8] appliance: waiting\n"},
		{steps.Event{Step: "rights", Index: 1, Kind: steps.EventSkipped, Message: "already done"}, "[1/8] rights: already done\n"},
		{steps.Event{Step: "appliance", Index: 3, Kind: steps.EventChange, Message: `+ create port group "ferry-sink"`}, "[3/8] appliance: changed: + create port group \"ferry-sink\"\n"},
		{steps.Event{Step: "cutover", Index: 8, Kind: steps.EventFailed, Message: "x", Error: "WebApp2: no answer"}, "[8/8] cutover: FAILED: WebApp2: no answer\n"},
		{steps.Event{Step: "verify", Kind: steps.EventProgress, Message: "WebApp2: 71 MiB of 256 MiB acknowledged", Fraction: 0.28}, "[verify]  28% WebApp2: 71 MiB of 256 MiB acknowledged\n"},
		// An event of no step (QA: printed as "[] ...").
		{steps.Event{Kind: steps.EventWarning, Message: "slow"}, "warning: slow\n"},
	} {
		var b bytes.Buffer
		eventPrinter(&b, 8, false)(tc.ev)
		if got := b.String(); got != tc.want {
			t.Errorf("text: %q, want %q", got, tc.want)
		}
	}
	var b bytes.Buffer
	ev := steps.Event{Step: "appliance", Index: 3, Kind: steps.EventProgress, Message: "uploading", Fraction: 0.5}
	eventPrinter(&b, 8, true)(ev)
	var back steps.Event
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Kind != steps.EventProgress || back.Fraction != 0.5 {
		t.Errorf("json: %s (%v)", b.String(), err)
	}
}

// TestTextPrinterSaysAProgressLineOnce (seen in the lab's cutover: the
// cutover's phase and the replication engine's phase of the same name
// printed "[8/8] cutover: WebApp2: verify" twice in a row): a progress
// line that repeats the line before it is left out; other lines are not.
func TestTextPrinterSaysAProgressLineOnce(t *testing.T) {
	var b bytes.Buffer
	p := eventPrinter(&b, 8, false)
	verify := steps.Event{Step: "cutover", Index: 8, Kind: steps.EventProgress, Message: "WebApp2: verify", Fraction: -1}
	warn := steps.Event{Step: "cutover", Index: 8, Kind: steps.EventWarning, Message: "slow"}
	for _, ev := range []steps.Event{verify, verify, warn, warn, verify} {
		p(ev)
	}
	want := "[8/8] cutover: WebApp2: verify\n[8/8] cutover: warning: slow\n[8/8] cutover: warning: slow\n[8/8] cutover: WebApp2: verify\n"
	if got := b.String(); got != want {
		t.Errorf("printed:\n%s\nwant:\n%s", got, want)
	}
}

// TestJSONLinesSayAZeroFraction (omitempty left a fraction of 0 out, so a
// script reading ferry run --json could not tell "0% done" from "no
// fraction"): a progress line at 0 has "fraction":0, one whose progress is
// unknown and a line of another kind have no fraction; and the event read
// back from such a line, as ferry run does from the engine's socket, prints
// the same line again.
func TestJSONLinesSayAZeroFraction(t *testing.T) {
	for _, c := range []struct {
		ev       steps.Event
		fraction any // nil: no fraction in the line
	}{
		{steps.Event{Step: "replication", Index: 6, Kind: steps.EventProgress, Message: "WebApp2: 0 B of 2.0 GiB acknowledged", Fraction: 0}, 0.0},
		{steps.Event{Step: "replication", Index: 6, Kind: steps.EventProgress, Message: "WebApp2: 1.0 GiB of 2.0 GiB acknowledged", Fraction: 0.5}, 0.5},
		{steps.Event{Step: "cutover", Index: 8, Kind: steps.EventProgress, Message: "WebApp2: shutdown", Fraction: -1}, nil},
		{steps.Event{Step: "replication", Index: 6, Kind: steps.EventStarted, Message: "replication"}, nil},
	} {
		var b bytes.Buffer
		eventPrinter(&b, 8, true)(c.ev)
		var line map[string]any
		if err := json.Unmarshal(b.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v", b.String(), err)
		}
		f, has := line["fraction"]
		switch {
		case c.fraction == nil && has:
			t.Errorf("%s: has a fraction, want none", b.String())
		case c.fraction != nil && (!has || f != c.fraction):
			t.Errorf("%s: fraction %v, want %v", b.String(), f, c.fraction)
		}
		var back steps.Event
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		var again bytes.Buffer
		eventPrinter(&again, 8, true)(back)
		if again.String() != b.String() || back.Fraction != c.ev.Fraction {
			t.Errorf("read back (fraction %v, want %v), printed again:\n%s\nwant:\n%s", back.Fraction, c.ev.Fraction, again.String(), b.String())
		}
	}
}
