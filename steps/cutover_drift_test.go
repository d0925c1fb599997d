package steps

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
)

// TestDeletedReplicaIsSyncedAgainInFull (QA): a replica disk deleted at the
// provider after replication ran (detached from the receiver appliance,
// then deleted through vCenter) is made again, empty, by the next run, and
// that run must fill it in full: the sender's record of what it had sent
// into the old disk counts for nothing in the new one. It used to send only
// what had changed since, and the cutover's verify passed over a replica
// most of whose blocks were zeros: the VM ran in Cloud Director on a disk
// that was not its source's.
func TestDeletedReplicaIsSyncedAgainInFull(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := provider.DetachDiskFiles(ctx, env.Plan().Provider.Datacenter, lab.ApplianceVM, []string{replica}); err != nil {
		t.Fatal(err)
	}
	dc, err := provider.Finder().Datacenter(ctx, env.Plan().Provider.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualDiskManager(provider.Client.Client).DeleteVirtualDisk(ctx, replica, dc)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	lines = nil
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Errorf("the target's disk (the replica made again) differs from the source\n%s", strings.Join(lines, "\n"))
	}
}

// TestCutoverRefusedWithoutItsNetwork (QA): the org VDC network a target
// connects to, deleted after VM selection, refuses the cutover before any
// change (it used to shut the source down, then fail at "connect
// networks" and roll back).
func TestCutoverRefusedWithoutItsNetwork(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := tenantVDC(t, l).GetOpenApiOrgVdcNetworkByName("company-network")
	if err != nil {
		t.Fatal(err)
	}
	labtest.UIChange(t, labtest.VCD(t, l.Config().Tenant), http.MethodDelete, labtest.NetworkPath(n.OpenApiOrgVdcNetwork.ID), nil)
	r.Confirmed = true
	_, err = r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "connects to org VDC network company-network, which VDC Company-VDC no longer has") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("cutover without its network: %v", err)
	}
	onprem, _ := env.OnPrem(ctx)
	if src, err := onprem.VMByName(ctx, "WebApp2"); err != nil || !src.PoweredOn() {
		t.Errorf("source WebApp2 after the refused cutover: %+v %v, want it running", src, err)
	}
}

// TestPreflightSaysTheReceiverApplianceIsOff (QA): with the receiver
// appliance powered off at the provider, a confirmed cutover's preflight
// says so, not only that the TLS handshake with the receiver failed.
func TestPreflightSaysTheReceiverApplianceIsOff(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := labtest.ProviderVM(ctx, provider, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatalf("receiver appliance: %v %v", ok, err)
	}
	if err := provider.PowerOff(ctx, ref); err != nil {
		t.Fatal(err)
	}
	r.Confirmed = true
	err = r.Preflight(ctx)
	if err == nil || !strings.Contains(err.Error(), "the receiver appliance "+lab.ApplianceVM+" (provider.receiver_vm) is poweredOff at the provider, and the receiver runs in it: power it on") {
		t.Fatalf("preflight with the receiver appliance off: %v", err)
	}
}

// TestCutoverPlanSaysAWarmSourceWasPoweredOff (QA): a source replicated
// warm and powered off since, outside ferry, is cut over cold; the plan
// says it was running when replicated, so its service is down already
// (it read "cold migration" as if it always had been).
func TestCutoverPlanSaysAWarmSourceWasPoweredOff(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if err := onprem.PowerOff(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	p, err := (&Cutover{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, it := range p.Items {
		b.WriteString(it.String() + "\n")
	}
	if !strings.Contains(b.String(), "cold migration (") || !strings.Contains(b.String(), "it was running when step 6 replicated it, so it was powered off since, not by ferry") {
		t.Errorf("cutover plan:\n%s", b.String())
	}
}
