package steps

import (
	"strings"
	"testing"
)

func TestBandwidthCapIsSharedAndValidated(t *testing.T) {
	env := NewEnv(nil, &PlanFile{}, NewState(""))
	if l, err := env.limiter(); l != nil || err != nil {
		t.Fatalf("no cap: %v %v", l, err)
	}
	env.Plan.BandwidthMbit = 80
	a, err := env.limiter()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := env.limiter()
	if a != b {
		t.Error("two jobs got two limiters: the cap would not be shared")
	}
	if got := float64(a.Limit()); got != 10e6 {
		t.Errorf("80 Mbit/s = %v bytes/s, want 10e6", got)
	}
	env2 := NewEnv(nil, &PlanFile{MigrationPlan: MigrationPlan{BandwidthMbit: -5}}, NewState(""))
	if _, err := env2.limiter(); err == nil || !strings.Contains(err.Error(), "bandwidth_mbit -5") {
		t.Errorf("negative cap: %v", err)
	}
}
