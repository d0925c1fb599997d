package steps

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/internal/median"
	"github.com/ferry-migrate/ferry/replication"
)

// The projected downtime of a cutover: what each phase inside the window
// (from the shutdown to the first answering probe; to the power-on for a
// VM no probe watches, whose cutover waits for none) is expected to take,
// from recorded data where there is some: the replication store (the
// recent change rate, the measured pass throughput) and the phases of
// earlier cutovers in the reports beside the state file. A phase with no
// record gets a default, and the estimate says which.

// EstimatePart is one phase of a projected downtime.
type EstimatePart struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
	// From says what the figure comes from.
	From    string `json:"from"`
	Default bool   `json:"default,omitempty"`
	// Note is what Compact says beside the figure ("" nothing).
	Note string `json:"note,omitempty"`

	// A final pass's model, which ProjectWave takes to share the plan's
	// bandwidth cap among the wave's final passes: the bytes it copies,
	// its fixed cost and its throughput before the cap (0: the figure has
	// no model, a default or no pass recorded).
	bytes, fixed, rate float64
}

// DowntimeEstimate is a VM's projected cutover downtime.
type DowntimeEstimate struct {
	VM           string         `json:"vm"`
	TotalSeconds float64        `json:"total_seconds"`
	Parts        []EstimatePart `json:"parts"`
	// Unreadable names the downtime reports beside the state that could not
	// be read (damaged, truncated), and why: their figures are not counted.
	Unreadable []string `json:"unreadable_reports,omitempty"`
	// Unwatched says why the estimate ends at the power-on ("" when it
	// ends at the VM's probes answering): no probe of the plan watches the
	// VM, so its cutover's "probes green" waits for none and its report
	// measures the downtime from the shutdown to the power-on
	// (VMReport.Unwatched).
	Unwatched string `json:"unwatched,omitempty"`
	// Total is TotalSeconds as a duration.
	Total time.Duration `json:"-"`

	mbit int // the plan's bandwidth_mbit when projected (0: no cap)
}

// Defaults lists the phases estimated from defaults (no record).
func (d *DowntimeEstimate) Defaults() []string {
	var out []string
	for _, p := range d.Parts {
		if p.Default {
			out = append(out, p.Phase)
		}
	}
	return out
}

// Short is the estimate in one phrase: "~4.2s (defaults for: create VM, ...)".
func (d *DowntimeEstimate) Short() string {
	s := fmt.Sprintf("~%s", roundSecs(d.TotalSeconds))
	switch def := d.Defaults(); {
	case len(def) == len(d.Parts):
		s += " (all defaults: nothing recorded yet to project from)"
	case len(def) > 0:
		s += " (defaults for " + strings.Join(def, ", ") + ")"
	default:
		s += " (from recorded data)"
	}
	if m := d.TestWouldMeasure(); len(m) > 0 {
		s += "; a test migration (ferry run --test-migrate=" + d.VM + ") measures " + strings.Join(m, ", ")
	}
	return s
}

// TestWouldMeasure lists the phases of the estimate that are defaults and
// that a test migration of the VM measures at the provider, as the cutover
// does them (testPhases): a first cutover's projection is mostly those
// defaults, cautious for real infrastructure.
func (d *DowntimeEstimate) TestWouldMeasure() []string {
	var out []string
	for _, p := range d.Parts {
		if _, ok := testPhases[p.Phase]; ok && p.Default {
			out = append(out, p.Phase)
		}
	}
	return out
}

// basis says, beside a projected figure, which of it is defaults: a
// first cutover's projection is all defaults, cautious for real
// infrastructure (in the lab about 100 s, against 2 s measured), and a
// report that put the two side by side without saying so misleads.
func (d *DowntimeEstimate) basis() string {
	if d == nil {
		return ""
	}
	switch def := d.Defaults(); {
	case len(def) == len(d.Parts):
		return " (defaults: nothing recorded yet)"
	case len(def) > 0:
		return " (defaults for " + strings.Join(def, ", ") + ")"
	}
	return ""
}

// Text is every part with where it comes from.
func (d *DowntimeEstimate) Text() string {
	var parts []string
	for _, p := range d.Parts {
		from := p.From
		if p.Default {
			from = "default: " + from
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", p.Phase, roundSecs(p.Seconds), from))
	}
	t := "Projection: " + strings.Join(parts, " + ")
	if d.Unwatched != "" {
		t += "; no probes green: " + d.Unwatched + ", so the cutover waits for none and its downtime is measured from the shutdown to the power-on"
	}
	t += "."
	if len(d.Unreadable) > 0 {
		t += fmt.Sprintf(" Not counted: %d downtime report(s) that cannot be read (%s); move or mend them.", len(d.Unreadable), strings.Join(d.Unreadable, "; "))
	}
	return t
}

func roundSecs(s float64) string {
	switch {
	case s < 10:
		return fmt.Sprintf("%.1fs", s)
	case s < 60:
		return fmt.Sprintf("%.0fs", s)
	}
	return (time.Duration(math.Round(s)) * time.Second).String()
}

// Default phase durations, for a phase no report has recorded yet.
var phaseDefaults = []struct {
	phase string
	d     time.Duration
	why   string
}{
	{"shutdown", 30 * time.Second, "a guest OS shutdown"},
	{"final pass", 0, ""}, // from the replication store
	{"verify", 0, ""},     // as recorded, or as the final pass
	{"create VM at provider", 5 * time.Second, "a vCenter create over existing disks"},
	{"import into vCD", 10 * time.Second, "a Cloud Director import without copy"},
	{"connect networks", 3 * time.Second, "a Cloud Director NIC reconfigure"},
	{"power on", 5 * time.Second, "a Cloud Director power-on"},
	{"probes green", 30 * time.Second, "a guest boot until its service answers"},
}

// defaultPassThroughput is assumed when no pass has measured one.
const defaultPassThroughput = 50 << 20

// cutoverHistory is the phases of earlier cutovers and test migrations,
// from the reports saved beside the state file.
type cutoverHistory struct {
	reports []CutoverReport
	// tests are test migrations' reports: a copy of the VM created,
	// imported, connected and powered on at the provider as the cutover
	// does it, which stands for a cutover's phases none has recorded yet.
	tests []CutoverReport
	// unreadable are the report files that could not be read, and why.
	unreadable []string
}

// testPhases are the phases of a test migration that stand for a
// cutover's, and what they measured.
var testPhases = map[string]struct{ name, what string }{
	"shutdown":              {"shut down copy", ": the guest OS shutdown of the copy"},
	"create VM at provider": {"create copy at provider", ""},
	"import into vCD":       {"import into vCD", ""},
	"connect networks":      {"connect to isolated network", ""},
	"power on":              {"power on", ""},
	"probes green":          {"boot", ": until VMware Tools ran in the copy; the probes may answer later"},
}

func (e *Env) cutoverHistory() cutoverHistory {
	var h cutoverHistory
	if e.State == nil || e.State.Path() == "" {
		return h
	}
	dir := filepath.Dir(e.State.Path())
	plan := e.State.BoundPlan()
	h.reports = h.read(filepath.Join(dir, "cutover-*.json"), plan)
	h.tests = h.read(filepath.Join(dir, "test-migration-*.json"), plan)
	return h
}

// read reads the reports matching pattern that plan's runs wrote (or an
// older ferry, which did not record the plan), noting those it cannot
// read. Another plan's reports in the same directory are not this plan's
// history: other VMs, maybe another vCenter (QA: a lab plan's test
// migration of an unrelated WebApp2 stood for "test migrations of
// WebApp2").
func (h *cutoverHistory) read(pattern, plan string) []CutoverReport {
	var out []CutoverReport
	files, _ := filepath.Glob(pattern)
	for _, f := range files {
		b, err := os.ReadFile(f)
		var r CutoverReport
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			h.unreadable = append(h.unreadable, filepath.Base(f)+": "+err.Error())
			continue
		}
		if r.Plan != "" && plan != "" && r.Plan != plan {
			continue
		}
		out = append(out, r)
	}
	return out
}

// phase returns the recorded durations of a cutover phase that succeeded:
// this VM's when it has some, else every VM's; and whose they are.
func (h cutoverHistory) phase(vm, name string) ([]float64, bool) {
	return phaseIn(h.reports, vm, name)
}

func phaseIn(reports []CutoverReport, vm, name string) ([]float64, bool) {
	var mine, all []float64
	for _, r := range reports {
		for _, v := range r.VMs {
			for _, p := range v.Phases {
				if p.Name != name || p.Error != "" || p.End.IsZero() {
					continue
				}
				if name == "probes green" && v.Unwatched != "" {
					// That cutover waited for no probe of its own: its
					// "probes green" took no time, and is no guest's boot
					// until its service answered.
					continue
				}
				all = append(all, p.Seconds())
				if v.VM == vm {
					mine = append(mine, p.Seconds())
				}
			}
		}
	}
	if len(mine) > 0 {
		return mine, true
	}
	return all, false
}

// passText is a recorded pass in a few words: what it was, its bytes (its
// data, zero runs not counted, for a pass recorded so) and its time.
func passText(r replication.PassRecord) string {
	if r.Data {
		return fmt.Sprintf("%s: %s of data in %s", r.What, Bytes(r.Bytes), roundSecs(r.Seconds))
	}
	return fmt.Sprintf("%s: %s in %s", r.What, Bytes(r.Bytes), roundSecs(r.Seconds))
}

// finalPasses are the final passes of the earlier cutovers' reports that
// completed (every VM's): what each planned and how long it took.
func (h cutoverHistory) finalPasses() []replication.PassRecord {
	var out []replication.PassRecord
	for _, r := range h.reports {
		for _, v := range r.VMs {
			if v.FinalPass == nil {
				continue
			}
			for _, p := range v.Phases {
				if p.Name == "final pass" && p.Error == "" && !p.End.IsZero() && p.Seconds() > 0 {
					out = append(out, replication.PassRecord{Bytes: v.FinalPass.Planned, Seconds: p.Seconds(), What: "a final pass of " + v.VM})
				}
			}
		}
	}
	return out
}

// passModelFrom says what a pass model (replication.VMState.PassModel,
// the one the replication dashboard's projected final pass takes too)
// comes from: the fixed cost, the throughput and which passes measured
// them, and the bandwidth cap (mbit, bandwidth_mbit) when it lowered the
// throughput (PassModel.CapAt).
func passModelFrom(m replication.PassModel, mbit int) string {
	s := fittedFrom(m)
	if m.Uncapped > 0 {
		s += fmt.Sprintf("; capped at %s, the plan's bandwidth_mbit (%d Mbit/s of wire bytes, all VMs together)", perSecond(m.Rate), mbit)
	}
	return s
}

// fittedFrom is passModelFrom's pass model as fitted, before a cap.
func fittedFrom(m replication.PassModel) string {
	switch {
	case m.Recorded == 0:
		return "at the last pass's throughput"
	case len(m.Measured) == 0 && m.Recorded == 1:
		return fmt.Sprintf("at the throughput of the one recorded pass (%s), its fixed cost included", passText(m.Fastest))
	case len(m.Measured) == 0:
		return fmt.Sprintf("at the throughput of the fastest of %d recorded passes (%s), its fixed cost included: none took twice as long as the shortest, which would tell a fixed cost per pass apart", m.Recorded, passText(m.Fastest))
	}
	rate := m.Rate
	if m.Uncapped > 0 {
		rate = m.Uncapped
	}
	on := passText(m.Measured[0])
	if len(m.Measured) > 1 {
		on = fmt.Sprintf("%d passes, %s in %s", len(m.Measured), Bytes(m.MeasuredBytes), roundSecs(m.MeasuredSeconds))
	}
	on = "measured on " + on + ", less the fixed cost"
	if m.AtFastest {
		on = "as " + passText(m.Fastest) + ", fixed cost included, which was faster than " + on
	}
	return fmt.Sprintf("at %s (%s) plus a fixed cost of %s per pass (the shortest of %d recorded passes, %s)",
		perSecond(rate), on, roundSecs(m.Fixed), m.Recorded, passText(m.Shortest))
}

// ProjectDowntime projects the downtime of vm's cutover now.
func (e *Env) ProjectDowntime(vm string) (*DowntimeEstimate, error) {
	ests, errs := e.ProjectDowntimes([]string{vm})
	return ests[vm], errs[vm]
}

// ProjectDowntimes projects the downtime of each of vms' cutovers now, as
// ProjectDowntime does one, reading the replication store and the saved
// reports once for all of them (per VM, a wave's confirmation read every
// report once for each VM: N VMs times M reports). A VM that cannot be
// projected has its reason in errs instead.
func (e *Env) ProjectDowntimes(vms []string) (ests map[string]*DowntimeEstimate, errs map[string]error) {
	ests, errs = map[string]*DowntimeEstimate{}, map[string]error{}
	pf := e.Plan()
	plans := map[string]VMPlan{}
	for _, v := range pf.VMs {
		plans[v.Name] = v
	}
	var todo []string
	for _, vm := range vms {
		if _, ok := plans[vm]; !ok {
			errs[vm] = fmt.Errorf("VM %s is not in the plan", vm)
		} else if e.isCold(vm) {
			errs[vm] = fmt.Errorf("VM %s is migrated cold: ferry projects the downtime of warm cutovers only", vm)
		} else if e.InterruptedWindow(vm) {
			// Its source has been down since that cutover's shutdown (QA:
			// the wizard projected a new shutdown's 30s and the rest).
			errs[vm] = fmt.Errorf("VM %s: its last cutover was interrupted after it shut the source down; the next one goes on from there, with no window of its own to project", vm)
		} else {
			todo = append(todo, vm)
		}
	}
	if len(todo) == 0 {
		return ests, errs
	}
	states := map[string]replication.VMState{}
	capacities := map[string]int64{}
	store, done, err := e.readReplicationStore()
	if err != nil {
		for _, vm := range todo {
			errs[vm] = err
		}
		return ests, errs
	}
	if store != nil {
		for _, vm := range todo {
			if states[vm], err = store.VM(vm); err != nil {
				errs[vm] = err
			}
			capacities[vm] = diskCapacity(store, vm)
		}
		done()
	}
	h := e.cutoverHistory()
	for _, vm := range todo {
		if errs[vm] == nil {
			ests[vm] = projectDowntime(plans[vm], pf.unwatched(vm), states[vm], h, capacities[vm], pf.BandwidthMbit)
		}
	}
	return ests, errs
}

// diskCapacity is the capacity of vm's disks as the replication store
// records them (0: not recorded, or not read).
func diskCapacity(store *replication.StateStore, vm string) int64 {
	disks, err := store.DisksWithPrefix(vm + "/")
	if err != nil {
		return 0
	}
	var n int64
	for _, d := range disks {
		n += d.Size
	}
	return n
}

// projectDowntime projects plan's VM's cutover from its replication record
// vs and the history h; capacity is its disks' (0: unknown), which the
// final pass can carry no more than; mbit is the plan's bandwidth_mbit
// (0: no cap), which it copies no faster than. unwatched says why no probe
// watches the VM (PlanFile.unwatched; "" when one does): its cutover's
// "probes green" then waits for none, and the estimate leaves it out.
func projectDowntime(plan VMPlan, unwatched string, vs replication.VMState, h cutoverHistory, capacity int64, mbit int) *DowntimeEstimate {
	est := &DowntimeEstimate{VM: plan.Name, Unreadable: h.unreadable, Unwatched: unwatched, mbit: mbit}
	add := func(p EstimatePart) {
		est.Parts = append(est.Parts, p)
		est.TotalSeconds += p.Seconds
	}
	recorded := func(name string) (EstimatePart, bool) {
		v, own := h.phase(plan.Name, name)
		if len(v) > 0 {
			whose := "earlier cutovers of this plan's VMs"
			if own {
				whose = "earlier cutovers of " + plan.Name
			}
			return EstimatePart{Phase: name, Seconds: median.Of(v), From: fmt.Sprintf("median of %d in %s", len(v), whose)}, true
		}
		// No cutover has recorded it: a test migration did the same at
		// the provider with a copy of the VM.
		tp, ok := testPhases[name]
		if !ok {
			return EstimatePart{}, false
		}
		if v, own = phaseIn(h.tests, plan.Name, tp.name); len(v) == 0 {
			return EstimatePart{}, false
		}
		whose := "test migrations of this plan's VMs"
		if own {
			whose = "test migrations of " + plan.Name
		}
		return EstimatePart{Phase: name, Seconds: median.Of(v), From: fmt.Sprintf("median of %d %q in %s%s", len(v), tp.name, whose, tp.what)}, true
	}
	var shutdown, final float64
	for _, d := range phaseDefaults {
		if d.phase == "probes green" && unwatched != "" {
			// Its report measures the downtime to the power-on
			// (VMReport.windowText): a default boot of 30 s would set a
			// figure beside it that it never counts.
			continue
		}
		switch d.phase {
		case "final pass":
			p := finalPassEstimate(plan, vs, h, shutdown, capacity, mbit)
			final = p.Seconds
			add(p)
		case "verify":
			if p, ok := recorded(d.phase); ok {
				add(p)
			} else {
				add(EstimatePart{Phase: d.phase, Seconds: final, From: "no verify recorded: as long as the final pass", Default: true})
			}
		default:
			p, ok := recorded(d.phase)
			if !ok {
				p = EstimatePart{Phase: d.phase, Seconds: d.d.Seconds(), From: d.why, Default: true}
			}
			if d.phase == "shutdown" {
				shutdown = p.Seconds
			}
			add(p)
		}
	}
	est.Total = time.Duration(est.TotalSeconds * float64(time.Second))
	return est
}

// finalPassEstimate: the final pass carries what the guest wrote during the
// pre-cutover pass (about as long as the last pass) and the shutdown, at
// the recent change rate; it takes a pass's fixed cost plus those bytes at
// the throughput, both fitted to the recorded passes
// (replication.VMState.PassModel, which the replication dashboard's
// projected final pass takes too). With no pass whose time is recorded,
// the last pass's throughput, whole. Whatever the passes measured, no
// faster than the plan's bandwidth cap (mbit megabits a second; 0: none).
func finalPassEstimate(plan VMPlan, vs replication.VMState, h cutoverHistory, shutdown float64, capacity int64, mbit int) EstimatePart {
	p := EstimatePart{Phase: "final pass"}
	if vs.LastPass.IsZero() {
		p.Seconds, p.From, p.Default = 10, "no pass recorded yet", true
		return p
	}
	if vs.LastPlanned == 0 && vs.LastIncremental.IsZero() {
		// Only an initial sync (and the full compare after it), or a
		// record from before LastIncremental: whether its last
		// incremental pass found nothing changed cannot be told.
		p.Seconds, p.From, p.Default = 10, "no incremental pass recorded yet: change rate unknown", true
		if vs.LastInterval > 0 {
			p.From = "change rate unknown: no incremental pass has recorded a change yet"
		}
		return p
	}
	if vs.LastPlanned == 0 {
		// Measured, not a rate of 0 B/s: nothing changed between the
		// last incremental pass and the one before it.
		since := ""
		if iv, ok := vs.ChangeInterval(); ok {
			since = fmt.Sprintf(", nothing written in the %s before it", iv.Round(time.Second))
		}
		p.From = fmt.Sprintf("no change seen by the last incremental pass (%s%s): the final pass would copy only what the guest writes from now to its shutdown",
			vs.LastIncremental.Local().Format("2006-01-02 15:04:05"), since)
		p.Note = "no change in the last pass"
		return p
	}
	interval, known := vs.ChangeInterval()
	intervalFrom := "over the last pass interval"
	if !vs.LastIncremental.IsZero() && !vs.LastIncremental.Equal(vs.LastPass) {
		intervalFrom = "over the interval before the last incremental pass (" + vs.LastIncremental.Local().Format("2006-01-02 15:04:05") + ")"
	}
	if !known {
		rpo := plan.RPO.Duration()
		if rpo <= 0 {
			rpo = time.Minute
		}
		interval, intervalFrom = rpo, "over one RPO (no interval between passes recorded)"
		if vs.LastInterval > 0 {
			// An older ferry's record whose last pass was a final pass
			// or a full compare: its interval is not the one in which
			// LastPlanned was written.
			intervalFrom = "over one RPO (the interval before the last incremental pass is not recorded; the last pass, a cutover's final pass or a full compare, measured no change rate)"
		}
	}
	changeRate := float64(vs.LastPlanned) / interval.Seconds()
	passDur := vs.IncrementalDuration
	if passDur <= 0 {
		passDur = vs.LastDuration
	}
	window := passDur.Seconds() + shutdown
	bytes := changeRate * window
	changed := someBytes(bytes) + " changed at " + perSecond(changeRate) + " " + intervalFrom
	if capacity > 0 && bytes > float64(capacity) {
		// A guest rewriting its blocks faster than a pass copies them
		// changes at most the whole disk (QA: "51 MiB changed" of a
		// 16 MiB disk).
		bytes = float64(capacity)
		changed = fmt.Sprintf("all %s of its disks (at %s %s)", Bytes(capacity), perSecond(changeRate), intervalFrom)
	}
	// The recorded passes: the final passes of earlier cutovers and this
	// VM's last incremental pass, and when those are small (none took
	// twice the shortest) its pass that sent the most data, usually its
	// initial sync; none: the last pass's throughput.
	limit := float64(mbit) * 1e6 / 8
	if m, ok := vs.PassModel(h.finalPasses()); ok {
		p.bytes, p.fixed, p.rate = bytes, m.Fixed, m.Rate
		m = m.CapAt(limit)
		p.Seconds = m.Seconds(bytes)
		p.From = changed + ", " + passModelFrom(m, mbit)
		return p
	}
	p.bytes, p.rate = bytes, defaultPassThroughput
	p.Seconds, p.Default = bytes/defaultPassThroughput, true
	p.From = changed + ", at a default throughput of 50 MiB/s (none measured)"
	if limit > 0 && limit < defaultPassThroughput {
		p.Seconds = bytes / limit
		p.From = fmt.Sprintf("%s, at %s, the plan's bandwidth_mbit (%d Mbit/s of wire bytes, all VMs together; no throughput measured)", changed, perSecond(limit), mbit)
	}
	return p
}

// someBytes is a positive amount of bytes: never "0 B".
func someBytes(n float64) string {
	if n < 1 {
		return "under 1 B"
	}
	return Bytes(int64(n))
}

// perSecond is a positive rate in bytes per second: never "0 B/s".
func perSecond(r float64) string { return someBytes(r) + "/s" }

// Figure is the part's time as the projection writes it: "0.2s", "19s",
// "1m43s".
func (p EstimatePart) Figure() string { return roundSecs(p.Seconds) }

// FinalPass is the estimate's final pass (the pass with the source off):
// the part the replication dashboard shows under each VM ("final pass
// ~0.4s"), as the cutover's confirmation shows it among the others.
func (d *DowntimeEstimate) FinalPass() (EstimatePart, bool) {
	for _, p := range d.Parts {
		if p.Phase == "final pass" {
			return p, true
		}
	}
	return EstimatePart{}, false
}

// Compact is every part in a few words, defaults marked with *:
// "shutdown 30s* · final pass 0.2s · ... (* default)"; for a VM no probe
// watches, "· probes green: none" last (DowntimeEstimate.Unwatched).
func (d *DowntimeEstimate) Compact() string {
	return strings.Join(d.CompactParts(), " · ") + d.DefaultsNote()
}

// DefaultsNote is what ends Compact when a default is among its parts:
// what * means; "" when none is.
func (d *DowntimeEstimate) DefaultsNote() string {
	if len(d.Defaults()) > 0 {
		return " (* default: not recorded yet)"
	}
	return ""
}

// CompactParts are Compact's parts, each a phase and its figure ("import
// into vCD 10s*"), without DefaultsNote: a front end that wraps Compact
// breaks between them.
func (d *DowntimeEstimate) CompactParts() []string {
	var parts []string
	for _, p := range d.Parts {
		s := p.Phase + " " + p.Figure()
		if p.Default {
			s += "*"
		}
		if p.Note != "" {
			s += " (" + p.Note + ")"
		}
		parts = append(parts, s)
	}
	if d.Unwatched != "" {
		// Why is in Text: on the confirmation, a line per VM at 80
		// columns has no room for it.
		parts = append(parts, "probes green: none")
	}
	return parts
}

// WaveProjection is the projected downtime of VMs cut over together.
type WaveProjection struct {
	Downtime time.Duration
	Parallel int // cutover.parallel: how many VMs are cut over at a time
	// Shared says how the wave's final passes share the plan's
	// bandwidth_mbit when that lengthens them ("": it does not).
	Shared string
}

// ProjectWave projects the downtime of VMs cut over together from their
// estimates, cutover.parallel at a time. Each estimate projects its final
// pass at the whole bandwidth_mbit; in a wave, up to cutover.parallel
// final passes run at once and share it, so each is projected at its
// share when that is slower than its own throughput.
func (e *Env) ProjectWave(ests []*DowntimeEstimate) WaveProjection {
	parallel, err := cutoverParallel(e.Plan().Cutover)
	if err != nil {
		parallel = DefaultCutoverParallel
	}
	return projectWave(ests, parallel)
}

// projectWave is ProjectWave at parallel VMs at a time.
func projectWave(ests []*DowntimeEstimate, parallel int) WaveProjection {
	var live []*DowntimeEstimate
	for _, est := range ests {
		if est != nil {
			live = append(live, est)
		}
	}
	together := min(parallel, len(live))
	var d []time.Duration
	var share float64
	shared := false
	for _, est := range live {
		total := est.Total
		if fp, ok := est.FinalPass(); ok && est.mbit > 0 && together > 1 && fp.rate > 0 {
			share = float64(est.mbit) * 1e6 / 8 / float64(together)
			if s := fp.fixed + fp.bytes/min(fp.rate, share); s > fp.Seconds {
				total += time.Duration((s - fp.Seconds) * float64(time.Second))
				shared = true
			}
		}
		d = append(d, total)
	}
	w := WaveProjection{Downtime: waveProjection(d, parallel), Parallel: parallel}
	if shared {
		w.Shared = fmt.Sprintf("the final passes share bandwidth_mbit, %d at a time: %s each", together, perSecond(share))
	}
	return w
}
