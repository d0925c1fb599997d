package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/ferry-migrate/ferry/steps"
)

func healthGlyph(h RPOHealth) string {
	switch h {
	case RPOOK:
		return sOK.Render("●")
	case RPOWarning:
		return sWarn.Render("▲")
	case RPOViolated:
		return sErr.Render("✗")
	}
	return sDim.Render("○")
}

// progressW is the width of a row's " pass 62% ETA 12s", up to
// " pass 100% ETA 59m59s" (it was cut to "ETA 1m0…").
const progressW = 21

// healthW is the width of a row's longest health, "○ no complete pass
// yet": the bar gives way to it (it was cut to "○ no complete …" at 120
// columns).
const healthW = 22

// phaseWord is the VM's phase as the dashboard and the sidebar read it:
// "held" or "paused" over the phase its last pass ended in (QA h9: a pass
// a pause stopped ended "idle", and the sidebar read "WebApp3 idle" beside
// the row's "paused").
func (r *VMRow) phaseWord() string {
	switch {
	case r.Paused && r.Held != "":
		return "held"
	case r.Paused:
		return "paused"
	case r.queued():
		return "queued"
	}
	return r.Phase
}

// queued reports a row whose VM's pass is due and waits for a free pass
// slot (nothing else it shows is news: not paused, cut over or failed).
func (r *VMRow) queued() bool {
	return r.Queued && !r.Paused && !r.CutOver() && !r.Cold && r.Err == ""
}

// vmRow draws one VM of the dashboard: two lines when the panel is wide,
// three when it is narrow; compact, one (name, phase, the pass's
// percentage, RPO health), for the rows around the cursor's when the full
// rows do not all fit.
//
//	▸ WebApp2   incremental #12  ██████░░░░  62% ETA 12s  ● RPO ok
//	  4.1 MiB/s ▂▃▅▇█  last pass 48s ago · next in 12s · final pass ~9s
func vmRow(r *VMRow, now time.Time, cursor, compact bool, width int) []string {
	phase := r.phaseWord()
	if r.Pass > 0 {
		phase += " #" + itoa(r.Pass)
	}
	mark := "  "
	if cursor {
		mark = sTitle.Render("▸ ")
	}
	health := healthGlyph(r.Health) + " " + r.Health.String()
	if r.Cold {
		health = sDim.Render("·") + " cold: no RPO"
	}
	if r.CutOver() {
		phase, health = "cut over", sOK.Render("✓")+" migrated"
	}
	// A paused (or held) row has no pass in flight: the one the pause
	// stopped does not go on, so its percentage and ETA are not the row's
	// (QA: a paused row kept "pass 76% ETA 34s").
	showsPass := r.Planned > 0 && !r.CutOver() && !r.Paused
	progress := ""
	if showsPass {
		eta := "ETA —"
		switch {
		case r.Acked >= r.Planned:
			eta = "done" // the last pass, all of it acknowledged
		case r.ETA > 0:
			eta = "ETA " + dur(r.ETA)
		}
		// "pass": this VM's pass, not the step's bar above the dashboard.
		progress = fmt.Sprintf(" pass %3.0f%% %s", r.Fraction()*100, eta)
	}
	var b strings.Builder
	b.Grow(width * 3)
	progressCell := func(barW int) {
		if showsPass {
			b.WriteString(bar(r.Fraction(), barW))
			b.WriteString(fit(progress, progressW))
		} else {
			b.WriteString(fit("", barW+progressW))
		}
	}
	wide := width >= 80
	nameW, phaseW := 12, 16
	if wide {
		nameW = min(16, max(8, width/6))
	}
	if compact {
		// One line: the pass's percentage instead of its bar. The
		// columns give way to the health where the panel is narrow: the
		// empty percentage's cell first, then the phase's padding, then
		// the name's; then the health's short form (QA: "○ no complete
		// pas…" at 80x24).
		// The percentage keeps a space before the health: its cell gives
		// way down to that, not to the percentage's own width (QA hD:
		// "initial transfer   6%○ no complete pass yet" at 80x24).
		pct := ""
		if showsPass {
			pct = fmt.Sprintf("%.0f%% ", r.Fraction()*100)
		}
		over := 2 + nameW + 1 + phaseW + 1 + 5 + ansiWidth(health) - width
		give := func(col, content int) int {
			g := min(max(over, 0), max(col-content, 0))
			over -= g
			return col - g
		}
		pct = strings.Repeat(" ", max(give(5, ansiWidth(pct))-ansiWidth(pct), 0)) + pct
		pw := give(phaseW, ansiWidth(phase))
		nw := give(nameW, ansiWidth(r.VM))
		if over > 0 {
			health = strings.Replace(health, RPOUnknown.String(), "no pass yet", 1)
		}
		b.WriteString(mark)
		b.WriteString(fit(r.VM, nw))
		b.WriteByte(' ')
		b.WriteString(fit(phase, pw))
		b.WriteByte(' ')
		b.WriteString(pct)
		b.WriteString(health)
		return []string{trunc(b.String(), width)}
	}
	b.WriteString(mark)
	b.WriteString(fit(r.VM, nameW))
	b.WriteByte(' ')
	b.WriteString(fit(phase, phaseW))
	b.WriteByte(' ')
	if wide {
		progressCell(min(30, max(6, width-2-nameW-1-phaseW-1-progressW-1-healthW)))
		b.WriteString(" ")
	}
	b.WriteString(health)
	out := []string{trunc(b.String(), width)}
	if !wide {
		b.Reset()
		b.WriteString("  ")
		progressCell(max(6, width-2-progressW))
		out = append(out, trunc(b.String(), width))
	}
	b.Reset()
	b.WriteString("  last ")
	b.WriteString(ago(now, r.LastPass))
	b.WriteString(" · next ")
	if r.CutOver() {
		b.Reset()
		b.WriteString("  cut over: replication ended; keep the source off") // fits 80 columns beside the sidebar
	} else if r.Cold {
		b.Reset()
		if r.LastPass.IsZero() {
			b.WriteString("  cold migration: its one pass runs in its cutover window, after the shutdown")
		} else {
			b.WriteString("  cold migration: replicated " + ago(now, r.LastPass) + " (the source was off); no pass every RPO")
		}
	} else if r.queued() && r.LastPass.IsZero() {
		b.Reset()
		b.WriteString("  first pass waits for a pass slot")
	} else if r.waitsFirstPass() {
		b.Reset()
		b.WriteString("  waiting for its first pass")
	} else if r.queued() {
		// Due, and every slot runs another VM's pass: no time to say.
		b.Reset()
		b.WriteString("  last " + ago(now, r.LastPass) + " · waits for a slot") // with a final pass, 80 columns
	} else if r.Paused && r.Held != "" {
		b.Reset()
		b.WriteString("  " + r.Held)
	} else if r.Paused {
		// Who paused it, as ferry status says (QA: "next paused"), after
		// the last pass's age: a long name is what the panel's edge cuts
		// ("…").
		b.Reset()
		b.WriteString("  last " + ago(now, r.LastPass) + " · paused")
		if r.PausedBy != "" {
			b.WriteString(" by " + r.PausedBy)
		}
	} else {
		b.WriteString(until(now, r.NextPass))
	}
	if r.FinalPass != "" && !r.CutOver() && !r.Cold {
		// Only the final pass (the source off), not the whole window
		// the cutover confirmation projects; its figure, as it writes it.
		b.WriteString(" · final pass ~")
		b.WriteString(r.FinalPass)
	}
	last := b.String()
	if !r.CutOver() && !r.Cold && !r.Paused && !r.waitsFirstPass() && !(r.queued() && r.LastPass.IsZero()) {
		// (Not for a paused or held row: nothing copies.)
		// The rate and its sparkline before it; in a narrow panel the
		// sparkline, then the rate, give way to the times.
		spark := min(16, max(4, width/6))
		// (last begins with its own two spaces, the rate's line with two more.)
		switch free := width - 13 - ansiWidth(last); {
		case free >= spark:
			last = "  " + fit(rate(r.Rate), 11) + sparkline(r.Rates, spark) + last
		case free >= 0:
			last = "  " + fit(rate(r.Rate), 11) + sparkline(r.Rates, min(free, spark)) + last
		}
	}
	if r.Err != "" && !cursor {
		// (Under the cursor, its times stay: the error is whole below.)
		last = sErr.Render("  ✗ " + r.Err)
	}
	return append(out, trunc(last, width))
}

// dashboardLines draws the VM rows scrolled to keep the cursor visible,
// and a detail line for the VM under the cursor. Only visible rows are
// drawn: a frame with 1,000 VMs costs little more than one with 10.
func dashboardLines(d *DashboardState, now time.Time, cursor, width, height int) []string {
	out, _ := dashboardView(d, now, cursor, width, height)
	return out
}

// dashboardView is dashboardLines, and whether they show it whole: a row
// for every VM, the detail line of the VM under the cursor and its note
// uncut (what more height would give).
func dashboardView(d *DashboardState, now time.Time, cursor, width, height int) (_ []string, whole bool) {
	if len(d.VMs) == 0 {
		return []string{sDim.Render("No replication reported yet.")}, true
	}
	whole = true
	// Only passes moving data count towards the rate: an idle VM's last
	// rate is history, not throughput.
	var totalRate float64
	active, atRisk, missed, cut := 0, 0, 0, 0
	for i := range d.VMs {
		r := &d.VMs[i]
		switch {
		case r.CutOver():
			cut++
			continue
		case r.Active():
			active++
			totalRate += r.Rate
		}
		switch r.Health {
		case RPOWarning:
			atRisk++
		case RPOViolated:
			missed++
		}
	}
	sum := []string{fmt.Sprintf("%d VM(s)", len(d.VMs))}
	if active > 0 {
		sum = append(sum, fmt.Sprintf("%d copying at %s", active, rate(totalRate)))
	} else {
		sum = append(sum, "none copying")
	}
	for _, c := range []struct {
		n    int
		what string
	}{{atRisk, RPOWarning.String()}, {missed, RPOViolated.String()}, {cut, "cut over"}} {
		if c.n > 0 {
			sum = append(sum, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	// The summary wraps between its parts, never cut (QA: at 80x24 it
	// read "1 RPO at risk · 4 R…", the VMs that missed their RPO and the
	// rows shown lost to the "…").
	summary := func(rows string) []string {
		parts := sum
		if rows != "" {
			parts = append(slices.Clone(sum), rows)
		}
		return joined(parts, width, 2, lipgloss.NewStyle())
	}
	out := summary("")
	per := 2
	if width < 80 {
		per = 3
	}
	// What ferry said when it resumed the VM under the cursor, whole,
	// under its detail line.
	var note []string
	if cursor < len(d.VMs) && d.VMs[cursor].Note != "" {
		note = wrapped(steps.AboutVM(d.VMs[cursor].VM, d.VMs[cursor].Note), width, 2, sDim)
	}
	// The detail line of the VM under the cursor: cut, it lost the last
	// full compare (at 120 columns too).
	var detail []string
	if cursor < len(d.VMs) {
		r := d.VMs[cursor]
		resumed := ""
		if r.Resumed > 0 && !r.CutOver() {
			// Not sent again: what an earlier attempt made durable.
			resumed = " (resumed: " + steps.Bytes(r.Resumed) + " durable before)"
		}
		line := fmt.Sprintf("%s pass: planned %s%s · read %s · sent %s · acked %s · RPO %s",
			r.VM, steps.Bytes(r.Planned), resumed, steps.Bytes(r.Read), steps.Bytes(r.Sent), steps.Bytes(r.Acked), dur(r.RPO))
		if !r.Figures && r.Planned == 0 && r.Read == 0 && r.Sent == 0 && r.Acked == 0 && r.Resumed == 0 {
			// No pass reported to this process yet (a wizard started since
			// the last one; a pass at its snapshot): no figures to show,
			// not zeros (QA: "planned 0 B" after a restart for a VM many
			// passes in); what the record keeps, if anything.
			line = r.VM + " pass: no figures reported yet"
			if rec := r.Recorded; !rec.At.IsZero() {
				line += fmt.Sprintf(" · recorded: last incremental pass %s planned %s", ago(now, rec.At), steps.Bytes(rec.Planned))
				if rec.Rate > 0 {
					line += ", last rate " + rate(rec.Rate)
				}
			}
			line += " · RPO " + dur(r.RPO)
		}
		switch {
		case r.CutOver():
			// Replication ended with its cutover: no pass to count (QA:
			// after a resume it read "planned 0 B · ... · RPO 0s").
			line = r.VM + ": cut over, replication ended; its final pass's figures are in its cutover's report"
		case r.Cold:
			// No scheduled passes to count, no RPO: its one pass is in
			// step 6's log (a source that was off) or in its cutover.
			line = r.VM + ": cold migration, no pass every RPO; its one pass's figures are in step 6's log (a source that was off) or in its cutover's report"
		}
		if r.queued() {
			// Why it waits, and the plan's knob for it.
			line += " · " + steps.QueuedText("its pass", r.Slots)
		}
		if c := r.LastCompare; c != nil {
			// When, as the rows say it (ago): its date and time cost the
			// detail a line at 80 columns.
			line += " · last full compare " + ago(now, c.Time) + ": " + c.Findings()
		}
		detail = wrapped(line, width, 2, sDim)
		// Whole, unless that costs a VM row: the rows the layout below
		// shows (the others compact when the full ones do not all fit;
		// counted full, a wrapped detail was cut at 80x24 with four VMs,
		// though their compact rows left it room).
		if shown := func(n int) int {
			room := max(1, (height-len(out)-n-len(note))/per)
			if compact := height - len(out) - n - len(note) - (per - 1); room < len(d.VMs) && compact > room {
				room = compact
			}
			return min(len(d.VMs), room)
		}; shown(len(detail)) < shown(1) {
			detail = []string{sDim.Render(trunc(line, width))}
			whole = whole && len(wrapped(line, width, 2, sDim)) == 1
		}
		if r.Err != "" && !r.CutOver() {
			// Why its pass failed or its job paused, in place of the
			// figures, whole as far as the panel goes (other VMs' rows
			// give way; the sidebar lists them): its row's line cuts it
			// (QA: at 80x24 a job paused for a replica disk detached by
			// hand read "✗ job paused after a failed pass; the replica is
			// at …", the cause and what to do lost, while ferry status
			// refused to read the store the wizard held).
			detail = wrapped("✗ "+steps.AboutVM(r.VM, r.Err), width, 2, sErr)
			if room := max(1, height-len(out)-per-len(note)); len(detail) > room {
				whole = false
				last := ansi.Strip(detail[room-1]) + " " + strings.TrimSpace(ansi.Strip(detail[room]))
				detail = append(detail[:room-1], sErr.Render(ansi.Truncate(last, width-1, "")+"…"))
			}
		}
	}
	// The note takes what the summary, the cursor's row and the detail
	// leave, never more (QA: at 80x24 a proxy warning wrapped to 11 lines
	// went past the dashboard's height, pushing the probes off and losing
	// its end unmarked): cut, its last line ends with "…".
	if maxNote := max(1, height-len(out)-per-len(detail)); len(note) > maxNote {
		whole = false
		last := ansi.Strip(note[maxNote-1]) + " " + strings.TrimSpace(ansi.Strip(note[maxNote]))
		note = append(note[:maxNote-1], sDim.Render(ansi.Truncate(last, width-1, "")+"…"))
	}
	// head: the summary's lines.
	layout := func(head int) (room, start int, compact bool) {
		room = max(1, (height-head-len(detail)-len(note))/per)
		// When the full rows do not all fit, the VM under the cursor keeps
		// its full row and the others take one line each, so that a short
		// window (80x24 over SSH) still lists every VM it can.
		compactRoom := height - head - len(detail) - len(note) - (per - 1)
		compact = room < len(d.VMs) && compactRoom > room
		if compact {
			room = compactRoom
		}
		if cursor >= room {
			start = cursor - room + 1
		}
		return room, start, compact
	}
	room, start, compact := layout(len(out))
	if room < len(d.VMs) {
		whole = false
		rows := func() string {
			return fmt.Sprintf("rows %d–%d of %d", start+1, min(len(d.VMs), start+room), len(d.VMs))
		}
		if head := len(out); len(summary(rows())) > head {
			// The rows shown take a line of their own: one row fewer.
			room, start, compact = layout(head + 1)
		}
		out = summary(rows())
	}
	for i := start; i < len(d.VMs) && i < start+room; i++ {
		out = append(out, vmRow(&d.VMs[i], now, i == cursor, compact && i != cursor, width)...)
	}
	if cursor < len(d.VMs) {
		out = append(out, detail...)
		out = append(out, note...)
	}
	return out, whole
}

// moreProbes are the lines, at most room, that name the probes without
// room for their rows, with their states, the down ones first, wrapped
// between them (QA: "… 5 more: WebApp1 -> WebApp2 (guest ping) DOWN,
// LinuxD…" at 80 columns); the names that do not fit the room are counted
// ("and 3 more"), never cut. None for none.
func moreProbes(rest []ProbeRow, width, room int) []string {
	return probeNames(rest, width, room, fmt.Sprintf("… %d more:", len(rest)))
}

// probeNames is moreProbes with its first line beginning with head.
func probeNames(rest []ProbeRow, width, room int, head string) []string {
	if len(rest) == 0 || room <= 0 {
		return nil
	}
	rest = slices.Clone(rest)
	slices.SortStableFunc(rest, func(a, b ProbeRow) int {
		switch {
		case a.Up == b.Up:
			return 0
		case !a.Up:
			return -1
		}
		return 1
	})
	names := make([]string, len(rest))
	for i, r := range rest {
		state := "up"
		if !r.Up {
			state = "DOWN"
		}
		names[i] = r.Pair + " " + state
	}
	for k := len(names); k > 0; k-- {
		parts := slices.Clone(names[:k])
		if k < len(names) {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-k))
		}
		parts[0] = head + " " + parts[0]
		if ls := joined(parts, width, 2, sDim); len(ls) <= room {
			return ls
		}
	}
	return []string{sDim.Render(trunc(head, width))}
}

// probeLines draws the probe panel: per pair, status, latency, loss and
// outages; the probes of the plan's VMs first, then by name (ignoring case).
func probeLines(w *wiring, width, height int) []string {
	d, now := w.dash, w.now()
	out := []string{sBold.Render("Probes")}
	if len(d.Probes) == 0 {
		if err := w.feeds.ProbesErr; err != nil {
			return append(out, wrapped("the plan's probes cannot run: "+err.Error(), width, 2, sWarn)...)
		}
		if len(w.env.Plan().Probes) == 0 {
			// No result is coming: the plan has no probe to run (QA walk
			// hB: "no probe results yet" stayed through step 8 of a plan
			// that never had one, as if they were on their way).
			return append(out, sDim.Render(trunc("none: the plan has no probes (step 5's Service probes)", width)))
		}
		return append(out, sDim.Render(trunc("no probe results yet", width)))
	}
	// The probes of the plan's VMs first (what the cutover is judged by),
	// then by name.
	first := w.env.Plan().PlanVMProbes()
	probes := slices.Clone(d.Probes)
	slices.SortStableFunc(probes, func(a, b ProbeRow) int {
		if first[a.Pair] != first[b.Pair] {
			if first[a.Pair] {
				return -1
			}
			return 1
		}
		if c := strings.Compare(strings.ToLower(a.Pair), strings.ToLower(b.Pair)); c != 0 {
			return c
		}
		return strings.Compare(a.Pair, b.Pair)
	})
	for i, p := range probes {
		// A down probe says why (its last error, in at most three lines): a
		// red probe without a reason leaves the operator guessing (QA: a
		// guest ping refused for a missing privilege showed only "down").
		var why []string
		if !p.Up && p.Err != "" {
			why = wrap(p.Err, max(1, width-4))
			if len(why) > 3 {
				why = append(why[:2], trunc(strings.Join(why[2:], " "), max(1, width-4)))
			}
		}
		// Its figures, wrapped between them (QA: "tcp 127.16.10.12:40849 ·
		// loss 22% · 3 outage(s) …" at 80 columns).
		parts := []string{"  " + p.Kind, fmt.Sprintf("loss %.0f%%", p.Loss()*100), fmt.Sprintf("%d outage(s)", p.Outages)}
		if p.LastOutage > 0 {
			parts = append(parts, "last "+dur(p.LastOutage))
		}
		figures := joined(parts, width, 4, sDim)
		// Its lines, and up to three that name those without a row, if any.
		if need := 1 + len(figures) + len(why) + len(moreProbes(probes[i+1:], width, 3)); len(out)+need > height {
			// No room for their rows: their names and states, the down
			// ones first (QA: "… 2 more" at 80x24, with no way to see them).
			if i == 0 {
				// None has a row: they are not "more" than any (QA h-B).
				out = append(out, probeNames(probes, width, height-len(out), fmt.Sprintf("%d probes:", len(probes)))...)
				break
			}
			out = append(out, moreProbes(probes[i:], width, height-len(out))...)
			break
		}
		glyph, state := sOK.Render("●"), dur(p.Latency)
		if !p.Up {
			glyph, state = sErr.Render("✗"), sErr.Render("down "+dur(now.Sub(p.DownSince)))
		}
		out = append(out, trunc(fmt.Sprintf("%s %s  %s", glyph, p.Pair, state), width))
		// The sparkline ends the figures' last line if it has room there
		// (the figures come first).
		if sw := min(8, width-ansiWidth(figures[len(figures)-1])-2); sw > 0 {
			figures[len(figures)-1] += " " + sparkline(p.Latencies, sw)
		}
		out = append(out, figures...)
		for _, l := range why {
			out = append(out, sWarn.Render("  "+l))
		}
	}
	return out
}
