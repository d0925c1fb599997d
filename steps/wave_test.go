package steps

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// waveLab is migrationLab with vms in the plan, a TCP probe on each, and a
// probe that depends on the first two (a web tier and its database).
func waveLab(t *testing.T, vms ...string) (*lab.Lab, *Env) {
	t.Helper()
	l, env := migrationLab(t, vms[0])
	addr := map[string]string{}
	for _, r := range l.Reach.Plan() {
		addr[r.Name] = r.Addr
	}
	env.Plan().VMs, env.Plan().Probes = nil, nil
	for _, vm := range vms {
		env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: vm})
		env.Plan().Probes = append(env.Plan().Probes, ProbePlan{Name: "tcp " + vm, VM: vm, TCP: addr[vm]})
	}
	env.Plan().Probes = append(env.Plan().Probes, ProbePlan{Name: "shop", VM: vms[0], VMs: vms[1:2], TCP: addr[vms[0]]})
	env.Plan().ApplyDefaults(NewItinerary())
	if err := env.Plan().Validate(NewItinerary()); err != nil {
		t.Fatal(err)
	}
	return l, env
}

// lockedRunner is a runner of env's itinerary whose events, emitted from
// the wave's goroutines, lines returns one per line.
func lockedRunner(env *Env) (*Runner, func() []string) {
	var mu sync.Mutex
	var lines []string
	return &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error)
		}}, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(lines)
		}
}

// barrier holds each VM at the start of phase until all n VMs are there:
// only a parallel cutover gets through (serial ones time out and fail).
func barrier(t *testing.T, env *Env, phase string, n int) {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	env.phaseHook = func(vm, p string) {
		if p != phase {
			return
		}
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			t.Errorf("%s waited at %q for the other VMs of the wave: they are not cut over in parallel", vm, phase)
		}
	}
}

// TestWaveCutsOverInParallel (issue 12 item 5): three VMs confirmed
// together are cut over at once: every VM is shut down before any target is
// powered on, the report has a section per VM and the wave's total, and the
// probe that depends on two of them is judged once both are up.
func TestWaveCutsOverInParallel(t *testing.T) {
	t.Parallel()
	_, env := waveLab(t, "WebApp1", "WebApp2", "WebApp3")
	ctx := context.Background()
	r, lines := lockedRunner(env)
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	vms, err := ConfirmedVMs(env.Plan(), "WebApp1,WebApp2,WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs, r.Confirmed = vms, true
	barrier(t, env, "shutdown", 3)
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "" {
		t.Fatalf("wave: %+v %v\n%s", out, err, strings.Join(lines(), "\n"))
	}
	rep, md, err := env.LastCutoverReport()
	if err != nil || rep == nil {
		t.Fatalf("report: %v", err)
	}
	if len(rep.VMs) != 3 {
		t.Fatalf("report has %d VM sections, want 3", len(rep.VMs))
	}
	var lastOff, firstOn time.Time
	for _, v := range rep.VMs {
		if v.Outcome != "migrated" || v.SourceOff.IsZero() || v.TargetOn.IsZero() || v.ServiceBack.IsZero() {
			t.Fatalf("%s: %+v", v.VM, v)
		}
		if v.ProjectedDowntimeSeconds <= 0 || v.Projection == nil {
			t.Errorf("%s: no projected downtime beside the measured one", v.VM)
		}
		if v.SourceOff.After(lastOff) {
			lastOff = v.SourceOff
		}
		if firstOn.IsZero() || v.TargetOn.Before(firstOn) {
			firstOn = v.TargetOn
		}
	}
	// The windows overlap: all three were off before any came back.
	if !lastOff.Before(firstOn) {
		t.Errorf("last shutdown %s not before the first power-on %s: not in parallel", lastOff, firstOn)
	}
	// The wave's total: first shutdown to last service back.
	var first, last time.Time
	for _, v := range rep.VMs {
		if first.IsZero() || v.SourceOff.Before(first) {
			first = v.SourceOff
		}
		if v.ServiceBack.After(last) {
			last = v.ServiceBack
		}
	}
	for _, p := range rep.WaveProbes {
		if p.Green.After(last) {
			last = p.Green
		}
	}
	// (the report's times are wall clock, its figures monotonic: a
	// millisecond apart at most)
	// A wave of 3 under cutover.parallel 4: 3 at a time, as the run said
	// (QA: the report said 4).
	if want := last.Sub(first).Seconds(); rep.WaveDowntimeSeconds < want-0.001 || rep.WaveDowntimeSeconds > want+0.001 || rep.Parallel != 3 {
		t.Errorf("wave downtime %.3fs (parallel %d), want %.3fs (3 at a time)", rep.WaveDowntimeSeconds, rep.Parallel, want)
	}
	if rep.ProjectedWaveSeconds <= 0 {
		t.Error("no projected wave downtime")
	}
	// The probe on WebApp1 and WebApp2 was judged after both were up.
	if len(rep.WaveProbes) != 1 || rep.WaveProbes[0].Name != "shop" || rep.WaveProbes[0].Error != "" || rep.WaveProbes[0].Green.IsZero() {
		t.Fatalf("wave probes: %+v", rep.WaveProbes)
	}
	wp := rep.WaveProbes[0]
	for _, v := range rep.VMs[:2] {
		if wp.Since.Before(v.TargetOn) || wp.Green.Before(v.TargetOn) {
			t.Errorf("probe shop judged at %s (all up %s) before %s was up (%s)", wp.Green, wp.Since, v.VM, v.TargetOn)
		}
	}
	bb, _ := os.ReadFile(md)
	b := string(bb)
	t.Logf("report:\n%s", b)
	for _, want := range []string{"Wave of 3 VMs cut over in parallel", "| WebApp1 | migrated |", "| WebApp3 | migrated |", "## WebApp2 -> vApp WebApp2: migrated", "- shop (WebApp1, WebApp2): all up at", "Projected ~"} {
		if !strings.Contains(b, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Every line of a VM's progress names it.
	for _, l := range lines() {
		if strings.Contains(l, "progress cutover: ") && strings.Contains(l, "pass") && !strings.Contains(l, "WebApp") {
			t.Errorf("progress line without its VM: %s", l)
		}
	}
}

// TestWaveFailureRollsBackThatVMOnly: the final pass of WebApp2 fails in a
// wave of three: WebApp2 is rolled back and runs on-prem again, WebApp1 and
// WebApp3 are cut over all the same.
func TestWaveFailureRollsBackThatVMOnly(t *testing.T) {
	t.Parallel()
	l, env := waveLab(t, "WebApp1", "WebApp2", "WebApp3")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// WebApp2's final pass fails (matched by moref: the lab's VM
	// wrappers have no name for vcsim's ObjectName match).
	onprem, _ := env.OnPrem(ctx)
	web2, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	off := simulator.FaultFilterAll("runtime.powerState == poweredOff")
	l.OnPrem.Model.Service.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "QueryChangedDiskAreas", ObjectType: "*", ObjectName: "*", Probability: 1,
		InclusionPropertyFilter: func(h mo.Reference) bool { return h.Reference().Value == web2.Ref.Value && off(h) },
		FaultType:               simulator.FaultTypeGeneric, Message: "disk read error", Enabled: true})
	env.CutoverVMs, r.Confirmed = []string{"WebApp1", "WebApp2", "WebApp3"}, true
	barrier(t, env, "shutdown", 3)
	_, err = r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "WebApp2: final pass") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("wave error %v: want WebApp2's final pass, rolled back", err)
	}
	if strings.Contains(err.Error(), "WebApp1") || strings.Contains(err.Error(), "WebApp3") {
		t.Errorf("the others failed too: %v", err)
	}
	for vm, on := range map[string]bool{"WebApp1": false, "WebApp2": true, "WebApp3": false} {
		src, err := onprem.VMByName(ctx, vm)
		if err != nil {
			t.Fatal(err)
		}
		if src.PoweredOn() != on {
			t.Errorf("source %s powered on: %v, want %v", vm, src.PoweredOn(), on)
		}
	}
	rep, _, err := env.LastCutoverReport()
	if err != nil || rep == nil {
		t.Fatalf("report: %v", err)
	}
	got := map[string]string{}
	for _, v := range rep.VMs {
		got[v.VM] = v.Outcome
	}
	if want := "map[WebApp1:migrated WebApp2:rolled back WebApp3:migrated]"; fmt.Sprint(got) != want {
		t.Errorf("outcomes %v, want %s", got, want)
	}
	st := env.State.Get("cutover").Outputs
	if st[cutoverKey("WebApp1")] != cutoverDone || st[cutoverKey("WebApp3")] != cutoverDone || st[cutoverKey("WebApp2")] != cutoverRolledBack {
		t.Errorf("cutover states %v", st)
	}
	provider, _ := env.ProviderVC(ctx)
	if _, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Error("WebApp2's target left at the provider")
	}
	for _, vm := range []string{"WebApp1", "WebApp3"} {
		if st, err := tenantVDC(t, l).GetVAppByName(vm, true); err != nil {
			t.Errorf("vApp %s: %v", vm, err)
		} else if v, err := st.GetVMByName(vm, true); err != nil {
			t.Errorf("%s: %v", vm, err)
		} else if s, _ := v.GetStatus(); s != "POWERED_ON" {
			t.Errorf("%s in vCD is %s", vm, s)
		}
	}
	l.OnPrem.Model.Service.ClearFaultRules()
	env.phaseHook = nil
	checkReplicaResumes(t, l, env, "WebApp2")
}

// TestWaveIntoOneVApp: two VMs of a wave going into the same vApp go in one
// at a time (the import to the power-on): both end up in it, neither
// creates a second vApp nor finds the first half made.
func TestWaveIntoOneVApp(t *testing.T) {
	t.Parallel()
	l, env := waveLab(t, "WebApp2", "WebApp3")
	for i := range env.Plan().VMs {
		env.Plan().VMs[i].TargetVApp = "Shop"
	}
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs, r.Confirmed = []string{"WebApp2", "WebApp3"}, true
	barrier(t, env, "shutdown", 2)
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "" {
		t.Fatalf("wave: %+v %v", out, err)
	}
	vapp, err := tenantVDC(t, l).GetVAppByName("Shop", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"WebApp2", "WebApp3"} {
		if _, err := vapp.GetVMByName(name, true); err != nil {
			t.Errorf("vApp Shop: %s: %v", name, err)
		}
	}
}

// TestWaveRefusedPastTheStorageLimit (QA): a wave whose targets together
// take more of their storage policy's limit than it has left is refused
// before any source is shut down; each VM's own check before its shutdown
// saw room for itself, and the second import was refused after its
// shutdown. VM selection sums a VM naming the default policy ("*") with one
// naming none: the same policy.
func TestWaveRefusedPastTheStorageLimit(t *testing.T) {
	t.Parallel()
	l, env := waveLab(t, "WebApp1", "WebApp2")
	env.Plan().VMs[0].StorageProfile = "*" // the default, named
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Room for one 16 MiB VM, not two.
	if err := l.VCD.SetStoragePolicyLimit("*", 24); err != nil {
		t.Fatal(err)
	}
	if _, err := (&VMSelection{}).Plan(ctx, env); err == nil || !strings.Contains(err.Error(), "the disks of VMs WebApp1, WebApp2 take 32 MiB") {
		t.Errorf("VM selection past the limit: %v, want the two VMs summed", err)
	}
	items, err := env.CutoverReadiness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(items, func(it Item) bool {
		return it.Action == ActionConflict && it.Kind == "storage policy" && strings.Contains(it.Detail, "the targets of WebApp1, WebApp2")
	}) {
		t.Errorf("cutover readiness: %v, want the storage policy's limit as a conflict", items)
	}
	env.CutoverVMs, r.Confirmed = []string{"WebApp1", "WebApp2"}, true
	_, err = r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `storage policy "*" of VDC Company-VDC has 24 MiB left`) {
		t.Fatalf("wave past the storage limit: %v, want it refused before any shutdown", err)
	}
	onprem, _ := env.OnPrem(ctx)
	for _, vm := range []string{"WebApp1", "WebApp2"} {
		if src, err := onprem.VMByName(ctx, vm); err != nil || !src.PoweredOn() {
			t.Errorf("source %s after the refused wave: %v, want it running", vm, err)
		}
	}
	if imps := l.VCD.Imports(); len(imps) != 0 {
		t.Errorf("imports after the refused wave: %+v", imps)
	}
}

// TestWaveBeyondParallelPreparesMeanwhile: a wave larger than
// cutover.parallel (two VMs, one at a time) does not wait for the first
// VM's whole cutover before the second begins its checks and pre-cutover
// passes: those run while the first is in its downtime window; the second
// shuts down only once the first's window has ended.
func TestWaveBeyondParallelPreparesMeanwhile(t *testing.T) {
	t.Parallel()
	_, env := waveLab(t, "WebApp1", "WebApp2")
	one := 1
	env.Plan().Cutover.Parallel = &one
	ctx := context.Background()
	r, lines := lockedRunner(env)
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// The VM that goes first holds its window (at its final pass, the
	// source off) until the other has begun its pre-cutover passes.
	preparing := map[string]chan struct{}{"WebApp1": make(chan struct{}), "WebApp2": make(chan struct{})}
	other := map[string]string{"WebApp1": "WebApp2", "WebApp2": "WebApp1"}
	var mu sync.Mutex
	var first string
	env.phaseHook = func(vm, phase string) {
		switch phase {
		case "pre-cutover pass":
			mu.Lock()
			select {
			case <-preparing[vm]:
			default:
				close(preparing[vm])
			}
			mu.Unlock()
		case "final pass":
			mu.Lock()
			if first == "" {
				first = vm
			}
			isFirst := first == vm
			mu.Unlock()
			if !isFirst {
				return
			}
			select {
			case <-preparing[other[vm]]:
			case <-time.After(60 * time.Second):
				t.Errorf("%s's window went on with %s not yet preparing: the wave waited for the whole cutover", vm, other[vm])
			}
		}
	}
	env.CutoverVMs, r.Confirmed = []string{"WebApp1", "WebApp2"}, true
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "" {
		t.Fatalf("wave: %+v %v\n%s", out, err, strings.Join(lines(), "\n"))
	}
	rep, _, err := env.LastCutoverReport()
	if err != nil || rep == nil || len(rep.VMs) != 2 {
		t.Fatalf("report: %v %+v", err, rep)
	}
	byName := map[string]VMReport{}
	for _, v := range rep.VMs {
		if v.Outcome != "migrated" {
			t.Fatalf("%s: %s", v.VM, v.Outcome)
		}
		byName[v.VM] = v
	}
	a, b := byName[first], byName[other[first]]
	// cutover.parallel 1: the second window begins after the first ended.
	aEnd := a.Phases[len(a.Phases)-1].End
	if !b.SourceOff.After(aEnd) || !b.SourceOff.After(a.ServiceBack) {
		t.Errorf("%s shut down at %s, before %s's window ended (%s, service back %s): more than cutover.parallel at once",
			b.VM, b.SourceOff.Format(time.StampMilli), a.VM, aEnd.Format(time.StampMilli), a.ServiceBack.Format(time.StampMilli))
	}
	// The report shows it: the second VM's pre-cutover passes began while
	// the first was down.
	var prepared time.Time
	for _, p := range b.Phases {
		if p.Name == "pre-cutover pass" {
			prepared = p.Start
		}
		if p.Name == "catch-up pass" && (!strings.Contains(p.Detail, "waiting for a place among the wave's cutover.parallel windows") || !p.End.Before(b.SourceOff)) {
			t.Errorf("catch-up pass %+v: want one saying the wait, before the shutdown (%s)", p, b.SourceOff)
		}
	}
	if prepared.IsZero() || !prepared.Before(a.ServiceBack) || !prepared.After(a.SourceOff) {
		t.Errorf("%s's pre-cutover passes began at %s, want inside %s's window (%s to %s)", b.VM, prepared.Format(time.StampMilli), a.VM,
			a.SourceOff.Format(time.StampMilli), a.ServiceBack.Format(time.StampMilli))
	}
}

// waveLines runs the wave's cutover of vms, one at a time, and collects its
// lines; hook is the phase hook (given the lines so far and the context's
// cancel).
func waveLines(t *testing.T, vms []string, hook func(vm, phase string, said func(string) <-chan struct{}, cancel func())) (*Env, []string, error) {
	t.Helper()
	_, env := waveLab(t, vms...)
	one := 1
	env.Plan().Cutover.Parallel = &one
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var lines []string
	waits := map[string]chan struct{}{} // a line's start -> closed once said
	said := func(prefix string) <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if waits[prefix] == nil {
			waits[prefix] = make(chan struct{})
			for _, l := range lines {
				if strings.HasPrefix(l, prefix) {
					close(waits[prefix])
					break
				}
			}
		}
		return waits[prefix]
	}
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		line := ev.Message + ev.Error
		lines = append(lines, line)
		for prefix, ch := range waits {
			select {
			case <-ch:
			default:
				if strings.HasPrefix(line, prefix) {
					close(ch)
				}
			}
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	lines = nil
	mu.Unlock()
	env.phaseHook = func(vm, phase string) { hook(vm, phase, said, cancel) }
	env.CutoverVMs, r.Confirmed = vms, true
	_, err := r.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	return env, slices.Clone(lines), err
}

// before says whether a line beginning with first comes before one
// beginning with then.
func before(lines []string, first, then string) bool {
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, first) })
	j := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, then) })
	return i >= 0 && j >= 0 && i < j
}

// TestWaveSaysWhatItWaitsFor: in a wave larger than cutover.parallel, a VM
// that waits says so as it begins to wait, naming the VMs it waits for: for
// a place among the VMs preparing (given in the plan's order), then, ready
// to shut down, for a place among the downtime windows (QA: nothing was
// said until the wait ended, and the wizard showed the VM done with its
// pre-cutover pass, or its "waited 0.8s for the wave's other VMs" line
// timed up to the window's end).
func TestWaveSaysWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	const windowWait = "WebApp2: ready to shut down; waiting for a place among the wave's cutover.parallel windows (1 at a time): WebApp1 is in its window"
	_, lines, err := waveLines(t, []string{"WebApp1", "WebApp2"}, func(vm, phase string, said func(string) <-chan struct{}, _ func()) {
		// WebApp1 stays in its window until WebApp2 said it waits for it.
		if vm == "WebApp1" && phase == "final pass" {
			select {
			case <-said(windowWait):
			case <-time.After(60 * time.Second):
				t.Errorf("WebApp1 in its window, WebApp2 never said it waits for it: %q", windowWait)
			}
		}
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	for _, o := range [][2]string{
		{"WebApp2: waiting to prepare: the wave's VMs do their checks and pre-cutover passes 1 at a time (cutover.parallel); WebApp1 now", "WebApp1: shutdown"},
		{"WebApp1: pre-cutover pass", "WebApp2: pre-cutover pass"},
		{"WebApp2: waited ", "WebApp2: pre-cutover pass"},
		{"WebApp2: pre-cutover pass done", windowWait},
		{windowWait, "WebApp2: shutdown"},
		{"WebApp1: probes green", "WebApp2: shutdown"},
	} {
		if !before(lines, o[0], o[1]) {
			t.Errorf("want %q, then %q; lines:\n%s", o[0], o[1], strings.Join(lines, "\n"))
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "WebApp1: waiting") {
			t.Errorf("WebApp1, first in the plan, waited: %q", l)
		}
	}
}

// TestWaveStoppedWhileVMsWait: a wave stopped (Ctrl-C) while its first VM
// is in its window, the next waits for its window and the last to prepare:
// the last is reported "not started", kept running, with a sentence saying
// so (QA: "WebApp4: context canceled" and a report section with no outcome:
// "4 rolled back, 1 ;"); the one that waited for its window kept running
// too; and the wave's downtime runs to the last service back, past the
// rolled-back VM's probes answering again, not to its source's power-on
// (QA: 1.6 s for a wave whose VM was down 5.0 s).
func TestWaveStoppedWhileVMsWait(t *testing.T) {
	t.Parallel()
	env, lines, err := waveLines(t, []string{"WebApp1", "WebApp2", "WebApp3"}, func(vm, phase string, said func(string) <-chan struct{}, cancel func()) {
		if vm == "WebApp1" && phase == "final pass" {
			select {
			case <-said("WebApp2: ready to shut down; waiting for a place"):
			case <-time.After(60 * time.Second):
				t.Errorf("WebApp2 never waited for its window")
			}
			cancel()
		}
	})
	if err == nil {
		t.Fatalf("a stopped wave went through:\n%s", strings.Join(lines, "\n"))
	}
	if strings.Contains(err.Error(), "WebApp3: context canceled") || !strings.Contains(err.Error(), "WebApp3: stopped while waiting to prepare (context canceled): not started, it keeps running on-prem") {
		t.Errorf("error for WebApp3 that never began: want it said stopped while waiting to prepare, not started; got %v", err)
	}
	rep, md, rerr := env.LastCutoverReport()
	if rerr != nil || rep == nil {
		t.Fatalf("report: %v", rerr)
	}
	text, _ := os.ReadFile(md)
	by := map[string]VMReport{}
	for _, v := range rep.VMs {
		by[v.VM] = v
	}
	if v := by["WebApp3"]; v.Outcome != "not started" || !strings.Contains(string(text), "## WebApp3 -> vApp WebApp3: not started\n") {
		t.Errorf("WebApp3's outcome %q; want not started, its section saying so:\n%s", v.Outcome, text)
	}
	if !strings.Contains(string(text), ": 1 rolled back, 1 stopped before the shutdown, 1 not started;") {
		t.Errorf("the wave's outcomes; want 1 rolled back, 1 stopped before the shutdown, 1 not started:\n%s", text)
	}
	a := by["WebApp1"]
	if a.Outcome != "rolled back" || a.SourceOff.IsZero() || a.ServiceBack.IsZero() {
		t.Fatalf("WebApp1: %+v; want rolled back, its probes answering again", a)
	}
	if rep.LastServiceBack.Before(a.ServiceBack) || rep.WaveDowntimeSeconds < a.ServiceBack.Sub(a.SourceOff).Seconds()-1e-6 {
		t.Errorf("wave downtime %.3fs to %s; WebApp1 alone was down from %s to its service back %s (source on again %s)", rep.WaveDowntimeSeconds,
			rep.LastServiceBack.Format(time.StampMilli), a.SourceOff.Format(time.StampMilli), a.ServiceBack.Format(time.StampMilli), a.SourceBackOn.Format(time.StampMilli))
	}
	ctx := context.Background()
	onprem, _ := env.OnPrem(ctx)
	for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
		if src, err := onprem.VMByName(ctx, vm); err != nil || !src.PoweredOn() {
			t.Errorf("%s on-prem after the stop: %v %+v; want it running", vm, err, src)
		}
	}
	if v := by["WebApp2"]; !v.SourceOff.IsZero() || v.Outcome != "stopped before the shutdown" || !strings.Contains(v.Error, "kept running on-prem") {
		t.Errorf("WebApp2, stopped while waiting for its window: %+v; want never shut down, saying it kept running", v)
	}
}
