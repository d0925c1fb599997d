package tui

import (
	"slices"
	"strings"
	"testing"
)

// TestWatchingHeaderWholeAt80Columns (QA: at 80 columns a watching
// session's header read "ferry · WATCHING no one drives now: attach again
// to drive · org Company / Compa…", the tenant cut, and in the lab less of
// it): the session's part gives way after the endpoints' addresses, to who
// drives without how they attached and without the hint, so the lab
// badge, the watching state and the org and VDC show whole at 80
// columns; at 120 the whole of it shows.
func TestWatchingHeaderWholeAt80Columns(t *testing.T) {
	for _, c := range []struct {
		viewer      string
		at80, at120 string
	}{
		{noDriver, "WATCHING no one drives now · org Company / Company-VDC", "WATCHING " + noDriver},
		{"admin (alice@laptop) drives", "WATCHING admin (alice@laptop) drives · org Company / Company-VDC", "WATCHING admin (alice@laptop) drives"},
		{"administrator (alice@a-laptop-with-a-long-name) drives", "WATCHING administrator drives · org Company / Company-VDC", "WATCHING administrator (alice@a-laptop-with-a-long-name) drives"},
	} {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			_, view, _ := twoSessions(t, setup{lab: true, pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection")}, size[0], size[1])
			view.send(DriverChanged{Viewer: c.viewer})
			header := strings.Split(view.view(), "\n")[0]
			want := c.at80
			if size[0] == 120 {
				want = c.at120
			}
			if !strings.Contains(header, want) || !strings.Contains(header, "LAB") || !strings.Contains(header, "org Company / Company-VDC") || strings.Contains(header, "…") {
				t.Errorf("%dx%d, %q: header %q\nwant the lab badge, %q and the org and VDC whole", size[0], size[1], c.viewer, header, want)
			}
		}
	}
}

// noDriver is what ferry serve tells watching sessions when no one drives
// (serve_wizard.go).
const noDriver = "no one drives now: attach again to drive"
