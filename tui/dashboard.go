package tui

import (
	"slices"
	"sort"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// RPOHealth is how the age of a VM's replica compares with its RPO.
type RPOHealth int

const (
	RPOUnknown  RPOHealth = iota // no complete pass yet
	RPOOK                        // replica younger than the RPO
	RPOWarning                   // a pass runs longer than RPO/2, or the replica nears the RPO
	RPOViolated                  // replica older than the RPO
)

// String is the one wording of RPO health, the same as `ferry status`'s
// "RPO missed".
func (h RPOHealth) String() string {
	switch h {
	case RPOOK:
		return "RPO ok"
	case RPOWarning:
		return "RPO at risk"
	case RPOViolated:
		return "RPO missed"
	}
	return "no complete pass yet"
}

// ReplicationUpdate is one report of the replication engine about one VM.
// The lead's adapter turns replication events into these and sends them on
// Feeds.Replication; the dashboard keeps the latest per VM.
type ReplicationUpdate struct {
	VM    string
	Phase string // "initial sync", "incremental", "idle", "paused", "final pass", "failed"
	Pass  int    // number of the pass in flight or last completed
	// Bytes of the pass in flight.
	Planned, Read, Sent, Acked int64
	// Figures says the bytes above are a pass's as this process saw it
	// reported (an EventProgress since its snapshot, or what an
	// interrupted pass recorded); false for a row made from a status (a
	// wizard started since the last pass: the store keeps no figures of
	// it), whose zeros are not a pass's (QA: "planned 0 B" after a restart
	// for a VM many passes in). Recorded says what the record keeps.
	Figures  bool
	Recorded steps.RecordedPass
	// Resumed: bytes of the pass in flight that an earlier attempt (a
	// killed or stopped ferry) made durable; not in Planned, not sent
	// again, counted as done.
	Resumed  int64
	Rate     float64       // bytes per second sent
	ETA      time.Duration // of the pass in flight; 0 = unknown
	LastPass time.Time     // snapshot time of the last complete pass
	// NextPass is when the scheduler starts the next pass (its due time,
	// a lead before LastPass + RPO); zero while a pass runs or when no
	// scheduler said (the dashboard shows "—").
	NextPass time.Time
	// Queued: the job's pass is due and waits for a free pass slot
	// (every one of Slots runs another VM's pass); the row says so
	// instead of a next pass (QA: "idle · last — · next —").
	Queued bool
	Slots  int // passes the scheduler runs at once (0: not said)
	RPO    time.Duration
	Health RPOHealth
	Paused bool
	// PausedBy is who paused the job by request ("alice (wizard)"), as its
	// reason says ("paused by request of ..."); "" when not said.
	PausedBy string
	// Held says why ferry itself holds the job's passes (its cutover, a
	// test migration freezing the replica); "" when it does not. The row
	// reads "held", not "paused": the operator did not pause it.
	Held string
	Err  string // last error, shown until a pass succeeds
	// Note is what ferry said when it resumed the job (a hold a stopped
	// ferry left, whose cause is gone); shown in the detail line until
	// the job is paused or held again.
	Note string
	// NoteEnds: Note is a wait within the pass in flight (another task
	// held the VM), cleared once the pass moves on.
	NoteEnds bool
	// LastCompare is the last full compare of the replica (when, blocks
	// compared, differing, repaired); nil: none seen yet.
	LastCompare *replication.CompareResult
	// Cold is a cold migration: no pass every RPO (no RPO to keep); its
	// pass is in its cutover window (or was, for a source that was off).
	Cold bool
	// History is the VM's throughput history as its feed keeps it (the
	// last historyLen rates, oldest first, this update's last), which the
	// row's sparkline draws: a terminal attaching late draws the same
	// recent history as one attached all along (QA: it started empty).
	// nil: the dashboard adds the update's rate to the row's own.
	History []float64
}

// ProbeUpdate is one probe result for a pair across the stretch.
type ProbeUpdate struct {
	Pair    string // "WebApp1 → WebApp2" (the probe target's name)
	Kind    string // "tcp 172.16.10.12:80", "icmp 172.16.10.12"
	Time    time.Time
	Up      bool
	Latency time.Duration
	Err     string // why it did not answer ("" when up)
	// Set, when not nil, is not a sample: the plan's probes changed and
	// these run now (rows of others are dropped), or none can (Set.Err).
	Set *steps.ProbeSet
}

// historyLen is how many samples a sparkline keeps.
const historyLen = 32

// VMRow is one VM of the dashboard: the latest update and the throughput history.
type VMRow struct {
	ReplicationUpdate
	Rates []float64 // last historyLen rates, oldest first
	// FinalPass is the projected final pass of the VM's cutover now (the
	// source off), as the cutover's confirmation projects it
	// (steps.DowntimeEstimate.FinalPass, its Figure: "0.4s"); "" none,
	// or only a default (no pass recorded to project from).
	FinalPass string
}

// Fraction is the progress of the pass in flight, by durable bytes: what
// this attempt got acknowledged and what an earlier one made durable (a
// resumed pass does not start again from 0%).
func (r VMRow) Fraction() float64 {
	if r.Planned <= 0 {
		return 0
	}
	return min(1, float64(r.Resumed+r.Acked)/float64(r.Resumed+r.Planned))
}

// Active reports whether a pass is moving data. An idle row is not,
// whatever its last pass left unacknowledged: a pass a pause stopped keeps
// its figures on a job resumed and waiting for its turn (QA: "5 copying"
// with at most four passes at once).
func (r VMRow) Active() bool {
	return !r.Paused && r.Err == "" && r.Phase != PhaseInterrupted && r.Phase != "idle" && r.Planned > 0 && r.Acked < r.Planned
}

// ProbeRow is one probed pair with its outage record.
type ProbeRow struct {
	ProbeUpdate
	Outages    int           // up -> down transitions seen
	DownSince  time.Time     // zero when up
	LastOutage time.Duration // length of the last finished outage
	Latencies  []float64     // last historyLen latencies in ms (0 = lost), oldest first
}

// Loss is the fraction of the last historyLen probes that got no answer.
func (p ProbeRow) Loss() float64 {
	if len(p.Latencies) == 0 {
		return 0
	}
	lost := 0
	for _, l := range p.Latencies {
		if l == 0 {
			lost++
		}
	}
	return float64(lost) / float64(len(p.Latencies))
}

// DashboardState is the view-model of the replication dashboard and the
// probe panel. It is fed by messages only (replication and probe updates),
// so the engine and the probes are wired by adapters and tests feed it fake
// data.
type DashboardState struct {
	VMs    []VMRow
	Probes []ProbeRow
	// Outages lists finished outages with when they started, for the
	// cutover's downtime report.
	Outages []Outage
	// cutOver are the VMs the steps say are cut over (steps.Env.VMPhase):
	// their rows say so whatever the engine last reported about them.
	cutOver map[string]bool
	// finalPass is each VM's projected final pass (VMRow.FinalPass), as
	// last read (SetFinalPasses).
	finalPass map[string]string
	// passes counts the passes the rows saw end (a row's last pass
	// changed, or a new row): the projection is read again after one.
	passes int
}

// SetFinalPasses records each VM's projected final pass (VMRow.FinalPass)
// by VM; a VM not in fp has none.
func (d *DashboardState) SetFinalPasses(fp map[string]string) {
	d.finalPass = fp
	for i := range d.VMs {
		d.VMs[i].FinalPass = fp[d.VMs[i].VM]
	}
}

// PhaseCutOver is the phase of a VM's row once it is cut over.
const PhaseCutOver = "cut over"

// PhaseInterrupted is the phase of a VM's row whose first pass a killed or
// stopped ferry left in flight: the replica exists, its durable part is
// kept, and the pass resumes from there.
const PhaseInterrupted = "interrupted"

// PhaseFirstPass is the phase of a VM's row while the replication step
// runs and the VM's first pass has not begun (it waits for a free slot, or
// for the VMs before it); its second line says so (waitsFirstPass).
const PhaseFirstPass = "waiting"

// waitsFirstPass reports a row whose VM waits for its first pass.
func (r VMRow) waitsFirstPass() bool {
	return r.Phase == PhaseFirstPass && r.LastPass.IsZero() && r.Planned == 0 && r.Err == "" && !r.Paused
}

// MarkCutOver records that vm is cut over: nothing replicates it any more.
func (d *DashboardState) MarkCutOver(vm string) {
	if d.cutOver == nil {
		d.cutOver = map[string]bool{}
	}
	d.cutOver[vm] = true
	u := ReplicationUpdate{VM: vm}
	if r, ok := d.Row(vm); ok {
		u = r.ReplicationUpdate
	}
	d.Replicate(u)
}

// asCutOver is an update as the row of a cut-over VM shows it: its last
// pass, no pass to come, no RPO to keep.
func asCutOver(u ReplicationUpdate) ReplicationUpdate {
	return ReplicationUpdate{VM: u.VM, Phase: PhaseCutOver, Pass: u.Pass, LastPass: u.LastPass, RPO: u.RPO, Health: RPOUnknown}
}

// CutOver reports whether the row is a VM that is cut over.
func (r VMRow) CutOver() bool { return r.Phase == PhaseCutOver }

// Outage is one period a probed pair did not answer.
type Outage struct {
	Pair       string
	Start, End time.Time
}

// Replicate records an update.
func (d *DashboardState) Replicate(u ReplicationUpdate) {
	if d.cutOver[u.VM] {
		u = asCutOver(u)
	}
	for i := range d.VMs {
		if d.VMs[i].VM == u.VM {
			if !d.VMs[i].LastPass.Equal(u.LastPass) {
				d.passes++
			} else if u.Recorded.At.IsZero() && !u.Figures {
				// No pass since the record was read (SetRecorded): the
				// engine's update does not carry it.
				u.Recorded = d.VMs[i].Recorded
			}
			d.VMs[i].ReplicationUpdate = u
			if u.History != nil {
				d.VMs[i].Rates = u.History
			} else {
				d.VMs[i].Rates = push(d.VMs[i].Rates, u.Rate)
			}
			return
		}
	}
	rates := u.History
	if rates == nil {
		rates = []float64{u.Rate}
	}
	d.passes++
	d.VMs = append(d.VMs, VMRow{ReplicationUpdate: u, Rates: rates, FinalPass: d.finalPass[u.VM]})
	sort.SliceStable(d.VMs, func(i, j int) bool { return d.VMs[i].VM < d.VMs[j].VM })
}

// Probe records a probe result and tracks outages.
func (d *DashboardState) Probe(u ProbeUpdate) {
	if u.Set != nil {
		// Rows of probes gone, and of probes that probe something else
		// under the same name (QA: a port corrected in step 5 kept the
		// wrong port's loss and outage on its row).
		d.Probes = slices.DeleteFunc(d.Probes, func(r ProbeRow) bool {
			kind, ok := u.Set.Kinds[r.Pair]
			return !slices.Contains(u.Set.Targets, r.Pair) || ok && r.Kind != "" && kind != r.Kind
		})
		return
	}
	row := ProbeRow{ProbeUpdate: u}
	i := -1
	for j := range d.Probes {
		if d.Probes[j].Pair == u.Pair {
			i = j
			break
		}
	}
	if i < 0 {
		// A new pair counts as up until it answers otherwise, so a
		// first failed probe opens an outage.
		row.Up = true
		d.Probes = append(d.Probes, row)
		i = len(d.Probes) - 1
	}
	p := &d.Probes[i]
	wasUp := p.Up || p.DownSince.IsZero()
	switch {
	case !u.Up && wasUp:
		p.Outages++
		p.DownSince = u.Time
	case u.Up && !p.DownSince.IsZero():
		p.LastOutage = u.Time.Sub(p.DownSince)
		d.Outages = append(d.Outages, Outage{Pair: p.Pair, Start: p.DownSince, End: u.Time})
		p.DownSince = time.Time{}
	}
	p.ProbeUpdate = u
	ms := 0.0
	if u.Up {
		// A lost probe is 0; an answer is never quite 0.
		ms = max(float64(u.Latency)/float64(time.Millisecond), 0.001)
	}
	p.Latencies = push(p.Latencies, ms)
}

// Replicating reports whether any VM has a pass moving data.
func (d *DashboardState) Replicating() bool {
	for _, r := range d.VMs {
		if r.Active() {
			return true
		}
	}
	return false
}

// SetRecorded gives vm's row what its replication record keeps of its
// last incremental pass (from the persisted status), shown while the row
// has no pass figures of its own.
func (d *DashboardState) SetRecorded(vm string, rec steps.RecordedPass) {
	for i := range d.VMs {
		if d.VMs[i].VM == vm && !d.VMs[i].Figures {
			d.VMs[i].Recorded = rec
		}
	}
}

// Row returns the row of a VM.
func (d *DashboardState) Row(vm string) (VMRow, bool) {
	for _, r := range d.VMs {
		if r.VM == vm {
			return r, true
		}
	}
	return VMRow{}, false
}

// DowntimeSince is the longest outage seen by any probe that started at or
// after t, counting a running outage up to now. It is the measured downtime
// of a cutover that started at t.
func (d *DashboardState) DowntimeSince(t, now time.Time) (time.Duration, bool) {
	var worst time.Duration
	seen := false
	for _, o := range d.Outages {
		if !o.Start.Before(t) {
			worst, seen = max(worst, o.End.Sub(o.Start)), true
		}
	}
	for _, p := range d.Probes {
		if !p.DownSince.IsZero() && !p.DownSince.Before(t) {
			worst, seen = max(worst, now.Sub(p.DownSince)), true
		}
	}
	return worst, seen
}

func push(h []float64, v float64) []float64 {
	h = append(h, v)
	if len(h) > historyLen {
		h = h[len(h)-historyLen:]
	}
	return h
}
