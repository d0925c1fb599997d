package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// textWidth is the width the text of ferry status (and the endpoints
// list of ferry plan) is laid out for: an 80-column terminal, an SSH
// session's default. Its tables fit (a column of prose, the health, is
// cut to its first words and given whole below the table); a line of
// prose is word-wrapped, its next lines indented.
const textWidth = 80

// wrapIndented word-wraps s to width columns: the first line as it is,
// the next ones after indent. A word longer than a line (a path) is
// broken.
func wrapIndented(s string, width int, indent string) []string {
	var lines []string
	lead := s[:len(s)-len(strings.TrimLeft(s, " "))] // kept: the line's own indent
	line, limit := lead, width
	flush := func() {
		lines = append(lines, line)
		line, limit = indent, width
	}
	for _, w := range strings.Fields(s) {
		sep := " "
		if strings.TrimSpace(line) == "" {
			sep = ""
		}
		if ansi.StringWidth(line+sep+w) <= limit {
			line += sep + w
			continue
		}
		if strings.TrimSpace(line) != "" {
			flush()
		}
		for ansi.StringWidth(line+w) > limit {
			room := limit - ansi.StringWidth(line)
			if room < 1 {
				room = 1
			}
			line += ansi.Truncate(w, room, "")
			w = strings.TrimPrefix(w, ansi.Truncate(w, room, ""))
			flush()
		}
		line += w
	}
	if strings.TrimSpace(line) != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// printWrapped writes s word-wrapped to textWidth, its next lines
// indented by indent.
func printWrapped(w io.Writer, s, indent string) {
	for _, l := range wrapIndented(s, textWidth, indent) {
		fmt.Fprintln(w, l)
	}
}

// table is rows of cells laid out in columns two spaces apart, the last
// one not padded (as text/tabwriter does).
type table [][]string

// widths are the columns' widths but the last's.
func (t table) widths() []int {
	var ws []int
	for _, r := range t {
		for i, c := range r {
			if i == len(r)-1 {
				break
			}
			for len(ws) <= i {
				ws = append(ws, 0)
			}
			ws[i] = max(ws[i], ansi.StringWidth(c))
		}
	}
	return ws
}

// lastColumn is the room left for the last column in textWidth.
func (t table) lastColumn() int {
	n := textWidth
	for _, w := range t.widths() {
		n -= w + 2
	}
	return n
}

// wrapFirst is the table with each first cell too wide to leave the last
// column minLast columns in textWidth (a VM's long name) on a line of its
// own, its row below it with that cell empty: the name whole, the columns
// in textWidth.
func (t table) wrapFirst(minLast int) table {
	ws := t.widths()
	if len(ws) < 2 {
		return t
	}
	room := textWidth - minLast - 2
	for _, w := range ws[1:] {
		room -= w + 2
	}
	var out table
	for i, r := range t {
		if i > 0 && len(r) > 1 && ansi.StringWidth(r[0]) > room {
			out = append(out, []string{r[0]}, append([]string{""}, r[1:]...))
			continue
		}
		out = append(out, r)
	}
	return out
}

// write writes the table's rows.
func (t table) write(w io.Writer) {
	ws := t.widths()
	for _, r := range t {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", ws[i]-ansi.StringWidth(c)+2))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
