// Package lab is ferry's embedded lab: everything a warm migration talks to,
// simulated in-process on loopback with TLS from a lab certificate authority
// and per-instance credentials. The on-prem and provider vCenters are
// govmomi's vcsim; Cloud Director is lab/vcdsim; the on-prem L2VPN client edge
// is lab/edgesim. ferry reaches all of them through the same clients it uses
// against real endpoints.
package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/edgesim"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/lab/workload"
	"github.com/ferry-migrate/ferry/replication"
)

// DefaultDiskSize is the size of each lab VM's disk: small enough for CI
// (the flat files are sparse; about 1/32 of it holds data).
const DefaultDiskSize = 256 << 20

// Options configure a lab.
type Options struct {
	// Dir holds the lab's files (CA, config, datastores). Empty: a temporary
	// directory that Close removes. A given Dir is kept.
	Dir string
	// DiskSize of each source VM's disk in bytes (whole MiB). 0: DefaultDiskSize.
	DiskSize int64
	// WorkloadRate is how many bytes per second the guest workload writes
	// into each running source VM's disk. 0: DefaultWorkloadRate; <0: none.
	WorkloadRate int64
	// EdgeBootDelay is how long an edge appliance takes from power-on to
	// answering its API (a real one: minutes). 0: DefaultEdgeBootDelay.
	EdgeBootDelay time.Duration
	// VMs is how many web VMs the on-prem vCenter runs, WebApp1..WebAppN
	// (see WebAppVMs), 1 to MaxVMs. 0: DefaultVMs.
	VMs int
	// GuestShutdown is how long a guest OS takes to shut down after
	// ShutdownGuest, until its VM is powered off; GuestBoot how long from
	// power-on until its services answer and VMware Tools run. 0: the
	// defaults; <0: at once (stock vcsim's behaviour, for comparisons).
	GuestShutdown, GuestBoot time.Duration
	// SessionIdle is how long the vCenters and Cloud Director keep an API
	// session nobody uses: after that its calls are refused as not
	// authenticated, and a client must log in again. 0:
	// DefaultSessionIdle (30 minutes, their defaults).
	SessionIdle time.Duration
	// ImportLeaseTimeout is how long the vCenters keep an OVF import lease
	// that nobody keeps alive (HttpNfcLeaseProgress) before the import fails
	// and the VM it was creating is removed. 0: DefaultImportLeaseTimeout
	// (300 s, vCenter's).
	ImportLeaseTimeout time.Duration
	// ProviderDatastoreCapacity is the capacity in bytes of each provider
	// datastore (provider-ds, provider-nfs), whose free space is what their
	// files leave. 0: DefaultDatastoreCapacity.
	ProviderDatastoreCapacity int64
	// OnPremDatastoreCapacity is the same for each on-prem datastore, where
	// the source VMs' files and their snapshot deltas are. 0:
	// DefaultDatastoreCapacity.
	OnPremDatastoreCapacity int64
	// VDCMemoryMB is the org VDC's memory limit in MB: Cloud Director
	// powers a VM on there only while the VMs running in it use no more
	// (vcdsim, compute.go). 0: vcdsim.DefaultVDCMemMB.
	VDCMemoryMB int64
	// OnPremWithheld and ProviderWithheld are privileges the role of
	// ferry's account (FerryUser) lacks on each vCenter (Privileges).
	OnPremWithheld, ProviderWithheld []string
}

// DefaultGuestShutdown and DefaultGuestBoot keep the lab quick: a real
// Linux guest takes seconds to tens of seconds for each (MaxGuestTime
// bounds what may be asked).
const (
	DefaultGuestShutdown = 500 * time.Millisecond
	DefaultGuestBoot     = time.Second
	MaxGuestTime         = 10 * time.Minute
)

// ValidateGuestTimes checks Options.GuestShutdown and GuestBoot.
func ValidateGuestTimes(shutdown, boot time.Duration) error {
	for _, t := range []struct {
		what string
		d    time.Duration
	}{{"guest shutdown", shutdown}, {"guest boot", boot}} {
		if t.d > MaxGuestTime {
			return fmt.Errorf("lab %s %v: want at most %v (0 for the default, negative for at once)", t.what, t.d, MaxGuestTime)
		}
	}
	return nil
}

// guestTime is d, or def when d is 0, or none when d < 0.
func guestTime(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// DefaultVMs is the walkthrough's WebApp1..3; MaxVMs bounds --vms.
const (
	DefaultVMs = 3
	MaxVMs     = 100
)

// ValidateVMs checks a web VM count (Options.VMs, ferry lab --vms).
func ValidateVMs(n int) error {
	if n < 1 || n > MaxVMs {
		return fmt.Errorf("lab VMs %d: want 1 to %d web VMs (WebApp1..WebApp%d)", n, MaxVMs, MaxVMs)
	}
	return nil
}

// DefaultEdgeBootDelay keeps the lab quick; tests of what waits for a
// booting edge ask for a longer boot (Options.EdgeBootDelay).
const DefaultEdgeBootDelay = 300 * time.Millisecond

// DefaultWorkloadRate keeps incremental passes busy without filling CI disks.
const DefaultWorkloadRate = 256 << 10

// Lab is a running lab.
type Lab struct {
	Dir        string
	CA         *CA
	CAFile     string
	ConfigFile string
	EnvFile    string // the export lines, for `. lab.env`
	// TokenConfigFile is ConfigFile with the tenant logging in to Cloud
	// Director with an API token instead of its password
	// (ferry-lab-tokens.yaml); TenantAPIToken is that token.
	TokenConfigFile string
	TenantAPIToken  string
	OnPrem          *VCenter
	Provider        *VCenter
	// Fabric is the L2 VPN between the vCD edge gateway and the on-prem edge.
	Fabric *stretch.Fabric
	// Reach answers TCP probes for reachable VMs (see Reach).
	Reach *Reach
	// VCD is the Cloud Director simulator. The on-prem L2VPN client edge
	// runs in the appliance VM ferry deploys (see Edge, edgevm.go).
	VCD   *vcdsim.Server
	edges *edgeAppliances

	// CBT serves changed block tracking on the on-prem vCenter; Workload
	// writes into the running source VMs' disks.
	CBT      *cbt.Tracker
	Workload *workload.Workload
	// Appliance is the receiver appliance VM in the provider vCenter, whose
	// kernel the lab plays; ProviderDisks is how the provider vCenter
	// creates and checks disks (as ESXi on VMFS).
	Appliance     *Appliance
	ProviderDisks *esxDisks
	// NFSExport is the directory behind the provider's NFS datastore
	// (ProviderNFSDatastore): what a receiver host mounting that export
	// sees, for `ferry receiver --kind nfs --datastore-dir`.
	NFSExport string
	// Receiver is ferry's replication receiver, as in the receiver appliance.
	Receiver     *replication.Receiver
	ReceiverAddr string
	// SenderCert / SenderKey: a client certificate the receiver trusts.
	SenderCert, SenderKey string

	// GuestShutdown and GuestBoot are how long its guests take to shut
	// down and to boot (Options.GuestShutdown, GuestBoot).
	GuestShutdown, GuestBoot time.Duration
	// SessionIdle is how long the vCenters and Cloud Director keep an
	// unused API session (Options.SessionIdle).
	SessionIdle time.Duration
	// ProviderDatastoreCapacity and OnPremDatastoreCapacity are each
	// provider and on-prem datastore's capacity (Options).
	ProviderDatastoreCapacity, OnPremDatastoreCapacity int64
	// VDCMemoryMB is the org VDC's memory limit (Options.VDCMemoryMB).
	VDCMemoryMB int64

	receiver     *labReceiver
	receiverHold atomic.Pointer[receiverHold] // HoldReceiverAfterWrite
	shutdowns    []*guestShutdown
	leases       []*importLeases
	vcdCfg       vcdsim.Config
	edgePass     string

	vms       int // web VMs: WebApp1..WebApp<vms>
	keepDir   bool
	closeOnce sync.Once
}

// RenamedExtent is WebApp2's flat extent: its descriptor WebApp2.vmdk was
// renamed by hand from webapp02.vmdk (as an admin does in the ESXi shell)
// and still names webapp02-flat.vmdk, so a reader that guesses
// WebApp2-flat.vmdk from the descriptor's name finds no such file and
// every journey of WebApp2 fails.
const RenamedExtent = "webapp02-flat.vmdk"

// WebAppVMs are the first n web VMs, all shaped as the walkthrough's
// WebApp1..3 (one thin disk of the lab's disk size, one vmxnet3 NIC on
// company-network 172.16.10.0/24, powered on, the guest workload writing,
// own seed; WebApp2's descriptor names RenamedExtent): WebApp1..3 at
// 172.16.10.11-13 as in the walkthrough, WebAppK for K >= 4 at
// 172.16.10.(100+K), so WebApp4..WebApp100 take .104-.200, clear of the
// gateway (.1), the guest model's VMs (.21-.22), the refused VMs (.31-.40)
// and the powered-off VMs (ColdVMs, .41).
func WebAppVMs(n int) []VMSpec {
	var out []VMSpec
	for k := 1; k <= n; k++ {
		host := 10 + k
		if k > 3 {
			host = 100 + k
		}
		vm := VMSpec{Name: fmt.Sprintf("WebApp%d", k), IP: fmt.Sprintf("172.16.10.%d", host),
			Network: "company-network", PowerOn: true, Seed: int64(k)}
		if k == 2 {
			vm.Extent = RenamedExtent
		}
		out = append(out, vm)
	}
	return out
}

// ColdVMs are the on-prem VMs that are powered off: shaped as the WebApps
// (one thin disk, one vmxnet3 NIC on company-network) but not running, so
// the guest workload never writes them and they answer no probe until a
// migrated copy runs. A warm migration refuses them; a cold one takes them.
var ColdVMs = []VMSpec{
	{Name: "Archive1", IP: "172.16.10.41", Network: "company-network", Seed: 41},
}

// OnPremSpec is the on-prem vCenter of the walkthrough (WebApp1..3).
func OnPremSpec(diskSize int64) VCenterSpec { return OnPremSpecVMs(diskSize, DefaultVMs) }

// OnPremSpecVMs is the on-prem vCenter with n web VMs.
func OnPremSpecVMs(diskSize int64, n int) VCenterSpec {
	vms := WebAppVMs(n)
	for i := range vms {
		vms[i].DiskSize = diskSize
	}
	// The VMs preflight must refuse, one per disk kind ferry cannot read.
	for i, vm := range RefusedVMs {
		vm.Network, vm.DiskSize, vm.PowerOn, vm.Seed = "company-network", refusedDiskSize, true, int64(100+i)
		vms = append(vms, vm)
	}
	for _, vm := range ColdVMs {
		vm.DiskSize = diskSize
		vms = append(vms, vm)
	}
	return VCenterSpec{
		Name:       "onprem",
		Datacenter: "OnPrem-DC",
		Cluster:    "OnPrem-Cluster",
		Hosts:      []string{"esx-01.onprem.lab", "esx-02.onprem.lab"},
		Datastore:  "onprem-ds",
		DVS:        "onprem-vds",
		Portgroups: []string{"company-network", "uplink-network", SecondPortgroup},
		VMs:        vms,
	}
}

// ProviderSpec is the provider vCenter that backs the tenant's org VDC.
func ProviderSpec() VCenterSpec {
	return VCenterSpec{
		Name:       "provider",
		Datacenter: "Provider-DC",
		Cluster:    "Provider-Cluster",
		Hosts:      []string{"esx-01.provider.lab", "esx-02.provider.lab"},
		Datastore:  "provider-ds",
		DVS:        "provider-vds",
		Portgroups: []string{"vcd-company-network"},
		Pool:       "Company-VDC",
	}
}

// ErrDirNotFresh is Start's refusal of a directory that holds a lab already
// or anything else (bad input: the command exits 2).
var ErrDirNotFresh = errors.New("lab directory not empty or new")

// CheckDir refuses, as Start does, a directory that holds a lab already
// or anything else: for a command to check before it writes its log there.
func CheckDir(dir string) error { return checkFreshDir(dir) }

// notFresh is checkFreshDir's refusal: its own message, ErrDirNotFresh.
type notFresh struct{ error }

func (notFresh) Is(target error) bool { return target == ErrDirNotFresh }

// checkFreshDir refuses a --dir that holds a lab already (its CA file): the
// lab's vCenters, Cloud Director and edge live in memory, so a stopped lab
// cannot be started again from its files, and starting a new one there
// would overwrite them (CA, config, plan) under the kept state and reports.
func checkFreshDir(dir string) error {
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
		return notFresh{fmt.Errorf("lab directory %s holds a lab already (running, or stopped and kept): a lab's vCenters, Cloud Director and edge live in memory, so a stopped lab cannot be started again from its files; start the new lab in an empty or new directory (its plan, state and reports stay in %s to read)", dir, dir)}
	}
	// Anything else there (a source tree, a home directory) would get the
	// lab's datastores, config and plan beside it: only an empty or new
	// directory is taken (ferry lab writes its log there first).
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("lab directory %s: %w", dir, err)
	}
	var other []string
	for _, e := range entries {
		if e.Name() != "ferry.log" {
			other = append(other, e.Name())
		}
	}
	if len(other) > 0 {
		if len(other) > 3 {
			other = append(other[:3], "…")
		}
		return notFresh{fmt.Errorf("lab directory %s is not empty (%s): the lab writes its datastores (disk images), CA, config and plan there; name an empty or new directory", dir, strings.Join(other, ", "))}
	}
	return nil
}

// Start starts the lab. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (l *Lab, err error) {
	if opts.DiskSize == 0 {
		opts.DiskSize = DefaultDiskSize
	}
	if opts.DiskSize < 16<<20 || opts.DiskSize%(1<<20) != 0 {
		return nil, fmt.Errorf("lab disk size %d: must be a whole number of MiB, at least 16 MiB", opts.DiskSize)
	}
	if opts.VMs == 0 {
		opts.VMs = DefaultVMs
	}
	if err := ValidateVMs(opts.VMs); err != nil {
		return nil, err
	}
	if err := ValidateGuestTimes(opts.GuestShutdown, opts.GuestBoot); err != nil {
		return nil, err
	}
	if opts.ProviderDatastoreCapacity < 0 {
		return nil, fmt.Errorf("lab provider datastore capacity %d: want a positive size (0 for the default, %d)", opts.ProviderDatastoreCapacity, int64(DefaultDatastoreCapacity))
	}
	if opts.OnPremDatastoreCapacity < 0 {
		return nil, fmt.Errorf("lab on-prem datastore capacity %d: want a positive size (0 for the default, %d)", opts.OnPremDatastoreCapacity, int64(DefaultDatastoreCapacity))
	}
	if opts.VDCMemoryMB < 0 {
		return nil, fmt.Errorf("lab org VDC memory limit %d MB: want a positive size (0 for the default, %d)", opts.VDCMemoryMB, vcdsim.DefaultVDCMemMB)
	}
	if opts.SessionIdle < 0 {
		return nil, fmt.Errorf("lab session idle timeout %v: want a positive duration (0 for the default, %v)", opts.SessionIdle, DefaultSessionIdle)
	}
	if err := checkFreshDir(opts.Dir); err != nil {
		return nil, err
	}
	l = &Lab{Dir: opts.Dir, keepDir: opts.Dir != "", vms: opts.VMs, SessionIdle: cmp.Or(opts.SessionIdle, DefaultSessionIdle),
		ProviderDatastoreCapacity: cmp.Or(opts.ProviderDatastoreCapacity, DefaultDatastoreCapacity),
		OnPremDatastoreCapacity:   cmp.Or(opts.OnPremDatastoreCapacity, DefaultDatastoreCapacity),
		VDCMemoryMB:               cmp.Or(opts.VDCMemoryMB, vcdsim.DefaultVDCMemMB)}
	if l.Dir == "" {
		if l.Dir, err = os.MkdirTemp("", "ferry-lab-"); err != nil {
			return nil, fmt.Errorf("lab directory: %w", err)
		}
	} else if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()

	if l.CA, err = NewCA("ferry lab CA"); err != nil {
		return l, err
	}
	l.CAFile = filepath.Join(l.Dir, "ca.pem")
	if err := l.CA.WriteFile(l.CAFile); err != nil {
		return l, fmt.Errorf("lab CA file: %w", err)
	}
	onprem, provider := OnPremSpecVMs(opts.DiskSize, opts.VMs), ProviderSpec()
	// The lab's own setup keeps its sessions for vCenter's default idle
	// timeout: a short one (a test's) on a loaded machine could end them
	// between two of its calls. The vCenters take opts.SessionIdle once
	// the lab is ready (end of Start).
	provider.DatastoreCapacity, onprem.DatastoreCapacity = opts.ProviderDatastoreCapacity, opts.OnPremDatastoreCapacity
	if l.OnPrem, err = startVCenter(ctx, onprem, l.Dir, l.CA); err != nil {
		return l, err
	}
	if err := createGuestVMs(ctx, l.OnPrem, opts.DiskSize); err != nil {
		return l, err
	}
	if err := guestNetDetail(l.OnPrem, "WebApp2", "192.168.100.12"); err != nil {
		return l, err
	}
	installSwaps(l.OnPrem) // the running VMs hold theirs
	refuseSwaplessPowerOn(l.OnPrem)
	if l.Provider, err = startVCenter(ctx, provider, l.Dir, l.CA); err != nil {
		return l, err
	}
	l.ProviderDisks = installESXDisks(l.Provider)
	installSwaps(l.Provider) // before any provider VM powers on
	if l.NFSExport, err = mountNFS(ctx, l.Provider, l.Dir); err != nil {
		return l, err
	}
	l.Provider.storage.refresh() // the NFS datastore's space too
	if l.Appliance, err = startAppliance(ctx, l.Provider, l.ProviderDisks, l.Dir); err != nil {
		return l, err
	}
	l.Fabric = stretch.New()
	l.GuestShutdown, l.GuestBoot = guestTime(opts.GuestShutdown, DefaultGuestShutdown), guestTime(opts.GuestBoot, DefaultGuestBoot)
	for _, vc := range []*VCenter{l.OnPrem, l.Provider} {
		l.shutdowns = append(l.shutdowns, installGuestShutdown(vc, l.GuestShutdown))
		installHoldWatch(vc)
		if vc == l.OnPrem {
			// The provider's removals consolidate through its own
			// wrapper (esxSnapshot).
			installSnapshotRemovals(vc)
		}
		vc.leases = installImportLeases(vc, opts.ImportLeaseTimeout)
		l.leases = append(l.leases, vc.leases)
	}
	l.installTracking()
	// Outer wrappers of vCenter's calls, so that they judge a call before
	// the lab's other wrappers (simwrap.WrapCalls: wrappers may be added
	// while the lab's background clients call).
	for _, vc := range []*VCenter{l.OnPrem, l.Provider} {
		// Outside the wrappers that take CreateVM_Task over (the
		// provider's disks, vCenter's labels).
		refuseDuplicateVMNames(vc.Model.Map())
		refuseDuplicateNames(vc.Model.Map())
		enforcePrivileges(vc.Model.Map(), vc.Privileges)
	}
	if l.Reach, err = startReach(ctx, l.OnPrem, l.Provider, l.Fabric, l.GuestBoot, l.SessionIdle); err != nil {
		return l, err
	}
	installGuestPrograms(l.OnPrem.Model, func(_ types.ManagedObjectReference, ip string) bool { return l.Reach.Reachable(ip) },
		func(_ types.ManagedObjectReference, addr string) bool { return l.Reach.Accepts(addr) })
	installGuestPrograms(l.Provider.Model, l.Reach.ReachableFromCloud, l.Reach.AcceptsFromCloud)

	rate := opts.WorkloadRate
	if rate == 0 {
		rate = DefaultWorkloadRate
	}
	if err := l.startReplication(ctx, rate); err != nil {
		return l, err
	}
	if err := l.startVCD(); err != nil {
		return l, err
	}
	// NSX's rule for appliance passwords: one lowercase, uppercase,
	// numeric and special character each (ferry refuses one without).
	l.edgePass = "Fe1-" + randomSecret()
	if l.edges, err = startEdgeAppliances(ctx, l.OnPrem, l.CA, l.Fabric, cmp.Or(opts.EdgeBootDelay, DefaultEdgeBootDelay), l.SessionIdle); err != nil {
		return l, fmt.Errorf("lab edge appliances: %w", err)
	}

	if err := l.OnPrem.Privileges.Withhold(opts.OnPremWithheld...); err != nil {
		return l, fmt.Errorf("on-prem vCenter: %w", err)
	}
	if err := l.Provider.Privileges.Withhold(opts.ProviderWithheld...); err != nil {
		return l, fmt.Errorf("provider vCenter: %w", err)
	}

	l.ConfigFile = filepath.Join(l.Dir, "ferry-lab.yaml")
	if err := l.Config().Save(l.ConfigFile); err != nil {
		return l, fmt.Errorf("lab config: %w", err)
	}
	if _, err := l.WritePlan(); err != nil {
		return l, err
	}
	if l.VCD != nil {
		// The same endpoints, the tenant logging in with an API token of
		// its administrator, as an org whose users log in through SAML or
		// OIDC does.
		l.TenantAPIToken = l.VCD.AddAPIToken(l.vcdCfg.TenantOrg, l.vcdCfg.TenantUser)
		tc := l.Config()
		tc.Tenant.Username, tc.Tenant.Password, tc.Tenant.APIToken = "", "", l.TenantAPIToken
		l.TokenConfigFile = filepath.Join(l.Dir, "ferry-lab-tokens.yaml")
		if err := tc.Save(l.TokenConfigFile); err != nil {
			return l, fmt.Errorf("lab config: %w", err)
		}
	}
	l.EnvFile = filepath.Join(l.Dir, "lab.env")
	if err := os.WriteFile(l.EnvFile, []byte(l.Config().Exports()), 0o600); err != nil {
		return l, fmt.Errorf("lab env file: %w", err)
	}
	l.OnPrem.SetSessionIdle(l.SessionIdle)
	l.Provider.SetSessionIdle(l.SessionIdle)
	// Outermost, last: the calls the lab's own handlers run their way
	// (CBT, the provider's disks) are refused too.
	for _, vc := range []*VCenter{l.OnPrem, l.Provider} {
		refuseTasksInProgress(vc.Model.Map(), vc.tasks)
	}
	return l, nil
}

// WebApps lists the lab's web VMs (WebApp1..N, Options.VMs of them).
func (l *Lab) WebApps() []VMSpec {
	n := l.vms
	if n == 0 {
		n = DefaultVMs
	}
	return WebAppVMs(n)
}

// Config describes the lab's endpoints as ferry's config.
func (l *Lab) Config() *config.Config {
	c := &config.Config{Lab: true, Guest: config.Endpoint{Username: GuestUser, Password: GuestPassword}}
	if l.OnPrem != nil {
		c.OnPrem = config.Endpoint{URL: l.OnPrem.URL, Username: FerryUser, Password: l.OnPrem.FerryPassword, CAFile: l.CAFile}
	}
	if l.Provider != nil {
		c.Provider = config.Endpoint{URL: l.Provider.URL, Username: FerryUser, Password: l.Provider.FerryPassword, CAFile: l.CAFile}
	}
	if l.VCD != nil {
		c.VCD = config.Endpoint{URL: l.VCD.URL(), Username: l.vcdCfg.SystemUser, Password: l.vcdCfg.SystemPassword, Org: "System", CAFile: l.CAFile}
		c.Tenant = config.Endpoint{URL: l.VCD.URL(), Username: l.vcdCfg.TenantUser, Password: l.vcdCfg.TenantPassword, Org: l.vcdCfg.TenantOrg, CAFile: l.CAFile}
	}
	if l.ReceiverAddr != "" {
		c.Receiver = config.Endpoint{URL: l.ReceiverAddr, CAFile: l.CAFile, CertFile: l.SenderCert, KeyFile: l.SenderKey}
	}
	if l.edges != nil {
		// No URL: ferry finds the edge at the appliance it deploys; the
		// password is the one it gives the appliance.
		c.Edge = config.Endpoint{Username: edgeUser, Password: l.edgePass, CAFile: l.CAFile}
	}
	return c
}

func (l *Lab) startVCD() error {
	l.vcdCfg = vcdsim.Config{
		SystemUser:     "administrator",
		SystemPassword: randomSecret(),
		TenantOrg:      TenantOrg,
		TenantUser:     "companyadmin",
		TenantPassword: randomSecret(),
		Fabric:         l.Fabric,
		// The tenant needs step 1's rights for L2 VPN, as on a real vCD.
		EnforceRights: true,
		SessionIdle:   l.SessionIdle,
		// A network with no uplink for test migrations: a copy of a running
		// VM keeps its address there without clashing with the source.
		IsolatedNetworks: map[string]string{BubbleNetwork: "172.16.10.1/24"},
		ProviderVC: &vcdsim.ProviderVC{
			URL:      l.Provider.URL,
			Username: l.Provider.Username,
			Password: l.Provider.Password,
			RootCAs:  l.CA.Pool,
			Name:     "provider-vc",
			// The org VDC's pool and the provider VDC's datastores (new
			// VMs go to the first).
			ResourcePool: ProviderSpec().Pool,
			Datastores:   []string{ProviderSpec().Datastore, ProviderNFSDatastore},
			// Two storage policies, as most VDCs have: "*" (the default)
			// and one that only the NFS datastore supports. A plan that
			// names none gets the default, which ferry must look up.
			StoragePolicies: []vcdsim.StoragePolicy{
				{Name: "*", Datastores: []string{ProviderSpec().Datastore, ProviderNFSDatastore}},
				{Name: NFSStoragePolicy, Datastores: []string{ProviderNFSDatastore}},
			},
		},
	}
	srv, err := vcdsim.New(l.vcdCfg)
	if err != nil {
		return fmt.Errorf("lab Cloud Director: %w", err)
	}
	srv.SetVDCCompute(vcdsim.DefaultVDCCPUMHz, l.VDCMemoryMB)
	tlsCfg, err := l.CA.ServerTLS("vcd")
	if err != nil {
		return err
	}
	if err := srv.Start(tlsCfg); err != nil {
		return fmt.Errorf("lab Cloud Director: %w", err)
	}
	l.VCD = srv
	if l.Reach != nil {
		l.Reach.setNICNetworks(srv.NICNetworks)
	}
	return nil
}

// Edge is the L2VPN client edge of the running appliance VM deployed from
// the lab's edge OVA; nil while none has booted.
func (l *Lab) Edge() *edgesim.Server {
	if l.edges == nil {
		return nil
	}
	l.edges.mu.Lock()
	defer l.edges.mu.Unlock()
	for _, ev := range l.edges.edges {
		if ev.serving {
			return ev.srv
		}
	}
	return nil
}

// Close stops every endpoint and removes the lab directory unless it was given.
func (l *Lab) Close() error {
	var errs []error
	l.closeOnce.Do(func() {
		if l.edges != nil {
			l.edges.close()
		}
		if l.VCD != nil {
			errs = append(errs, l.VCD.Close())
		}
		l.releaseReceiverHold()
		errs = append(errs, l.stopReplication())
		if l.Reach != nil {
			l.Reach.Close()
		}
		for _, vc := range []*VCenter{l.Provider, l.OnPrem} {
			if vc != nil {
				vc.releaseHolds()
			}
		}
		for _, g := range l.shutdowns {
			g.close()
		}
		for _, il := range l.leases {
			il.close()
		}
		for _, vc := range []*VCenter{l.Provider, l.OnPrem} {
			if vc != nil {
				vc.Close()
			}
		}
		if !l.keepDir && l.Dir != "" {
			errs = append(errs, os.RemoveAll(l.Dir))
		}
	})
	return errors.Join(errs...)
}
