package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/time/rate"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/replication"
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
	// VerifyEvery is the interval between full compares of each replica
	// with its source while the VM runs (default 24h, 1h to 720h).
	VerifyEvery string `yaml:"verify_every,omitempty"`
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

// deps are the VMs a probe depends on: its vm and vms.
func (p ProbePlan) deps() []string {
	var out []string
	for _, n := range append([]string{p.VM}, p.VMs...) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
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
		return 0, fmt.Errorf("duration %q is not valid: want e.g. 30s, 2m", s)
	}
	return d, nil
}

// migration is what steps 5 to 8 share within one process: the sender's
// replication state store, opened once (bbolt locks it).
type migration struct {
	mu      sync.Mutex
	store   *replication.StateStore
	bound   bool          // the store's owner is this state file
	limiter *rate.Limiter // shared by every job of the session
}

// limiter is the session's one bandwidth limiter (nil: no cap).
func (e *Env) limiter() (*rate.Limiter, error) {
	mbit := e.Plan.BandwidthMbit
	if mbit == 0 {
		return nil, nil
	}
	if mbit < 0 || mbit > 400_000 {
		return nil, fmt.Errorf("bandwidth_mbit %d: want 1 to 400000 megabits per second, or 0 for no cap", mbit)
	}
	e.mig.mu.Lock()
	defer e.mig.mu.Unlock()
	if e.mig.limiter == nil {
		bytes := float64(mbit) * 1e6 / 8
		e.mig.limiter = rate.NewLimiter(rate.Limit(bytes), 1<<20)
	}
	return e.mig.limiter, nil
}

// ReplicationStorePath is a plan's one replication store: beside the plan
// file and named after it (plan.yaml -> plan.replication.db), whatever the
// state file is called, so every command given the plan finds the same
// replication history.
func ReplicationStorePath(plan string) string {
	return strings.TrimSuffix(plan, filepath.Ext(plan)) + ".replication.db"
}

// replicationStorePath is where this Env's store lives: the plan's store
// when the state knows its plan; beside the state file otherwise (a state
// without a plan, as the benchmarks use); "" for an in-memory state.
func (e *Env) replicationStorePath() string {
	switch {
	case e.State == nil || e.State.Path() == "":
		return ""
	case e.State.Plan != "":
		return ReplicationStorePath(e.State.Plan)
	}
	return e.State.Path() + ".replication.db"
}

// ErrStoreOwned is wrapped by the error returned when the plan's replication
// store belongs to another state file.
var ErrStoreOwned = errors.New("the plan's replication store belongs to another state file")

// checkStoreOwner refuses a store bound to another state file than ours.
func (e *Env) checkStoreOwner(path, owner string) error {
	if owner == "" || owner == e.stateAbs() {
		return nil
	}
	return fmt.Errorf("%w: plan %s keeps its replication history in %s with state file %s, not %s; "+
		"one plan has one replication history: use --state %s (or, to start this plan over, move both files aside)",
		ErrStoreOwned, e.State.Plan, path, owner, e.stateAbs(), owner)
}

func (e *Env) stateAbs() string {
	abs, err := filepath.Abs(e.State.Path())
	if err != nil {
		return e.State.Path()
	}
	return abs
}

// CheckReplicationStore says, without opening the store for writing or
// waiting for a process that holds it, whether the plan's replication store
// belongs to another state file (ferry plan's check: it changes nothing).
func (e *Env) CheckReplicationStore() error {
	path := e.replicationStorePath()
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil // no replication yet
	}
	owner, err := replication.ReadOwner(path, 200*time.Millisecond)
	if errors.Is(err, replication.ErrStoreBusy) {
		return nil // its holder runs this plan and checked it when it opened it
	}
	if err != nil {
		return err
	}
	return e.checkStoreOwner(path, owner)
}

// OpenReplicationStore opens the plan's replication store now (the commands
// that replicate call it before their first change, so a store that belongs
// to another state file, or that another ferry holds, stops them early).
func (e *Env) OpenReplicationStore() error {
	_, err := e.replicationStore()
	return err
}

// readReplicationStore is the plan's store for a reader that must neither
// change it nor wait for its holder (ferry plan, ferry status): this Env's
// own store when it has it open, else a read-only view; nil while the plan
// has no store. done releases it.
func (e *Env) readReplicationStore() (st *replication.StateStore, done func(), err error) {
	done = func() {}
	e.mig.mu.Lock()
	own := e.mig.store
	e.mig.mu.Unlock()
	if own != nil {
		return own, done, nil
	}
	path := e.replicationStorePath()
	if path == "" {
		return nil, done, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, done, nil
	}
	st, err = replication.OpenStateReadOnly(path, 300*time.Millisecond)
	if err != nil {
		return nil, done, err
	}
	owner, err := st.Owner()
	if err == nil {
		err = e.checkStoreOwner(path, owner)
	}
	if err != nil {
		st.Close()
		return nil, done, err
	}
	return st, func() { st.Close() }, nil
}

// replicationStore opens the plan's sender-side replication store (or one
// in a temporary directory for an in-memory state), checks that it belongs
// to this state file and, once the state file exists, binds it to it.
func (e *Env) replicationStore() (*replication.StateStore, error) {
	e.mig.mu.Lock()
	defer e.mig.mu.Unlock()
	if e.mig.store == nil {
		st, err := e.openReplicationStore()
		if err != nil {
			return nil, err
		}
		e.mig.store = st
	}
	if err := e.bindStore(); err != nil {
		return nil, err
	}
	return e.mig.store, nil
}

func (e *Env) openReplicationStore() (*replication.StateStore, error) {
	path := e.replicationStorePath()
	if path == "" {
		dir, err := os.MkdirTemp("", "ferry-replication-")
		if err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "replication.db")
	} else if legacy := e.State.Path() + ".replication.db"; legacy != path {
		// ferry before one-store-per-plan kept it beside the state file:
		// adopt that history rather than start a second one.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(legacy); err == nil {
				if err := os.Rename(legacy, path); err != nil {
					return nil, fmt.Errorf("move replication store %s to %s: %w", legacy, path, err)
				}
				e.Log.Info("replication store moved beside the plan", "from", legacy, "to", path)
			}
		}
	}
	st, err := replication.OpenState(path)
	if err != nil {
		return nil, fmt.Errorf("replication state %s: %w", path, err)
	}
	owner, err := st.Owner()
	if err == nil && e.State != nil && e.State.Path() != "" {
		err = e.checkStoreOwner(path, owner)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// bindStore records the state file as the store's owner once the state
// file exists (ferry status, which writes nothing, never binds a new one).
func (e *Env) bindStore() error {
	if e.mig.bound || e.State == nil || e.State.Path() == "" {
		return nil
	}
	if _, err := os.Stat(e.State.Path()); err != nil {
		return nil
	}
	owner, err := e.mig.store.Owner()
	if err != nil {
		return err
	}
	if owner == "" {
		if err := e.mig.store.SetOwner(e.stateAbs()); err != nil {
			return err
		}
	}
	e.mig.bound = true
	return nil
}

func (e *Env) closeMigration() {
	e.mig.mu.Lock()
	defer e.mig.mu.Unlock()
	if e.mig.store != nil {
		_ = e.mig.store.Close()
		e.mig.store, e.mig.bound = nil, false
	}
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
	src := replication.NewVSphereSource(onprem.Client.Client, vm.Ref.Reference())
	if events != nil {
		src.Warn = func(msg string) {
			events(replication.Event{Time: time.Now(), VM: vmName, Kind: replication.EventWarning, Msg: msg})
		}
	}
	// The provider vCenter creates the replica disks; the receiver
	// appliance gets them hot-added.
	kind, replicas, err := e.prepareReplicas(ctx, vm)
	if err != nil {
		return nil, vm, fmt.Errorf("%s: replica disks: %w", vmName, err)
	}
	return &replication.Job{
		VM:       vmName,
		Org:      e.Plan.Org,
		Kind:     kind,
		Replicas: replicas,
		Limiter:  limiter,
		Source:   src,
		Addr:     e.Config.Receiver.URL,
		TLS:      tlsCfg,
		State:    store,
		Events:   events,
	}, vm, nil
}

// progressEmitter turns replication events into step progress events, at
// most a few per second.
func progressEmitter(emit Emit, vm string) func(replication.Event) {
	var mu sync.Mutex
	var last time.Time
	return func(ev replication.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case replication.EventProgress:
			if time.Since(last) < 250*time.Millisecond {
				return
			}
			last = time.Now()
			frac := -1.0
			if ev.Planned > 0 {
				frac = float64(ev.Acked) / float64(ev.Planned)
			}
			emit(Progress(fmt.Sprintf("%s: %s of %s acknowledged, %s/s, ETA %s", vm,
				Bytes(ev.Acked), Bytes(ev.Planned), Bytes(int64(ev.Rate)), ev.ETA.Round(time.Second)), frac))
		case replication.EventPhase:
			emit(Progress(fmt.Sprintf("%s: %s", vm, ev.Phase), -1))
		case replication.EventRepaired, replication.EventCompared:
			emit(Progress(fmt.Sprintf("%s: %s", vm, ev.Msg), -1))
		case replication.EventRPOWarning, replication.EventError, replication.EventWarning:
			msg := ev.Msg
			if ev.Err != nil {
				msg = strings.TrimSpace(msg + " " + ev.Err.Error())
			}
			emit(Warning(fmt.Sprintf("%s: %s", vm, msg)))
		}
	}
}

// Bytes formats a byte count in IEC units, as ferry shows every size and
// amount of data (plan details, progress, reports, the TUI): 512 B, 16 MiB,
// 1.5 GiB (go-humanize: one decimal below 10, none above).
func Bytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// probeTargets builds the probes of the plan.
func (e *Env) probeTargets(ctx context.Context) ([]probe.Target, error) {
	var out []probe.Target
	var icmpPrivileged *bool
	for i, p := range e.Plan.Probes {
		name := p.label(i)
		switch {
		case p.TCP != "":
			if _, _, err := net.SplitHostPort(p.TCP); err != nil {
				return nil, fmt.Errorf("probe %q: tcp %q: want host:port", name, p.TCP)
			}
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
			pr, err := e.GuestPing(ctx, p.From, p.To)
			if err != nil {
				return nil, fmt.Errorf("probe %q: %w", name, err)
			}
			out = append(out, probe.Target{Name: name, Prober: pr})
		default:
			return nil, fmt.Errorf("probe %q: give tcp: host:port, icmp: host, or from: VM and to: address", name)
		}
	}
	return out, nil
}
