package lab

import (
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// Lab guest credentials for VMware Tools guest operations.
const (
	GuestUser     = "ferry"
	GuestPassword = "lab-guest"
)

// guestPrograms replaces vcsim's GuestProcessManager (which needs Docker and
// panics without it). It runs two programs, as a Linux guest would: ping
// (exit code 0 when the target address is reachable in the lab's network
// model, 1 otherwise) and coreutils' timeout running bash's /dev/tcp
// connect (0 when the address accepts a TCP connection in that model, 1
// when it does not).
type guestPrograms struct {
	mo.GuestProcessManager
	reach func(vm types.ManagedObjectReference, ip string) bool
	tcp   func(vm types.ManagedObjectReference, addr string) bool

	mu    sync.Mutex
	next  int64
	procs map[int64]types.GuestProcessInfo
}

func installGuestPrograms(m *simulator.Model, reach func(vm types.ManagedObjectReference, ip string) bool, tcp func(vm types.ManagedObjectReference, addr string) bool) {
	ref := types.ManagedObjectReference{Type: "GuestProcessManager", Value: "guestOperationsProcessManager"}
	if gom, ok := m.Map().Get(*m.ServiceContent.GuestOperationsManager).(*simulator.GuestOperationsManager); ok && gom.ProcessManager != nil {
		ref = *gom.ProcessManager
	}
	g := &guestPrograms{reach: reach, tcp: tcp, next: 1000, procs: map[int64]types.GuestProcessInfo{}}
	g.Self = ref
	m.Map().Put(g)
	// vcsim has no GuestAuthManager: the lab's checks a login as its
	// guests' VMware Tools do.
	if gom, ok := m.Map().Get(*m.ServiceContent.GuestOperationsManager).(*simulator.GuestOperationsManager); ok && gom.AuthManager == nil {
		a := &guestAuth{}
		a.Self = types.ManagedObjectReference{Type: "GuestAuthManager", Value: "guestOperationsAuthManager"}
		gom.AuthManager = &a.Self
		m.Map().Put(a)
	}
}

// guestAuth is the guest operations' GuestAuthManager.
type guestAuth struct {
	mo.GuestAuthManager
}

// ValidateCredentialsInGuest refuses as checkGuest does (a wrong login:
// InvalidGuestLogin).
func (a *guestAuth) ValidateCredentialsInGuest(ctx *simulator.Context, req *types.ValidateCredentialsInGuest) soap.HasFault {
	body := &methods.ValidateCredentialsInGuestBody{}
	if fault := checkGuest(ctx, req.Vm, req.Auth); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.ValidateCredentialsInGuestResponse{}
	return body
}

func (g *guestPrograms) StartProgramInGuest(ctx *simulator.Context, req *types.StartProgramInGuest) (res soap.HasFault) {
	body := new(methods.StartProgramInGuestBody)
	defer simwrap.Recovered(&res, body, &body.Fault_)
	if fault := checkGuest(ctx, req.Vm, req.Auth); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	spec, ok := req.Spec.(*types.GuestProgramSpec)
	if !ok || spec == nil {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "spec"})
		return body
	}
	var exit int32
	switch spec.ProgramPath {
	case "/bin/ping", "/usr/bin/ping":
		args := strings.Fields(spec.Arguments)
		exit = 2 // ping: usage error
		if len(args) > 0 {
			exit = 1
			if g.reach(req.Vm, args[len(args)-1]) {
				exit = 0
			}
		}
	case "/usr/bin/timeout":
		// timeout N /bin/bash -c 'exec 3<>/dev/tcp/HOST/PORT'
		_, dev, ok := strings.Cut(spec.Arguments, "/dev/tcp/")
		host, port, ok2 := strings.Cut(strings.TrimRight(dev, "'\" "), "/")
		exit = 125 // timeout: the command could not run
		if ok && ok2 && strings.Contains(spec.Arguments, "/bin/bash -c") {
			exit = 1 // bash: connection refused
			if g.tcp(req.Vm, net.JoinHostPort(host, port)) {
				exit = 0
			}
		}
	default:
		body.Fault_ = simulator.Fault("", &types.FileNotFound{FileFault: types.FileFault{File: spec.ProgramPath}})
		return body
	}
	now := time.Now()
	g.mu.Lock()
	g.next++
	pid := g.next
	g.procs[pid] = types.GuestProcessInfo{
		Name: spec.ProgramPath, Pid: pid, Owner: GuestUser, CmdLine: spec.ProgramPath + " " + spec.Arguments,
		StartTime: now, EndTime: &now, ExitCode: exit,
	}
	g.mu.Unlock()
	body.Res = &types.StartProgramInGuestResponse{Returnval: pid}
	return body
}

func (g *guestPrograms) ListProcessesInGuest(ctx *simulator.Context, req *types.ListProcessesInGuest) soap.HasFault {
	body := &methods.ListProcessesInGuestBody{Res: new(types.ListProcessesInGuestResponse)}
	if fault := checkGuest(ctx, req.Vm, req.Auth); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		body.Res = nil
		return body
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, pid := range req.Pids {
		if p, ok := g.procs[pid]; ok {
			body.Res.Returnval = append(body.Res.Returnval, p)
		}
	}
	return body
}

func (g *guestPrograms) TerminateProcessInGuest(ctx *simulator.Context, req *types.TerminateProcessInGuest) soap.HasFault {
	body := new(methods.TerminateProcessInGuestBody)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.procs[req.Pid]; !ok {
		body.Fault_ = simulator.Fault("", &types.GuestProcessNotFound{Pid: req.Pid})
		return body
	}
	body.Res = new(types.TerminateProcessInGuestResponse)
	return body
}

// checkGuest refuses like vSphere does: VM off or tools not running, or a wrong login.
func checkGuest(ctx *simulator.Context, ref types.ManagedObjectReference, auth types.BaseGuestAuthentication) types.BaseMethodFault {
	vm, ok := ctx.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: ref}
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return &types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: vm.Runtime.PowerState}
	}
	if vm.Runtime.Question != nil {
		// Paused until its question is answered (a full datastore): its
		// guest, VMware Tools included, runs nothing.
		return &types.GuestOperationsUnavailable{}
	}
	a, ok := auth.(*types.NamePasswordAuthentication)
	if !ok || a.Username != GuestUser || a.Password != GuestPassword {
		return &types.InvalidGuestLogin{}
	}
	return nil
}
