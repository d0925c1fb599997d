package steps

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/vim25/types"
)

// powerOnEvents are the events of the on-prem vCenter that say src was
// powered on since since, as its "Tasks and Events" would show them.
func powerOnEvents(t *testing.T, onprem *vsphere.Client, src vsphere.VM, since time.Time) []string {
	t.Helper()
	ref := src.Ref.Reference()
	begin := since.Add(-time.Second) // vcsim's clock and ours, one machine
	evs, err := event.NewManager(onprem.Client.Client).QueryEvents(context.Background(), types.EventFilterSpec{
		Entity:      &types.EventFilterSpecByEntity{Entity: ref, Recursion: types.EventFilterSpecRecursionOptionSelf},
		Time:        &types.EventFilterSpecByTime{BeginTime: &begin},
		EventTypeId: []string{"VmStartingEvent", "VmPoweredOnEvent"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if b := e.GetEvent(); !b.CreatedTime.Before(since) {
			out = append(out, b.CreatedTime.UTC().Format("15:04:05.000")+" "+b.FullFormattedMessage)
		}
	}
	return out
}

// TestRetryGoesOnFromTheSourceLeftOff (QA: the retry of a cutover killed
// after it shut the source down powered the source on, and 1.2s later, its
// guest not booted yet, shut it down again for a new window: in production
// a whole guest boot and shutdown more of downtime): confirmed again, the
// cutover goes on from the source still off. vCenter's events show no
// power-on of the source; the target runs in Cloud Director and the source
// stays off; the final pass read the source off; the report counts the
// outage from the first shutdown, apart from this attempt's window, and
// the state keeps nothing of it once the report holds it.
func TestRetryGoesOnFromTheSourceLeftOff(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	ctx := context.Background()
	off := env.interruptedShutdown("WebApp2")
	began := time.Now()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(ev Event) { lines = append(lines, ev.Message) }}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the cutover confirmed again: %v\n%s", err, strings.Join(lines, "\n"))
	}
	onprem, src := sourceVM(t, env, "WebApp2")
	if on := powerOnEvents(t, onprem, src, began); len(on) > 0 {
		t.Errorf("the retry powered the source on before cutting it over (vCenter events %q):\n%s", on, strings.Join(lines, "\n"))
	}
	if src.PoweredOn() {
		t.Error("the source runs after its cutover")
	}
	if st, ok := targetStatus(t, l, env); st != "POWERED_ON" || !ok {
		t.Errorf("target after the cutover: vCD %q, at the provider %v; want it running", st, ok)
	}
	var warned, shutdown, final bool
	for _, m := range lines {
		warned = warned || strings.HasPrefix(m, "WebApp2: the interrupted cutover shut the source down at "+off.UTC().Format("15:04:05")+" UTC and it is still powered off: the cutover goes on from there")
		shutdown = shutdown || m == "WebApp2: shutdown"
		final = final || (strings.HasPrefix(m, "WebApp2: final pass done") && strings.Contains(m, "the source read off, as the interrupted cutover left it at "+off.UTC().Format("15:04:05")))
	}
	if !warned || shutdown || !final {
		t.Errorf("lines of the retry: said it goes on from the source off %v, shut it down %v, final pass of the source off %v:\n%s", warned, shutdown, final, strings.Join(lines, "\n"))
	}
	md := reportOf(t, env)
	for _, want := range []string{
		"| WebApp2 | migrated |",
		"An earlier cutover was interrupted after it shut the source down: the source stayed powered off from " + clock(off) + " until this run went on with the cutover at ",
		": interrupted cutover) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if kept := env.keptEarlierOutages("WebApp2"); len(kept) != 0 {
		t.Errorf("outages still kept in the state after a report holds them: %+v", kept)
	}
	// Nothing projected for a window it did not have (QA: a wave of two
	// such VMs read "projected ~1m24s" beside its 4.0s).
	js, err := os.ReadFile(strings.TrimSuffix(env.State.Get("cutover").Outputs["report"], ".md") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "projected") {
		t.Errorf("the report projects a window the retry did not have:\n%s", js)
	}
}

// TestRetryFromTheSourceLeftOffRollsBack: an attempt that went on from the
// source an interrupted cutover left off and fails (the import refused)
// rolls back as any cutover does: the source runs again, nothing is left
// in Cloud Director nor at the provider, the replica is kept, and the
// report counts both parts of the outage.
func TestRetryFromTheSourceLeftOffRollsBack(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreateQuiet(t)
	ctx := context.Background()
	off := env.interruptedShutdown("WebApp2")
	l.VCD.Faults.Add(vcdsim.Fault{Method: "POST", Path: "importVmAsVApp", Status: 500, Message: "import refused by the lab"})
	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(Event) {}}
	_, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "import into vCD") || !strings.Contains(err.Error(), "rolled back: WebApp2 is running on-prem again") {
		t.Fatalf("the retry with the import refused: %v; want it rolled back, the source running", err)
	}
	checkRolledBack(t, l, env, nil)
	md := reportOf(t, env)
	for _, want := range []string{
		"| WebApp2 | rolled back |",
		"An earlier cutover was interrupted after it shut the source down: the source stayed powered off from " + clock(off) + " until this run went on with the cutover at ",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}
