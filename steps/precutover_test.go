package steps

import (
	"testing"
	"time"
)

// TestAnotherPreCutoverPass: a long pre-cutover pass is followed by another
// while the passes get shorter, never more than maxPreCutoverPasses in all;
// a short one goes straight to the shutdown.
func TestAnotherPreCutoverPass(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		took []time.Duration
		want bool
	}{
		{nil, true},                     // the first pass always runs
		{[]time.Duration{s / 2}, false}, // short: the final pass has little left
		{[]time.Duration{s}, false},     // at the threshold
		{[]time.Duration{8 * s}, true},  // long (far behind): once more
		{[]time.Duration{8 * s, 2 * s}, true},
		{[]time.Duration{8 * s, s / 2}, false},        // settled
		{[]time.Duration{4 * s, 7 * s / 2}, false},    // not getting shorter: the guest writes as fast as a pass copies
		{[]time.Duration{8 * s, 4 * s, 2 * s}, false}, // at most maxPreCutoverPasses
	} {
		if got := anotherPreCutoverPass(c.took); got != c.want {
			t.Errorf("after passes of %v: another %v, want %v", c.took, got, c.want)
		}
	}
}
