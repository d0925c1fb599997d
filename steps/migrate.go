package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/tlsconf"
	"github.com/ferry-migrate/ferry/vsphere"
)

// MigrationPlan holds the plan file's answers for steps 5 to 8 beyond the
// VM list: where the provider vCenter keeps the migrated VMs, which probes
// watch connectivity, and how the cutover behaves.
type MigrationPlan struct {
	// BandwidthMbit caps replication traffic, all VMs together, in megabits
	// per second of wire bytes (0: no cap).
	BandwidthMbit int          `yaml:"bandwidth_mbit,omitempty"`
	Provider      ProviderPlan `yaml:"provider,omitempty"`
	// Networks maps a source port group to the org VDC network its NICs
	// are connected to after the cutover. The stretched port group
	// (appliance.stretched_portgroup) maps to the VM's target network
	// unless listed here.
	Networks map[string]string `yaml:"networks,omitempty"`
	Probes   []ProbePlan       `yaml:"probes,omitempty"`
	Cutover  CutoverPlan       `yaml:"cutover,omitempty"`
	// TestMigration tunes test migrations (`ferry run --test-migrate`).
	TestMigration TestMigrationPlan `yaml:"test_migration,omitempty"`
	// VerifyEvery is the interval between full compares of each replica
	// with its source while the VM runs (default 24h, 1h to 720h).
	VerifyEvery string `yaml:"verify_every,omitempty"`
	// SnapshotReserve is the free space a replication pass needs on the
	// datastore of the source VM's snapshot deltas before it takes its
	// snapshot (a size, default 4GiB, 1GiB to 1TiB); a pass stops and
	// removes its snapshot when the free space falls below half of it.
	SnapshotReserve string `yaml:"snapshot_reserve,omitempty"`
	// ConcurrentPasses bounds how many VMs' replication passes run at once
	// while the VMs run (each takes a snapshot at the source and reads its
	// changes); default DefaultConcurrentPasses.
	ConcurrentPasses *int `yaml:"concurrent_passes,omitempty"`
}

// DefaultConcurrentPasses is how many replication passes run at once when
// the plan does not say (concurrent_passes, 1 to MaxConcurrentPasses): few
// enough that a source vCenter is not flooded with snapshots, enough that
// dozens of VMs hold a one-minute RPO.
const (
	DefaultConcurrentPasses = 4
	MaxConcurrentPasses     = 32
)

// concurrentPasses reads concurrent_passes, or its default.
func concurrentPasses(pf *PlanFile) (int, error) {
	if pf.ConcurrentPasses == nil {
		return DefaultConcurrentPasses, nil
	}
	if n := *pf.ConcurrentPasses; n < 1 || n > MaxConcurrentPasses {
		return 0, &FieldError{"concurrent_passes", fmt.Errorf("%d: want 1 to %d replication passes at once (default %d)", n, MaxConcurrentPasses, DefaultConcurrentPasses)}
	}
	return *pf.ConcurrentPasses, nil
}

// ProviderPlan is the placement of migrated VMs in the provider vCenter
// that backs the org VDC.
type ProviderPlan struct {
	Datacenter   string `yaml:"datacenter,omitempty"`
	ResourcePool string `yaml:"resource_pool,omitempty"`
	Datastore    string `yaml:"datastore,omitempty"` // where the provider vCenter creates the replica disks
	// ReceiverKind is how the receiver reaches the replica disks:
	// "appliance" (default: hot-added to ReceiverVM) or "nfs".
	ReceiverKind string `yaml:"receiver_kind,omitempty"`
	// ReceiverVM is the receiver appliance: the provider VM that runs
	// `ferry receiver` and to which ferry hot-adds the replica disks.
	ReceiverVM string `yaml:"receiver_vm,omitempty"`
	// Network is the provider port group that backs the stretched org VDC network.
	Network string `yaml:"network,omitempty"`
}

// ProbePlan is one connectivity probe. Exactly one of TCP, ICMP, or From+To.
type ProbePlan struct {
	Name string `yaml:"name"`
	// VM is the migrated VM this probe watches (its outage is that VM's downtime).
	VM string `yaml:"vm,omitempty"`
	// VMs are further VMs the probe depends on (a web tier and its
	// database): cut over in one wave, the probe is judged once all of them
	// are up, not when the first one is.
	VMs  []string `yaml:"vms,omitempty"`
	TCP  string   `yaml:"tcp,omitempty"`  // host:port
	ICMP string   `yaml:"icmp,omitempty"` // host
	// From / To: ping from inside the guest From (VMware Tools) to address To.
	// The guest login comes from FERRY_GUEST_USER / FERRY_GUEST_PASSWORD.
	From string `yaml:"from,omitempty"`
	To   string `yaml:"to,omitempty"`
}

// label is the probe's name, or "probe N" (1-based) for an unnamed one:
// the name its results and outages go by.
func (p ProbePlan) label(i int) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprintf("probe %d", i+1)
}

// CutoverPlan tunes the cutover.
type CutoverPlan struct {
	ShutdownTimeout string `yaml:"shutdown_timeout,omitempty"` // default 2m
	HardPowerOff    *bool  `yaml:"hard_power_off,omitempty"`   // after the timeout; default true
	ProbeInterval   string `yaml:"probe_interval,omitempty"`   // default 250ms
	GreenTimeout    string `yaml:"green_timeout,omitempty"`    // probes must answer within; default 3m
	// FullVerify hashes whole disks on both sides inside the downtime
	// window instead of the final pass's blocks and the digest-map roots
	// (default false).
	FullVerify *bool `yaml:"full_verify,omitempty"`

	// Parallel bounds how many VMs of one wave (the VMs confirmed
	// together) are cut over at once; default DefaultCutoverParallel.
	Parallel *int `yaml:"parallel,omitempty"`
}

// hardPowerOff says whether a guest that does not shut down within the
// timeout is powered off hard (hard_power_off, default true).
func (cp CutoverPlan) hardPowerOff() bool { return cp.HardPowerOff == nil || *cp.HardPowerOff }

// DefaultCutoverParallel is how many VMs of a wave are cut over at once
// when the plan does not say (cutover.parallel); MaxCutoverParallel bounds it.
const (
	DefaultCutoverParallel = 4
	MaxCutoverParallel     = 32
)

// cutoverParallel reads cutover.parallel, or its default.
func cutoverParallel(cp CutoverPlan) (int, error) {
	if cp.Parallel == nil {
		return DefaultCutoverParallel, nil
	}
	if n := *cp.Parallel; n < 1 || n > MaxCutoverParallel {
		return 0, &FieldError{"cutover.parallel", fmt.Errorf("%d: want 1 to %d VMs cut over at once (default %d; 1 cuts a wave over one VM after the other)", n, MaxCutoverParallel, DefaultCutoverParallel)}
	}
	return *cp.Parallel, nil
}

// deps are the VMs a probe depends on: its vm, the guest a guest ping runs
// in (from), and vms.
func (p ProbePlan) deps() []string {
	var out []string
	// A guest ping runs inside From: it answers only while From does.
	for _, n := range append([]string{p.VM, p.From}, p.VMs...) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// probesOf are the probes that watch vm alone in its cutover: those whose
// only VM (vm:, vms:, from:) it is. A VM no probe names, not even with
// others, is watched by the probes that name no VM. Probes naming several
// VMs are the wave's (Env.waveProbes): shared says one of them names vm.
func (pf *PlanFile) probesOf(vm string) (own []string, shared bool) {
	var untagged []string
	for i, p := range pf.Probes {
		name := p.label(i)
		deps := p.deps()
		switch {
		case len(deps) == 0:
			untagged = append(untagged, name)
		case len(deps) == 1 && deps[0] == vm:
			own = append(own, name)
		case slices.Contains(deps, vm):
			shared = true
		}
	}
	if len(own) > 0 || shared {
		return own, shared
	}
	return untagged, false
}

// Why no probe watches a VM in its cutover, not even with others
// (PlanFile.unwatched).
const (
	unwatchedVM   = "no probe watches this VM"
	unwatchedPlan = "no probes in the plan"
)

// unwatched says why no probe of the plan watches vm in its cutover, not
// even with other VMs ("" when one does): the cutover's "probes green"
// then waits for none, and its report measures the downtime from the
// shutdown to the power-on (VMReport.Unwatched).
func (pf *PlanFile) unwatched(vm string) string {
	switch own, shared := pf.probesOf(vm); {
	case len(own) > 0 || shared:
		return ""
	case len(pf.Probes) > 0:
		return unwatchedVM
	}
	return unwatchedPlan
}

// PlanVMProbes are the names of the plan's probes that watch a VM of the
// plan: those that name it (vm:, vms:, from:), and, when a VM of the plan is
// named by no probe, the probes that name no VM (they watch it in its
// cutover, as vmCutover.probeNames has it). Screens list these first.
func (pf *PlanFile) PlanVMProbes() map[string]bool {
	out := map[string]bool{}
	named := map[string]bool{}
	for i, p := range pf.Probes {
		for _, d := range p.deps() {
			named[d] = true
			if slices.ContainsFunc(pf.VMs, func(v VMPlan) bool { return v.Name == d }) {
				out[p.label(i)] = true
			}
		}
	}
	if !slices.ContainsFunc(pf.VMs, func(v VMPlan) bool { return !named[v.Name] }) {
		return out
	}
	for i, p := range pf.Probes {
		if len(p.deps()) == 0 {
			out[p.label(i)] = true
		}
	}
	return out
}

func durationOr(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q is not valid: want a positive duration such as %s (the default)", s, def)
	}
	return d, nil
}

// migration is what steps 5 to 8 share within one process: the sender's
// replication state store, opened once (bbolt locks it), and the bandwidth
// limiter.
type migration struct {
	store   session.Store
	mu      sync.Mutex
	limiter *replication.Bandwidth // shared by every job of the session
}

// maxBandwidthMbit bounds bandwidth_mbit (400 Gbit/s).
const maxBandwidthMbit = 400_000

func bandwidthErr(mbit int) error {
	return fmt.Errorf("%d: want 1 to %d megabits per second, or 0 for no cap", mbit, maxBandwidthMbit)
}

// limiter is the session's one bandwidth limiter (nil: no cap).
func (e *Env) limiter() (*replication.Bandwidth, error) {
	mbit := e.Plan().BandwidthMbit
	if mbit == 0 {
		return nil, nil
	}
	if mbit < 0 || mbit > maxBandwidthMbit {
		return nil, fmt.Errorf("bandwidth_mbit %w", bandwidthErr(mbit))
	}
	e.mig.mu.Lock()
	defer e.mig.mu.Unlock()
	if e.mig.limiter == nil {
		bytes := float64(mbit) * 1e6 / 8
		// A tenth of a second of the cap at once (at least 64 KiB): with
		// a 1 MiB burst, a 1 Mbit/s cap let an 8-second burst through at
		// line rate, so a small pass after a pause was not capped at all.
		e.mig.limiter = replication.NewBandwidth(bytes, max(64<<10, int(bytes/10)))
	}
	return e.mig.limiter, nil
}

// storeFiles are the files the plan's replication store is placed by and
// bound to (none for an in-memory state).
func (e *Env) storeFiles() session.StoreFiles {
	if e.State == nil {
		return session.StoreFiles{}
	}
	return session.StoreFiles{Plan: e.State.Plan, State: e.State.Path()}
}

// CheckReplicationStore says, without opening the store for writing or
// waiting for a process that holds it, whether the plan's replication store
// belongs to another state file (session.ErrStoreOwned; ferry plan's check:
// it changes nothing).
func (e *Env) CheckReplicationStore() error {
	return session.CheckStore(e.storeFiles())
}

// OpenReplicationStore opens the plan's replication store now (the commands
// that replicate call it before their first change, so a store that belongs
// to another state file, or that another ferry holds, stops them early).
func (e *Env) OpenReplicationStore() error {
	_, err := e.replicationStore()
	return err
}

// readReplicationStore is the plan's store for a reader that must neither
// change it nor wait for its holder (ferry plan, ferry status); nil while
// the plan has no store. done releases it.
func (e *Env) readReplicationStore() (st *replication.StateStore, done func(), err error) {
	st, done, err = e.mig.store.Read(e.storeFiles())
	if errors.Is(err, replication.ErrStoreBusy) {
		// Say who: the state lock names the process.
		who := "a running ferry (a wizard or run of this plan)"
		if pid := StateHolder(e.State.Path()); pid > 0 {
			who = fmt.Sprintf("ferry process %d (a wizard or run of this plan)", pid)
		}
		err = fmt.Errorf("replication data is held by %s: %w", who, err)
	}
	return st, done, err
}

// replicationStore is the plan's sender-side replication store, opened on
// first use and bound to this state file (session.Store.Open).
func (e *Env) replicationStore() (*replication.StateStore, error) {
	return e.mig.store.Open(e.storeFiles(), e.Log)
}

// receiverTLS is the sender's mutual-TLS configuration for the receiver.
func receiverTLS(ep config.Endpoint) (*tls.Config, error) {
	if ep.URL == "" {
		return nil, errors.New("no replication receiver configured (set FERRY_RECEIVER_ADDR, or receiver.url in the config; start one with `ferry receiver`)")
	}
	if ep.CertFile == "" || ep.KeyFile == "" {
		return nil, fmt.Errorf("replication receiver %s: a client certificate is needed for mutual TLS (FERRY_RECEIVER_CERT, FERRY_RECEIVER_KEY)", ep.URL)
	}
	cert, err := tls.LoadX509KeyPair(ep.CertFile, ep.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("replication client certificate: %w", err)
	}
	host, _, err := net.SplitHostPort(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("replication receiver address %q: want host:port", ep.URL)
	}
	if ep.Pin != "" {
		return replication.PinnedClientTLS(cert, ep.Pin), nil
	}
	if ep.CAFile == "" {
		return nil, fmt.Errorf("replication receiver %s: trust it by its CA (ca_file / FERRY_CA_FILE) or by its certificate's fingerprint (pin / FERRY_RECEIVER_PIN, printed by ferry receiver)", ep.URL)
	}
	pool, err := tlsconf.Pool(ep.CAFile)
	if err != nil {
		return nil, fmt.Errorf("replication receiver %s: %w", ep.URL, err)
	}
	return replication.CATLS(cert, pool, false, host), nil
}

// job builds the replication job of one source VM.
func (e *Env) job(ctx context.Context, vmName string, events func(replication.Event)) (*replication.Job, vsphere.VM, error) {
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return nil, vsphere.VM{}, err
	}
	vm, err := onprem.VMByName(ctx, vmName)
	if err != nil {
		return nil, vsphere.VM{}, err
	}
	tlsCfg, err := receiverTLS(e.Config.Receiver)
	if err != nil {
		return nil, vm, err
	}
	store, err := e.replicationStore()
	if err != nil {
		return nil, vm, err
	}
	limiter, err := e.limiter()
	if err != nil {
		return nil, vm, err
	}
	reserve, err := snapshotReserve(e.Plan())
	if err != nil {
		return nil, vm, err
	}
	src := replication.NewVSphereSource(onprem.Client.Client, vm.Ref.Reference())
	src.SnapshotReserve = reserve
	// The source's warnings (reads through vCenter's proxy, a VM paused
	// on a question) go where the job's events go when they come: a
	// scheduler that takes the job (warm replication) gives it its own
	// (found: the wizard's jobs, built without events, sent them to the
	// log file only).
	var job *replication.Job
	src.Warn = func(msg string) {
		if job == nil || job.Events == nil {
			slog.Warn(msg) // no one listens: the log has it
			return
		}
		job.Events(replication.Event{Time: time.Now(), VM: vmName, Kind: replication.EventWarning, Msg: msg})
	}
	// The provider vCenter creates the replica disks; the receiver
	// appliance gets them hot-added.
	kind, replicas, added, err := e.followDisks(ctx, vm)
	if err != nil {
		return nil, vm, fmt.Errorf("%s: replica disks: %w", vmName, err)
	}
	for _, d := range added {
		if events != nil {
			events(replication.Event{Time: time.Now(), VM: vmName, Kind: replication.EventWarning,
				Msg: fmt.Sprintf("%s (%s, %s) was added to the source after VM selection: it is replicated, and the target gets it too", d.Label, d.File, Bytes(d.Capacity))})
		}
	}
	job = &replication.Job{
		VM:        vmName,
		Org:       e.Plan().Org,
		Kind:      kind,
		Replicas:  replicas,
		Limiter:   limiter,
		Source:    src,
		Addr:      e.Config.Receiver.URL,
		TLS:       tlsCfg,
		State:     store,
		Events:    events,
		Grow:      e.growReplica(vmName),
		AddDisks:  e.addReplicaDisks(vmName),
		Reattach:  e.reattachAll(vmName),
		Room:      e.replicaRoom(kind),
		RoomEvery: roomEvery,
	}
	return job, vm, nil
}

// resumedText says how much of a pass an earlier attempt made durable
// ("" when nothing): a resumed pass does not start again from 0%.
func resumedText(n int64) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" (resumed: %s were durable already)", Bytes(n))
}

// plannedText says what a pass planned: all of it, and, for a resumed
// pass, how much of it an earlier attempt made durable (read back and
// checked, not sent again), so a pass resumed with everything durable does
// not read "0 B planned".
func plannedText(c replication.Counters) string {
	if c.Resumed <= 0 {
		return Bytes(c.Planned) + " planned"
	}
	again := "not sent again"
	if c.Resent > 0 {
		// The check found blocks that read back otherwise (a replica
		// changed behind ferry's back, a write lost): those were sent.
		again = fmt.Sprintf("not sent again but for %d block(s) the check found differing, sent again", c.Resent)
	}
	return fmt.Sprintf("%s planned (resumed: %s of it durable before the interruption, checked and %s; %s to send now)",
		Bytes(c.Resumed+c.Planned), Bytes(c.Resumed), again, Bytes(c.Planned))
}

// progressText is a transfer's progress line and its fraction (-1:
// unknown). While a resumed pass reads back and checks what an earlier
// attempt made durable, nothing is acknowledged yet: the line says that,
// without a rate of 0 B/s and an ETA of 0s.
func progressText(vm string, ev replication.Event) (string, float64) {
	return progressTextWith(vm, ev, passETA)
}

// passETA is the ETA clause of a progress line: the pass's own.
func passETA(ev replication.Event) string {
	return fmt.Sprintf(", ETA %s", ev.ETA.Round(time.Second))
}

// progressTextWith is progressText with the line's ETA clause eta's (step
// 6 says the step's while several VMs' passes run: stepProgress).
func progressTextWith(vm string, ev replication.Event, eta func(replication.Event) string) (string, float64) {
	frac := -1.0
	if total := ev.Resumed + ev.Planned; total > 0 {
		frac = min(float64(ev.Resumed+ev.Acked)/float64(total), 1)
	}
	if ev.Resumed > 0 && ev.Acked == 0 {
		left := "nothing left to send"
		if ev.Planned > 0 {
			left = "then " + Bytes(ev.Planned) + " to send"
		}
		return fmt.Sprintf("%s: resumed: checking the %s an earlier attempt made durable (not sent again); %s", vm, Bytes(ev.Resumed), left), frac
	}
	if ev.Acked == 0 && ev.Resumed == 0 {
		// A pass that begins: no rate measured, no ETA to give (QA h-A:
		// "0 B/s, ETA 0s").
		return fmt.Sprintf("%s: 0 B of %s acknowledged, beginning (no rate yet)", vm, Bytes(ev.Planned)), frac
	}
	// The rate of the work done (a compare sends little of what
	// it covers), and what went on the wire when that differs.
	rate := Bytes(int64(ev.AckRate)) + "/s"
	if ev.Rate < ev.AckRate*0.9 {
		rate += fmt.Sprintf(" (%s/s sent)", Bytes(int64(ev.Rate)))
	}
	return fmt.Sprintf("%s: %s of %s acknowledged%s, %s%s", vm,
		Bytes(ev.Resumed+ev.Acked), Bytes(ev.Resumed+ev.Planned), resumedText(ev.Resumed), rate, eta(ev)), frac
}

// progressEmitter turns replication events into step progress events, at
// most a few per second, and not the same line twice in a row.
func progressEmitter(emit Emit, vm string) func(replication.Event) {
	return progressEmitterWith(emit, vm, passETA)
}

// progressEmitterWith is progressEmitter with the ETA clause of its
// progress lines eta's (progressTextWith).
func progressEmitterWith(emit Emit, vm string, eta func(replication.Event) string) func(replication.Event) {
	var mu sync.Mutex
	var last time.Time
	var lastText string
	// paused: the job was paused (by request, or held) and its pass
	// stopped; the step says so and how it goes on (QA: the stopped pass's
	// "replication job is paused" warning and its "idle" came after step
	// 6's "step 6 waits; resume ..." and replaced it).
	paused := false
	return func(ev replication.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Kind == replication.EventPaused && ev.Err == nil:
			paused = true
		case ev.Kind == replication.EventError && errors.Is(ev.Err, replication.ErrPaused):
			paused = true
			return
		case ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseIdle && paused:
			return
		case ev.Kind == replication.EventPhase, ev.Kind == replication.EventResumed:
			paused = false
		}
		switch ev.Kind {
		case replication.EventProgress:
			if time.Since(last) < 250*time.Millisecond {
				return
			}
			text, frac := progressTextWith(vm, ev, eta)
			if text == lastText {
				return
			}
			last, lastText = time.Now(), text
			emit(Progress(text, frac))
		case replication.EventPhase:
			label := string(ev.Phase)
			if ev.Msg != "" {
				label = ev.Msg // how the phase reads, e.g. a final pass's open
			}
			emit(Progress(fmt.Sprintf("%s: %s", vm, label), -1))
		case replication.EventRepaired, replication.EventCompared:
			emit(Progress(fmt.Sprintf("%s: %s", vm, ev.Msg), -1))
		case replication.EventRPOWarning, replication.EventError, replication.EventWarning:
			msg := ev.Msg
			if ev.Err != nil {
				msg = strings.TrimSpace(msg + " " + ev.Err.Error())
			}
			emit(Warning(AboutVM(vm, msg)))
		}
	}
}

// AboutVM is msg said of vm: "vm: msg", unless msg names vm first already
// (the source's warnings do, "VM WebApp2: reading disks through ...", "VM
// WebApp2 is paused: ...", for the log file, where nothing else names it;
// QA: "WebApp2: VM WebApp2: reading disks ..."), or as "vm: ..." (a failed
// pass's error, "WebApp6: pass: ..."; QA: "WebApp6: WebApp6: pass: ...").
func AboutVM(vm, msg string) string {
	if rest, ok := strings.CutPrefix(msg, "VM "+vm); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " ")) {
		return msg
	}
	if strings.HasPrefix(msg, vm+": ") {
		return msg
	}
	return vm + ": " + msg
}

// Bytes formats a byte count in IEC units, as ferry shows every size and
// amount of data (plan details, progress, reports, the TUI): 512 B, 16 MiB,
// 1.5 GiB (go-humanize: one decimal below 10, none above).
func Bytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// probeTargets builds the probes of the plan.
func (e *Env) probeTargets(ctx context.Context) ([]probe.Target, error) {
	var out []probe.Target
	var icmpPrivileged *bool
	for i, p := range e.Plan().Probes {
		name := p.label(i)
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("probe %q: %w", name, err)
		}
		switch {
		case p.TCP != "":
			out = append(out, probe.Target{Name: name, Prober: probe.TCP{Addr: p.TCP}})
		case p.ICMP != "":
			if icmpPrivileged == nil {
				priv, err := probe.CheckICMP()
				if err != nil {
					return nil, fmt.Errorf("probe %q: %w", name, err)
				}
				icmpPrivileged = &priv
			}
			out = append(out, probe.Target{Name: name, Prober: probe.ICMP{Host: p.ICMP, Privileged: *icmpPrivileged}})
		case p.From != "" && p.To != "":
			pr, err := e.GuestPing(ctx, p.From, p.To, e.movedVM(p.From))
			if err != nil {
				return nil, fmt.Errorf("probe %q: %w", name, err)
			}
			out = append(out, probe.Target{Name: name, Prober: pr})
		}
	}
	return out, nil
}

// movedVM finds vm where its cutover put it, for a guest probe that pings
// from it: its target in the provider vCenter (findTarget); not found for
// a VM the plan does not migrate. The plan is read when the probe looks,
// not when it is built: the wizard builds its probes once, and a VM added
// to the plan since may be cut over (QA: its guest ping went on pinging
// from the on-prem VM, powered off).
func (e *Env) movedVM(vm string) session.Moved {
	return func(ctx context.Context) (*vsphere.Client, vsphere.Ref, bool, error) {
		if !slices.ContainsFunc(e.Plan().VMs, func(v VMPlan) bool { return v.Name == vm }) {
			return nil, vsphere.Ref{}, false, nil
		}
		provider, err := e.ProviderVC(ctx)
		if err != nil {
			return nil, vsphere.Ref{}, false, err
		}
		ref, ok, err := e.findTarget(ctx, provider, vm)
		return provider, ref, ok, err
	}
}

// check says what is wrong with the probe's shape: exactly one of tcp
// (host:port), icmp, or from and to.
func (p ProbePlan) check() error {
	kinds := 0
	for _, set := range []bool{p.TCP != "", p.ICMP != "", p.From != "" || p.To != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		return errors.New("give one of tcp: host:port, icmp: host, or from: VM and to: address")
	case p.TCP != "":
		_, port, err := net.SplitHostPort(p.TCP)
		if err != nil || port == "" {
			return fmt.Errorf("tcp %q: want host:port, e.g. 172.16.10.12:80", p.TCP)
		}
		// A number past a port's range is a typo, refused with the answer
		// (QA hD: Service probes "WebApp2=127.16.10.12:444274201" was a
		// plan conflict saying the probe "does not answer (dial tcp:
		// address 444274201: invalid port)" and to start the service).
		// A name (e.g. "https") is left to the resolver, as net.Dial does.
		if n, err := strconv.ParseInt(port, 10, 64); (err == nil && (n < 1 || n > 65535)) || errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("tcp %q: port %s is not a TCP port (1 to 65535)", p.TCP, port)
		}
	case p.ICMP == "" && (p.From == "" || p.To == ""):
		return errors.New("a guest ping needs both from: (the VM to ping from) and to: (the address)")
	}
	return nil
}
