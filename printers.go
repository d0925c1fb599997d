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
// --json, else textPrinter's lines. flush prints what the text printer
// holds back (the changes it sums up until the next event); call it
// before writing to w directly, and before returning.
func eventPrinter(w io.Writer, total int, asJSON bool) (emit steps.Emit, flush func()) {
	if asJSON {
		return jsonPrinter(w), func() {}
	}
	p := &textPrinter{w: w, total: total, planned: map[string]int{}}
	return p.emit, p.flush
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
//
// A change made exactly as one of the step's plan lines said (QA: step 1
// listed each of its 55 rights twice, as planned and as changed) is not
// listed again: the changes in a row to one object that are as planned
// make one line, "changed: ~ update rights bundle "ferry L2 VPN (Company)":
// 26 changes (as planned above)", as terraform's apply sums up what its
// plan listed. A change that differs from its plan line (what the step
// found out while making it: an address, a pass's figures) is listed whole.
// --json has every change as its own event.
type textPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	last  string
	// planned counts the plan lines of each step (planKey) that no change
	// has matched yet.
	planned map[string]int
	// held are as-planned changes in a row to one object, not printed yet.
	held struct {
		ev   steps.Event // the first, with the object alone as its message
		head string
		n    int
	}
}

// planKey is the key of a step's plan line (or change) msg in planned.
func planKey(ev steps.Event) string {
	return fmt.Sprintf("%d\x00%s\x00%s", ev.Index, ev.Step, ev.Message)
}

func (p *textPrinter) emit(ev steps.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ev.Kind == steps.EventPlanItem:
		p.planned[planKey(ev)]++
	case ev.Kind == steps.EventChange && ev.Item != nil && p.planned[planKey(ev)] > 0:
		p.planned[planKey(ev)]--
		obj := *ev.Item
		obj.Detail = "" // "~ update rights bundle "ferry L2 VPN (Company)""
		head := obj.String()
		if p.held.n > 0 && (p.held.ev.Index != ev.Index || p.held.ev.Step != ev.Step || p.held.head != head) {
			p.flushLocked()
		}
		if p.held.n == 0 {
			p.held.ev, p.held.head = ev, head
		}
		p.held.n++
		return
	}
	p.flushLocked()
	p.print(ev)
}

// flush prints the held changes' line.
func (p *textPrinter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushLocked()
}

func (p *textPrinter) flushLocked() {
	if p.held.n == 0 {
		return
	}
	ev := p.held.ev
	ev.Message = p.held.head + " (as planned above)"
	if p.held.n > 1 {
		ev.Message = fmt.Sprintf("%s: %d changes (as planned above)", p.held.head, p.held.n)
	}
	p.held.n = 0
	p.print(ev)
}

func (p *textPrinter) print(ev steps.Event) {
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
	line := fmt.Sprintf("[%d/%d] %s: %s\n", ev.Index, p.total, ev.Step, msg)
	switch {
	case ev.Index == 0 && ev.Step == "":
		line = msg + "\n"
	case ev.Index == 0: // outside the itinerary (ferry run --verify's compares, a test migration)
		line = fmt.Sprintf("[%s] %s\n", ev.Step, msg)
	}
	if ev.Kind == steps.EventProgress && line == p.last {
		return
	}
	p.last = line
	fmt.Fprint(p.w, line)
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
