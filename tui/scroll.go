package tui

import (
	"fmt"
	"slices"

	tea "github.com/charmbracelet/bubbletea"
)

// scroller shows lines that do not fit in a panel a page at a time, with
// a line saying where the view is ("lines x–y of n"), the same keys
// moving it wherever it is used (a step's plan and results, the cutover's
// downtime report).
type scroller struct {
	// top is the first line shown of what scrolls; page and total are what
	// the last view could show and had (the keys page by them).
	top, page, total int
	// last is the largest top the last view allowed (the keys stop there).
	last int
	// typing: the view sits above a text input (the cutover's
	// confirmation), where j, k, g and G are letters of a name and home and
	// end move its cursor: only ↑/↓ and pgup/pgdn scroll.
	typing bool
	// paging: the screen's arrows move something else (the replication
	// dashboard's cursor): only pgup/pgdn and home/end scroll.
	paging bool
}

var (
	keyScroll       = newKey("↑/↓/pgdn", "scroll", "up", "down", "k", "j", "pgup", "pgdown", "home", "end", "g", "G")
	keyScrollTyping = newKey("↑/↓/pgdn", "scroll", "up", "down", "pgup", "pgdown")
	keyScrollPaging = newKey("pgup/pgdn", "scroll", "pgup", "pgdown", "home", "end")
)

// binding is the key that scrolls this view, for its help bar.
func (s *scroller) binding() Key {
	switch {
	case s.paging:
		return keyScrollPaging
	case s.typing:
		return keyScrollTyping
	}
	return keyScroll
}

// minScrolled is the fewest lines a scrolled view shows below what it
// pins; pinned lines that leave less scroll too.
const minScrolled = 5

// view shows pinned, then as much of rest as fits in height from top,
// with the "lines x–y of n" line when rest does not fit.
func (s *scroller) view(pinned, rest []string, height int) []string {
	return s.viewHeaded(pinned, rest, nil, height)
}

// viewHeaded is view for a rest made of blocks under headings (the
// cutover confirmation's VMs, each with its estimate): heads[i], when not
// "", is the one-row heading of the block line i belongs to, shown above
// line i when the view starts there (the block is cut at the top: its
// lines would read as nobody's), as a table's header sticks. It is ""
// for a block's first line and for lines under no heading; heads may be
// nil (none). A sticky heading takes a row of the page: the page shows a
// line fewer of rest, and the view can go a line further so that the last
// line shows.
func (s *scroller) viewHeaded(pinned, rest, heads []string, height int) []string {
	room := height - len(pinned)
	if len(rest) > room && room-1 < minScrolled && len(pinned) > 0 {
		// Pinned lines (long warnings at 80x24) that would leave what
		// scrolls a line or two scroll with it, first.
		rest = append(slices.Clone(pinned), rest...)
		if heads != nil {
			heads = append(make([]string, len(pinned)), heads...)
		}
		pinned, room = nil, height
	}
	head := func(i int) string {
		if i < 0 || i >= len(heads) {
			return ""
		}
		return heads[i]
	}
	s.total = len(rest)
	if len(rest) <= room || len(rest) == 0 {
		s.page, s.top, s.last = max(0, room), 0, 0
		return append(pinned, rest...)
	}
	room = min(max(1, room-1), len(rest))
	s.page = room
	// The last top shows the last line: one more when a heading sticks
	// there.
	s.last = len(rest) - room
	if room > 1 && head(s.last) != "" {
		s.last++
	}
	s.top = max(0, min(s.top, s.last))
	out := pinned
	shown := min(room, len(rest)-s.top)
	if h := head(s.top); h != "" && room > 1 {
		out = append(out, h)
		shown = min(room-1, shown)
	}
	out = append(out, rest[s.top:s.top+shown]...)
	how := "↑/↓ j/k pgup/pgdn g/G"
	switch {
	case s.paging:
		how = "pgup/pgdn home/end"
	case s.typing:
		how = "↑/↓ pgup/pgdn"
	}
	for range room - (len(out) - len(pinned)) {
		out = append(out, "") // the hint stays where it was
	}
	return append(out, sDim.Render(fmt.Sprintf("lines %d–%d of %d · %s to scroll", s.top+1, s.top+shown, len(rest), how)))
}

// hidden records that the screen shows nothing of this view now: its keys
// scroll nothing until it is drawn again.
func (s *scroller) hidden() { s.total, s.page, s.last = 0, 0, 0 }

// scrollable reports that the last view did not show everything.
func (s *scroller) scrollable() bool { return s.total > s.page }

// key moves the view; it reports whether msg was a scroll key of a view
// that scrolls.
func (s *scroller) key(msg tea.KeyMsg) bool {
	if !s.scrollable() || !s.binding().Matches(msg) {
		return false
	}
	switch msg.String() {
	case "up", "k":
		s.top--
	case "down", "j":
		s.top++
	case "pgup":
		s.top -= max(1, s.page-1)
	case "pgdown":
		s.top += max(1, s.page-1)
	case "home", "g":
		s.top = 0
	case "end", "G":
		s.top = s.total
	}
	s.top = max(0, min(s.top, s.last))
	return true
}

// window is the part [start, end) of a list of n entries that rows lines
// show around cursor, leaving a line for each "more" mark it needs
// (moreMarks): none when all fit; else the cursor's entry at least, at
// the window's bottom when the list goes on either side of it.
func window(n, cursor, rows int) (start, end int) {
	rows = max(1, rows)
	if n <= rows {
		return 0, n
	}
	cursor = max(0, min(cursor, n-1))
	k := max(1, rows-1) // one mark
	switch {
	case cursor < k:
		return 0, k
	case cursor >= n-k:
		return n - k, n
	}
	k = max(1, rows-2) // both
	start = cursor - k + 1
	return start, start + k
}

// moreMarks are the lines that say a list goes on above and below what it
// shows ("↑ 3 more", "↓ 9 more", as huh's lists), in room lines at most:
// one line for both when there is room for one.
func moreMarks(above, below string, room int) (top, bottom []string) {
	mark := func(s string) []string { return []string{sDim.Render("  " + s)} }
	switch {
	case room <= 0 || above == "" && below == "":
	case above != "" && below != "" && room == 1:
		bottom = mark("↑ " + above + " · ↓ " + below)
	default:
		if above != "" {
			top = mark("↑ " + above)
		}
		if below != "" {
			bottom = mark("↓ " + below)
		}
	}
	return top, bottom
}

// more is "N more" ("" for none).
func more(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%d more", n)
}
