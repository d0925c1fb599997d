package tui

import "testing"

// TestTimelineKeepsThePhaseDuration (QA: at 80 columns the live cutover
// timeline cut "connect networks done in 7ms" to "done in 7m…", which reads
// as minutes inside the downtime window): a phase line too long for the
// screen is cut before its duration, which stays whole.
func TestTimelineKeepsThePhaseDuration(t *testing.T) {
	line := "✓ +915ms  1ms     WebApp2: connect networks done in 7ms"
	got := truncKeepingTail(line, 50, " done in ")
	if want := "✓ +915ms  1ms     WebApp2: connect ne… done in 7ms"; got != want {
		t.Errorf("cut to 50 cells: %q, want %q", got, want)
	}
	if got := truncKeepingTail(line, 80, " done in "); got != line {
		t.Errorf("a line that fits was changed: %q", got)
	}
	if got := truncKeepingTail("✓ +2s  1ms  WebApp3: power on", 20, " done in "); got != "✓ +2s  1ms  WebApp3…" {
		t.Errorf("a line without a duration: %q", got)
	}
}
