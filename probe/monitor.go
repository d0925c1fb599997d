package probe

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"
)

// Target is one probe with a name for people ("WebApp1 -> WebApp2").
type Target struct {
	Name   string
	Prober Prober
}

// Sample is one probe result.
type Sample struct {
	At      time.Time     `json:"at"`
	OK      bool          `json:"ok"`
	Latency time.Duration `json:"latency_ns,omitempty"`
	Err     string        `json:"error,omitempty"`
	// TimedOut: no answer within the probe's time, as opposed to a refusal
	// (connection refused, host unreachable).
	TimedOut bool `json:"timed_out,omitempty"`
}

// Outage is a run of failed probes: from the first failure after a success
// (or the start) to the first success after it. End is zero while it lasts.
// A refusal starts an outage at once; a probe that only timed out needs a
// second failure to confirm it (the outage then starts at the first one): a
// single late answer on a loaded machine or network is a lost probe, not
// downtime.
type Outage struct {
	Target string    `json:"target"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	// LastOK is the last success before the outage: the outage began
	// somewhere between LastOK and Start.
	LastOK time.Time `json:"last_ok,omitzero"`
}

// Length is the outage's length (so far, if it still lasts, measured at now).
func (o Outage) Length(now time.Time) time.Duration {
	end := o.End
	if end.IsZero() {
		end = now
	}
	return end.Sub(o.Start)
}

// MarshalJSON adds the length in seconds.
func (o Outage) MarshalJSON() ([]byte, error) {
	type plain Outage
	var secs float64
	if !o.End.IsZero() {
		secs = o.End.Sub(o.Start).Seconds()
	}
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"seconds,omitempty"`
	}{plain(o), secs})
}

// Stats summarise one target.
type Stats struct {
	Target  string
	Sent    int
	Lost    int
	Last    Sample
	Outages []Outage
}

// Loss is the fraction of probes lost.
func (s Stats) Loss() float64 {
	if s.Sent == 0 {
		return 0
	}
	return float64(s.Lost) / float64(s.Sent)
}

// Event is sent after every sample.
type Event struct {
	Target string
	Sample Sample
	// Outage is set when this sample started or ended an outage.
	Outage *Outage
}

// Monitor probes its targets every Interval, and every FastInterval the
// targets someone hurries (Hurry).
type Monitor struct {
	Interval time.Duration // default 1s
	// FastInterval is how often hurried targets are probed; default a tenth
	// of Interval, at least MinFastInterval.
	FastInterval time.Duration
	History      int // samples kept per target; default 3600

	mu      sync.Mutex
	targets []Target
	state   map[string]*targetState
	subs    []chan Event
}

type targetState struct {
	samples []Sample
	stats   Stats
	lastOK  time.Time
	down    *Outage
	suspect *Sample // a timed-out probe waiting for a second failure
	hurry   int     // Hurry calls not released
	wake    chan struct{}
}

// NewMonitor returns a monitor over targets.
func NewMonitor(interval time.Duration, targets ...Target) *Monitor {
	m := &Monitor{Interval: interval, targets: targets, state: map[string]*targetState{}}
	for _, t := range targets {
		m.state[t.Name] = &targetState{stats: Stats{Target: t.Name}, wake: make(chan struct{}, 1)}
	}
	return m
}

// MinFastInterval is the shortest default FastInterval.
const MinFastInterval = 10 * time.Millisecond

// Kinds names each target's probe for people, by target name: its
// Prober's String ("tcp 10.0.0.5:22").
func (m *Monitor) Kinds() map[string]string {
	out := make(map[string]string, len(m.targets))
	for _, t := range m.targets {
		out[t.Name] = t.Prober.String()
	}
	return out
}

// Hurry probes the named targets every FastInterval (at once, then on)
// until the returned release is called: while a change is expected (a
// cutover window), so that an outage's start and end, and the first answer
// after it, are measured to within FastInterval rather than Interval. Each
// sample is still a real probe with the same timeout. Unknown names are
// ignored; calls nest.
func (m *Monitor) Hurry(names ...string) (release func()) {
	m.mu.Lock()
	var hurried []*targetState
	for _, n := range names {
		if st, ok := m.state[n]; ok {
			st.hurry++
			hurried = append(hurried, st)
			select {
			case st.wake <- struct{}{}:
			default:
			}
		}
	}
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			for _, st := range hurried {
				st.hurry--
			}
			m.mu.Unlock()
		})
	}
}

// next is how long target name waits before its next probe.
func (m *Monitor) next(name string, interval time.Duration) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state[name].hurry == 0 {
		return interval
	}
	if m.FastInterval > 0 {
		return m.FastInterval
	}
	return max(interval/10, MinFastInterval)
}

// Subscribe returns a channel of events; slow readers miss events, never block probes.
func (m *Monitor) Subscribe(buf int) <-chan Event {
	ch := make(chan Event, buf)
	m.mu.Lock()
	m.subs = append(m.subs, ch)
	m.mu.Unlock()
	return ch
}

// MinProbeTimeout is the least a probe of Run waits for its answer, however
// short the interval: on a loaded host a TCP answer can take tens of
// milliseconds, and a late answer is not an outage. A refused connection or
// an unreachable host still counts at once; while a target answers late,
// rounds come less often than the interval.
const MinProbeTimeout = 250 * time.Millisecond

// Run probes every target every Interval (hurried ones every
// FastInterval) until ctx ends, each probe bounded by the interval or
// MinProbeTimeout, whichever is longer. Each target is probed on its own
// schedule so a hanging one does not delay the others.
func (m *Monitor) Run(ctx context.Context) {
	interval := m.Interval
	if interval <= 0 {
		interval = time.Second
	}
	timeout := max(interval, MinProbeTimeout)
	var wg sync.WaitGroup
	for _, t := range m.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wake := m.state[t.Name].wake
			for {
				m.probe(ctx, t, timeout)
				tm := time.NewTimer(m.next(t.Name, interval))
				select {
				case <-ctx.Done():
					tm.Stop()
					return
				case <-tm.C:
				case <-wake:
					tm.Stop()
				}
			}
		}()
	}
	wg.Wait()
	m.mu.Lock()
	for _, ch := range m.subs {
		close(ch)
	}
	m.subs = nil
	m.mu.Unlock()
}

// Round probes every target once, each bounded by timeout.
func (m *Monitor) Round(ctx context.Context, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, t := range m.targets {
		wg.Add(1)
		go func(t Target) {
			defer wg.Done()
			m.probe(ctx, t, timeout)
		}(t)
	}
	wg.Wait()
}

// probe probes t once, bounded by timeout, and records the sample.
func (m *Monitor) probe(ctx context.Context, t Target, timeout time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	at := time.Now()
	rtt, err := t.Prober.Probe(pctx)
	timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
	cancel()
	if ctx.Err() != nil {
		return
	}
	s := Sample{At: at, OK: err == nil, Latency: rtt}
	if err != nil {
		s.Err = err.Error()
		var ne net.Error
		s.TimedOut = timedOut || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
	}
	m.record(t.Name, s)
}

func (m *Monitor) record(name string, s Sample) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state[name]
	limit := m.History
	if limit <= 0 {
		limit = 3600
	}
	st.samples = append(st.samples, s)
	if len(st.samples) > limit {
		st.samples = st.samples[len(st.samples)-limit:]
	}
	st.stats.Sent++
	st.stats.Last = s
	ev := Event{Target: name, Sample: s}
	switch {
	case !s.OK:
		st.stats.Lost++
		if st.down == nil && s.TimedOut && st.suspect == nil {
			c := s
			st.suspect = &c // one late answer is not an outage yet
			break
		}
		if st.down == nil {
			start := s.At
			if st.suspect != nil {
				start = st.suspect.At
			}
			st.suspect = nil
			st.down = &Outage{Target: name, Start: start, LastOK: st.lastOK}
			st.stats.Outages = append(st.stats.Outages, *st.down)
			o := *st.down
			ev.Outage = &o
		}
	default:
		st.suspect = nil
		st.lastOK = s.At
		if st.down != nil {
			st.down.End = s.At
			st.stats.Outages[len(st.stats.Outages)-1] = *st.down
			o := *st.down
			ev.Outage = &o
			st.down = nil
		}
	}
	for _, ch := range m.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Unsubscribe stops the events of a channel from Subscribe and closes it.
func (m *Monitor) Unsubscribe(ch <-chan Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range m.subs {
		if (<-chan Event)(c) == ch {
			m.subs = append(m.subs[:i], m.subs[i+1:]...)
			close(c)
			return
		}
	}
}

// AnsweringSince says since when target answers without interruption,
// counting only answers to probes sent after since: the arrival of the
// first answer (the probe's time plus its round trip) of its current run
// of answers. ok is false when its last probe was not answered or was sent
// before since.
func (m *Monitor) AnsweringSince(target string, since time.Time) (at time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, found := m.state[target]
	if !found {
		return time.Time{}, false
	}
	for i := len(st.samples) - 1; i >= 0; i-- {
		s := st.samples[i]
		if !s.OK || !s.At.After(since) {
			break
		}
		at, ok = s.At.Add(s.Latency), true
	}
	return at, ok
}

// Stats returns a copy of every target's statistics, in target order.
func (m *Monitor) Stats() []Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stats, 0, len(m.targets))
	for _, t := range m.targets {
		s := m.state[t.Name].stats
		s.Outages = append([]Outage(nil), s.Outages...)
		out = append(out, s)
	}
	return out
}

// Samples returns a copy of a target's history.
func (m *Monitor) Samples(target string) []Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.state[target]
	if !ok {
		return nil
	}
	return append([]Sample(nil), st.samples...)
}

// Outages returns every outage of every target, in target order.
func (m *Monitor) Outages() []Outage {
	var out []Outage
	for _, s := range m.Stats() {
		out = append(out, s.Outages...)
	}
	return out
}
