package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/edgesim"
	"github.com/ferry-migrate/ferry/lab/stretch"
)

// The on-prem L2 of the lab: the autonomous edge runs only inside an
// appliance VM deployed from the edge OVA (edgeova.go) with
// is_autonomous_edge=True. Once such a VM is powered on and has booted, its
// API answers at https://<nsx_ip_0>:<EdgePort>, with user admin and the
// password given as nsx_cli_passwd_0, and its L2VPN service not yet
// configured (as a fresh appliance). Powered off, it answers nothing and its
// sessions leave the fabric; powered on again it keeps its configuration.
//
// The wiring (stretch.Wire) decides whether a stretched network's frames
// reach the appliance: the edge port's VLAN must be the port group's, and the
// port group the appliance's trunk NIC (Network 2) is on must deliver frames
// for other MACs (promiscuous mode + forged transmits, or MAC learning +
// forged transmits on a VDS of version 6.6 or later) and trunk that VLAN.

// Lab addresses of the L2VPN client appliance (a loopback address, so that
// the lab can answer on it).
const (
	EdgeApplianceIP     = "127.50.0.10"
	EdgeAppliancePrefix = "24"
	EdgeApplianceGW     = "127.50.0.1"
	// VLANPortgroup is the second stretched network of the lab, a port
	// group on VLAN VLANPortgroupID.
	VLANPortgroup   = "vlan20-network"
	VLANPortgroupID = 20
	// labDVSVersion is the lab VDS's version (MAC learning needs 6.6).
	labDVSVersion = "7.0.3"
	edgeUser      = "admin"
)

// edgeAppliances watches the on-prem vCenter for autonomous edge VMs.
type edgeAppliances struct {
	vc     *VCenter
	c      *govmomi.Client
	ca     *CA
	fabric *stretch.Fabric
	log    *slog.Logger
	ln     net.Listener // EdgeApplianceIP:EdgePort, reserved for the lab plan's appliance
	// bootDelay is how long an appliance takes from power-on to its API.
	bootDelay time.Duration
	// booting > 0 keeps every powered-on appliance booting (HoldEdgeBoot).
	booting int

	// refreshMu makes refreshes one at a time: each starts or stops edges
	// after releasing mu (see refresh).
	refreshMu sync.Mutex
	// read is the last read of the vCenter (under refreshMu), read again
	// when its model changed (modelWatch).
	read  polled[edgeRead]
	mu    sync.Mutex
	edges map[string]*edgeVM // by VM moref
	wire  wireState
	stop  context.CancelFunc
	done  chan struct{}
}

type edgeVM struct {
	name    string
	ip      string
	srv     *edgesim.Server
	conns   *connListener
	on      bool
	onSince time.Time
	// boot is the VM's boot time when it was last seen on: another one
	// means it was powered off and on between two refreshes (a reboot).
	boot    time.Time
	serving bool
	sink    string // port group of the trunk NIC
}

type wireState struct {
	portgroups map[string]pgWire
	dvsVersion map[string]string // DVS name -> version
}

type pgWire struct {
	dvs                              string
	vlan                             int // access VLAN; -1: a trunk
	trunk                            []types.NumericRange
	promiscuous, forged, macLearning bool
}

func startEdgeAppliances(ctx context.Context, vc *VCenter, ca *CA, fabric *stretch.Fabric, bootDelay, sessionIdle time.Duration) (*edgeAppliances, error) {
	if err := setDVSVersion(vc, labDVSVersion); err != nil {
		return nil, err
	}
	c, err := labClient(ctx, vc)
	if err != nil {
		return nil, err
	}
	if err := addVLANPortgroup(ctx, c, vc.Spec); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(EdgeApplianceIP, "0"))
	if err != nil {
		return nil, fmt.Errorf("lab edge appliance address: %w", err)
	}
	e := &edgeAppliances{vc: vc, c: c, ca: ca, fabric: fabric, ln: ln, bootDelay: bootDelay, edges: map[string]*edgeVM{},
		log: slog.New(slog.DiscardHandler), done: make(chan struct{})}
	e.read = polled[edgeRead]{watch: watchModel(vc.Model.Map(), "VirtualMachine", "DistributedVirtualPortgroup", "DistributedVirtualSwitch"),
		maxAge: pollMaxAge(sessionIdle)}
	fabric.SetWire(e.check)
	if err := e.refresh(ctx, true); err != nil {
		e.read.watch.close()
		ln.Close()
		return nil, err
	}
	go e.accept(ln, EdgeApplianceIP)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = cancel
	go e.loop(rctx)
	return e, nil
}

// Carries says whether the stretch carries the frames of the on-prem
// network now (stretch.Fabric.Carries, with the wiring read from the
// on-prem vCenter first rather than the last poll's).
func (l *Lab) Carries(network string) error {
	if l.edges != nil {
		if err := l.edges.refresh(context.Background(), true); err != nil {
			return err
		}
	}
	return l.Fabric.Carries(network)
}

// HoldEdgeBoot keeps the edge appliances that are powered on (or powered on
// later) booting, their API silent, until the returned release is called,
// however long that takes: a real appliance boots for minutes, and tests of
// what waits for it must not depend on how fast the machine is. Release is
// idempotent.
func (l *Lab) HoldEdgeBoot() (release func()) {
	if l.edges == nil {
		return func() {}
	}
	l.edges.mu.Lock()
	l.edges.booting++
	l.edges.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.edges.mu.Lock()
			l.edges.booting--
			l.edges.mu.Unlock()
		})
	}
}

// PauseEdgeRefresh stops the lab from looking at its edge appliances (the
// power state, the boot, the wiring it reads every 50 ms) until resume is
// called, as a loaded machine can for a while: tests of what an edge does
// between two looks must not depend on when the next one comes. Resume is
// idempotent.
func (l *Lab) PauseEdgeRefresh() (resume func()) {
	if l.edges == nil {
		return func() {}
	}
	l.edges.refreshMu.Lock()
	var once sync.Once
	return func() { once.Do(l.edges.refreshMu.Unlock) }
}

// EdgeURL is where the L2VPN client appliance deployed with the lab's plan
// answers (its management address and the lab's edge port).
func (l *Lab) EdgeURL() string {
	if l.edges == nil {
		return ""
	}
	return "https://" + net.JoinHostPort(EdgeApplianceIP, strconv.Itoa(l.edges.EdgePort()))
}

// EdgePort is the port of the appliance's API in the lab.
func (e *edgeAppliances) EdgePort() int { return e.ln.Addr().(*net.TCPAddr).Port }

func (e *edgeAppliances) loop(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.refresh(ctx, false); err != nil {
				e.log.Debug("lab edge appliances", "err", err)
				if fault.Is(err, &types.NotAuthenticated{}) { // the session ended: log in again
					_ = e.c.Login(ctx, e.vc.Server.URL.User)
				}
			}
		}
	}
}

func (e *edgeAppliances) close() {
	if e.stop != nil {
		e.stop()
		<-e.done
	}
	e.read.watch.close()
	e.ln.Close()
	e.mu.Lock()
	var srvs []*edgesim.Server
	for _, ev := range e.edges {
		srvs = append(srvs, ev.srv)
	}
	e.mu.Unlock()
	for _, srv := range srvs { // outside mu, as in refresh
		_ = srv.Close()
	}
	_ = e.c.Logout(context.Background())
}

// accept hands connections on ln to the edge answering on ip, and closes
// them while none does (the appliance is off or still booting).
func (e *edgeAppliances) accept(ln net.Listener, ip string) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		var target *connListener
		var id string
		for vm, ev := range e.edges {
			if ev.ip == ip && ev.serving {
				target, id = ev.conns, vm
			}
		}
		e.mu.Unlock()
		up := func() bool { return e.upNow(id) }
		if target == nil || !up() || !target.push(&gatedConn{Conn: conn, up: up}) {
			conn.Close()
		}
	}
}

// upNow reports whether edge id answers at this instant: the refresh
// found it booted and serving, and its VM is still on, from the same boot,
// in vCenter now. The refresh runs every 50 ms and, on a loaded machine,
// later: without this an appliance powered off (or off and on again)
// answered until the next refresh, on new connections and on the ones it
// had, where a real one is silent at once (QA: step 4 found the edge of an
// appliance just powered on at once, with the session the boot was to
// lose, and TestSetupVLANTaggedNetwork failed about one run in six).
func (e *edgeAppliances) upNow(id string) bool {
	e.mu.Lock()
	ev := e.edges[id]
	serving := ev != nil && ev.serving
	var boot time.Time
	if serving {
		boot = ev.boot
	}
	e.mu.Unlock()
	if !serving {
		return false
	}
	reg := e.vc.Model.Map()
	vm, ok := reg.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: id}).(*simulator.VirtualMachine)
	if !ok {
		return false
	}
	var on bool
	var bt time.Time
	reg.WithLock(&simulator.Context{Map: reg}, vm, func() {
		on = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
		if vm.Summary.Runtime.BootTime != nil {
			bt = *vm.Summary.Runtime.BootTime
		}
	})
	return on && bt.Equal(boot)
}

// gatedConn is a connection to an edge appliance: it ends when the
// appliance stops answering (powered off, rebooted), as a TCP connection
// to a VM that goes down does, instead of serving the next request.
type gatedConn struct {
	net.Conn
	up func() bool
}

func (c *gatedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.up() {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return n, err
}

// refresh reads the appliance VMs and the wiring (again only if the
// vCenter changed since the last read, unless force), and boots or stops
// edges. An edge's sessions enter and leave the fabric (Suspend, Resume,
// Close) after mu is released: the fabric calls check, which takes mu,
// while it holds its own lock, so taking the fabric's lock under mu could
// deadlock.
func (e *edgeAppliances) refresh(ctx context.Context, force bool) error {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	rd, err := e.read.get(force, func() (edgeRead, bool, error) { rd, err := e.readVCenter(ctx); return rd, true, err })
	if err != nil {
		return err
	}
	vms, pgs, switches := rd.vms, rd.pgs, rd.switches
	ws := wireState{portgroups: map[string]pgWire{}, dvsVersion: map[string]string{}}
	dvsName := map[types.ManagedObjectReference]string{}
	for _, s := range switches {
		dvsName[s.Self] = s.Name
		if s.Summary.ProductInfo != nil {
			ws.dvsVersion[s.Name] = s.Summary.ProductInfo.Version
		}
	}
	pgByKey := map[string]string{}
	for _, pg := range pgs {
		pgByKey[pg.Key] = pg.Name
		w := pgWire{vlan: 0}
		if r := pg.Config.DistributedVirtualSwitch; r != nil {
			w.dvs = dvsName[*r]
		}
		if s, ok := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting); ok && s != nil {
			switch vl := s.Vlan.(type) {
			case *types.VmwareDistributedVirtualSwitchVlanIdSpec:
				w.vlan = int(vl.VlanId)
			case *types.VmwareDistributedVirtualSwitchTrunkVlanSpec:
				w.vlan, w.trunk = -1, vl.VlanId
			}
			if sp := s.SecurityPolicy; sp != nil {
				w.promiscuous = boolPolicy(sp.AllowPromiscuous)
				w.forged = boolPolicy(sp.ForgedTransmits)
			}
			if mp := s.MacManagementPolicy; mp != nil {
				// vSphere 6.7+: the MAC management policy is the same switch.
				if mp.AllowPromiscuous != nil {
					w.promiscuous = *mp.AllowPromiscuous
				}
				if mp.ForgedTransmits != nil {
					w.forged = *mp.ForgedTransmits
				}
				w.macLearning = mp.MacLearningPolicy != nil && mp.MacLearningPolicy.Enabled
			}
		}
		ws.portgroups[pg.Name] = w
	}

	var after []func() // fabric changes, run once mu is released
	defer func() {
		for _, f := range after {
			f()
		}
	}()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wire = ws
	seen := map[string]bool{}
	for _, vm := range vms {
		props := vappProperties(vm)
		if !strings.EqualFold(props["is_autonomous_edge"], "true") {
			continue
		}
		id := vm.Self.Value
		seen[id] = true
		ev := e.edges[id]
		if ev == nil {
			ip, pass := props["nsx_ip_0"], props["nsx_cli_passwd_0"]
			srv, err := edgesim.New(edgesim.Config{Username: edgeUser, Password: pass, Fabric: e.fabric})
			if err != nil {
				e.log.Debug("lab edge appliance cannot start", "vm", vm.Name, "err", err)
				continue
			}
			ev = &edgeVM{name: vm.Name, ip: ip, srv: srv, conns: newConnListener(e.ln.Addr())}
			tlsCfg, err := e.ca.ServerTLS("edge", ip)
			if err == nil {
				err = srv.Serve(ev.conns, tlsCfg)
			}
			if err != nil {
				e.log.Debug("lab edge appliance cannot serve", "vm", vm.Name, "err", err)
				continue
			}
			e.edges[id] = ev
		}
		ev.sink = trunkPortgroup(vm, pgByKey)
		on := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
		var boot time.Time
		if bt := vm.Summary.Runtime.BootTime; bt != nil {
			boot = *bt
		}
		switch {
		case on && ev.on && !boot.Equal(ev.boot):
			// Powered off and on again since the last refresh: it boots
			// again, its API silent meanwhile, as a real appliance's.
			ev.onSince, ev.boot = time.Now(), boot
			if ev.serving {
				ev.serving = false
				after = append(after, ev.srv.Suspend)
			}
		case on && !ev.on:
			ev.on, ev.onSince, ev.boot = true, time.Now(), boot
		case !on && ev.on:
			ev.on, ev.serving = false, false
			after = append(after, ev.srv.Suspend)
		}
		if ev.on && !ev.serving && e.booting == 0 && time.Since(ev.onSince) >= e.bootDelay {
			ev.serving = true
			after = append(after, ev.srv.Resume)
		}
	}
	for id, ev := range e.edges {
		if !seen[id] { // deleted
			srv := ev.srv
			after = append(after, func() { _ = srv.Close() })
			delete(e.edges, id)
		}
	}
	return nil
}

// edgeRead is what refresh reads of the vCenter.
type edgeRead struct {
	vms      []mo.VirtualMachine
	pgs      []mo.DistributedVirtualPortgroup
	switches []mo.DistributedVirtualSwitch
}

// readVCenter reads the VMs (devices only for the edge appliances), the
// port groups and the switches.
func (e *edgeAppliances) readVCenter(ctx context.Context) (rd edgeRead, _ error) {
	v, err := view.NewManager(e.c.Client).CreateContainerView(ctx, e.c.ServiceContent.RootFolder, []string{"VirtualMachine", "DistributedVirtualPortgroup", "DistributedVirtualSwitch"}, true)
	if err != nil {
		return edgeRead{}, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState", "summary.runtime.bootTime", "config.vAppConfig"}, &rd.vms); err != nil {
		return edgeRead{}, err
	}
	// Devices only for the edge appliances: reading every VM's (a lab of 100
	// VMs, 20 times a second) would keep a core busy.
	var edgeRefs []types.ManagedObjectReference
	at := map[types.ManagedObjectReference]int{}
	for i, vm := range rd.vms {
		if strings.EqualFold(vappProperties(vm)["is_autonomous_edge"], "true") {
			edgeRefs = append(edgeRefs, vm.Self)
			at[vm.Self] = i
		}
	}
	if len(edgeRefs) > 0 {
		var devs []mo.VirtualMachine
		if err := property.DefaultCollector(e.c.Client).Retrieve(ctx, edgeRefs, []string{"config.hardware.device"}, &devs); err != nil {
			return edgeRead{}, err
		}
		for _, d := range devs {
			if i, ok := at[d.Self]; ok && d.Config != nil && rd.vms[i].Config != nil {
				rd.vms[i].Config.Hardware.Device = d.Config.Hardware.Device
			}
		}
	}
	if err := v.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key", "config"}, &rd.pgs); err != nil {
		return edgeRead{}, err
	}
	if err := v.Retrieve(ctx, []string{"DistributedVirtualSwitch"}, []string{"name", "summary"}, &rd.switches); err != nil {
		return edgeRead{}, err
	}
	return rd, nil
}

func boolPolicy(p *types.BoolPolicy) bool { return p != nil && p.Value != nil && *p.Value }

func vappProperties(vm mo.VirtualMachine) map[string]string {
	out := map[string]string{}
	if vm.Config == nil || vm.Config.VAppConfig == nil {
		return out
	}
	vc, ok := vm.Config.VAppConfig.(*types.VmConfigInfo)
	if !ok {
		return out
	}
	for _, p := range vc.Property {
		v := p.Value
		if v == "" {
			v = p.DefaultValue
		}
		out[p.Id] = v
	}
	return out
}

// trunkPortgroup is the port group of the VM's third NIC (OVF Network 2,
// the trunk); "" when it has none or it is not on a distributed port group.
func trunkPortgroup(vm mo.VirtualMachine, pgByKey map[string]string) string {
	if vm.Config == nil {
		return ""
	}
	var nics []types.BaseVirtualEthernetCard
	for _, d := range vm.Config.Hardware.Device {
		if n, ok := d.(types.BaseVirtualEthernetCard); ok {
			nics = append(nics, n)
		}
	}
	sort.Slice(nics, func(i, j int) bool {
		return nics[i].GetVirtualEthernetCard().Key < nics[j].GetVirtualEthernetCard().Key
	})
	if len(nics) < 3 {
		return ""
	}
	if b, ok := nics[2].GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo); ok {
		return pgByKey[b.Port.PortgroupKey]
	}
	return ""
}

// check is the lab's stretch.Wire: nil when the frames of p's network reach
// a running appliance's trunk NIC with the VLAN p carries.
func (e *edgeAppliances) check(p stretch.Port) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	pg, ok := e.wire.portgroups[p.Network]
	if !ok {
		return fmt.Errorf("on-prem network %q is not a distributed port group", p.Network)
	}
	if pg.vlan < 0 {
		return fmt.Errorf("on-prem network %q is a VLAN trunk, not a VM network", p.Network)
	}
	if p.VLAN != pg.vlan {
		return fmt.Errorf("the edge port of %q carries VLAN %d, but the port group is on VLAN %d: its frames arrive tagged %d on the sink and are dropped", p.Network, p.VLAN, pg.vlan, pg.vlan)
	}
	var why []string
	for _, ev := range e.edges {
		if !ev.serving {
			continue
		}
		sink, ok := e.wire.portgroups[ev.sink]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("appliance %s's trunk NIC is not on a distributed port group", ev.name))
			continue
		case sink.dvs != pg.dvs:
			why = append(why, fmt.Sprintf("sink %s is on %s, network %q on %s", ev.sink, sink.dvs, p.Network, pg.dvs))
			continue
		case pg.vlan > 0 && !inTrunk(sink.trunk, pg.vlan):
			why = append(why, fmt.Sprintf("sink %s does not trunk VLAN %d", ev.sink, pg.vlan))
			continue
		case !sink.forged:
			why = append(why, fmt.Sprintf("sink %s rejects forged transmits", ev.sink))
			continue
		}
		learning := sink.macLearning && versionAtLeast(e.wire.dvsVersion[sink.dvs], 6, 6)
		if !sink.promiscuous && !learning {
			why = append(why, fmt.Sprintf("sink %s neither is promiscuous nor learns MACs", ev.sink))
			continue
		}
		return nil
	}
	if len(why) == 0 {
		return errors.New("no L2VPN client appliance is running")
	}
	return errors.New(strings.Join(why, "; "))
}

func inTrunk(r []types.NumericRange, vlan int) bool {
	return slices.ContainsFunc(r, func(n types.NumericRange) bool { return int(n.Start) <= vlan && vlan <= int(n.End) })
}

func versionAtLeast(v string, major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(v, "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || a == major && b >= minor
}

// setDVSVersion gives the vCenter's distributed switches a product version
// (vcsim gives them the vCenter's own, 6.5).
func setDVSVersion(vc *VCenter, version string) error {
	found := false
	reg := vc.Model.Map()
	for _, ent := range append(reg.All("DistributedVirtualSwitch"), reg.All("VmwareDistributedVirtualSwitch")...) {
		dvs, ok := ent.(*simulator.DistributedVirtualSwitch)
		if !ok {
			continue
		}
		found = true
		// Under the object's lock: a running lab's clients read it.
		reg.WithLock(&simulator.Context{Map: reg}, dvs, func() {
			if dvs.Summary.ProductInfo != nil {
				dvs.Summary.ProductInfo.Version = version
			}
			if cfg := dvs.Config.GetDVSConfigInfo(); cfg != nil && cfg.ProductInfo.Version != "" {
				cfg.ProductInfo.Version = version
			}
		})
	}
	if !found {
		return fmt.Errorf("lab vCenter %s has no distributed switch", vc.Spec.Name)
	}
	return nil
}

// SetOnPremDVSVersion changes the version of the on-prem VDS (tests of the
// switches that predate MAC learning).
func (l *Lab) SetOnPremDVSVersion(version string) error { return setDVSVersion(l.OnPrem, version) }

// addVLANPortgroup adds the VLAN-backed port group that the lab can stretch
// beside the untagged one.
func addVLANPortgroup(ctx context.Context, c *govmomi.Client, spec VCenterSpec) error {
	f := find.NewFinder(c.Client, false)
	dc, err := f.Datacenter(ctx, spec.Datacenter)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	ref, err := f.Network(ctx, spec.DVS)
	if err != nil {
		return fmt.Errorf("lab DVS %s: %w", spec.DVS, err)
	}
	dvs, ok := ref.(*object.DistributedVirtualSwitch)
	if !ok {
		return fmt.Errorf("lab DVS %s is a %T", spec.DVS, ref)
	}
	task, err := dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{
		Name: VLANPortgroup, Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 128,
		DefaultPortConfig: &types.VMwareDVSPortSetting{Vlan: &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: VLANPortgroupID}},
	}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("lab port group %s: %w", VLANPortgroup, err)
	}
	return nil
}

// connListener is a net.Listener fed with connections accepted elsewhere.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	mu     sync.Mutex
	closed bool
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn, 16)}
}

func (l *connListener) push(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	select {
	case l.ch <- c:
		return true
	default:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	c, ok := <-l.ch
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

func (l *connListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
