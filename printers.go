package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ferry-migrate/ferry/steps"
)

// eventPrinter is how ferry run shows the steps' events: JSON lines with
// --json, else textPrinter's lines.
func eventPrinter(w io.Writer, total int, asJSON bool) steps.Emit {
	if asJSON {
		return jsonPrinter(w)
	}
	return textPrinter(w, total)
}

// eventPrefix starts textPrinter's line of each kind of event (none: the
// message alone, as for progress).
var eventPrefix = map[steps.EventKind]string{
	steps.EventStarted:  "started: ",
	steps.EventPlanItem: "plan ",
	steps.EventChange:   "changed: ",
	steps.EventWarning:  "warning: ",
	steps.EventDone:     "done: ",
	steps.EventSkipped:  "skipped: ",
}

// textPrinter prints events as lines: "[3/8] appliance: + create port group ...".
// A progress line that says again what the line before it said is left out
// (a cutover's phase and the replication engine's phase of the same name
// both announce "WebApp2: verify").
func textPrinter(w io.Writer, total int) steps.Emit {
	var mu sync.Mutex
	var last string
	return func(ev steps.Event) {
		mu.Lock()
		defer mu.Unlock()
		msg := eventPrefix[ev.Kind] + ev.Message
		if ev.Kind == steps.EventSkipped && strings.HasPrefix(ev.Message, "already done") {
			msg = ev.Message // counted as already done, not as skipped
		}
		switch {
		case ev.Kind == steps.EventProgress && ev.Fraction >= 0:
			msg = fmt.Sprintf("%3.0f%% %s", ev.Fraction*100, ev.Message)
		case ev.Kind == steps.EventFailed:
			msg = "FAILED: " + ev.Error
		}
		line := fmt.Sprintf("[%d/%d] %s: %s\n", ev.Index, total, ev.Step, msg)
		switch {
		case ev.Index == 0 && ev.Step == "":
			line = msg + "\n"
		case ev.Index == 0: // outside the itinerary (ferry run --verify's compares, a test migration)
			line = fmt.Sprintf("[%s] %s\n", ev.Step, msg)
		}
		if ev.Kind == steps.EventProgress && line == last {
			return
		}
		last = line
		fmt.Fprint(w, line)
	}
}

// jsonPrinter prints events as JSON lines.
func jsonPrinter(w io.Writer) steps.Emit {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(ev steps.Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
	}
}
