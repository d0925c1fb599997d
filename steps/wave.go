package steps

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/probe"
)

// A wave is the VMs confirmed together: Cutover.Apply cuts them over in
// parallel (cutover.parallel at a time). This file holds what belongs to the
// wave as a whole: the probes that depend on several of its VMs, and its
// total downtime.

// waveProbe is a plan probe that names several VMs, at least one of them in
// the wave.
type waveProbe struct {
	name string
	deps []string // the probe's VMs in the wave
	all  []string // all the VMs it names
}

// waveProbes are the plan's probes that depend on several VMs and on at
// least one VM of the wave.
func (e *Env) waveProbes(wave []string) []waveProbe {
	var out []waveProbe
	for i, p := range e.Plan().Probes {
		deps := p.deps()
		if len(deps) < 2 {
			continue
		}
		var in []string
		for _, d := range deps {
			if slices.Contains(wave, d) {
				in = append(in, d)
			}
		}
		if len(in) > 0 {
			out = append(out, waveProbe{name: p.label(i), deps: in, all: deps})
		}
	}
	return out
}

// WaveProbe is the judgement of a probe that depends on several VMs, made
// once all of them were up.
type WaveProbe struct {
	Name string   `json:"name"`
	VMs  []string `json:"vms"`
	// Since is when the last of its VMs was up (target powered on, or the
	// source on again after a rollback); Green when it answered after that.
	Since   time.Time      `json:"since,omitzero"`
	Green   time.Time      `json:"green,omitzero"`
	Error   string         `json:"error,omitempty"`
	Note    string         `json:"note,omitempty"`
	Outages []probe.Outage `json:"outages,omitempty"`
}

// judgeWaveProbes waits, for each probe, until every VM of the wave it
// depends on has ended its cutover, then until the probe answers (within
// greenTimeout). A VM that is up neither in Cloud Director nor on-prem (a
// failure that needs a decision) leaves the probe unjudged, with a note.
func judgeWaveProbes(ctx context.Context, wps []waveProbe, wave []*vmCutover, mon *probe.Monitor, interval, greenTimeout time.Duration, emit Emit) []WaveProbe {
	if len(wps) == 0 {
		return nil
	}
	byName := map[string]*vmCutover{}
	for _, c := range wave {
		byName[c.plan.Name] = c
	}
	out := make([]WaveProbe, len(wps))
	done := make(chan any)
	for i, wp := range wps {
		go func() {
			// A panic (a dying process, in tests) goes on in the caller.
			defer func() { done <- recover() }()
			r := WaveProbe{Name: wp.name, VMs: wp.all}
			var down []string
			for _, n := range wp.deps {
				c := byName[n]
				select {
				case <-c.up:
				case <-ctx.Done():
					r.Note = stoppedNote(ctx)
					out[i] = r
					return
				}
				// Read after c.up is closed: the VM's goroutine is done with rep.
				up := c.rep.TargetOn
				if up.IsZero() {
					up = c.rep.SourceBackOn
				}
				if up.IsZero() && !c.rep.Started.IsZero() && c.rep.SourceOff.IsZero() {
					up = c.rep.Started // never shut down: still running on-prem
				}
				if up.IsZero() {
					down = append(down, n)
					continue
				}
				if up.After(r.Since) {
					r.Since = up
				}
			}
			if len(down) > 0 {
				r.Note = "not judged: " + strings.Join(down, ", ") + " is not running (see its section)"
				out[i] = r
				return
			}
			emit(Progress(fmt.Sprintf("wave: probe %s (%s): all up, waiting for it to answer", wp.name, strings.Join(wp.all, ", ")), -1))
			release := mon.Hurry(wp.name)
			green, red, err := awaitAnswers(ctx, mon, []string{wp.name}, r.Since, time.Now().Add(greenTimeout), interval)
			release()
			switch {
			case err != nil && ctx.Err() != nil:
				r.Note = stoppedNote(ctx)
				out[i] = r
				return
			case err != nil:
				r.Error = err.Error()
				out[i] = r
				return
			case len(red) > 0:
				r.Error = fmt.Sprintf("not answering %s after all of its VMs were up", greenTimeout)
				emit(Warning(fmt.Sprintf("wave: probe %s (%s): %s", wp.name, strings.Join(wp.all, ", "), r.Error)))
			default:
				r.Green = green
				emit(Progress(fmt.Sprintf("wave: probe %s (%s) answering", wp.name, strings.Join(wp.all, ", ")), -1))
			}
			var first time.Time
			for _, n := range wp.deps {
				if s := byName[n].rep.Started; first.IsZero() || s.Before(first) {
					first = s
				}
			}
			r.Outages = probeOutages(mon, []string{wp.name}, first)
			out[i] = r
		}()
	}
	var panicked any
	for range wps {
		if p := <-done; p != nil && panicked == nil {
			panicked = p
		}
	}
	if panicked != nil {
		panic(panicked)
	}
	return out
}

// stoppedNote says of a wave probe that the wave was stopped before it
// could be judged: no verdict on it (it read "FAILED: context canceled"
// in a wave stopped before any of its VMs was shut down).
func stoppedNote(ctx context.Context) string {
	return fmt.Sprintf("not judged: the wave was stopped (%v)", ctx.Err())
}

// finishWave sums the wave up: from the first shutdown to the last service
// back (a VM's probes answering, the target powered on when none watches it
// alone, the source on again after a rollback, a wave probe answering), or
// to the end of a VM's cutover that ended with its service still down.
func (r *CutoverReport) finishWave() {
	var first, last time.Time
	for _, v := range r.VMs {
		if v.SourceOff.IsZero() {
			continue
		}
		if first.IsZero() || v.SourceOff.Before(first) {
			first = v.SourceOff
		}
		back := v.ServiceBack
		if back.IsZero() {
			back = v.TargetOn
		}
		if v.SourceBackOn.After(back) {
			// Rolled back: down at least until the source was powered on
			// again, and until its probes answered when they did (QA: the
			// wave's downtime ended at the power-on, shorter than the
			// outage of its own VMs).
			back = v.SourceBackOn
		}
		open := v.OutageOpen && v.SourceBackOn.IsZero()
		if open {
			// Not back when its cutover ended (QA: the wave read 0.9 s
			// "to the last service back" with no service back).
			back = v.Finished
		}
		if back.After(last) {
			last = back
		}
		r.WaveOutageOpen = r.WaveOutageOpen || open
	}
	for _, p := range r.WaveProbes {
		if p.Green.After(last) {
			last = p.Green
		}
	}
	if !first.IsZero() && last.After(first) {
		r.FirstShutdown, r.LastServiceBack = first, last
		r.WaveDowntimeSeconds = last.Sub(first).Seconds()
		if r.WaveOutageOpen {
			r.LastServiceBack = time.Time{}
		}
	}
}

// projections are the wave's VMs' projected downtimes.
func (r *CutoverReport) projections(wave []*vmCutover) []*DowntimeEstimate {
	var out []*DowntimeEstimate
	for _, c := range wave {
		if c.rep.Projection != nil {
			out = append(out, c.rep.Projection)
		}
	}
	return out
}

// waveProjection is a wave's projected downtime: its VMs' projections laid
// out on parallel slots, longest first (the wave ends with its last VM).
// The share of bandwidth_mbit is in each (projectWave); other contention
// (the provider's, the link's without a cap) is not.
func waveProjection(each []time.Duration, parallel int) time.Duration {
	if len(each) == 0 || parallel < 1 {
		return 0
	}
	d := slices.Clone(each)
	sort.Slice(d, func(i, j int) bool { return d[i] > d[j] })
	slots := make([]time.Duration, min(parallel, len(d)))
	for _, x := range d {
		k := 0
		for j := range slots {
			if slots[j] < slots[k] {
				k = j
			}
		}
		slots[k] += x
	}
	return slices.Max(slots)
}

// waveGate lines up the shutdowns of a wave's VMs: a VM ready to shut down
// (its pre-cutover passes done) waits until every other VM of the wave
// preparing beside it (at most cutover.parallel) is ready too or has ended,
// so the wave's services go down together instead of one VM's outage
// starting while another still copies with its service up. Those released
// together form a batch: VMs that enter after it (when a batch takes its
// downtime windows, the next VMs begin to prepare) wait for each other,
// never hold back a batch already released.
type waveGate struct {
	mu      sync.Mutex
	pending int           // VMs preparing, neither ready nor ended
	opened  chan struct{} // closed (and replaced) whenever pending drops to 0
}

// closedChan is a closed channel: a wait on it ends at once.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newWaveGate() *waveGate { return &waveGate{opened: make(chan struct{})} }

// enter counts a VM that began to prepare; the returned leave must be
// called when its cutover ends.
func (g *waveGate) enter() (ready func(ctx context.Context) time.Duration, leave func()) {
	if g == nil {
		return func(context.Context) time.Duration { return 0 }, func() {}
	}
	g.mu.Lock()
	g.pending++
	g.mu.Unlock()
	done := false // ready or left: no longer pending
	// release stops counting the VM and returns the channel that closes
	// when its batch is released (already closed when it was the last).
	release := func() <-chan struct{} {
		g.mu.Lock()
		defer g.mu.Unlock()
		if done { // already counted out: nothing to wait for
			return closedChan
		}
		opened := g.opened
		done = true
		if g.pending--; g.pending == 0 {
			close(g.opened)
			g.opened = make(chan struct{})
		}
		return opened
	}
	ready = func(ctx context.Context) time.Duration {
		start := time.Now()
		select {
		case <-release():
		case <-ctx.Done():
		}
		return time.Since(start)
	}
	return ready, func() { release() }
}

// places bounds how many of a wave's VMs do one thing at once (prepare, or
// be in their downtime windows: cutover.parallel each) and knows which VMs
// hold them, so that a VM that must wait can say for whom.
type places struct {
	mu      sync.Mutex
	max     int
	holders []string
	// inTurn: places are given in the wave's order (turn 0, 1, ...), next
	// being the turn of the next VM to get one; otherwise in any order.
	inTurn  bool
	next    int
	changed chan struct{} // closed (and replaced) whenever a place is given or freed
}

func newPlaces(max int, inTurn bool) *places {
	return &places{max: max, inTurn: inTurn, changed: make(chan struct{})}
}

// take waits for a place for the VM name (its turn in the wave's order),
// calling waiting once, with the VMs holding the places, when all are
// taken; it says how long it waited. A cancelled ctx gives no
// place.
func (p *places) take(ctx context.Context, name string, turn int, waiting func(holders []string)) (time.Duration, error) {
	start := time.Now()
	said := false
	for {
		if err := ctx.Err(); err != nil {
			return time.Since(start), err
		}
		p.mu.Lock()
		if len(p.holders) < p.max && (!p.inTurn || turn == p.next) {
			p.holders = append(p.holders, name)
			if p.inTurn {
				p.next++
			}
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			return time.Since(start), nil
		}
		ch, holders := p.changed, slices.Clone(p.holders)
		p.mu.Unlock()
		// Only when every place is taken (a VM waiting for its turn
		// alone waits for one about to take its own, a moment).
		if !said && waiting != nil && len(holders) >= p.max {
			said = true
			waiting(holders)
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// give frees the place name holds.
func (p *places) give(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.holders, name); i >= 0 {
		p.holders = slices.Delete(p.holders, i, i+1)
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// AndList joins names as "A", "A and B", "A, B and C".
func AndList(names []string) string { return andList(names) }

func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
