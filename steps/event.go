package steps

import (
	"encoding/json"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind string

// The events a step run produces, in the order a front end sees them:
// started, plan items, progress / changes / warnings, then done, failed or
// skipped.
const (
	EventStarted  EventKind = "started"
	EventPlanItem EventKind = "plan"
	EventProgress EventKind = "progress"
	EventChange   EventKind = "change"
	EventWarning  EventKind = "warning"
	EventDone     EventKind = "done"
	EventFailed   EventKind = "failed"
	EventSkipped  EventKind = "skipped"
)

// Event is one progress report. The TUI turns events into messages (a
// channel plus a re-arming "wait for next event" command); the headless
// runner prints them as lines or JSON lines.
type Event struct {
	Time  time.Time `json:"time"`
	Step  string    `json:"step"`  // step ID; filled in by the runner
	Index int       `json:"index"` // 1-based position in the itinerary; filled in by the runner
	Kind  EventKind `json:"kind"`
	// Message is the human line ("uploading disk-0.vmdk", "no changes").
	Message string `json:"message,omitempty"`
	// Fraction is the progress of the step in 0..1 for EventProgress, or -1
	// when unknown. In JSON (MarshalJSON) it is there only when known, 0
	// included, and left out otherwise (never -1).
	Fraction float64 `json:"fraction,omitempty"`
	// Item is the plan item or the change made (EventPlanItem, EventChange).
	Item *Item `json:"item,omitempty"`
	// Error is set for EventFailed.
	Error string `json:"error,omitempty"`
	// Begins marks the progress line that begins a cutover phase
	// ("WebApp2: pre-cutover pass"); the line "<it> done in <time>" ends
	// it, and lines of the VM between are its parts (a pass's snapshot,
	// transfer, ...).
	Begins bool `json:"begins,omitempty"`
	// Resolves marks the progress line that ends what an earlier warning
	// of the run said was going on ("WebApp2: replication resumed ..."
	// after step 6's "WebApp2: replication paused ...: step 6 waits;
	// resume WebApp2 ..."): a front end that keeps the warnings as a list
	// keeps it there too, after them, so the list reads as a history and
	// the warning not as current (QA: after a resume, step 6's list still
	// said the step waited for it).
	Resolves bool `json:"resolves,omitempty"`
}

// MarshalJSON writes fraction only on a progress event whose fraction is
// known, 0 included: omitempty left a 0 out, so a script reading ferry run
// --json could not tell "0% done" from "no fraction", and the unknown
// fraction's -1 came out as a value.
func (ev Event) MarshalJSON() ([]byte, error) {
	type plain Event // without the methods: no recursion
	out := struct {
		plain
		Fraction *float64 `json:"fraction,omitempty"` // the outer field wins over plain's
	}{plain: plain(ev)}
	if ev.Kind == EventProgress && ev.Fraction >= 0 {
		f := ev.Fraction
		out.Fraction = &f
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes (the engine's socket carries
// events to ferry run and the wizard): a progress event without fraction
// has an unknown one, -1.
func (ev *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var in struct {
		plain
		Fraction *float64 `json:"fraction"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*ev = Event(in.plain)
	switch {
	case in.Fraction != nil:
		ev.Fraction = *in.Fraction
	case ev.Kind == EventProgress:
		ev.Fraction = -1
	}
	return nil
}

// Emit receives events. It must not block for long: a front end that is slow
// to draw should buffer.
type Emit func(Event)

// Progress is a progress message; fraction in 0..1, or -1 when unknown.
func Progress(msg string, fraction float64) Event {
	return Event{Kind: EventProgress, Message: msg, Fraction: fraction}
}

// Resolved is a progress message (fraction unknown) that ends what an
// earlier warning said (Event.Resolves).
func Resolved(msg string) Event {
	return Event{Kind: EventProgress, Message: msg, Fraction: -1, Resolves: true}
}

// Changed reports a change a step has just made. The runner records
// it.Resource in the state file before the step goes on, so a crash right
// after a create does not forget what was created.
func Changed(it Item) Event {
	return Event{Kind: EventChange, Message: it.String(), Item: &it}
}

// Warning is something the operator should read but that does not stop the step.
func Warning(msg string) Event {
	return Event{Kind: EventWarning, Message: msg}
}

// serialEmit passes events to next one at a time, for work that reports
// from several goroutines (a wave's VMs, a test migration's copies).
func serialEmit(next Emit) Emit {
	var mu sync.Mutex
	return func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		next(ev)
	}
}
