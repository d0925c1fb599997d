package steps

import (
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/replication"
)

// TestPausedWhyTellsAMismatchFromACompareDue (hB, under load): ferry pause
// of a job paused by request while its scheduled full compare was due said
// "already paused (its replica differs from its source ...)". A compare due
// by schedule is not a mismatch: the reason is the pause's own; only a
// verify that found the replica differs says so.
func TestPausedWhyTellsAMismatchFromACompareDue(t *testing.T) {
	byRequest := VMStatus{JobStatus: replication.JobStatus{VM: "WebApp2", Paused: true, CompareDue: true, Reason: "paused by request of ops (ferry pause)"}}
	if why := pausedWhy(byRequest); why != "paused by request of ops (ferry pause)" {
		t.Errorf("paused by request, compare due: %q, want the pause's own reason", why)
	}
	differs := VMStatus{JobStatus: replication.JobStatus{VM: "WebApp2", Paused: true, CompareDue: true, Differs: true, Phase: replication.JobFailed, Reason: "final verify: replica differs from source at block 3"}}
	if why := pausedWhy(differs); !strings.HasPrefix(why, "its replica differs from its source: final verify") || !strings.Contains(why, "ferry resume WebApp2") {
		t.Errorf("paused for a mismatch: %q", why)
	}
}
