package steps

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
)

// ReportTest is the Kind of a test migration's report.
const ReportTest = "test migration"

// CutoverReport is the downtime report of one cutover run, or (Kind
// ReportTest) the report of a test migration, in the same format: its
// phases, when the copy was powered on and booted, which probes answered.
type CutoverReport struct {
	Kind string `json:"kind,omitempty"` // "" for a cutover
	Job  string `json:"job,omitempty"`
	// Plan is the plan file (absolute path) whose run wrote the report:
	// plans sharing a directory share its reports' names, not their
	// figures (a projection counts its own plan's reports only).
	Plan     string    `json:"plan,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Parallel is how many VMs of the wave were cut over at once at most.
	Parallel int        `json:"parallel,omitempty"`
	VMs      []VMReport `json:"vms"`
	// The wave (the VMs cut over together): its downtime runs from the
	// first shutdown to the last service back (VMReport.ServiceBack, the
	// source on again after a rollback, a wave probe answering).
	FirstShutdown       time.Time `json:"first_shutdown,omitzero"`
	LastServiceBack     time.Time `json:"last_service_back,omitzero"`
	WaveDowntimeSeconds float64   `json:"wave_downtime_seconds,omitempty"`
	// WaveOutageOpen: a VM's service was not back when its cutover ended
	// (left for a decision): the wave's downtime runs to that end, a lower
	// bound, and LastServiceBack is not set.
	WaveOutageOpen       bool    `json:"wave_outage_open,omitempty"`
	ProjectedWaveSeconds float64 `json:"projected_wave_seconds,omitempty"`
	// WaveProbes are the probes that depend on several VMs of the wave,
	// judged once all of them were up.
	WaveProbes []WaveProbe `json:"wave_probes,omitempty"`
}

// PhaseRecord is one phase of a VM's cutover.
type PhaseRecord struct {
	Name   string    `json:"name"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Detail string    `json:"detail,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// Seconds is the phase's length.
func (p PhaseRecord) Seconds() float64 { return p.End.Sub(p.Start).Seconds() }

// VMReport is one VM's part of the report.
type VMReport struct {
	VM         string `json:"vm"`
	TargetVApp string `json:"target_vapp"`
	Outcome    string `json:"outcome"` // migrated, rolled back, stopped before the shutdown, failed, not started, ...
	Error      string `json:"error,omitempty"`
	Note       string `json:"note,omitempty"`
	// Mode is "cold" for a cold migration (ModeWhy says why); empty for a
	// warm one (the report then says nothing of the mode).
	Mode     string        `json:"mode,omitempty"`
	ModeWhy  string        `json:"mode_why,omitempty"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Phases   []PhaseRecord `json:"phases"`
	// ProviderVM is the target as the provider vCenter showed it when it
	// was last read: its name there (Cloud Director renames the VM it
	// adopts) and its moref, "WebApp2 (<id>) [vm-54]".
	ProviderVM string `json:"provider_vm,omitempty"`
	// SourceOff is when the shutdown began; TargetOn when the target was powered on.
	SourceOff time.Time `json:"source_off,omitzero"`
	TargetOn  time.Time `json:"target_on,omitzero"`
	// EarlierOutages are the outages interrupted cutovers left the
	// service before this run's attempt (from a shutdown until the source
	// was powered on again, or the target ran): downtime the service had,
	// not in this cutover's figures. Each is kept in the state from when a
	// run finds it until a saved report holds it (earlierOutagesKey).
	EarlierOutages []EarlierOutage `json:"earlier_outages,omitempty"`
	// LegacyEarlier and LegacyAtMost are how reports of earlier ferry
	// versions held one such outage (read into EarlierOutages).
	LegacyEarlier *probe.Outage `json:"earlier_outage,omitempty"`
	LegacyAtMost  bool          `json:"earlier_at_most,omitempty"`
	// Decided is the operator's decision this run carried out on an
	// interrupted cutover (CutoverRollback, CutoverFinish), if any.
	Decided string `json:"decided,omitempty"`
	// SourceBackOn is when a rollback powered the source on again.
	SourceBackOn time.Time `json:"source_back_on,omitzero"`
	// ServiceBack is when the VM's own probes answered after power-on (the
	// power-on itself when no probe watches it alone).
	ServiceBack time.Time `json:"service_back,omitzero"`
	// ProjectedDowntimeSeconds is what ferry projected before the cutover
	// (Projection says from what), to compare with the measured figures.
	ProjectedDowntimeSeconds float64           `json:"projected_downtime_seconds,omitempty"`
	Projection               *DowntimeEstimate `json:"projection,omitempty"`
	// ServiceWindowSeconds is TargetOn - SourceOff (rolled back:
	// SourceBackOn - SourceOff): the downtime as ferry's phases see it.
	ServiceWindowSeconds float64 `json:"service_window_seconds,omitempty"`
	// MeasuredDowntimeSeconds is the longest probe outage during the cutover.
	MeasuredDowntimeSeconds float64 `json:"measured_downtime_seconds,omitempty"`
	// Unwatched says why no probe of its own measured the VM's downtime
	// ("no probes in the plan", "no probe watches this VM", ...); "" when
	// one did.
	Unwatched string `json:"unwatched,omitempty"`
	// OutageOpen says the longest outage was not over when the cutover
	// ended (a target that does not answer, left for a decision):
	// MeasuredDowntimeSeconds runs until then, a lower bound.
	OutageOpen bool           `json:"outage_open,omitempty"`
	Outages    []probe.Outage `json:"outages,omitempty"`
	// PreCutoverPass is the last pre-cutover pass (PreCutoverPasses ran).
	PreCutoverPass   *replication.Counters `json:"pre_cutover_pass,omitempty"`
	PreCutoverPasses int                   `json:"pre_cutover_passes,omitempty"`
	FinalPass        *replication.Counters `json:"final_pass,omitempty"`
	RolledBack       bool                  `json:"rolled_back,omitempty"`
	RollbackError    string                `json:"rollback_error,omitempty"`
	// EarlierRun says an earlier run cut this VM over and stopped before
	// it saved its report: its section is carried into this run's report,
	// and it is not of this run's wave.
	EarlierRun bool `json:"earlier_run,omitempty"`

	// Verify is what the verify phase checked, and the last full compare.
	Verify *VerifyReport `json:"verify,omitempty"`

	// A test migration: BootSeconds from power-on to the guest's VMware
	// Tools running (ServiceBack), and the plan's probes in the isolated
	// network.
	BootSeconds float64     `json:"boot_seconds,omitempty"`
	Probes      []TestProbe `json:"probes,omitempty"`
}

// finishTest closes a test migration's VM report.
func (r *VMReport) finishTest(err error) {
	r.Finished = time.Now()
	if !r.TargetOn.IsZero() && !r.ServiceBack.IsZero() {
		r.BootSeconds = r.ServiceBack.Sub(r.TargetOn).Seconds()
	}
	switch {
	case err == nil:
		r.Outcome = "booted"
	case errors.Is(err, context.Canceled):
		// Stopped by the operator (or a signal), not a boot that failed.
		r.Outcome, r.Error = "interrupted", err.Error()
	case !r.TargetOn.IsZero() && r.ServiceBack.IsZero():
		r.Outcome, r.Error = "did not boot", err.Error()
	default:
		r.Outcome, r.Error = "failed", err.Error()
	}
}

func (r *VMReport) finish(err error) {
	r.Finished = time.Now()
	switch {
	case !r.SourceOff.IsZero() && !r.TargetOn.IsZero():
		r.ServiceWindowSeconds = r.TargetOn.Sub(r.SourceOff).Seconds()
	case !r.SourceOff.IsZero() && !r.SourceBackOn.IsZero():
		// Rolled back: the source was down until it was powered on again.
		r.ServiceWindowSeconds = r.SourceBackOn.Sub(r.SourceOff).Seconds()
	}
	for _, o := range r.Outages {
		end, open := o.End, o.End.IsZero()
		if open {
			// Still down as the cutover ends (QA: a target left for a
			// decision that never answered read "no probe outage seen").
			end = r.Finished
		}
		if d := end.Sub(o.Start).Seconds(); d > r.MeasuredDowntimeSeconds {
			r.MeasuredDowntimeSeconds, r.OutageOpen = d, open
		}
	}
	switch {
	case err == nil:
		r.Outcome = "migrated"
	case errors.Is(err, errNotStarted):
		// Stopped before its cutover began: nothing to roll back.
		r.Outcome, r.Error = "not started", err.Error()
	case errors.As(err, new(stoppedBeforeShutdown)):
		// Stopped in its checks, before it changed anything.
		r.Outcome, r.Error = "stopped before the shutdown", err.Error()
	case OnlyRolledBackAsDecided(err) && r.RolledBack && r.RollbackError == "":
		// Not an error: what the operator decided.
		r.Outcome, r.Decided, r.Note = "rolled back as decided", CutoverRollback, err.Error()
	case r.RolledBack && r.RollbackError == "" && r.SourceOff.IsZero() && r.Mode != ModeCold:
		// The source never went down: nothing of the window to roll back
		// (QA: reported "rolled back" beside VMs that were down).
		r.Outcome, r.Error = "stopped before the shutdown", err.Error()
	case r.RolledBack && r.RollbackError == "":
		r.Outcome, r.Error = "rolled back", err.Error()
	default:
		r.Outcome, r.Error = "failed", err.Error()
	}
}

// EarlierOutage is an outage of the service an interrupted cutover left
// before a run's attempt.
type EarlierOutage struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// AtMost says End is an upper bound: the cutover was interrupted after
	// power-on of the target was requested and a later run found the
	// target running, so it may have served before End.
	AtMost bool `json:"at_most,omitempty"`
	// How says how it began and ended, completing "An earlier cutover was
	// interrupted ...".
	How string `json:"how"`
}

func (o EarlierOutage) seconds() float64 { return o.End.Sub(o.Start).Seconds() }

// bound is "at most " for an upper bound.
func (o EarlierOutage) bound() string {
	if o.AtMost {
		return "at most "
	}
	return ""
}

// addEarlier adds o to the report's earlier outages, in place of one that
// began at the same shutdown (the same outage, found again).
func (r *VMReport) addEarlier(o EarlierOutage) {
	for i, e := range r.EarlierOutages {
		if e.Start.Equal(o.Start) {
			r.EarlierOutages[i] = o
			return
		}
	}
	r.EarlierOutages = append(r.EarlierOutages, o)
	slices.SortFunc(r.EarlierOutages, func(a, b EarlierOutage) int { return a.Start.Compare(b.Start) })
}

// upgrade reads an earlier version's single outage into EarlierOutages.
func (r *VMReport) upgrade() {
	if o := r.LegacyEarlier; o != nil && len(r.EarlierOutages) == 0 {
		r.EarlierOutages = []EarlierOutage{{Start: o.Start, End: o.End, AtMost: r.LegacyAtMost,
			How: fmt.Sprintf("(the source was off from %s until %s)", clock(o.Start), clock(o.End))}}
	}
	r.LegacyEarlier, r.LegacyAtMost = nil, false
}

// earlierSeconds is the downtime of o that is not in the run's measured
// figures: o up to when the measured outage began, where o runs on into
// it (this run's rollback or retry powered the source on again: the probe
// outage it measured from its start is the same outage, not another).
func (r *VMReport) earlierSeconds(o EarlierOutage) float64 {
	end := o.End
	if from := r.measuredFrom(); from.After(o.Start) && from.Before(end) {
		end = from
	}
	return end.Sub(o.Start).Seconds()
}

// measuredFrom is when the outage of the measured downtime began (the
// longest probe outage, as finish takes it; zero: none).
func (r *VMReport) measuredFrom() time.Time {
	var from time.Time
	var longest float64
	for _, o := range r.Outages {
		end := o.End
		if end.IsZero() {
			end = r.Finished
		}
		if d := end.Sub(o.Start).Seconds(); d > longest {
			longest, from = d, o.Start
		}
	}
	return from
}

// earlierText is the outages interrupted cutovers left, in a few words
// ("" for none): "+25.0s: interrupted cutover".
func (r *VMReport) earlierText() string {
	if len(r.EarlierOutages) == 0 {
		return ""
	}
	var parts []string
	for _, o := range r.EarlierOutages {
		parts = append(parts, "+"+o.bound()+outageSecs(r.earlierSeconds(o)))
	}
	if len(parts) == 1 {
		return parts[0] + ": interrupted cutover"
	}
	return strings.Join(parts, " ") + ": interrupted cutovers"
}

func (r *VMReport) downtimeText() string {
	return r.windowText() + r.earlierClause("before it")
}

// earlierClause is "; <before>, at most 1.4s with the source down after an
// interrupted cutover" for the outages interrupted cutovers left ("" for
// none).
func (r *VMReport) earlierClause(before string) string {
	if len(r.EarlierOutages) == 0 {
		return ""
	}
	var parts []string
	for _, o := range r.EarlierOutages {
		parts = append(parts, o.bound()+outageSecs(r.earlierSeconds(o)))
	}
	if len(parts) == 1 {
		return fmt.Sprintf("; %s, %s with the source down after an interrupted cutover", before, parts[0])
	}
	return fmt.Sprintf("; %s, %s with the source down after interrupted cutovers", before, strings.Join(parts, " and "))
}

// downtimeClause is the VM's downtime in a closing line: "measured
// downtime 12.3s (probes)", or, when this run measured none, "downtime not
// measured: <why>" (QA: a cutover finished by a rerun, whose source an
// interrupted run had shut down and whose target answered at once, read
// "measured downtime not measured"), with the outages interrupted cutovers
// left either way.
func (r *VMReport) downtimeClause() string {
	if r.windowText() != notMeasured {
		return "measured downtime " + r.downtimeText()
	}
	var why string
	switch {
	case r.SourceOff.IsZero() && len(r.EarlierOutages) > 0:
		why = "this run did not shut the source down (an interrupted cutover did)"
	case r.SourceOff.IsZero():
		why = "this run did not shut the source down"
	case r.TargetOn.IsZero():
		why = "the target was not powered on"
	default:
		why = "no shutdown-to-power-on time was recorded"
	}
	switch {
	case r.Unwatched != "":
		why += " and " + r.Unwatched
	case len(r.Outages) == 0:
		why += " and its probes saw no outage"
	}
	return "downtime not measured: " + why + r.earlierClause("before this run")
}

// notMeasured is windowText when there is no figure.
const notMeasured = "not measured"

func (r *VMReport) windowText() string {
	if r.MeasuredDowntimeSeconds > 0 && r.OutageOpen {
		return fmt.Sprintf("at least %.1fs (probes: still down when the cutover ended)", r.MeasuredDowntimeSeconds)
	}
	if r.MeasuredDowntimeSeconds > 0 {
		return fmt.Sprintf("%.1fs (probes)", r.MeasuredDowntimeSeconds)
	}
	if r.ServiceWindowSeconds > 0 && r.Unwatched != "" {
		return fmt.Sprintf("%.1fs (shutdown to power-on; %s)", r.ServiceWindowSeconds, r.Unwatched)
	}
	if r.ServiceWindowSeconds > 0 {
		return fmt.Sprintf("%.1fs (shutdown to power-on; no probe outage seen)", r.ServiceWindowSeconds)
	}
	return notMeasured
}

// Save writes the report as Markdown and JSON into dir and returns both paths.
func (r *CutoverReport) Save(dir string) (md, js string, err error) {
	prefix := "cutover-"
	if r.Kind == ReportTest {
		prefix = "test-migration-"
	}
	base := filepath.Join(dir, prefix+r.Started.UTC().Format("20060102-150405"))
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	// Each file whole or not at all; the JSON first: a run killed between
	// the two leaves the JSON, from which the next run writes the Markdown
	// (savedReportHolds). A name another report holds (another plan's run
	// in this directory, started in the same second) is never written
	// over: the next free one is taken (-2, -3, ...).
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		md, js = name+".md", name+".json"
		err = writeFileNew(js, append(b, '\n'), 0o600)
		if !errors.Is(err, fs.ErrExist) || n == 100 {
			break
		}
	}
	if err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(md, []byte(r.Markdown()), 0o600); err != nil {
		return "", "", err
	}
	return md, js, nil
}

// outcomes counts the VMs' outcomes ("1 migrated, 1 rolled back"), and
// says whether every VM was migrated.
func (r *CutoverReport) outcomes() (string, bool) {
	var order []string
	n := map[string]int{}
	for _, v := range r.VMs {
		if v.EarlierRun {
			continue // not of this run's wave
		}
		if n[v.Outcome] == 0 {
			order = append(order, v.Outcome)
		}
		n[v.Outcome]++
	}
	parts := make([]string, len(order))
	for i, o := range order {
		parts[i] = fmt.Sprintf("%d %s", n[o], o)
	}
	return strings.Join(parts, ", "), len(order) == 1 && order[0] == "migrated"
}

// waveVMs is how many VMs this run's wave cut over (VMs an earlier run
// cut over are carried in beside them).
func (r *CutoverReport) waveVMs() int {
	n := 0
	for _, v := range r.VMs {
		if !v.EarlierRun {
			n++
		}
	}
	return n
}

// earlierInWave says how long interrupted cutovers had left the wave's
// VMs' services down before this run's attempts ("" for none): the
// wave's figures count from this run's windows only (QA: a retry's wave
// read "downtime 4.0s from the first shutdown" of a VM down 6.8s before
// it); each VM's section says how.
func (r *CutoverReport) earlierInWave() string {
	var parts []string
	for _, v := range r.VMs {
		if v.EarlierRun {
			continue
		}
		var secs float64
		bound := ""
		for _, o := range v.EarlierOutages {
			secs += v.earlierSeconds(o)
			bound = cmp.Or(bound, o.bound())
		}
		if secs > 0 {
			parts = append(parts, v.VM+" "+bound+outageSecs(secs))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "before it, interrupted cutovers had left services down: " + andList(parts)
}

// Markdown renders the report for people.
func (r *CutoverReport) Markdown() string {
	if r.Kind == ReportTest {
		return r.testMarkdown()
	}
	var b strings.Builder
	r.header(&b, "Cutover report")
	b.WriteString("\n\n")
	if wave := r.waveVMs(); wave > 1 {
		more := ""
		if e := r.earlierInWave(); e != "" {
			more = "; " + e
		}
		if outcomes, all := r.outcomes(); !all {
			// Not every VM was cut over: the wave's figures are what
			// its VMs' services went through, whatever came of them.
			down := fmt.Sprintf("downtime %s from the first shutdown (%s)", secs(r.WaveDowntimeSeconds), clock(r.FirstShutdown))
			switch {
			case r.FirstShutdown.IsZero():
				// (QA: "downtime - from the first shutdown (-)")
				down = "no VM was shut down"
			case r.WaveOutageOpen:
				down = fmt.Sprintf("downtime at least %s (a VM's service still down when its cutover ended) from the first shutdown (%s)", secs(r.WaveDowntimeSeconds), clock(r.FirstShutdown))
			}
			fmt.Fprintf(&b, "Wave of %d VMs confirmed together (at most %d at a time): %s; %s; %s%s.\n\n",
				wave, r.Parallel, outcomes, down, r.waveProjected(), more)
		} else if r.WaveOutageOpen {
			fmt.Fprintf(&b, "Wave of %d VMs cut over in parallel (at most %d at a time): downtime at least %s from the first shutdown (%s), a VM's service still down when its cutover ended; %s%s.\n\n",
				wave, r.Parallel, secs(r.WaveDowntimeSeconds), clock(r.FirstShutdown), r.waveProjected(), more)
		} else {
			fmt.Fprintf(&b, "Wave of %d VMs cut over in parallel (at most %d at a time): downtime %s from the first shutdown (%s) to the last service back (%s); %s%s.\n\n",
				wave, r.Parallel, secs(r.WaveDowntimeSeconds), clock(r.FirstShutdown), clock(r.LastServiceBack), r.waveProjected(), more)
		}
	}
	b.WriteString("| VM | outcome | measured downtime | shutdown to power-on | projected | final pass |\n|---|---|---|---|---|---|\n")
	for _, v := range r.VMs {
		final := "-"
		if v.FinalPass != nil {
			final = fmt.Sprintf("%s changed, %s sent", Bytes(v.FinalPass.Planned), Bytes(v.FinalPass.Sent))
		}
		measured := secs(v.MeasuredDowntimeSeconds)
		if v.OutageOpen && v.MeasuredDowntimeSeconds > 0 {
			measured = "at least " + measured
		}
		if v.MeasuredDowntimeSeconds == 0 && v.Unwatched != "" {
			measured = "not measured (" + v.Unwatched + ")"
		}
		if e := v.earlierText(); e != "" {
			measured += " (" + e + ")"
		}
		proj := approx(v.ProjectedDowntimeSeconds)
		if v.ProjectedDowntimeSeconds > 0 && v.Projection != nil {
			switch def := v.Projection.Defaults(); {
			case len(def) == len(v.Projection.Parts):
				proj += " (defaults)"
			case len(def) > 0:
				proj += " (partly defaults)"
			}
		}
		outcome := v.Outcome
		if v.EarlierRun {
			outcome += " (earlier run)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", v.VM, outcome, measured, secs(v.ServiceWindowSeconds), proj, final)
	}
	if len(r.WaveProbes) > 0 {
		b.WriteString("\nProbes that depend on several VMs, judged once all of them were up:\n\n")
		for _, p := range r.WaveProbes {
			verdict := "answering at " + clock(p.Green)
			switch {
			case p.Error != "":
				verdict = "FAILED: " + p.Error
			case p.Note != "":
				verdict = p.Note
			}
			fmt.Fprintf(&b, "- %s (%s): all up at %s; %s\n", p.Name, strings.Join(p.VMs, ", "), clock(p.Since), verdict)
		}
	}
	for _, v := range r.VMs {
		fmt.Fprintf(&b, "\n## %s -> vApp %s: %s\n\n", v.VM, v.TargetVApp, v.Outcome)
		if v.Error != "" {
			fmt.Fprintf(&b, "Error: %s\n\n", v.Error)
		}
		if v.RollbackError != "" {
			fmt.Fprintf(&b, "ROLLBACK FAILED: %s\n\n", v.RollbackError)
		}
		if v.Mode != "" {
			fmt.Fprintf(&b, "%s migration: %s.\n\n", strings.ToUpper(v.Mode[:1])+v.Mode[1:], v.ModeWhy)
		}
		if v.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", v.Note)
		}
		if v.ProviderVM != "" {
			fmt.Fprintf(&b, "Target in the provider vCenter: %s.\n\n", v.Target())
		}
		for _, o := range v.EarlierOutages {
			if v.Decided == CutoverRollback {
				// This run attempted no cutover: it rolled back (QA:
				// "before this run's attempt" of the outage it ended).
				fmt.Fprintf(&b, "An earlier cutover was interrupted %s (%s%s of downtime).\n\n", o.How, o.bound(), outageSecs(v.earlierSeconds(o)))
				continue
			}
			fmt.Fprintf(&b, "An earlier cutover was interrupted %s (%s%s of downtime before this run's attempt, not in its figures below).\n\n", o.How, o.bound(), outageSecs(v.earlierSeconds(o)))
		}
		if v.Projection != nil {
			if t := v.windowText(); v.Decided == CutoverRollback && t == notMeasured {
				// QA: "Projected ~2.5s; this run measured no downtime of
				// its own" for a run that attempted no cutover.
				fmt.Fprintf(&b, "This run attempted no cutover (rolled back as decided); a cutover of %s is projected at %s. %s\n\n", v.VM, approx(v.ProjectedDowntimeSeconds), v.Projection.Text())
			} else if t == notMeasured {
				fmt.Fprintf(&b, "Projected %s; this run measured no downtime of its own%s. %s\n\n", approx(v.ProjectedDowntimeSeconds), strings.TrimPrefix(v.downtimeText(), t), v.Projection.Text())
			} else if v.RolledBack {
				// QA: "Projected ~4m8s, measured 1.2s" set a cutover's
				// projection against a rollback's outage.
				fmt.Fprintf(&b, "Projected %s for the cutover, which was rolled back; the service was down %s. %s\n\n", approx(v.ProjectedDowntimeSeconds), v.downtimeText(), v.Projection.Text())
			} else {
				fmt.Fprintf(&b, "Projected %s, measured %s. %s\n\n", approx(v.ProjectedDowntimeSeconds), v.downtimeText(), v.Projection.Text())
			}
		}
		phaseTable(&b, v.Phases)
		if v.Verify != nil {
			fmt.Fprintf(&b, "\n%s\n", v.Verify.text())
		}
		if len(v.Outages) > 0 {
			b.WriteString("\nProbe outages:\n\n")
			for _, o := range v.Outages {
				end, length := "not over when this report was written", "-"
				if !o.End.IsZero() {
					end, length = o.End.Format("15:04:05.000"), fmt.Sprintf("%.3fs", o.End.Sub(o.Start).Seconds())
				}
				fmt.Fprintf(&b, "- %s: %s to %s (%s)\n", o.Target, o.Start.Format("15:04:05.000"), end, length)
			}
		}
	}
	return b.String()
}

// clock is a time of day in the report ("-" for none).
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05.000")
}

// waveProjected is the wave's projection as its figures say it:
// "projected ~1m24s", or why there is none ("projected -" read as a figure
// missing: QA, a retry's wave whose VMs went on from interrupted cutovers).
func (r *CutoverReport) waveProjected() string {
	if r.ProjectedWaveSeconds > 0 {
		return "projected " + approx(r.ProjectedWaveSeconds)
	}
	for _, v := range r.VMs {
		if !v.EarlierRun && v.Projection == nil && len(v.EarlierOutages) == 0 {
			return "not projected"
		}
	}
	return "not projected (each VM went on from an interrupted cutover, whose window began before this run)"
}

// approx is a projected figure ("-" for none).
func approx(s float64) string {
	if s == 0 {
		return "-"
	}
	return "~" + roundSecs(s)
}

// Approx is a projected duration of s seconds as ferry plan, the wizard
// and the reports write it ("~1.9s", "~19s", "~1m43s").
func Approx(s float64) string { return approx(s) }

// secs is s seconds to a tenth, in minutes and seconds from a minute on
// ("1m43.4s", as the wizard's screens write durations; "103.4s" read
// otherwise beside them).
func secs(s float64) string {
	if s == 0 {
		return "-"
	}
	if s >= 60 {
		return (time.Duration(math.Round(s*10)) * time.Second / 10).String()
	}
	return fmt.Sprintf("%.1fs", s)
}

// outageSecs is an outage's length as secs writes it, "0.0s" for none
// ("142.0s" read beside the wizard's "2m22s").
func outageSecs(s float64) string {
	if s <= 0 {
		return "0.0s"
	}
	return secs(s)
}

// phaseTable renders a VM's phases.
func phaseTable(b *strings.Builder, phases []PhaseRecord) {
	b.WriteString("| phase | start | seconds | detail |\n|---|---|---|---|\n")
	for _, p := range phases {
		detail := p.Detail
		if p.Error != "" {
			detail = "FAILED: " + p.Error
		}
		fmt.Fprintf(b, "| %s | %s | %.3f | %s |\n", p.Name, p.Start.Format("15:04:05.000"), p.Seconds(), detail)
	}
}

// testMarkdown renders a test migration's report.
func (r *CutoverReport) testMarkdown() string {
	var b strings.Builder
	r.header(&b, "Test migration report")
	b.WriteString(" The sources were left as they were (running ones kept running and replicating); each copy ran on child disks of its replica in an isolated network and was deleted.\n\n")
	b.WriteString("| VM | outcome | powered on | boot time | probes answered |\n|---|---|---|---|---|\n")
	for _, v := range r.VMs {
		ran, ok := 0, 0
		for _, p := range v.Probes {
			if p.Ran {
				ran++
			}
			if p.Answered {
				ok++
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d answered of %d run (%d not runnable in the isolated network) |\n", v.VM, v.Outcome, clock(v.TargetOn), secs(v.BootSeconds), ok, ran, len(v.Probes)-ran)
	}
	for _, v := range r.VMs {
		fmt.Fprintf(&b, "\n## %s -> vApp %s: %s\n\n", v.VM, v.TargetVApp, v.Outcome)
		if v.Error != "" {
			fmt.Fprintf(&b, "Error: %s\n\n", v.Error)
		}
		phaseTable(&b, v.Phases)
		if len(v.Probes) > 0 {
			b.WriteString("\nProbes:\n\n")
			for _, p := range v.Probes {
				verdict := "not run"
				switch {
				case p.Answered:
					verdict = "answered"
				case p.Ran:
					verdict = "NO ANSWER"
				}
				fmt.Fprintf(&b, "- %s: %s (%s)\n", p.Name, verdict, strings.TrimPrefix(p.Detail, verdict+": "))
			}
		}
	}
	return b.String()
}

// header writes the report's title and its job, start and end.
func (r *CutoverReport) header(b *strings.Builder, title string) {
	fmt.Fprintf(b, "# %s\n\n", title)
	if r.Job != "" {
		fmt.Fprintf(b, "Job %s. ", r.Job)
	}
	fmt.Fprintf(b, "Started %s, finished %s (%s).",
		r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Millisecond))
}
