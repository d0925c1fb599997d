package steps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LastCutoverDecided reports whether the cutover step's last run ended in
// nothing but rollbacks the operator decided (its report says so, after a
// restart too): the step waits to cut them over anew (failed, in a state
// an older ferry wrote), no VM was cut over, and nothing is to be fixed.
func (e *Env) LastCutoverDecided() bool {
	// The step's own words say it: pending after decided rollbacks
	// (decidedWait), failed as an older ferry recorded them. Anything
	// since (a cutover refused by its checks, a rollback ferry did by
	// itself after a crash) is not, whatever the last report says.
	switch st := e.State.Get("cutover"); {
	case st.Status == StatusPending && strings.Contains(st.Summary, "rolled back as decided"):
	case st.Status == StatusFailed && strings.Contains(st.Error, "rolled back as decided"):
	default:
		return false
	}
	md := e.State.Get("cutover").Outputs["report"]
	d := &e.decided
	d.mu.Lock()
	defer d.mu.Unlock()
	if md != "" && md == d.report {
		return d.v // read already: a report is written once
	}
	rep, _, err := e.LastCutoverReport()
	if err != nil {
		return false // not cached: read again next time
	}
	d.report, d.v = md, rep != nil && len(rep.VMs) > 0
	if d.v {
		for _, v := range rep.VMs {
			if v.Decided != CutoverRollback {
				d.v = false
			}
		}
	}
	return d.v
}

// LastCutoverReport reads the downtime report the last cutover saved (the
// JSON beside the Markdown named in the state), so that a front end shows
// the same figures as the file, after a restart too. nil: none was saved.
func (e *Env) LastCutoverReport() (*CutoverReport, string, error) {
	md := e.State.Get("cutover").Outputs["report"]
	if md == "" {
		return nil, "", nil
	}
	js := strings.TrimSuffix(md, ".md") + ".json"
	b, err := os.ReadFile(js)
	if errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(js) && e.State.Path() != "" {
		// Named relative to the state file's directory.
		b, err = os.ReadFile(filepath.Join(filepath.Dir(e.State.Path()), js))
	}
	if err != nil {
		return nil, md, fmt.Errorf("downtime report: %w", err)
	}
	var r CutoverReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, md, fmt.Errorf("downtime report %s: %w", md, err)
	}
	for i := range r.VMs {
		r.VMs[i].upgrade()
	}
	return &r, md, nil
}

// Figures are a VM's line of the report's table, worded as the Markdown
// words them.
func (v VMReport) Figures() string {
	final := "-"
	if v.FinalPass != nil {
		final = fmt.Sprintf("%s changed, %s sent", Bytes(v.FinalPass.Planned), Bytes(v.FinalPass.Sent))
	}
	proj := ""
	if v.ProjectedDowntimeSeconds > 0 {
		proj = " · projected " + approx(v.ProjectedDowntimeSeconds) + v.Projection.basis()
	}
	measured := secs(v.MeasuredDowntimeSeconds)
	if v.OutageOpen {
		measured = "at least " + measured + " (still down when the cutover ended)"
	}
	downtime := "measured downtime " + measured
	if v.MeasuredDowntimeSeconds == 0 && v.Unwatched != "" {
		// QA: "measured downtime -" of a VM no probe watches.
		downtime = "downtime not measured (" + v.Unwatched + ")"
	}
	if e := v.earlierText(); e != "" {
		// The outages interrupted cutovers left, as the Markdown's table
		// adds them (QA: added to a string already used, the wizard's line
		// read "measured downtime 1.5s" of a source down 34s).
		downtime += " (" + e + ")"
	}
	outcome := v.Outcome
	if v.EarlierRun {
		outcome += " (earlier run)"
	}
	return fmt.Sprintf("%s · %s · shutdown to power-on %s%s · final pass %s", outcome, downtime, secs(v.ServiceWindowSeconds), proj, final)
}

// Target is the VM's target as the provider vCenter showed it, and what
// became of it when the cutover was rolled back ("" for none).
func (v VMReport) Target() string {
	switch {
	case v.ProviderVM == "":
		return ""
	case v.RolledBack && v.RollbackError != "":
		return v.ProviderVM + " (the rollback failed: it may still be there)"
	case v.RolledBack:
		return v.ProviderVM + " (removed by the rollback)"
	}
	return v.ProviderVM
}

// WaveFigures is the wave's line of the report ("" for a single VM).
func (r *CutoverReport) WaveFigures() string {
	wave := r.waveVMs()
	if wave < 2 {
		return ""
	}
	if e := r.earlierInWave(); e != "" {
		return r.waveFigures(wave) + " · " + e
	}
	return r.waveFigures(wave)
}

// waveFigures is WaveFigures without the outages interrupted cutovers
// left before it.
func (r *CutoverReport) waveFigures(wave int) string {
	if r.FirstShutdown.IsZero() {
		return fmt.Sprintf("wave of %d (at most %d at a time) · no VM was shut down · %s", wave, r.Parallel, r.waveProjected())
	}
	if r.WaveOutageOpen {
		return fmt.Sprintf("wave of %d (at most %d at a time) · downtime at least %s from the first shutdown, a service still down when its cutover ended · %s", wave, r.Parallel, secs(r.WaveDowntimeSeconds), r.waveProjected())
	}
	return fmt.Sprintf("wave of %d (at most %d at a time) · downtime %s from the first shutdown to the last service back · %s", wave, r.Parallel, secs(r.WaveDowntimeSeconds), r.waveProjected())
}
