package steps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
)

// TestSessionsEndWhileFerryWaits: vCenter and Cloud Director end an API
// session nobody used for a while (30 minutes by default; this lab: one
// second). ferry holds its sessions for as long as it runs (ferry serve:
// days), and an operator confirms a cutover long after replication began:
// by then the sessions ferry logged in with are over. The cutover still
// runs through: each client logs in again when its session was ended.
func TestSessionsEndWhileFerryWaits(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	l, env := migrationLabWith(t, "WebApp2", lab.Options{SessionIdle: idle})
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("steps before the cutover: %v %+v\n%s", err, out, strings.Join(lines, "\n"))
	}
	// Every session ferry holds (both vCenters, Cloud Director as the
	// provider and as the tenant) goes unused for longer than the lab
	// takes to end it (between one and two idle timeouts).
	time.Sleep(2*idle + idle/2)
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover after the sessions ended: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if got := env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got != cutoverDone {
		t.Fatalf("cutover of WebApp2: %q\n%s", got, strings.Join(lines, "\n"))
	}
	// The tenant sees WebApp2 running in Company-VDC.
	if st := tenantVMStatus(t, l, "WebApp2"); st != "POWERED_ON" {
		t.Errorf("WebApp2 in Cloud Director is %s, want POWERED_ON", st)
	}
}
