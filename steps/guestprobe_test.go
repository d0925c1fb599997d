package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/probe"
)

// TestGuestPingFromACutOverVM: a guest ping from the VM being cut over (a
// web server that must still reach a peer that stays on-prem) pings from
// the target in the provider vCenter once the source is off. Before, it
// kept pinging from the powered-off on-prem VM: the probe never answered,
// and a healthy cutover stopped after green_timeout asking for a decision.
func TestGuestPingFromACutOverVM(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	env.Plan().Probes = append(env.Plan().Probes, ProbePlan{Name: "WebApp2 -> WebApp1", VM: "WebApp2", From: "WebApp2", To: "172.16.10.11"})
	env.Plan().Cutover.GreenTimeout = "10s"
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %v (stopped before %q)\n%s", err, out.StoppedBefore, strings.Join(lines, "\n"))
	}
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	reports := env.cutoverHistory().reports
	if len(reports) != 1 || len(reports[0].VMs) != 1 {
		t.Fatalf("cutover reports: %+v", reports)
	}
	// The probe's outage (from the source's shutdown) ended: it answered
	// from the target.
	var outage *probe.Outage
	for _, o := range reports[0].VMs[0].Outages {
		if o.Target == "WebApp2 -> WebApp1" {
			outage = &o
		}
	}
	if outage == nil || outage.End.IsZero() {
		t.Errorf("the guest ping from WebApp2 across its cutover: outage %+v, want one that ended", outage)
	}
}

// TestCutoverChecksGuestOperationsForAMovingPing: with a guest ping from
// the VM to cut over, the provider account must be able to run it in the
// target (the on-prem account ran it until then). Lacking the privilege,
// the cutover is refused before the shutdown, naming it; before, the ping
// would have failed in the target and the cutover stopped for a decision.
func TestCutoverChecksGuestOperationsForAMovingPing(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	env.Plan().Probes = append(env.Plan().Probes, ProbePlan{Name: "WebApp2 -> WebApp1", VM: "WebApp2", From: "WebApp2", To: "172.16.10.11"})
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %v (stopped before %q)", err, out.StoppedBefore)
	}
	if err := l.Provider.Privileges.Withhold("VirtualMachine.GuestOperations.Execute"); err != nil {
		t.Fatal(err)
	}
	r.Confirmed = true
	_, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "VirtualMachine.GuestOperations.Execute") || !strings.Contains(err.Error(), "run the guest ping from WebApp2 in the target") {
		t.Fatalf("cutover without guest operations at the provider: %v, want it refused naming the privilege", err)
	}
	if !sourceOn(t, env) {
		t.Error("the refused cutover shut the source down")
	}
	l.Provider.Privileges.Grant("VirtualMachine.GuestOperations.Execute")
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover once granted: %v", err)
	}
}
