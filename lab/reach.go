package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
)

// Reach simulates the network of the walkthrough's web VMs. Each source VM
// has its own loopback address (guest IP 172.16.10.12 -> 127.16.10.12) and
// answers TCP connections there while it is reachable: powered on on-prem, or
// powered on at the provider (a VM with the same MAC, as a cutover creates
// it) while the L2 stretch carries its on-prem network (stretch.Reaches: an
// UP session whose port for that network has the port group's VLAN and a
// sink that delivers it). Probes therefore really stop while a VM is
// down and come back after cutover.
type Reach struct {
	fabric *stretch.Fabric
	onprem *govmomi.Client
	cloud  *govmomi.Client
	users  map[*govmomi.Client]*url.Userinfo // to log in again
	every  time.Duration
	// boot is how long a guest takes from power-on to running its
	// services and VMware Tools (Options.GuestBoot); started is when the
	// model started: a VM powered on before it has long booted.
	boot    time.Duration
	started time.Time
	mu      sync.Mutex
	hosts   map[string]*reachHost // by guest IP
	// The models behind the two vCenters: the guest model compares disk
	// bytes on their datastores.
	onpremModel, cloudModel *simulator.Model
	// The last reads of the two vCenters' VMs (on-prem with and without
	// their configs), read again when their models changed (modelWatch).
	onpremStates, onpremConfigs, cloudStates polled[map[string]vmState]
	watches                                  []*modelWatch
	// verdicts caches, per powered-on provider VM (moref), why its guest
	// did not boot ("" when it did); dropped when the VM is off.
	verdicts map[string]string
	// failures records every guest that did not come up, and why.
	failures []BootRecord
	// images gives a source flat file's snapshot images (cbt.Tracker.Images;
	// nil until the lab's tracker runs): a copy brought up while its source
	// runs boots from a consistent pass.
	images func(flat string) []cbt.Image
	// checks counts the byte checks of booted guests still running; late
	// holds the failures they found before refresh recorded the boot.
	checks sync.WaitGroup
	// checkMu keeps checks.Add from running concurrently with checks.Wait
	// (BootFailures may be polled while guests are powered on).
	checkMu sync.Mutex
	late    map[string]string
	// nicNets says on which Cloud Director network each NIC of a provider
	// VM is (vcdsim.Server.NICNetworks; nil until the lab's vCD runs).
	nicNets func() map[string]map[string]vcdsim.NICNetwork
	// bubbles are the provider VMs whose guest booted on a NIC connected
	// to an isolated org VDC network, by moref: reachable only from VMs of
	// the same network (ReachableFromCloud), never from the stretch or the
	// host.
	bubbles map[string]bubbleVM
	// netNames names the on-prem networks by moref (networkNames).
	netNames map[string]string
	stop     context.CancelFunc
	stopped  chan struct{}
}

type reachHost struct {
	Name     string
	GuestIP  string
	Network  string // on-prem port group of the NIC with the guest IP
	Loopback string // host:port where the VM answers
	MAC      string
	OnPrem   bool // powered on on-prem
	// OnPremUp: powered on on-prem and its guest booted (answers).
	OnPremUp bool
	Cloud    bool // a powered-on provider VM carries its MAC and its guest booted
	// install is what the guest was installed with (the guest model);
	// nil until read. version is the on-prem VM's config.changeVersion
	// when it was read: a reconfigure since (a disk added) is read again.
	install *guestInstall
	version string
	// boot is the on-prem VM's boot time when install was read: a guest
	// that booted again on-prem since is installed as it is now (below).
	boot time.Time
	// BootFailure says why the guest did not come up on a provider VM
	// carrying its MAC ("" when it did, or none was tried).
	BootFailure string
	// broken, when set, is why this guest's OS no longer boots on any new
	// VM (BreakGuest), whatever its hardware.
	broken string
	ln     net.Listener
	port   int
}

// ReachTarget is one entry of the lab's address plan.
type ReachTarget struct {
	Name, GuestIP, Addr string
}

// loopbackFor maps a guest IPv4 address a.b.c.d to 127.b.c.d.
func loopbackFor(guestIP string) (string, error) {
	a, err := netip.ParseAddr(guestIP)
	if err != nil || !a.Is4() {
		return "", fmt.Errorf("guest IP %q is not an IPv4 address", guestIP)
	}
	b := a.As4()
	b[0] = 127
	return netip.AddrFrom4(b).String(), nil
}

func startReach(ctx context.Context, onprem, provider *VCenter, fabric *stretch.Fabric, boot, sessionIdle time.Duration) (*Reach, error) {
	r := &Reach{fabric: fabric, every: 50 * time.Millisecond, boot: boot, started: time.Now(), hosts: map[string]*reachHost{}, stopped: make(chan struct{}),
		onpremModel: onprem.Model, cloudModel: provider.Model, verdicts: map[string]string{}, late: map[string]string{}, bubbles: map[string]bubbleVM{}}
	onpremWatch, cloudWatch := watchModel(onprem.Model.Map(), "VirtualMachine"), watchModel(provider.Model.Map(), "VirtualMachine")
	r.watches = []*modelWatch{onpremWatch, cloudWatch}
	maxAge := pollMaxAge(sessionIdle)
	r.onpremStates = polled[map[string]vmState]{watch: onpremWatch, maxAge: maxAge}
	r.onpremConfigs = polled[map[string]vmState]{watch: onpremWatch, maxAge: maxAge}
	r.cloudStates = polled[map[string]vmState]{watch: cloudWatch, maxAge: maxAge}
	var err error
	if r.onprem, err = labClient(ctx, onprem); err != nil {
		return nil, err
	}
	if r.cloud, err = labClient(ctx, provider); err != nil {
		return nil, err
	}
	r.users = map[*govmomi.Client]*url.Userinfo{r.onprem: onprem.Server.URL.User, r.cloud: provider.Server.URL.User}
	for _, vm := range onprem.Spec.VMs {
		lo, err := loopbackFor(vm.IP)
		if err != nil {
			return nil, err
		}
		r.hosts[vm.IP] = &reachHost{Name: vm.Name, GuestIP: vm.IP, Network: vm.Network, Loopback: lo}
	}
	for _, vm := range guestVMs {
		lo, err := loopbackFor(vm.IP)
		if err != nil {
			return nil, err
		}
		r.hosts[vm.IP] = &reachHost{Name: vm.Name, GuestIP: vm.IP, Network: vm.NICs[0].Portgroup, Loopback: lo}
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	// A VM that is off (ColdVMs) still has its probe address in the
	// address plan: its port is chosen now, as the others' were.
	for _, h := range r.hosts {
		if h.port == 0 {
			if err := h.set(true); err != nil {
				return nil, err
			}
			if err := h.set(false); err != nil {
				return nil, err
			}
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = cancel
	go r.loop(rctx)
	return r, nil
}

func labClient(ctx context.Context, vc *VCenter) (*govmomi.Client, error) {
	u := *vc.Server.URL
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return nil, fmt.Errorf("lab reachability: login to %s: %w", vc.Spec.Name, err)
	}
	return c, nil
}

func (r *Reach) loop(ctx context.Context) {
	defer close(r.stopped)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A failed poll keeps the last known state; the session a
			// vCenter ended (idle, or killed) is logged in again (not the
			// other's: a second login would leave its session behind).
			if err := r.refresh(ctx); fault.Is(err, &types.NotAuthenticated{}) {
				for _, c := range []*govmomi.Client{r.onprem, r.cloud} {
					if us, err := c.SessionManager.UserSession(ctx); err == nil && us == nil {
						_ = c.Login(ctx, r.users[c])
					}
				}
			}
		}
	}
}

type vmState struct {
	ref string
	on  bool
	// paused: a question is pending (a full datastore stopped it): its
	// guest runs nothing.
	paused bool
	boot   time.Time // when it was last powered on (zero: not known)
	macs   []string
	cfg    *types.VirtualMachineConfigInfo // firmware, boot options, devices (nil: not read)
	nets   []string                        // morefs of the networks its NICs are on
	// version is config.changeVersion, which a reconfigure changes.
	version string
}

// rebooted says whether the on-prem VM in st runs since another boot than
// boot, the one its guest's installation was read at (zero: it was off).
func rebooted(st vmState, boot time.Time) bool {
	return st.on && !st.boot.IsZero() && !st.boot.Equal(boot)
}

// vmStates reads every VM's power state, and with withConfig its devices
// (MACs), firmware and boot options too (the expensive part with many VMs);
// complete is false when a VM could not be read this time.
func vmStates(ctx context.Context, c *govmomi.Client, withConfig bool) (_ map[string]vmState, complete bool, _ error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, false, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var vms []mo.VirtualMachine
	props := []string{"name", "runtime.powerState", "runtime.question", "summary.runtime.bootTime", "network", "config.changeVersion"}
	if withConfig {
		props = append(props, "config.hardware.device", "config.firmware", "config.bootOptions")
	}
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, props, &vms); err != nil {
		return nil, false, err
	}
	out := map[string]vmState{}
	complete = true
	for _, vm := range vms {
		if vm.Runtime.PowerState == "" {
			// Not read this time (the VM was busy, e.g. in a snapshot):
			// its last known state stands.
			complete = false
			continue
		}
		st := vmState{ref: vm.Self.Value, on: vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn, paused: vm.Runtime.Question != nil}
		if vm.Config != nil {
			st.version = vm.Config.ChangeVersion
			if withConfig {
				st.cfg = vm.Config
			}
		}
		if vm.Summary.Runtime.BootTime != nil {
			st.boot = *vm.Summary.Runtime.BootTime
		}
		for _, n := range vm.Network {
			st.nets = append(st.nets, n.Value)
		}
		if st.cfg != nil {
			for _, d := range st.cfg.Hardware.Device {
				if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
					st.macs = append(st.macs, strings.ToLower(nic.GetVirtualEthernetCard().MacAddress))
				}
			}
		}
		out[vm.Name] = st
	}
	return out, complete, nil
}

// booted says whether the guest of a powered-on VM has finished booting:
// it was powered on at least r.boot ago, or before the model started (the
// lab's VMs run when it starts), or when is not known.
func (r *Reach) booted(st vmState) bool {
	return st.boot.IsZero() || !st.boot.After(r.started) || time.Since(st.boot) >= r.boot
}

func (r *Reach) refresh(ctx context.Context) error {
	// An on-prem VM's MAC and installation are read once, and again only
	// after a reconfigure (its config.changeVersion moved: a disk added,
	// which its guest then mounts): otherwise only power states, which
	// keeps a lab of 100 VMs cheap to watch.
	r.mu.Lock()
	needConfig := false
	versions, boots := map[string]string{}, map[string]time.Time{}
	for _, h := range r.hosts {
		needConfig = needConfig || h.install == nil
		versions[h.Name], boots[h.Name] = h.version, h.boot
	}
	r.mu.Unlock()
	onpremRead := func(withConfig bool) (map[string]vmState, error) {
		p := &r.onpremStates
		if withConfig {
			p = &r.onpremConfigs
		}
		return p.get(false, func() (map[string]vmState, bool, error) { return vmStates(ctx, r.onprem, withConfig) })
	}
	onprem, err := onpremRead(needConfig)
	if err != nil {
		return err
	}
	if !needConfig {
		for name, st := range onprem {
			if v, ok := versions[name]; ok && (st.version != v || rebooted(st, boots[name])) {
				needConfig = true
			}
		}
		if needConfig {
			if onprem, err = onpremRead(true); err != nil {
				return err
			}
		}
	}
	cloud, err := r.cloudStates.get(false, func() (map[string]vmState, bool, error) { return vmStates(ctx, r.cloud, true) })
	if err != nil {
		return err
	}
	cloudOn := map[string][]vmState{}
	live := map[string]bool{}
	for _, st := range cloud {
		if !st.on {
			continue
		}
		live[st.ref] = true
		if !r.booted(st) {
			// Still booting: no verdict, no answer, no VMware Tools yet.
			continue
		}
		for _, mac := range st.macs {
			if mac != "" {
				cloudOn[mac] = append(cloudOn[mac], st)
			}
		}
	}
	// Which of each source VM's on-prem networks the stretch carries now
	// (the fabric is asked outside r.mu): a VM whose NIC an operator moved
	// to another port group is reachable over that one.
	netNames, err := r.networkNames(ctx, onprem)
	if err != nil {
		return err
	}
	hostNets := map[string][]string{}
	carried := map[string]bool{}
	r.mu.Lock()
	for _, h := range r.hosts {
		nets := []string{h.Network}
		if st, ok := onprem[h.Name]; ok && len(st.nets) > 0 {
			nets = nets[:0]
			for _, ref := range st.nets {
				nets = append(nets, netNames[ref])
			}
		}
		hostNets[h.Name] = nets
		for _, n := range nets {
			carried[n] = false
		}
	}
	r.mu.Unlock()
	var nicNets map[string]map[string]vcdsim.NICNetwork
	r.mu.Lock()
	nicNetsF := r.nicNets
	r.mu.Unlock()
	if nicNetsF != nil {
		nicNets = nicNetsF()
	}
	// Carried to which org VDC network: frames of an on-prem network cross
	// only to the network the server stretches its tunnel id to (a target
	// Cloud Director connected elsewhere is not reached over it).
	clouds := map[string]bool{"": true}
	for _, byMAC := range nicNets {
		for _, n := range byMAC {
			clouds[n.Network] = true
		}
	}
	carriedTo := map[[2]string]bool{}
	for n := range carried {
		for cloud := range clouds {
			carriedTo[[2]string{n, cloud}] = n != "" && r.fabric.ReachesTo(n, cloud)
		}
	}
	// Guests newly powered on at the provider boot first, without the
	// lock: comparing their disks' bytes takes a moment, and the other VMs'
	// listeners must not wait for it.
	fresh := r.bootNew(cloudOn)
	// VMware Tools in the provider VMs whose verdict changed: set once
	// r.mu is released (the VM's lock is taken).
	var tools []toolsChange
	defer func() { r.setTools(tools) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for ref := range r.verdicts {
		if !live[ref] {
			delete(r.verdicts, ref) // powered off or gone: the next power-on boots again
			delete(r.bubbles, ref)
			tools = append(tools, toolsChange{ref, false})
		}
	}
	for _, h := range r.hosts {
		st, seen := onprem[h.Name]
		if !seen {
			st.on = h.OnPrem
		}
		up := h.OnPremUp // not read this time: the last known state stands
		if seen {
			up = st.on && !st.paused && r.booted(st)
		}
		if h.MAC == "" && len(st.macs) > 0 {
			h.MAC = st.macs[0]
		}
		if st.cfg != nil && (h.install == nil || st.version != h.version || rebooted(st, h.boot)) {
			// A guest that booted on-prem since it was read came up with
			// the disks its VM has now: a disk removed before that boot is
			// one it no longer needs. Otherwise a disk removed from the
			// running guest stays expected (withDisksOf).
			inst := installOf(st.cfg)
			if h.install != nil && !rebooted(st, h.boot) {
				inst = h.install.withDisksOf(inst)
			}
			h.install, h.version = &inst, st.version
			if st.on {
				h.boot = st.boot
			}
		}
		h.OnPrem, h.OnPremUp = st.on, up
		h.Cloud, h.BootFailure = false, ""
		if h.MAC != "" && h.install != nil {
			for _, vm := range cloudOn[h.MAC] {
				why, ok := r.verdicts[vm.ref]
				if !ok {
					if why, ok = fresh[vm.ref]; !ok {
						continue // powered on since bootNew looked: boots next round
					}
					if h.broken != "" {
						why = h.broken
					}
					if late, ok := r.late[vm.ref]; ok && why == "" {
						why = late // its byte check ended before this verdict
					}
					delete(r.late, vm.ref)
					r.verdicts[vm.ref] = why
					tools = append(tools, toolsChange{vm.ref, why == ""})
					if why != "" {
						r.failures = append(r.failures, BootRecord{VM: h.Name, ProviderVM: vm.ref, At: time.Now(), Reason: why})
					}
				}
				h.BootFailure = why
				if n, ok := nicNets[vm.ref][h.MAC]; ok && n.Type == "ISOLATED" && n.Connected {
					// In a bubble: not on the stretch, the host cannot reach it.
					ip := n.IP
					if ip == "" {
						ip = h.GuestIP
					}
					r.bubbles[vm.ref] = bubbleVM{network: n.Network, guestIP: ip, up: why == ""}
					continue
				}
				delete(r.bubbles, vm.ref)
				if why == "" {
					cloud := nicNets[vm.ref][h.MAC].Network // "": not Cloud Director's, any
					h.Cloud = slices.ContainsFunc(hostNets[h.Name], func(n string) bool { return carriedTo[[2]string{n, cloud}] })
					break
				}
			}
		}
		if err := h.set(h.OnPremUp || h.Cloud); err != nil {
			return err
		}
	}
	return nil
}

// networkNames gives the on-prem networks' names by moref, read again only
// when a VM is on a network not seen before.
func (r *Reach) networkNames(ctx context.Context, onprem map[string]vmState) (map[string]string, error) {
	r.mu.Lock()
	names := r.netNames
	r.mu.Unlock()
	fresh := names != nil
	for _, st := range onprem {
		for _, ref := range st.nets {
			if _, ok := names[ref]; !ok {
				fresh = false
			}
		}
	}
	if fresh {
		return names, nil
	}
	v, err := view.NewManager(r.onprem.Client).CreateContainerView(ctx, r.onprem.ServiceContent.RootFolder, []string{"Network"}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var nets []mo.Network
	if err := v.Retrieve(ctx, []string{"Network"}, []string{"name"}, &nets); err != nil {
		return nil, err
	}
	names = map[string]string{}
	for _, n := range nets {
		names[n.Self.Value] = n.Name
	}
	r.mu.Lock()
	r.netNames = names
	r.mu.Unlock()
	return names, nil
}

// bootNew decides, for every powered-on provider VM that carries the MAC
// of a known guest and has no verdict yet, whether that guest boots on it.
// What the guest finds at power-on (firmware, disk positions, NICs) decides
// at once. Whether its disks hold the source's bytes is checked while it
// runs, as a real guest reads its disks after it booted: a guest whose disks
// are not the source's stops answering when the check finds it (checkBytes),
// so its boot does not take time proportional to its disks' size.
func (r *Reach) bootNew(cloudOn map[string][]vmState) map[string]string {
	type job struct {
		name    string
		vm      vmState
		install guestInstall
		running bool // the source runs on-prem: the provider VM is a copy
	}
	var jobs []job
	r.mu.Lock()
	for _, h := range r.hosts {
		if h.MAC == "" || h.install == nil {
			continue
		}
		for _, vm := range cloudOn[h.MAC] {
			if _, ok := r.verdicts[vm.ref]; !ok {
				jobs = append(jobs, job{h.Name, vm, *h.install, h.OnPrem})
			}
		}
	}
	images := r.images
	r.mu.Unlock()
	fresh := map[string]string{}
	for _, j := range jobs {
		why, disks := j.install.hardware(j.vm.cfg)
		fresh[j.vm.ref] = why
		if why == "" {
			r.checkMu.Lock()
			r.checks.Add(1)
			r.checkMu.Unlock()
			var consistent func(string) []cbt.Image
			if j.running {
				consistent = images
			}
			go r.checkBytes(j.name, j.vm.ref, disks, consistent)
		}
	}
	return fresh
}

// checkBytes compares the disks of the guest name on provider VM ref with
// the source's; when they differ, the guest stops answering and the failure
// is recorded (unless the VM was powered off meanwhile). A copy of a source
// that runs (images set) may instead hold the source as of one of its
// snapshots: a consistent replication pass.
func (r *Reach) checkBytes(name, ref string, disks diskPairs, images func(string) []cbt.Image) {
	defer r.checks.Done()
	why := disks.passWhy(r.onpremModel, r.cloudModel, images)
	if why == "" {
		return
	}
	r.mu.Lock()
	if _, live := r.verdicts[ref]; !live {
		// Not judged yet (refresh applies verdicts after bootNew) or gone:
		// a verdict that waits for refresh.
		r.late[ref] = why
		r.mu.Unlock()
		return
	}
	r.fail(name, ref, why)
	r.mu.Unlock()
	r.setTools([]toolsChange{{ref, false}})
}

// fail records that the guest name does not run on provider VM ref, and
// takes it off the network (r.mu held).
func (r *Reach) fail(name, ref, why string) {
	r.verdicts[ref] = why
	if b, ok := r.bubbles[ref]; ok {
		b.up = false
		r.bubbles[ref] = b
	}
	r.failures = append(r.failures, BootRecord{VM: name, ProviderVM: ref, At: time.Now(), Reason: why})
	for _, h := range r.hosts {
		if h.Name == name && h.Cloud {
			h.Cloud, h.BootFailure = false, why
			_ = h.set(h.OnPremUp)
		}
	}
}

// setImages gives the guest model the source disks' snapshot images.
func (r *Reach) setImages(f func(flat string) []cbt.Image) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images = f
}

// BootRecord is a guest that did not come up on a provider VM.
type BootRecord struct {
	VM         string // the source VM whose guest it is
	ProviderVM string // moref at the provider
	At         time.Time
	Reason     string
}

// BootFailures lists every guest that did not come up on a provider VM
// carrying its MAC since the lab started, oldest first.
func (r *Reach) BootFailures() []BootRecord {
	r.checkMu.Lock()
	r.checks.Wait() // the byte checks of guests that booted have ended
	r.checkMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]BootRecord(nil), r.failures...)
}

// BootFailure says why the guest of the source VM name did not come up on
// the provider VM that carries its MAC ("" when it booted, or when no
// provider VM carrying it was powered on yet).
func (r *Reach) BootFailure(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hosts {
		if h.Name == name {
			return h.BootFailure
		}
	}
	return ""
}

// InstalledDisks is how many disks the guest model holds the guest of the
// source VM name to need (0 before it read the VM): the disks it was
// installed with, those added to it since, and those removed from it
// while it ran, until it boots again on-prem.
func (r *Reach) InstalledDisks(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hosts {
		if h.Name == name && h.install != nil {
			return len(h.install.disks)
		}
	}
	return 0
}

// BreakGuest makes the guest of the source VM name fail to boot on any
// provider VM powered on from now on, for reason (a damaged boot loader the
// running source never notices, an OS that panics on new hardware): a fault
// for tests of what a cutover does when the target runs but its guest never
// answers. The running source is not affected.
func (r *Reach) BreakGuest(name, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hosts {
		if h.Name == name {
			h.broken = reason
			return nil
		}
	}
	return fmt.Errorf("lab: no guest %q", name)
}

// set opens or closes the VM's listener.
func (h *reachHost) set(up bool) error {
	switch {
	case up && h.ln == nil:
		ln, err := net.Listen("tcp", net.JoinHostPort(h.Loopback, fmt.Sprint(h.port)))
		if err != nil {
			return fmt.Errorf("lab reachability: %s: %w", h.Name, err)
		}
		h.ln = ln
		h.port = ln.Addr().(*net.TCPAddr).Port
		go serveHello(ln, h.Name)
	case !up && h.ln != nil:
		h.ln.Close()
		h.ln = nil
	}
	return nil
}

func serveHello(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%s\n", name)
		c.Close()
	}
}

// Reachable reports whether the VM with this guest IP answers now.
func (r *Reach) Reachable(guestIP string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hosts[guestIP]
	return h != nil && h.ln != nil
}

// Plan lists every VM's address, sorted by name (WebApp2 before WebApp10).
func (r *Reach) Plan() []ReachTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ReachTarget
	for _, h := range r.hosts {
		out = append(out, ReachTarget{Name: h.Name, GuestIP: h.GuestIP, Addr: net.JoinHostPort(h.Loopback, fmt.Sprint(h.port))})
	}
	sort.Slice(out, func(i, j int) bool { return nameLess(out[i].Name, out[j].Name) })
	return out
}

// nameLess orders names with their trailing numbers as numbers: WebApp2
// before WebApp10.
func nameLess(a, b string) bool {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if pa != pb || na == nb {
		return a < b
	}
	return na < nb
}

func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n := 0
	for _, c := range s[i:] {
		n = n*10 + int(c-'0')
	}
	if i == len(s) {
		n = -1
	}
	return s[:i], n
}

// Close stops the listeners.
func (r *Reach) Close() {
	if r.stop != nil {
		r.stop()
		<-r.stopped
	}
	r.checkMu.Lock()
	r.checks.Wait()
	r.checkMu.Unlock()
	r.mu.Lock()
	for _, h := range r.hosts {
		h.set(false)
	}
	r.mu.Unlock()
	for _, w := range r.watches {
		w.close()
	}
	for _, c := range []*govmomi.Client{r.onprem, r.cloud} {
		if c != nil {
			c.Logout(context.Background())
		}
	}
}

// bubbleVM is a provider VM on an isolated org VDC network.
type bubbleVM struct {
	network string
	guestIP string // its address there
	up      bool   // its guest booted and runs
}

// setNICNetworks gives the network model Cloud Director's NIC connections.
func (r *Reach) setNICNetworks(f func() map[string]map[string]vcdsim.NICNetwork) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nicNets = f
}

// ReachableFromCloud reports whether a guest in the provider VM vm reaches
// guestIP: from a VM on an isolated network, only a running guest on the
// same network does; from any other, what Reachable says.
func (r *Reach) ReachableFromCloud(vm types.ManagedObjectReference, guestIP string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.bubbles[vm.Value]; ok {
		for ref, o := range r.bubbles {
			if ref != vm.Value && o.network == b.network && o.guestIP == guestIP && o.up {
				return true
			}
		}
		return false
	}
	h := r.hosts[guestIP]
	return h != nil && h.ln != nil
}

// serviceIP is the guest IP of the VM whose service addr (host:port) names:
// its guest address or its loopback (Plan), with the service's port.
// Callers hold r.mu.
func (r *Reach) serviceIP(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	for _, h := range r.hosts {
		if (host == h.GuestIP || host == h.Loopback) && port == fmt.Sprint(h.port) {
			return h.GuestIP, true
		}
	}
	return "", false
}

// Accepts says whether a TCP connection to addr (a VM's service, by guest
// address or loopback) from an on-prem guest is accepted: the VM answers.
func (r *Reach) Accepts(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ip, ok := r.serviceIP(addr)
	return ok && r.hosts[ip].ln != nil
}

// AcceptsFromCloud is Accepts from the guest of provider VM vm: inside an
// isolated network (a test copy's bubble) only a booted VM of that network
// with the address answers, the asking VM itself included (its own
// service, through its own stack).
func (r *Reach) AcceptsFromCloud(vm types.ManagedObjectReference, addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ip, ok := r.serviceIP(addr)
	if !ok {
		return false
	}
	if b, in := r.bubbles[vm.Value]; in {
		for _, o := range r.bubbles {
			if o.network == b.network && o.guestIP == ip && o.up {
				return true
			}
		}
		return false
	}
	return r.hosts[ip].ln != nil
}

// toolsChange is a provider VM whose VMware Tools start (its guest booted)
// or stop (it did not, or it is off).
type toolsChange struct {
	ref     string
	running bool
}

// setTools sets the provider VMs' guest.toolsRunningStatus, as VMware
// Tools in a guest that booted (or not) report it to vCenter.
func (r *Reach) setTools(changes []toolsChange) {
	if len(changes) == 0 {
		return
	}
	reg := r.cloudModel.Map()
	for _, ch := range changes {
		vm, ok := reg.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: ch.ref}).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		st := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
		if ch.running {
			st = types.VirtualMachineToolsRunningStatusGuestToolsRunning
		}
		ctx := &simulator.Context{Map: reg}
		reg.WithLock(ctx, vm, func() {
			if vm.Guest != nil && vm.Guest.ToolsRunningStatus != string(st) {
				ctx.Update(vm, []types.PropertyChange{{Name: "guest.toolsRunningStatus", Val: string(st)}})
			}
		})
	}
}
