package tui

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/ferry-migrate/ferry/steps"
)

// rate formats bytes per second (steps.Bytes).
func rate(bps float64) string {
	if bps <= 0 {
		return "—"
	}
	return steps.Bytes(int64(bps)) + "/s"
}

// dur formats a duration for people: 45s, 3m05s, 2h10m.
func dur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond: // a probe's sub-millisecond answer read "0ms"
		return "<1ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// ago formats the time since t ("—" for zero).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return dur(now.Sub(t)) + " ago"
}

// until formats the time to t ("—" for zero, "now" when past).
func until(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if !t.After(now) {
		return "now"
	}
	return "in " + dur(t.Sub(now))
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width values scaled to their maximum.
func sparkline(vs []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(vs) > width {
		vs = vs[len(vs)-width:]
	}
	top := 0.0
	for _, v := range vs {
		top = math.Max(top, v)
	}
	var b strings.Builder
	b.Grow(width * 3)
	for i := len(vs); i < width; i++ {
		b.WriteByte(' ')
	}
	for _, v := range vs {
		i := 0
		if top > 0 {
			i = int(v / top * float64(len(sparks)-1))
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// bar draws frac (0 to 1) as the TUI's one progress bar, bubbles/progress
// width cells wide without a percentage (callers write their own): the
// step's bar and the dashboard's bar per VM.
func bar(frac float64, width int) string {
	profile := lipgloss.ColorProfile()
	if noColor {
		profile = termenv.Ascii // the bar's characters say it all
	}
	b := progress.New(progress.WithoutPercentage(), progress.WithSolidFill("12"), progress.WithFillCharacters('█', '░'),
		progress.WithColorProfile(profile), progress.WithWidth(max(width, 0)))
	return b.ViewAs(frac)
}

// fit truncates s to width cells (with an ellipsis) and pads it to width.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "…")
	}
	return s + strings.Repeat(" ", width-w)
}

// trunc truncates s to width cells without padding.
func trunc(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > width {
		return ansi.Truncate(s, width, "…")
	}
	return s
}

// truncLeft keeps the end of s in width cells, "…" in place of its
// beginning (a path keeps its file name).
func truncLeft(s string, width int) string {
	w := ansi.StringWidth(s)
	if w <= width || width < 2 {
		return trunc(s, width)
	}
	return ansi.TruncateLeft(s, w-width+1, "…")
}

// wrapValue wraps a typed value (a path, a URL) to width cells, breaking
// after a "/" or a space where it can, elsewhere where it must; nothing is
// dropped.
func wrapValue(s string, width int) []string {
	if width <= 0 {
		return nil
	}
	var out []string
	line := ""
	for len(s) > 0 {
		i := strings.IndexAny(s, "/ ")
		tok := s
		if i >= 0 {
			tok = s[:i+1]
		}
		s = s[len(tok):]
		if line != "" && ansi.StringWidth(line+tok) > width {
			out = append(out, line)
			line = ""
		}
		line += tok
		for ansi.StringWidth(line) > width {
			out = append(out, ansi.Cut(line, 0, width))
			line = ansi.Cut(line, width, ansi.StringWidth(line))
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

// truncKeepingTail is trunc, except that a line too long for width and
// holding sep keeps what follows its last sep whole and cuts the text
// before it ("WebApp2: connect net… done in 7ms", not "… done in 7m…",
// which reads as minutes).
func truncKeepingTail(s string, width int, sep string) string {
	i := strings.LastIndex(s, sep)
	if i < 0 || ansi.StringWidth(s) <= width {
		return trunc(s, width)
	}
	tail := s[i:]
	room := width - ansi.StringWidth(tail)
	if room < 2 {
		return trunc(s, width)
	}
	return trunc(s[:i], room) + tail
}

// truncPhase cuts a cutover phase line to width: what follows its
// duration ("done in 25ms (00:0c:29:… on company-network …)") goes first,
// so that the VM and the phase, in a wave the only way to tell the lines
// apart, and the duration stay whole; then as truncKeepingTail.
func truncPhase(s string, width int) string {
	const sep = " done in "
	i := strings.LastIndex(s, sep)
	if i < 0 || ansi.StringWidth(s) <= width {
		return truncKeepingTail(s, width, sep)
	}
	rest := s[i+len(sep):]
	j := strings.IndexByte(rest, ' ')
	if j < 0 {
		return truncKeepingTail(s, width, sep)
	}
	kept := s[:i+len(sep)+j]
	if w := ansi.StringWidth(kept); w+2 <= width {
		return kept + trunc(rest[j:], width-w)
	}
	return truncKeepingTail(kept, width, sep)
}

// wrap wraps plain text to width cells, between words: never after a
// hyphen inside one (ansi.Wrap breaks there, which cut IDs and names in
// two: "WebApp2 (6bbd74f4-80a5-" / "44c3-…)", "company-" / "edge"); a
// word wider than a line is broken where it must be.
//
// A size keeps its unit on its line ("sent 386" / "KiB", "thin, 4.0" /
// "GiB" at 80 columns read as other figures).
func wrap(s string, width int) []string {
	if width <= 0 {
		return nil
	}
	hyphens := strings.Contains(s, "-") && !strings.ContainsRune(s, nbHyphen)
	if hyphens {
		s = strings.ReplaceAll(s, "-", string(nbHyphen))
	}
	s = sizeUnit.ReplaceAllString(s, "${1}"+string(nbSpace)+"${2}")
	w := ansi.Wrap(s, width, " ")
	if hyphens {
		w = strings.ReplaceAll(w, string(nbHyphen), "-")
	}
	return strings.Split(strings.ReplaceAll(w, string(nbSpace), " "), "\n")
}

// nbHyphen stands in for "-" while wrap wraps: one cell wide like it, and
// no breakpoint.
const nbHyphen = '\u2011'

// nbSpace stands in for the space between a figure and its unit while
// wrap wraps (ansi.Wrap never breaks at it), and glues words a caller
// keeps together ("(* default:"); wrap writes it as a space.
const nbSpace = '\u00a0'

// sizeUnit is a figure and a byte unit as steps.Bytes writes them
// ("4.0 GiB", "0 B", "192 KiB/s").
var sizeUnit = regexp.MustCompile(`(\d) ((?:[KMGTPE]i)?B)\b`)

// box clips or pads lines to exactly width x height. It is the last step of
// every view, so nothing a screen draws can overflow the terminal.
func box(lines []string, width, height int) string {
	if height <= 0 || width <= 0 {
		return ""
	}
	out := make([]string, height)
	for i := range out {
		if i < len(lines) {
			out[i] = fit(lines[i], width)
		} else {
			out[i] = strings.Repeat(" ", width)
		}
	}
	return strings.Join(out, "\n")
}

// lines splits a rendered block into lines.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func itoa(i int) string { return strconv.Itoa(i) }

func ansiWidth(s string) int { return ansi.StringWidth(s) }
