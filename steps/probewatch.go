package steps

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/probe"
)

// ProbeWatch probes the plan's probes for the probe panels (the wizard's,
// and each session of a ferry serve engine), and follows edits of the
// plan: when its probes change (the wizard's step 5 sets them, often after
// the wizard started with none), the monitor is built again over the new
// ones. Before, the panel's monitor was built once at the start, so probes
// answered in step 5 were never shown ("no probe results yet" for good).
type ProbeWatch struct {
	mu   sync.Mutex
	subs map[chan ProbeWatchEvent]struct{}
	err  error // why the current probes cannot run
	done bool
}

// ProbeWatchEvent is a probe sample (probe.Event, with Kind naming the
// probe: "tcp 172.16.10.12:80"), or, when Set is not nil, not a sample but
// the news that the plan's probes changed.
type ProbeWatchEvent struct {
	probe.Event
	Kind string
	Set  *ProbeSet
}

// ProbeSet is what a ProbeWatch probes after the plan's probes changed:
// Targets by name (results of other probes are stale), or nothing when
// they cannot run (Err says why).
type ProbeSet struct {
	Targets []string
	// Kinds names what each target probes ("tcp 172.16.10.12:80"), by
	// name: a probe that kept its name but probes another address now is
	// a new probe (its samples, loss and outages were of the old one).
	Kinds map[string]string
	Err   error
}

// WatchProbes starts a ProbeWatch that probes every interval and looks at
// the plan every poll, until ctx ends. Err says whether the plan's probes
// at the start could be built.
func (e *Env) WatchProbes(ctx context.Context, interval, poll time.Duration) *ProbeWatch {
	w := &ProbeWatch{subs: map[chan ProbeWatchEvent]struct{}{}}
	pf := e.Plan()
	stop := w.start(ctx, e, interval, false)
	go func() {
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				stop()
				w.close()
				return
			case <-t.C:
			}
			np := e.Plan()
			if np == pf {
				continue
			}
			changed := !reflect.DeepEqual(probesOf(pf), probesOf(np))
			pf = np
			if changed {
				stop()
				stop = w.start(ctx, e, interval, true)
			}
		}
	}()
	return w
}

func probesOf(pf *PlanFile) []ProbePlan {
	if pf == nil {
		return nil
	}
	return pf.Probes
}

// start builds a monitor over the plan's probes and runs it, its samples
// published, until the returned stop (which waits until no sample of it is
// published any more). With announce, subscribers first hear the new set.
func (w *ProbeWatch) start(ctx context.Context, e *Env, interval time.Duration, announce bool) (stop func()) {
	mon, err := e.ProbeMonitor(ctx, interval)
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	if announce {
		set := &ProbeSet{Err: err}
		if mon != nil {
			set.Kinds = mon.Kinds()
			for name := range set.Kinds {
				set.Targets = append(set.Targets, name)
			}
		}
		w.publish(ProbeWatchEvent{Set: set})
	}
	if mon == nil {
		return func() {}
	}
	kinds := mon.Kinds()
	mctx, cancel := context.WithCancel(ctx)
	events := mon.Subscribe(64)
	go mon.Run(mctx)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		for ev := range events { // closed when Run returns
			w.publish(ProbeWatchEvent{Event: ev, Kind: kinds[ev.Target]})
		}
	}()
	return func() {
		cancel()
		<-pumped
	}
}

// Err says why the plan's probes cannot run now (nil: they run, or the
// plan has none).
func (w *ProbeWatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Subscribe returns a channel of the watch's events until ctx or the
// watch ends (then it is closed). A slow reader misses samples; probes
// never wait for it.
func (w *ProbeWatch) Subscribe(ctx context.Context, buf int) <-chan ProbeWatchEvent {
	ch := make(chan ProbeWatchEvent, buf)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		close(ch)
		return ch
	}
	w.subs[ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.subs[ch]; ok {
			delete(w.subs, ch)
			close(ch)
		}
	})
	return ch
}

func (w *ProbeWatch) publish(ev ProbeWatchEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (w *ProbeWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	for ch := range w.subs {
		close(ch)
	}
	clear(w.subs)
}
