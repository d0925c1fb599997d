package main

import (
	"encoding/json"
	"fmt"
	"io"
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

// textPrinter prints events as lines: "[3/8] appliance: + create port group ...".
func textPrinter(w io.Writer, total int) steps.Emit {
	var mu sync.Mutex
	return func(ev steps.Event) {
		mu.Lock()
		defer mu.Unlock()
		var msg string
		switch ev.Kind {
		case steps.EventStarted:
			msg = "started: " + ev.Message
		case steps.EventProgress:
			if ev.Fraction >= 0 {
				msg = fmt.Sprintf("%3.0f%% %s", ev.Fraction*100, ev.Message)
			} else {
				msg = ev.Message
			}
		case steps.EventPlanItem:
			msg = "plan " + ev.Message
		case steps.EventChange:
			msg = "changed: " + ev.Message
		case steps.EventWarning:
			msg = "warning: " + ev.Message
		case steps.EventDone:
			msg = "done: " + ev.Message
		case steps.EventSkipped:
			msg = "skipped: " + ev.Message
		case steps.EventFailed:
			msg = "FAILED: " + ev.Error
		default:
			msg = ev.Message
		}
		fmt.Fprintf(w, "[%d/%d] %s: %s\n", ev.Index, total, ev.Step, msg)
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
