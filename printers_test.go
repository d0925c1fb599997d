package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

func TestPrinters(t *testing.T) {
	ev := steps.Event{Step: "appliance", Index: 3, Kind: steps.EventProgress, Message: "uploading", Fraction: 0.5}
	var b bytes.Buffer
	eventPrinter(&b, 8, false)(ev)
	if got := b.String(); got != "[3/8] appliance:  50% uploading\n" {
		t.Errorf("text: %q", got)
	}
	b.Reset()
	eventPrinter(&b, 8, false)(steps.Event{Step: "rights", Index: 1, Kind: steps.EventSkipped, Message: "already done"})
	if got := b.String(); got != "[1/8] rights: skipped: already done\n" {
		t.Errorf("text: %q", got)
	}
	b.Reset()
	eventPrinter(&b, 8, true)(ev)
	var back steps.Event
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Kind != steps.EventProgress || back.Fraction != 0.5 {
		t.Errorf("json: %s (%v)", b.String(), err)
	}
}
