package main

import (
	"bytes"
	"encoding/json"
	"strings"
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
		emit, _ := eventPrinter(&b, 8, false)
		emit(tc.ev)
		if got := b.String(); got != tc.want {
			t.Errorf("text: %q, want %q", got, tc.want)
		}
	}
	var b bytes.Buffer
	ev := steps.Event{Step: "appliance", Index: 3, Kind: steps.EventProgress, Message: "uploading", Fraction: 0.5}
	emit, _ := eventPrinter(&b, 8, true)
	emit(ev)
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
	p, _ := eventPrinter(&b, 8, false)
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
		emit, _ := eventPrinter(&b, 8, true)
		emit(c.ev)
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
		emitAgain, _ := eventPrinter(&again, 8, true)
		emitAgain(back)
		if again.String() != b.String() || back.Fraction != c.ev.Fraction {
			t.Errorf("read back (fraction %v, want %v), printed again:\n%s\nwant:\n%s", back.Fraction, c.ev.Fraction, again.String(), b.String())
		}
	}
}

// TestTextPrinterListsAPlannedChangeOnce (QA: ferry run printed each of
// step 1's 55 rights twice, as a plan line and as a change): the changes in
// a row to one object that are as their plan lines said make one line that
// counts them; a change that differs from its plan line is printed whole;
// --json has every change.
func TestTextPrinterListsAPlannedChangeOnce(t *testing.T) {
	bundle := func(detail string) steps.Item {
		return steps.Item{Action: steps.ActionUpdate, Kind: "rights bundle", Name: "ferry", Detail: detail}
	}
	tunnel := steps.Item{Action: steps.ActionCreate, Kind: "L2VPN tunnel", Name: "t", Detail: "local endpoint a free address"}
	made := tunnel
	made.Detail = "local endpoint 203.0.113.11"
	var evs []steps.Event
	ev := func(kind steps.EventKind, it steps.Item) {
		evs = append(evs, steps.Event{Step: "rights", Index: 1, Kind: kind, Message: it.String(), Item: &it})
	}
	for _, it := range []steps.Item{bundle(`add "A"`), bundle(`add "B"`), tunnel} {
		ev(steps.EventPlanItem, it)
	}
	ev(steps.EventChange, bundle(`add "A"`))
	ev(steps.EventChange, bundle(`add "B"`))
	ev(steps.EventChange, made)
	evs = append(evs, steps.Event{Step: "rights", Index: 1, Kind: steps.EventDone, Message: "3 changes"})

	var text, js bytes.Buffer
	emit, flush := eventPrinter(&text, 8, false)
	emitJSON, _ := eventPrinter(&js, 8, true)
	for _, e := range evs {
		emit(e)
		emitJSON(e)
	}
	flush()
	want := `[1/8] rights: plan ~ update rights bundle "ferry": add "A"
[1/8] rights: plan ~ update rights bundle "ferry": add "B"
[1/8] rights: plan + create L2VPN tunnel "t": local endpoint a free address
[1/8] rights: changed: ~ update rights bundle "ferry": 2 changes (as planned above)
[1/8] rights: changed: + create L2VPN tunnel "t": local endpoint 203.0.113.11
[1/8] rights: done: 3 changes
`
	if got := text.String(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	var changes []string
	for _, line := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var e steps.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Kind == steps.EventChange && e.Item != nil {
			changes = append(changes, e.Message)
		}
	}
	if len(changes) != 3 || changes[0] != `~ update rights bundle "ferry": add "A"` || changes[1] != `~ update rights bundle "ferry": add "B"` {
		t.Errorf("--json's changes: %q", changes)
	}

	// Held back until the next line, or the end: flush prints it.
	text.Reset()
	emit, flush = eventPrinter(&text, 8, false)
	for _, e := range evs[:4] {
		emit(e)
	}
	flush()
	if !strings.HasSuffix(text.String(), "changed: ~ update rights bundle \"ferry\" (as planned above)\n") {
		t.Errorf("flushed:\n%s", text.String())
	}
}
