package steps

import (
	"context"
	"strings"
	"testing"
)

// TestReadinessNamesATestLeftRunning (QA: with a test migration left
// running, a plain ferry run said only "stopped before Cutover", and the
// wizard's confirmation nothing until the names were typed): what would
// refuse the cutover as things stand names the test and its cleanup.
func TestReadinessNamesATestLeftRunning(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	items, err := env.CutoverReadiness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Kind == "test migration" {
			t.Fatalf("no test left, yet: %+v", it)
		}
	}
	if err := env.State.SetOutput(testStep, testKey("WebApp2"), "running"); err != nil {
		t.Fatal(err)
	}
	items, err = env.CutoverReadiness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range items {
		if it.Kind == "test migration" && it.Name == "WebApp2" && it.Action == ActionConflict && strings.Contains(it.Detail, "ferry run --test-cleanup") {
			found = true
		}
	}
	if !found {
		t.Errorf("readiness with a test of WebApp2 left running: %+v", items)
	}
}
