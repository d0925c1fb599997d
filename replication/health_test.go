package replication

import (
	"strings"
	"testing"
	"time"
)

func TestJobPhase(t *testing.T) {
	for _, tc := range []struct {
		paused, failed, final, cutOver bool
		held                           Hold
		want                           JobPhase
	}{
		{want: JobReplicating},
		{paused: true, want: JobPaused},
		{paused: true, failed: true, want: JobFailed},
		{paused: true, held: HoldCutover, want: JobHeld},
		{held: HoldCutover, want: JobReplicating}, // released
		{final: true, want: JobCuttingOver},
		{final: true, cutOver: true, want: JobCutOver},
		{failed: true, want: JobReplicating}, // resumed: no longer failed
	} {
		if got := jobPhase(tc.paused, tc.failed, tc.held, tc.final, tc.cutOver); got != tc.want {
			t.Errorf("jobPhase(%+v) = %s, want %s", tc, got, tc.want)
		}
	}
}

// TestStoredStatus: what `ferry status` derives from a job's record.
func TestStoredStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rpo := RPO(5 * time.Minute)
	for _, tc := range []struct {
		name   string
		vs     VMState
		phase  JobPhase
		health Health
		text   string
	}{
		{"no pass yet", VMState{}, JobReplicating, HealthUnknown, "no complete pass yet"},
		{"fresh", VMState{LastPass: now.Add(-time.Minute)}, JobReplicating, HealthOK, "ok"},
		{"at the RPO", VMState{LastPass: now.Add(-5 * time.Minute)}, JobReplicating, HealthOK, "ok"},
		{"missed", VMState{LastPass: now.Add(-7 * time.Minute)}, JobReplicating, HealthMissed, "RPO missed: last complete pass 7m0s ago, RPO 5m"},
		{"paused", VMState{LastPass: now.Add(-time.Minute), Paused: true, PausedReason: "paused by request"}, JobPaused, HealthOK, "ok"},
		{"failed", VMState{LastPass: now.Add(-time.Hour), Paused: true, Failed: true, PausedReason: "receiver gone"}, JobFailed, HealthMissed, "RPO missed: last complete pass 1h0m0s ago, RPO 5m"},
	} {
		st := StoredStatus("WebApp2", rpo, tc.vs, now)
		if st.Phase != tc.phase || st.Health != tc.health || st.HealthText() != tc.text || st.VM != "WebApp2" || st.RPO != rpo {
			t.Errorf("%s: %s / %s / %q, want %s / %s / %q", tc.name, st.Phase, st.Health, st.HealthText(), tc.phase, tc.health, tc.text)
		}
		if st.Paused != tc.vs.Paused || st.Reason != tc.vs.PausedReason {
			t.Errorf("%s: paused %v %q", tc.name, st.Paused, st.Reason)
		}
	}
	// The cutover's record knows more: a job cut over keeps no RPO.
	st := StoredStatus("WebApp2", rpo, VMState{LastPass: now.Add(-time.Hour)}, now)
	if cut := st.WithPhase(JobCutOver); cut.Phase != JobCutOver || cut.Health != HealthNone || st.Health != HealthMissed {
		t.Errorf("cut over: %s %s (before: %s)", cut.Phase, cut.Health, st.Health)
	}
	if dec := st.WithPhase(JobCuttingOver); dec.Phase != JobCuttingOver || dec.Health != HealthMissed {
		t.Errorf("cutting over: %s %s", dec.Phase, dec.Health)
	}
}

// TestSchedulerHealth: the scheduler derives lagging (a pass longer than
// RPO/2), missed, and no RPO for a job cut over.
func TestSchedulerHealth(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := NewScheduler(1, nil)
	s.now = func() time.Time { return now }
	rpo := 10 * time.Minute
	for _, tc := range []struct {
		name string
		sj   schedJob
		want Health
		text string
	}{
		{"long pass", schedJob{lastPass: now.Add(-time.Minute), running: true, passStart: now.Add(-6 * time.Minute)}, HealthLagging, "pass running for 6m0s, longer than RPO/2 (5m0s)"},
		{"missed", schedJob{lastPass: now.Add(-11 * time.Minute)}, HealthMissed, "RPO missed"},
		{"missed while a pass runs", schedJob{lastPass: now.Add(-11 * time.Minute), running: true, passStart: now.Add(-6 * time.Minute)}, HealthMissed, "RPO missed"},
		{"healthy pass", schedJob{lastPass: now.Add(-time.Minute), running: true, passStart: now.Add(-time.Minute)}, HealthOK, "ok"},
		{"long initial sync", schedJob{running: true, passStart: now.Add(-time.Hour)}, HealthLagging, "pass running for 1h0m0s"},
		{"initial sync", schedJob{running: true, passStart: now.Add(-time.Minute)}, HealthUnknown, "no complete pass yet"},
		{"cut over", schedJob{lastPass: now.Add(-time.Hour), final: true, cutOver: true}, HealthNone, "cut over: replication ended"},
	} {
		sj := tc.sj
		sj.job, sj.rpo = &Job{VM: "a"}, rpo
		st := s.statusLocked(&sj, now)
		if st.Health != tc.want || !strings.Contains(st.HealthText(), tc.text) {
			t.Errorf("%s: %s %q, want %s %q", tc.name, st.Health, st.HealthText(), tc.want, tc.text)
		}
	}
}
