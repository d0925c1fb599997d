package vcd_test

import (
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/vcd"
)

// TestRightsWarningStatesFacts (QA): the warning for a right this Cloud
// Director lacks says so and that it is skipped, without guessing why.
func TestRightsWarningStatesFacts(t *testing.T) {
	p := &vcd.RightsPlan{Unknown: []string{"Hybrid Cloud Operations: View from-the-cloud tunnel"}}
	w := strings.Join(p.Warnings(), "\n")
	if want := `right "Hybrid Cloud Operations: View from-the-cloud tunnel" does not exist in this Cloud Director: skipped`; w != want {
		t.Fatalf("warning %q, want %q", w, want)
	}
	if strings.Contains(w, "?") {
		t.Fatalf("warning %q guesses", w)
	}
}
