package steps

import (
	"context"
	"strings"
	"testing"
)

// TestChecksPlanSaysCheck (QA: ferry plan listed the probes as "= exists
// probe ...", as if a probe were an object found): the checks step's plan
// lists each probe as a check, and counts no change.
func TestChecksPlanSaysCheck(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	p, err := (&Checks{}).Plan(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) == 0 || p.Changes() != 0 {
		t.Fatalf("checks plan: %d items, %d changes; want the probes, no change", len(p.Items), p.Changes())
	}
	for _, it := range p.Items {
		if s := it.String(); !strings.HasPrefix(s, `? check probe "`) {
			t.Errorf("probe in the plan: %q, want '? check probe ...'", s)
		}
	}
}
