package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Checks is step 7: connectivity probes between the VMs across the stretch
// (TCP, ICMP, or ping from inside a guest, as WebApp1 pinging WebApp2 in the
// walkthrough). Every probe must answer before a cutover: a probe that is
// already red would make the downtime measurement meaningless.
type Checks struct{}

// checkRounds is how many rounds of probes the step runs; each probe's
// last answer decides.
const checkRounds = 3

// ID implements Step.
func (*Checks) ID() string { return "checks" }

// Title implements Step.
func (*Checks) Title() string { return "Checks" }

// Fields implements Step.
func (*Checks) Fields() []Field { return nil }

// Plan implements Step.
func (s *Checks) Plan(ctx context.Context, env *Env) (Plan, error) {
	p := Plan{Step: s.ID()}
	targets, err := env.probeTargets(ctx)
	if err != nil {
		return p, err
	}
	if err := env.checkProbeVMs(ctx); err != nil {
		return p, err
	}
	// The probes of VMs are tried by VM selection (step 5, which asks
	// them); here those that name no VM.
	early, err := env.tryProbesNow(ctx, false)
	if err != nil {
		return p, err
	}
	for _, t := range targets {
		it := Item{Action: ActionCheck, Kind: "probe", Name: t.Name, Detail: t.Prober.String()}
		if e, ok := early[t.Name]; ok {
			it = e
		}
		p.Items = append(p.Items, it)
	}
	conflicts, err := env.onpremGuestItems(ctx)
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, conflicts...)
	return p, nil
}

// Apply implements Step.
func (s *Checks) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	targets, err := env.probeTargets(ctx)
	if err != nil {
		return Result{}, err
	}
	if len(targets) == 0 {
		emit(Warning("no probes in the plan (probes:): the cutover's downtime will not be measured"))
		return Result{}, env.checkedFor()
	}
	m := probe.NewMonitor(time.Second, targets...)
	for i := range checkRounds {
		m.Round(ctx, 2*time.Second)
		emit(Progress(fmt.Sprintf("probe round %d of %d", i+1, checkRounds), float64(i+1)/checkRounds))
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var bad []string
	off, err := env.offProbes(ctx)
	if err != nil {
		return Result{}, err
	}
	for _, st := range m.Stats() {
		line := fmt.Sprintf("%s: %d/%d answered", st.Target, st.Sent-st.Lost, st.Sent)
		if st.Last.OK {
			line += fmt.Sprintf(", %s", st.Last.Latency.Round(10*time.Microsecond))
		}
		if why, ok := off[st.Target]; ok && !st.Last.OK {
			line += "; not expected to answer before its cutover: " + why
		}
		emit(Progress(line, -1))
		if _, ok := off[st.Target]; !st.Last.OK && !ok {
			bad = append(bad, fmt.Sprintf("%s (%s)", st.Target, st.Last.Err))
		}
	}
	if len(bad) > 0 {
		hint := "check the VM, the stretch (step 4) and the probe addresses"
		if all := strings.Join(bad, "; "); strings.Contains(all, vsphere.ErrGuestLogin.Error()) {
			hint = "a guest refused the login of the guest pings: set the guest OS account they run as (" + guestLoginFrom + "), then run again; for the others, " + hint
		}
		return Result{}, fmt.Errorf("probes not answering: %s; %s", strings.Join(bad, "; "), hint)
	}
	return Result{}, env.checkedFor()
}

// checkedFor records the VMs the checks were run for: a VM added later
// (a second wave) makes the step run again before its cutover (Env.Stale).
func (e *Env) checkedFor() error {
	now, kv := time.Now().UTC().Format(time.RFC3339), map[string]string{}
	for _, vm := range e.Migrating() {
		kv[checkedKey(vm.Name)] = now
	}
	return e.State.SetOutputs("checks", kv)
}

func checkedKey(vm string) string { return "checked:" + vm }

// recordsChecked says whether the checks step's outputs record any VM
// checked (checkedFor); a ferry before checkedFor recorded none.
func recordsChecked(outputs map[string]string) bool {
	for k := range outputs {
		if strings.HasPrefix(k, checkedKey("")) {
			return true
		}
	}
	return false
}

// Verify implements Step.
func (s *Checks) Verify(ctx context.Context, env *Env) error {
	_, err := s.Apply(ctx, env, func(Event) {})
	return err
}

// checkProbeVMs refuses a probe whose vm: names no on-prem VM (a typo would
// otherwise leave the probe measuring no VM's downtime). The VMs of the
// plan are checked by VM selection; a probe may also watch a VM that is
// not migrated.
func (e *Env) checkProbeVMs(ctx context.Context) error {
	var want []string
	for _, p := range e.Plan().Probes {
		if p.VM != "" && !slices.ContainsFunc(e.Plan().VMs, func(v VMPlan) bool { return v.Name == p.VM }) {
			want = append(want, p.VM)
		}
	}
	if len(want) == 0 {
		return nil
	}
	c, err := e.OnPrem(ctx)
	if err != nil {
		return err
	}
	_, names, err := c.VMsNamed(ctx) // the names only
	if err != nil {
		return err
	}
	for i, p := range e.Plan().Probes {
		if p.VM != "" && slices.Contains(want, p.VM) && !slices.Contains(names, p.VM) {
			return fmt.Errorf("probe %q: vm %q is not a VM on the on-prem vCenter%s (VMs there: %s)", p.label(i), p.VM, nearname.Hint(p.VM, names), strings.Join(names, ", "))
		}
	}
	return nil
}

// onPremVMs lists the on-prem vCenter's VMs.
func (e *Env) onPremVMs(ctx context.Context) ([]vsphere.VM, error) {
	c, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	return c.VMs(ctx)
}

// probeTries is how often tryProbesNow tries a probe before it says the
// probe does not answer: a guest still booting gets a few seconds, as step
// 7's rounds give it.
const probeTries = 3

// tryProbesNow tries TCP probes of the plan now, before anything changes
// (the steps' plans are ferry run's preflight and ferry plan), so that a
// probe to a closed port or a wrong address is refused before steps 1 to 6
// do their work rather than found by step 7 after them (QA): those of VMs
// (named) by VM selection, step 5, which asks them (the wizard found them
// only at step 7, after replication), the others (!named) by the checks'
// plan. The items it returns are by probe name.
//
// Which probes: a TCP probe whose VMs (vm:, vms:) all run on-prem and are
// not cut over. Its address is the one the VM answers at now: a migrated VM
// keeps its source's MAC and address on the stretched network, so the
// probe measures the same address before and after the cutover, and a
// probe that does not answer while its VMs run is a wrong address or port,
// or a service that is down: a conflict naming the probe, the VM and what
// to fix. A probe that names no VM says nothing of whose address it is (it
// may be one that answers only through the stretch, once step 4 brings it
// up): one that does not answer is a note on its line, and step 7 decides.
// Probes of VMs cut over, off (cold), or not found are left to step 7 and
// checkProbeVMs. ICMP probes and guest pings are not tried here (an ICMP
// echo needs privileges the preflight does not ask for; a guest ping runs
// through VMware Tools, whose privileges the checks' plan checks).
func (e *Env) tryProbesNow(ctx context.Context, named bool) (map[string]Item, error) {
	var names []string
	for _, p := range e.Plan().Probes {
		if p.TCP != "" && named {
			names = append(names, p.deps()...)
		}
	}
	vms, err := e.onPremNamed(ctx, names)
	if err != nil {
		return nil, err
	}
	running := map[string]bool{} // by name: runs on-prem, not cut over
	for _, vm := range vms {
		running[vm.Name] = vm.PoweredOn() && e.VMPhase(vm.Name) != VMCutOver && e.VMPhase(vm.Name) != VMDecisionNeeded
	}
	out := map[string]Item{}
	for i, p := range e.Plan().Probes {
		if p.TCP == "" || p.check() != nil {
			continue
		}
		deps := p.deps()
		if named != (len(deps) > 0) || len(deps) > 0 && !all(deps, func(vm string) bool { return running[vm] }) {
			continue
		}
		pr := probe.TCP{Addr: p.TCP, Timeout: 2 * time.Second}
		err := tryProbe(ctx, pr)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		name := p.label(i)
		if len(deps) == 0 {
			out[name] = Item{Action: ActionCheck, Kind: "probe", Name: name, Detail: fmt.Sprintf("%s; does not answer now (%v): it names no VM (vm:), so it may be an address that answers only through the stretch, once step 4 is up; step 7 refuses it if it does not answer by then", pr, err)}
			continue
		}
		field := ""
		if _, ok := simpleProbe(p); ok {
			field = probesField().Key
		}
		vms := strings.Join(deps, ", ")
		out[name] = Item{Action: ActionConflict, Kind: "probe", Name: name, Field: field,
			Detail: fmt.Sprintf("%s does not answer (%v) while %s %s on-prem; the migrated VM keeps its source's address, so this probe must answer now, before anything is replicated, to measure the cutover's downtime: fix its host:port in the plan's probes: (the wizard's Service probes, step 5), or start the service on %s",
				pr, err, vms, runsVerb(len(deps)), vms)}
	}
	return out, nil
}

// tryProbe probes up to probeTries times, a second apart, until one answers.
func tryProbe(ctx context.Context, pr probe.Prober) error {
	var err error
	for i := range probeTries {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		if _, err = pr.Probe(ctx); err == nil {
			return nil
		}
	}
	return err
}

func runsVerb(n int) string {
	if n == 1 {
		return "runs"
	}
	return "run"
}

// all says whether f holds for every element of s.
func all[T any](s []T, f func(T) bool) bool {
	return !slices.ContainsFunc(s, func(v T) bool { return !f(v) })
}

// onPremNamed reads the on-prem VMs of those names that exist (no names:
// no call to vCenter).
func (e *Env) onPremNamed(ctx context.Context, names []string) ([]vsphere.VM, error) {
	if len(names) == 0 {
		return nil, nil
	}
	c, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	vms, _, err := c.VMsNamed(ctx, names...)
	return vms, err
}
