package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

// Reach simulates the network of the walkthrough's web VMs. Each source VM
// has its own loopback address (guest IP 172.16.10.12 -> 127.16.10.12) and
// answers TCP connections there while it is reachable: powered on on-prem, or
// powered on at the provider (a VM with the same MAC, as a cutover creates
// it) while the L2 stretch is UP. Probes therefore really stop while a VM is
// down and come back after cutover.
type Reach struct {
	fabric  *stretch.Fabric
	onprem  *govmomi.Client
	cloud   *govmomi.Client
	every   time.Duration
	mu      sync.Mutex
	hosts   map[string]*reachHost // by guest IP
	stop    context.CancelFunc
	stopped chan struct{}
}

type reachHost struct {
	Name     string
	GuestIP  string
	Loopback string // host:port where the VM answers
	MAC      string
	OnPrem   bool // powered on on-prem
	Cloud    bool // a powered-on provider VM carries its MAC
	ln       net.Listener
	port     int
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

func startReach(ctx context.Context, onprem, provider *VCenter, fabric *stretch.Fabric) (*Reach, error) {
	r := &Reach{fabric: fabric, every: 50 * time.Millisecond, hosts: map[string]*reachHost{}, stopped: make(chan struct{})}
	var err error
	if r.onprem, err = labClient(ctx, onprem); err != nil {
		return nil, err
	}
	if r.cloud, err = labClient(ctx, provider); err != nil {
		return nil, err
	}
	for _, vm := range onprem.Spec.VMs {
		lo, err := loopbackFor(vm.IP)
		if err != nil {
			return nil, err
		}
		r.hosts[vm.IP] = &reachHost{Name: vm.Name, GuestIP: vm.IP, Loopback: lo}
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
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
			_ = r.refresh(ctx) // a failed poll keeps the last known state
		}
	}
}

type vmState struct {
	on   bool
	macs []string
}

func vmStates(ctx context.Context, c *govmomi.Client) (map[string]vmState, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState", "config.hardware.device"}, &vms); err != nil {
		return nil, err
	}
	out := map[string]vmState{}
	for _, vm := range vms {
		st := vmState{on: vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn}
		if vm.Config != nil {
			for _, d := range vm.Config.Hardware.Device {
				if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
					st.macs = append(st.macs, strings.ToLower(nic.GetVirtualEthernetCard().MacAddress))
				}
			}
		}
		out[vm.Name] = st
	}
	return out, nil
}

func (r *Reach) refresh(ctx context.Context) error {
	onprem, err := vmStates(ctx, r.onprem)
	if err != nil {
		return err
	}
	cloud, err := vmStates(ctx, r.cloud)
	if err != nil {
		return err
	}
	cloudOn := map[string]bool{}
	for _, st := range cloud {
		for _, mac := range st.macs {
			if st.on && mac != "" {
				cloudOn[mac] = true
			}
		}
	}
	stretchUp := r.fabric.AnyUp()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hosts {
		st := onprem[h.Name]
		if h.MAC == "" && len(st.macs) > 0 {
			h.MAC = st.macs[0]
		}
		h.OnPrem = st.on
		h.Cloud = stretchUp && h.MAC != "" && cloudOn[h.MAC]
		if err := h.set(h.OnPrem || h.Cloud); err != nil {
			return err
		}
	}
	return nil
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

// Plan lists every VM's address, sorted by name.
func (r *Reach) Plan() []ReachTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ReachTarget
	for _, h := range r.hosts {
		out = append(out, ReachTarget{Name: h.Name, GuestIP: h.GuestIP, Addr: net.JoinHostPort(h.Loopback, fmt.Sprint(h.port))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops the listeners.
func (r *Reach) Close() {
	if r.stop != nil {
		r.stop()
		<-r.stopped
	}
	r.mu.Lock()
	for _, h := range r.hosts {
		h.set(false)
	}
	r.mu.Unlock()
	for _, c := range []*govmomi.Client{r.onprem, r.cloud} {
		if c != nil {
			c.Logout(context.Background())
		}
	}
}
