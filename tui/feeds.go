package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// ReplicationFeed turns the replication engine's events into dashboard
// updates: pass Handle as the scheduler's event callback
// (replication.NewScheduler(n, feed.Handle)) and Updates as
// Feeds.Replication. Events carry only what changed; the feed keeps the
// rest per VM. Handle never blocks the engine: when the wizard is behind,
// an update is dropped and the next one carries the state.
type ReplicationFeed struct {
	mu   sync.Mutex
	rows map[string]*ReplicationUpdate
	rpo  func(vm string) time.Duration
	ch   chan ReplicationUpdate
	// followers are the feeds of the dashboards that attached later
	// (Follow): each event f handles goes on to them, in f's order.
	followers map[*ReplicationFeed]bool
}

// NewReplicationFeed returns a feed; rpo gives each VM's RPO (for the RPO
// health), nil when unknown. The next pass is the scheduler's due time, as
// its events say it (replication.Event.NextPass): a pass starts a lead
// before last pass + RPO.
func NewReplicationFeed(rpo func(vm string) time.Duration) *ReplicationFeed {
	return &ReplicationFeed{rows: map[string]*ReplicationUpdate{}, rpo: rpo, ch: make(chan ReplicationUpdate, 256)}
}

// Updates is the channel for Feeds.Replication.
func (f *ReplicationFeed) Updates() <-chan ReplicationUpdate { return f.ch }

// Handle records one engine event and publishes the VM's new state.
func (f *ReplicationFeed) Handle(ev replication.Event) {
	f.mu.Lock()
	r, ok := f.rows[ev.VM]
	if !ok {
		r = &ReplicationUpdate{VM: ev.VM, Phase: "waiting"}
		if f.rpo != nil {
			r.RPO = f.rpo(ev.VM)
		}
		f.rows[ev.VM] = r
	}
	apply(r, ev)
	// The sparkline's history, kept here (bounded: what it draws) so that
	// a dashboard that follows later starts from it.
	r.History = push(slices.Clone(r.History), r.Rate)
	u := *r
	for g := range f.followers {
		g.Handle(ev)
	}
	f.mu.Unlock()
	select {
	case f.ch <- u:
	default:
	}
}

// Follow returns the feed of one more dashboard (a terminal attaching to
// a ferry serve engine whose events f handles): it starts from f's rows,
// each VM's last pass with its figures (planned, sent, acknowledged) and
// rate history as a dashboard fed by f all along has them
// (QA: a newly attached session showed "planned 0 B · sent 0 B" and no
// bar for passes the others showed done), then gets every event f
// handles, in f's order. stop ends that.
func (f *ReplicationFeed) Follow() (g *ReplicationFeed, stop func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g = NewReplicationFeed(f.rpo)
	// Room for every row and for the events after them: the rows are
	// published before the dashboard reads any.
	g.ch = make(chan ReplicationUpdate, len(f.rows)+cap(f.ch))
	vms := make([]string, 0, len(f.rows))
	for vm := range f.rows {
		vms = append(vms, vm)
	}
	slices.Sort(vms)
	for _, vm := range vms {
		r := *f.rows[vm]
		g.rows[vm] = &r
		g.ch <- r
	}
	if f.followers == nil {
		f.followers = map[*ReplicationFeed]bool{}
	}
	f.followers[g] = true
	return g, func() {
		f.mu.Lock()
		delete(f.followers, g)
		f.mu.Unlock()
	}
}

// NotStarted publishes, on each VM's row, why warm replication did not
// start its job (err from steps.Env.EnableWarm: one steps.WarmStartError
// per VM); the row says it until a pass succeeds. An error that names no
// VM goes on a row of its own, so the operator sees it too.
func (f *ReplicationFeed) NotStarted(err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		ev := replication.Event{Kind: replication.EventError, VM: "(replication)", Msg: "did not start:", Err: e}
		var ws *steps.WarmStartError
		if errors.As(e, &ws) {
			ev.VM, ev.Err = ws.VM, ws.Err
		}
		f.Handle(ev)
	}
}

// Seed publishes the scheduler's view of every job (replication's
// Scheduler.Status), so a resumed wizard shows replication before the next
// event arrives.
func (f *ReplicationFeed) Seed(jobs []replication.JobStatus) {
	for _, j := range jobs {
		f.mu.Lock()
		r := &ReplicationUpdate{VM: j.VM, Phase: "idle", Pass: j.Passes, RPO: j.RPO.Duration(), LastPass: j.LastPass, NextPass: j.NextPass, Paused: j.Paused, Health: rpoHealth(j.Health),
			Queued: j.Queued, Slots: j.Slots}
		if j.Running {
			// Its due time is the running pass's; the next one's is set
			// when it ends.
			r.Phase, r.NextPass = "running", time.Time{}
		}
		switch {
		case j.Paused && j.Held != "":
			r.Phase, r.Held = "held", heldWhy(j.Held, j.Reason)
		case j.Paused && j.Phase == replication.JobPaused:
			r.Phase, r.PausedBy = "paused", pausedBy(j.Reason) // by request: not an error
		case j.Paused:
			r.Phase, r.Err = "paused", j.Reason // a failure paused it
		case j.Waiting != "":
			r.Err = j.Waiting // not paused; passes wait (a backup's snapshot...)
		}
		if j.LastCompare != nil {
			c := *j.LastCompare
			r.LastCompare = &c
		}
		if ev, ok := f.rows[j.VM]; ok {
			keepPass(r, ev, j)
		}
		f.rows[j.VM] = r
		u := *r
		for g := range f.followers {
			g.put(u)
		}
		f.mu.Unlock()
		select {
		case f.ch <- u:
		default:
		}
	}
}

// keepPass gives r, the row Seed makes of job j's status, what the job's
// events told the feed before it (ev, their row) of the pass they reported:
// its phase while the job runs it ("initial transfer", not "running"), its
// figures, rate, ETA and history, which no status carries. The scheduler
// starts the passes of jobs with state at once, so the events of a pass a
// killed ferry left (its initial sync resumed) can come before the status
// is read (QA: after a restart the rows of resumed initial syncs read
// "running" until their commit).
func keepPass(r, ev *ReplicationUpdate, j replication.JobStatus) {
	if j.Running && !j.Paused && r.Err == "" && ev.Phase != "" && ev.Phase != "idle" && ev.Phase != PhaseFirstPass {
		r.Phase = ev.Phase
	}
	r.Planned, r.Read, r.Sent, r.Acked, r.Resumed = ev.Planned, ev.Read, ev.Sent, ev.Acked, ev.Resumed
	r.Rate, r.ETA, r.Figures, r.History = ev.Rate, ev.ETA, ev.Figures, ev.History
	r.Note, r.NoteEnds = ev.Note, ev.NoteEnds
	if r.LastCompare == nil {
		r.LastCompare = ev.LastCompare
	}
}

// put makes u the row of its VM and publishes it.
func (f *ReplicationFeed) put(u ReplicationUpdate) {
	f.mu.Lock()
	r := u
	f.rows[u.VM] = &r
	f.mu.Unlock()
	select {
	case f.ch <- u:
	default:
	}
}

func apply(r *ReplicationUpdate, ev replication.Event) {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	if ev.LastPassAge > 0 {
		r.LastPass = at.Add(-ev.LastPassAge)
		if r.Health == RPOUnknown && r.RPO > 0 {
			// The job has a complete pass (a row the feed starts from a
			// job's first event after a restart): its health is its age,
			// never "no complete pass yet".
			r.Health = RPOOK
			if ev.LastPassAge > r.RPO {
				r.Health = RPOViolated
			}
		}
	}
	if !ev.NextPass.IsZero() {
		// The scheduler's due time: it starts a pass a lead (the pass's
		// duration, the wait for a free slot) before last pass + RPO.
		r.NextPass = ev.NextPass
	}
	// Due and waiting for a free pass slot until the scheduler says
	// anything else of the job (its pass starts, a new due time, a pause).
	r.Queued = r.Queued && ev.Kind != replication.EventScheduled && ev.Kind != replication.EventPhase &&
		ev.Kind != replication.EventPaused && ev.Kind != replication.EventResumed && ev.Kind != replication.EventError
	if r.NoteEnds && ev.Kind != replication.EventProgress {
		// The wait it said is over: the pass moved on (its next phase,
		// its end, a failure or a pause, which say what they say).
		r.Note, r.NoteEnds = "", false
	}
	switch ev.Kind {
	case replication.EventScheduled:
		r.Queued = ev.Queued
	case replication.EventPhase:
		if ev.Phase != replication.PhaseIdle {
			// A pass runs: the due time known was its own; the
			// scheduler sets the next one's when it ends.
			r.NextPass = time.Time{}
		}
		if ev.Phase == replication.PhaseSnapshot {
			// Every pass starts here: the figures are the pass in
			// flight's, none yet (QA: "snapshot #4 ... pass 100% done"
			// and the last pass's rate while the next one began).
			r.Planned, r.Read, r.Sent, r.Acked, r.Resumed = 0, 0, 0, 0, 0
			r.Rate, r.ETA, r.Figures = 0, 0, false
		}
		r.Phase = string(ev.Phase)
		if ev.Phase == replication.PhaseSnapshot && ev.Msg != "" {
			// A cutover's final pass opens the powered-off VM's disks and
			// takes no snapshot; replication.Job says so in the phase's
			// Msg ("open the disks (no snapshot: the VM is powered off)",
			// the steps' progress line), which a pass that takes one has
			// not (QA: the row read "snapshot"). Short for the row's
			// phase column and the sidebar.
			r.Phase = "open disks"
		}
		if ev.Pass != "" && ev.Phase != replication.PhaseIdle {
			r.Phase = string(ev.Pass) + " " + string(ev.Phase)
		}
	case replication.EventProgress:
		r.Planned, r.Read, r.Sent, r.Acked, r.Resumed = ev.Planned, ev.Read, ev.Sent, ev.Acked, ev.Resumed
		r.Rate, r.ETA, r.Figures = ev.Rate, ev.ETA, true
	case replication.EventPassDone:
		// The VM's pass number as its record counts them, across ferry
		// processes (QA: "idle #1" after a restart, for a VM two passes
		// in); an event without one counts on from the row.
		r.Pass++
		if ev.Number > 0 {
			r.Pass = ev.Number
		}
		r.Phase, r.Err, r.ETA = "idle", "", 0
		r.Acked = r.Planned
		// A pass of this process's: the record's last one is older.
		r.Recorded = steps.RecordedPass{}
		if ev.LastPassAge == 0 {
			r.LastPass = at
		}
		r.Health = RPOOK
	case replication.EventRPOWarning:
		r.Health = RPOWarning
		if h := rpoHealth(ev.Health); h != RPOUnknown {
			r.Health = h
		}
	case replication.EventError:
		if r.Paused {
			// The pass the pause stopped, ending (the scheduler cancels
			// it): not an error of the job, which reads paused (QA: the
			// row of a VM paused mid-pass read "✗ ... context canceled").
			// What paused the job (a failure, a mismatch) is its
			// EventPaused's error, kept.
			break
		}
		r.Err = errMsg(ev)
	case replication.EventWarning:
		// What ferry did on its own that the operator should know (a
		// source disk extended or added, reads through vCenter's proxy):
		// under the VM's detail line, until the next such news; a wait
		// within the pass, until the pass moves on.
		r.Note, r.NoteEnds = errMsg(ev), ev.Transient
	case replication.EventPaused:
		r.Paused, r.Phase = true, "paused"
		r.Note, r.NoteEnds = "", false
		// No pass in flight: the one the pause stopped does not go on (a
		// new pass in a new snapshot starts when the job resumes, keeping
		// what it made durable), so neither its progress nor its ETA is
		// the row's any more.
		r.ETA, r.Rate = 0, 0
		switch {
		case ev.Err != nil:
			// The cause first, what became of the job after it: a row
			// or a panel that cuts it keeps the cause (QA: "✗ job paused
			// after a failed pass; the replica is at …" at 80x24).
			r.Err = ev.Err.Error()
			if ev.Msg != "" {
				r.Err += " (" + ev.Msg + ")"
			}
		case ev.Hold != "":
			r.Held, r.Phase, r.Err = heldWhy(ev.Hold, ev.Msg), "held", ""
		default:
			// Paused by request: not an error, whatever the stopped pass
			// said as it ended before this event.
			r.Err, r.PausedBy = "", pausedBy(ev.Msg)
		}
	case replication.EventResumed:
		r.Paused, r.Err, r.Phase, r.Held, r.Note, r.PausedBy = false, "", "idle", "", ev.Msg, ""
	case replication.EventCompared:
		if ev.Compare != nil {
			c := *ev.Compare
			r.LastCompare = &c
		}
	}
}

// pausedBy is who a pause's reason names ("paused by request of alice
// (wizard)": "alice (wizard)"); "" when it names nobody.
func pausedBy(reason string) string {
	by, _ := strings.CutPrefix(reason, replication.PausedByRequest+" of ")
	if by == reason {
		return ""
	}
	return by
}

// rpoHealth is the dashboard's wording of the engine's RPO health.
func rpoHealth(h replication.Health) RPOHealth {
	switch h {
	case replication.HealthOK:
		return RPOOK
	case replication.HealthLagging:
		return RPOWarning
	case replication.HealthMissed:
		return RPOViolated
	}
	return RPOUnknown
}

// heldWhy is why ferry holds a job (its reason), or what for.
func heldWhy(h replication.Hold, reason string) string {
	if reason != "" {
		return reason
	}
	return "held for its " + string(h)
}

func errMsg(ev replication.Event) string {
	s := ev.Msg
	if ev.Err != nil {
		s = strings.TrimSpace(s + " " + ev.Err.Error())
	}
	return s
}

// ProbeFeed converts a probe monitor's events (probe.Monitor.Subscribe)
// into Feeds.Probes until ctx ends or events closes. kinds names each
// target's probe ("tcp 172.16.10.12:80"), by target name; may be nil.
func ProbeFeed(ctx context.Context, events <-chan probe.Event, kinds map[string]string) <-chan ProbeUpdate {
	return probeUpdates(ctx, events, func(ev probe.Event) ProbeUpdate {
		return sampleUpdate(ev.Target, kinds[ev.Target], ev.Sample)
	})
}

// ProbeWatchFeed adapts a steps.ProbeWatch subscription (the plan's
// probes, followed through edits of the plan) to the probe panel.
func ProbeWatchFeed(ctx context.Context, events <-chan steps.ProbeWatchEvent) <-chan ProbeUpdate {
	return probeUpdates(ctx, events, func(ev steps.ProbeWatchEvent) ProbeUpdate {
		if ev.Set != nil {
			return ProbeUpdate{Set: ev.Set}
		}
		return sampleUpdate(ev.Target, ev.Kind, ev.Sample)
	})
}

// probeUpdates converts events into probe panel updates until ctx ends or
// events closes.
func probeUpdates[T any](ctx context.Context, events <-chan T, update func(T) ProbeUpdate) <-chan ProbeUpdate {
	out := make(chan ProbeUpdate, 64)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				select {
				case out <- update(ev):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// sampleUpdate is a probe sample as the probe panel takes it.
func sampleUpdate(target, kind string, s probe.Sample) ProbeUpdate {
	return ProbeUpdate{Pair: target, Kind: kind, Time: s.At, Up: s.OK, Latency: s.Latency, Err: s.Err}
}

// statusRows turns the persisted replication status (steps.Env's
// ReplicationStatus) into dashboard rows: what a resumed wizard shows
// before the engine reports. running: the replication step runs (in this
// process), so a VM with no replica yet waits for its first pass.
func statusRows(sts []steps.VMStatus, running bool) []ReplicationUpdate {
	out := make([]ReplicationUpdate, 0, len(sts))
	for _, st := range sts {
		rpo := st.RPO.Duration()
		u := ReplicationUpdate{VM: st.VM, Phase: "idle", Pass: st.Passes, RPO: rpo, LastPass: st.LastPass, Paused: st.Paused, Health: rpoHealth(st.Health),
			Recorded: st.LastIncremental, Queued: st.Queued, Slots: st.Slots}
		switch {
		case st.Phase == replication.JobCutOver:
			u.Phase = PhaseCutOver
		case st.LastPass.IsZero() && st.InFlight != nil:
			// A pass interrupted (a killed or stopped ferry): the replica
			// exists, and the pass resumes from its durable watermark.
			u.Phase = PhaseInterrupted
			u.Planned, u.Resumed = st.InFlight.Size-st.InFlight.Durable, st.InFlight.Durable
			u.Figures = true // the record's, of the pass to resume
		case st.LastPass.IsZero() && running:
			u.Phase = PhaseFirstPass
		case st.LastPass.IsZero():
			u.Phase = "no replica"
		case st.Paused && st.Held != "":
			// Its status says why, and what becomes of the hold.
			u.Phase, u.Held = "held", heldWhy(st.Held, st.Summary)
		case st.Paused && st.Phase == replication.JobPaused:
			u.Phase, u.PausedBy = "paused", pausedBy(st.Reason) // by request: not an error
		case st.Paused:
			u.Phase, u.Err = "paused", st.Reason // a failure paused it
		case st.Waiting != "":
			u.Err = st.Waiting
		}
		if st.Health == replication.HealthNone && st.Phase != replication.JobCutOver {
			// A cold migration: no pass every RPO, so no next pass and no
			// RPO health.
			u.Cold, u.Phase = true, "cold"
		}
		// No next pass: when it starts is the scheduler's to say (a lead
		// before last pass + RPO), and the stored record has none.
		out = append(out, u)
	}
	return out
}
