package vsphere

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	vimtask "github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// PowerState reads a VM's power state.
func (c *Client) PowerState(ctx context.Context, ref Ref) (PowerState, error) {
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"runtime.powerState"}, &vm); err != nil {
		return "", fmt.Errorf("power state of %s: %w", ref.Value, err)
	}
	return PowerState(vm.Runtime.PowerState), nil
}

// EnsurePoweredOn powers a VM on (no-op if it is on).
func (c *Client) EnsurePoweredOn(ctx context.Context, ref Ref) error {
	st, err := c.PowerState(ctx, ref)
	if err != nil || st == PoweredOn {
		return err
	}
	_, err = RunTask(ctx, func() (*object.Task, error) {
		return object.NewVirtualMachine(c.Client.Client, ref.Reference()).PowerOn(ctx)
	})
	if err != nil {
		return fmt.Errorf("power on %s: %w", vmName(ctx, c, ref), err)
	}
	return nil
}

// PowerOff powers a VM off hard (no-op if it is off).
func (c *Client) PowerOff(ctx context.Context, ref Ref) error {
	st, err := c.PowerState(ctx, ref)
	if err != nil || st == PoweredOff {
		return err
	}
	_, err = RunTask(ctx, func() (*object.Task, error) {
		return object.NewVirtualMachine(c.Client.Client, ref.Reference()).PowerOff(ctx)
	})
	if err != nil {
		return fmt.Errorf("power off %s: %w", vmName(ctx, c, ref), err)
	}
	return nil
}

// ErrShutdownTimeout says a guest did not shut down in time.
var ErrShutdownTimeout = errors.New("guest did not shut down in time")

// ErrShutdownAsked marks a Shutdown error after its guest OS was asked to
// shut down (or may have been: the request was cut off by ctx) and the VM
// was not seen powered off. vCenter cannot cancel a guest shutdown: the VM
// goes on reading powered on until its guest has stopped, then powers off,
// and a PowerOn meanwhile is refused (InvalidPowerState). A caller that
// wants it running has to wait for the power-off first (WaitPoweredOff).
var ErrShutdownAsked = errors.New("its guest OS was asked to shut down")

// shutdownAsked is an error of Shutdown's marked ErrShutdownAsked, its
// message unchanged.
type shutdownAsked struct{ error }

func (e shutdownAsked) Unwrap() error        { return e.error }
func (e shutdownAsked) Is(target error) bool { return target == ErrShutdownAsked }

// Shutdown asks the guest OS to shut down and waits up to timeout for the VM
// to be powered off. With hard set, it then powers the VM off; otherwise it
// returns ErrShutdownTimeout. hard (the result) says why the VM was powered
// off hard ("": it was not, its guest shut down): the guest did not stop
// in time, or vCenter refused to ask it (VMware Tools not running, the VM
// busy past taskRetry's wait), in which case the guest was never asked and
// the VM is powered off at once. An error after the guest was asked (ctx
// ended, the timeout without hard) is also ErrShutdownAsked: the VM may
// still power off.
func (c *Client) Shutdown(ctx context.Context, ref Ref, timeout time.Duration, hard bool) (how string, err error) {
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	name := vmName(ctx, c, ref)
	if err := vm.ShutdownGuest(ctx); err != nil {
		if ctx.Err() != nil {
			// Cut off: vCenter may have had the request and accepted it.
			return "", shutdownAsked{fmt.Errorf("shut down guest %s: %w", name, ctx.Err())}
		}
		if !hard {
			return "", fmt.Errorf("shut down guest %s: %w", name, err)
		}
		return fmt.Sprintf("its guest could not be asked to shut down (%v)", err), c.PowerOff(ctx, ref)
	}
	if off, _ := c.WaitPoweredOff(ctx, ref, time.Now().Add(timeout)); off {
		return "", nil
	}
	if ctx.Err() != nil {
		return "", shutdownAsked{ctx.Err()}
	}
	if !hard {
		return "", shutdownAsked{fmt.Errorf("shut down guest %s: %w after %v", name, ErrShutdownTimeout, timeout)}
	}
	const late = "guest did not stop in time"
	if err := c.PowerOff(ctx, ref); err != nil {
		return late, shutdownAsked{err}
	}
	return late, nil
}

// WaitPoweredOff waits until the VM is powered off or until, and reports
// whether it is off. vCenter reports a VM whose guest OS is shutting down
// (ShutdownGuest) as powered on until the guest has stopped.
func (c *Client) WaitPoweredOff(ctx context.Context, ref Ref, until time.Time) (bool, error) {
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	off := false
	err := property.Wait(wctx, property.DefaultCollector(c.Client.Client), ref.Reference(), []string{"runtime.powerState"}, func(pc []types.PropertyChange) bool {
		for _, ch := range pc {
			if ch.Val == types.VirtualMachinePowerStatePoweredOff {
				off = true
			}
		}
		return off
	})
	if off {
		return true, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if wctx.Err() != nil {
		return false, nil // still on at until
	}
	return false, err
}

// DiskFile is an existing virtual disk to attach, and where: the
// controller type and bus of one of VMOverDisks.Controllers and the unit
// number on it. Without a controller type, disks go in order onto one
// pvscsi controller.
type DiskFile struct {
	Path           string // "[provider-ds] WebApp2/WebApp2.vmdk"
	Capacity       int64  // bytes
	ControllerType string `json:",omitempty"`
	Bus            int32  `json:",omitempty"`
	Unit           int32  `json:",omitempty"`
	Mode           string `json:",omitempty"` // persistent (default), independent_persistent, ...
	// Parent, when set, makes CreateVMOverDisks create Path as a child disk
	// (a linked clone) of the existing disk Parent: nothing is copied, the
	// VM's writes go to Path and Parent is only read. Parent must not be
	// written by a running VM (a snapshot of that VM freezes it).
	Parent string `json:",omitempty"`
}

// NICSpec is a network adapter of the VM to create.
type NICSpec struct {
	Type           string // vmxnet3, e1000e, e1000, ...
	MAC            string // kept: the guest knows its interfaces by MAC
	Network        string // provider port group
	StartConnected bool
}

// VMOverDisks describes a VM to create over existing disk files (a replica).
type VMOverDisks struct {
	Name       string
	Datacenter string
	Pool       string // resource pool path or name
	Datastore  string // for the VM's own files
	GuestID    string
	Firmware   string // bios | efi; "" is vCenter's default (bios)
	SecureBoot bool
	// HWVersion ("vmx-19") must be one the cluster of Pool can create.
	HWVersion      string
	CPUs           int32
	CoresPerSocket int32
	MemoryMB       int64
	// UUID is the BIOS UUID to give the VM ("": vCenter makes one).
	UUID string
	// ExtraConfig options the guest depends on (disk.EnableUUID).
	ExtraConfig map[string]string
	// Controllers to create, each with the type and bus of the source's.
	Controllers []ControllerConfig
	Disks       []DiskFile
	NICs        []NICSpec
	// Network and MAC describe a single vmxnet3 NIC when NICs is empty.
	Network string
	MAC     string
}

// FromConfig fills the VM's hardware from a captured source configuration:
// firmware, guest id, hardware version, CPU, memory, controllers, disk
// positions (disks[i] is the replica of cfg.Disks[i]) and every NIC with
// its type and MAC on networks[i], the provider port group for cfg.NICs[i].
func (s *VMOverDisks) FromConfig(cfg VMConfig, disks []string, networks []string) error {
	if len(disks) != len(cfg.Disks) {
		return fmt.Errorf("VM %s: %d replica disk(s) for %d source disk(s)", cfg.Name, len(disks), len(cfg.Disks))
	}
	if len(networks) != len(cfg.NICs) {
		return fmt.Errorf("VM %s: %d network(s) for %d NIC(s)", cfg.Name, len(networks), len(cfg.NICs))
	}
	s.GuestID, s.Firmware, s.SecureBoot, s.HWVersion = cfg.GuestID, cfg.Firmware, cfg.SecureBoot, cfg.HWVersion
	s.CPUs, s.CoresPerSocket, s.MemoryMB = cfg.CPUs, cfg.CoresPerSocket, cfg.MemoryMB
	if cfg.DiskEnableUUID != "" {
		s.ExtraConfig = map[string]string{"disk.EnableUUID": cfg.DiskEnableUUID}
	}
	s.Controllers = append([]ControllerConfig(nil), cfg.Controllers...)
	s.Disks = make([]DiskFile, len(disks))
	for i, d := range cfg.Disks {
		s.Disks[i] = DiskFile{Path: disks[i], Capacity: d.Capacity, ControllerType: d.ControllerType, Bus: d.Bus, Unit: d.Unit, Mode: d.Mode}
	}
	s.NICs = make([]NICSpec, len(cfg.NICs))
	for i, n := range cfg.NICs {
		s.NICs[i] = NICSpec{Type: n.Type, MAC: n.MAC, Network: networks[i], StartConnected: n.StartConnected}
	}
	s.Network, s.MAC = "", ""
	return nil
}

// keptMACs reports whether a NIC of spec keeps a given MAC (a static one).
func keptMACs(spec VMOverDisks) bool {
	if len(spec.NICs) == 0 {
		return spec.Network != "" && spec.MAC != ""
	}
	return slices.ContainsFunc(spec.NICs, func(n NICSpec) bool { return n.MAC != "" })
}

// resourcePool finds a resource pool (path or name) in a datacenter.
func (c *Client) resourcePool(ctx context.Context, datacenter, pool string) (*object.ResourcePool, error) {
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	return c.resourcePoolIn(ctx, f, dc, pool)
}

// HWVersions lists the virtual hardware versions ("vmx-19") the compute
// resource of a resource pool can create VMs with.
func (c *Client) HWVersions(ctx context.Context, datacenter, pool string) ([]string, error) {
	rp, err := c.resourcePool(ctx, datacenter, pool)
	if err != nil {
		return nil, err
	}
	var prp mo.ResourcePool
	if err := c.PropertyCollector().RetrieveOne(ctx, rp.Reference(), []string{"owner"}, &prp); err != nil {
		return nil, fmt.Errorf("resource pool %s: %w", pool, err)
	}
	var cr mo.ComputeResource
	if err := c.PropertyCollector().RetrieveOne(ctx, prp.Owner, []string{"environmentBrowser"}, &cr); err != nil {
		return nil, fmt.Errorf("cluster of %s: %w", pool, err)
	}
	if cr.EnvironmentBrowser == nil {
		return nil, fmt.Errorf("cluster of %s has no environment browser", pool)
	}
	descs, err := object.NewEnvironmentBrowser(c.Client.Client, *cr.EnvironmentBrowser).QueryConfigOptionDescriptor(ctx)
	if err != nil {
		return nil, fmt.Errorf("hardware versions of the cluster of %s: %w", pool, err)
	}
	var out []string
	for _, d := range descs {
		if !d.CreateSupported {
			continue
		}
		out = append(out, d.Key)
	}
	return out, nil
}

// CheckHWVersion refuses a hardware version the cluster of pool cannot run,
// with the versions it can.
func (c *Client) CheckHWVersion(ctx context.Context, datacenter, pool, version string) error {
	if version == "" {
		return nil
	}
	have, err := c.HWVersions(ctx, datacenter, pool)
	if err != nil {
		return err
	}
	if slices.Contains(have, version) {
		return nil
	}
	return fmt.Errorf("hardware version %s cannot run in the cluster of resource pool %s (its hosts create %s): upgrade the provider's hosts or choose another resource pool; ferry does not change a guest's hardware", version, pool, strings.Join(have, ", "))
}

// CreateVMOverDisks creates a powered-off VM whose disks are the given
// existing files, or child disks of them (DiskFile.Parent; nothing is
// copied either way), with the given firmware, hardware
// version, CPU, memory, controllers, disk positions and NICs.
func (c *Client) CreateVMOverDisks(ctx context.Context, spec VMOverDisks) (Ref, error) {
	var none Ref
	f, dc, err := c.finderIn(ctx, spec.Datacenter)
	if err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	pool, err := c.resourcePoolIn(ctx, f, dc, spec.Pool)
	if err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	ds, err := c.datastoreIn(ctx, f, dc, spec.Datastore)
	if err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return none, err
	}
	if err := c.CheckHWVersion(ctx, spec.Datacenter, spec.Pool, spec.HWVersion); err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	devices, err := buildDevices(ctx, f, ds.Reference(), spec)
	if err != nil {
		return none, fmt.Errorf("create VM %s: %w", spec.Name, err)
	}
	// Add devices without a file operation: the disks exist already; a
	// child disk is created over its parent.
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return none, err
	}
	for _, ch := range changes {
		spec := ch.GetVirtualDeviceConfigSpec()
		spec.FileOperation = ""
		if d, ok := spec.Device.(*types.VirtualDisk); ok {
			if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Parent != nil {
				spec.FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			}
		}
	}
	guest := spec.GuestID
	if guest == "" {
		guest = string(types.VirtualMachineGuestOsIdentifierOtherGuest64)
	}
	cfg := types.VirtualMachineConfigSpec{
		Name: spec.Name, GuestId: guest, NumCPUs: spec.CPUs, MemoryMB: spec.MemoryMB,
		Firmware: spec.Firmware, Version: spec.HWVersion, Uuid: spec.UUID,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", spec.Datastore)},
		DeviceChange: changes,
	}
	if spec.CoresPerSocket > 0 {
		cps := spec.CoresPerSocket
		cfg.NumCoresPerSocket = &cps
	}
	if spec.SecureBoot {
		if spec.Firmware != string(types.GuestOsDescriptorFirmwareTypeEfi) {
			return none, fmt.Errorf("create VM %s: secure boot needs EFI firmware, not %q", spec.Name, spec.Firmware)
		}
		cfg.BootOptions = &types.VirtualMachineBootOptions{EfiSecureBootEnabled: types.NewBool(true)}
	}
	extra := maps.Clone(spec.ExtraConfig)
	if keptMACs(spec) {
		// The MACs kept are the source's, generated by its vCenter
		// (00:50:56:80-BF) or ESXi host (00:0C:29): ranges ESXi keeps for
		// the addresses it and vCenter generate, and refuses as a static
		// address at power-on ("... is not an allowed static Ethernet
		// address. It conflicts with VMware reserved MACs") unless the
		// NIC's check is off. The NICs are ethernet0.. in the order made.
		if extra == nil {
			extra = map[string]string{}
		}
		for n := range max(len(spec.NICs), 1) {
			extra[fmt.Sprintf("ethernet%d.checkMACAddress", n)] = "false"
		}
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		cfg.ExtraConfig = append(cfg.ExtraConfig, &types.OptionValue{Key: k, Value: extra[k]})
	}
	sent := time.Now()
	task, err := folders.VmFolder.CreateVM(ctx, cfg, pool, nil)
	if err != nil {
		if ctx.Err() != nil {
			// Cut off: vCenter may have had the request, and its task runs
			// (CreateVMTasks finds it in vCenter's task history).
			return none, &CreateUnfinishedError{Name: spec.Name, Sent: sent, err: fmt.Errorf("create VM %s: %w", spec.Name, ctx.Err())}
		}
		return none, createVMError(spec.Name, dc, err)
	}
	info, err := WaitTask(ctx, task)
	if err != nil {
		if ctx.Err() != nil {
			return none, &CreateUnfinishedError{Name: spec.Name, Task: refOf(task.Reference()), Sent: sent, err: fmt.Errorf("create VM %s: %w", spec.Name, ctx.Err())}
		}
		return none, createVMError(spec.Name, dc, err)
	}
	return refOf(info.Result.(types.ManagedObjectReference)), nil
}

// CreateUnfinishedError is CreateVMOverDisks's error when ctx ended before
// the VM was known to be made: vCenter's CreateVM task goes on without the
// caller, and may still make the VM. Task is that task (CreatedVM says what
// it made), empty when the call itself was cut off (vCenter may or may not
// have had it: CreateVMTasks lists the tasks it began since Sent, when the
// request was sent, by this machine's clock).
type CreateUnfinishedError struct {
	Name string
	Task Ref
	Sent time.Time
	err  error
}

func (e *CreateUnfinishedError) Error() string { return e.err.Error() }
func (e *CreateUnfinishedError) Unwrap() error { return e.err }

// CreatedVM waits, until at the latest, for the CreateVM task task to end
// and returns the VM it made; ok false when the task failed (it made none).
// An error when it still runs at until, or cannot be read.
func (c *Client) CreatedVM(ctx context.Context, task Ref, until time.Time) (vm Ref, ok bool, err error) {
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	info, err := object.NewTask(c.Client.Client, task.Reference()).WaitForResult(wctx)
	var failed vimtask.Error
	switch {
	case errors.As(err, &failed):
		return Ref{}, false, nil
	case err == nil && info != nil && info.State == types.TaskInfoStateSuccess:
		if m, isRef := info.Result.(types.ManagedObjectReference); isRef {
			return refOf(m), true, nil
		}
		return Ref{}, false, fmt.Errorf("task %s succeeded without naming the VM it made", task.Value)
	case ctx.Err() != nil:
		return Ref{}, false, ctx.Err()
	case err == nil || wctx.Err() != nil:
		return Ref{}, false, fmt.Errorf("task %s is still running at %s", task.Value, until.UTC().Format("15:04:05 UTC"))
	}
	return Ref{}, false, fmt.Errorf("task %s: %w", task.Value, err)
}

// createVMTaskMargin widens CreateVMTasks's window for the drift between
// this machine's clock and vCenter's.
const createVMTaskMargin = time.Minute

// CreateVMTasks lists the CreateVM tasks (Folder.createVm) that vCenter
// queued in datacenter's VM folder since since (this machine's clock: read
// as vCenter's clock now less the time elapsed since, widened by a minute
// for drift) for this client's account, whatever their state, newest
// first. It reads vCenter's task history (a TaskHistoryCollector filtered
// by the folder and the queue time, destroyed after; the tasks of the last
// 1000 at most) and keeps the tasks whose reason names the user of this
// client's session (TaskReasonUser; vCenter names both by the account's
// principal, "VSPHERE.LOCAL\ferry" for a login as ferry@vsphere.local):
// another user's CreateVM in that folder and window is not this client's.
// It changes nothing. A task does not say the name of the VM it makes:
// CreatedVM says which VM it made.
func (c *Client) CreateVMTasks(ctx context.Context, datacenter string, since time.Time) ([]Ref, error) {
	_, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}
	us, err := c.userSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: its session's user: %w", c.Endpoint, err)
	}
	if us == nil {
		return nil, fmt.Errorf("vCenter %s: its session's user: not logged in", c.Endpoint)
	}
	now, err := methods.GetCurrentTime(ctx, c.Client.Client)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: its clock: %w", c.Endpoint, err)
	}
	begin := now.Add(-time.Since(since) - createVMTaskMargin)
	filter := types.TaskFilterSpec{
		Entity: &types.TaskFilterSpecByEntity{Entity: folders.VmFolder.Reference(), Recursion: types.TaskFilterSpecRecursionOptionSelf},
		Time:   &types.TaskFilterSpecByTime{TimeType: types.TaskFilterSpecTimeOptionQueuedTime, BeginTime: &begin},
	}
	collector, err := vimtask.NewManager(c.Client.Client).CreateCollectorForTasks(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: its task history: %w", c.Endpoint, err)
	}
	defer func() { _ = collector.Destroy(context.WithoutCancel(ctx)) }()
	if err := collector.SetPageSize(ctx, 1000); err != nil {
		return nil, fmt.Errorf("vCenter %s: its task history: %w", c.Endpoint, err)
	}
	page, err := collector.LatestPage(ctx)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: its task history: %w", c.Endpoint, err)
	}
	slices.SortFunc(page, func(a, b types.TaskInfo) int { return b.QueueTime.Compare(a.QueueTime) })
	var out []Ref
	for _, t := range page {
		// Its user checked here, not with the collector's filter
		// (TaskFilterSpec.UserName): the page holds the folder's tasks
		// of a few minutes, and the reason is what vCenter records.
		by, isUser := t.Reason.(*types.TaskReasonUser)
		if t.DescriptionId == "Folder.createVm" && isUser && strings.EqualFold(by.UserName, us.UserName) {
			out = append(out, refOf(t.Task))
		}
	}
	return out, nil
}

// createVMError says why vCenter did not create the VM name in dc's VM
// folder. A name the folder holds (DuplicateName, in the call's task, or
// from some servers on the call) is said in full: which object holds it
// and what to do (vCenter's own message, "The name 'x' already exists.",
// names neither the folder nor the holder).
func createVMError(name string, dc *object.Datacenter, err error) error {
	var dup *types.DuplicateName
	if _, ok := fault.As(err, &dup); ok {
		where := dc.Name()
		if where == "" {
			where = dc.Reference().Value
		}
		return fmt.Errorf("create VM %s: the VM folder of datacenter %s holds an object named %s already (%s %s), and vCenter makes no second of a name in a folder: rename or remove that one, then run again (%w)",
			name, where, dup.Name, dup.Object.Type, dup.Object.Value, err)
	}
	return fmt.Errorf("create VM %s: %w", name, err)
}

// buildDevices makes the controllers, disks and NICs of spec.
func buildDevices(ctx context.Context, f *find.Finder, ds types.ManagedObjectReference, spec VMOverDisks) (object.VirtualDeviceList, error) {
	var devices object.VirtualDeviceList
	ctrls := spec.Controllers
	legacy := len(ctrls) == 0
	if legacy {
		ctrls = []ControllerConfig{{Type: CtrlPVSCSI, Bus: 0}}
	}
	keyOf := map[string]int32{}
	for i, ct := range ctrls {
		key := int32(-100 - i)
		id := fmt.Sprintf("%s%d", ct.Type, ct.Bus)
		if _, dup := keyOf[id]; dup {
			return nil, fmt.Errorf("controller %s twice", id)
		}
		var d types.BaseVirtualDevice
		switch ct.Type {
		case CtrlPVSCSI, CtrlLSILogic, CtrlLSISAS, CtrlBusLogic:
			dev, err := devices.CreateSCSIController(ct.Type)
			if err != nil {
				return nil, err
			}
			scsi := dev.(types.BaseVirtualSCSIController).GetVirtualSCSIController()
			scsi.BusNumber, scsi.Key = ct.Bus, key
			if ct.Sharing != "" {
				scsi.SharedBus = types.VirtualSCSISharing(ct.Sharing)
			}
			d = dev
		case CtrlNVMe:
			d = &types.VirtualNVMEController{VirtualController: types.VirtualController{BusNumber: ct.Bus, VirtualDevice: types.VirtualDevice{Key: key}}}
		case CtrlSATA:
			d = &types.VirtualAHCIController{VirtualSATAController: types.VirtualSATAController{VirtualController: types.VirtualController{BusNumber: ct.Bus, VirtualDevice: types.VirtualDevice{Key: key}}}}
		case CtrlIDE:
			// Every VM has IDE controllers 0 and 1 (keys 200 and 201).
			key = 200 + ct.Bus
			keyOf[id] = key
			continue
		default:
			return nil, fmt.Errorf("controller type %q is not one ferry can create", ct.Type)
		}
		keyOf[id] = key
		devices = append(devices, d)
	}
	for i, d := range spec.Disks {
		typ, bus, unit := d.ControllerType, d.Bus, d.Unit
		if legacy || typ == "" {
			typ, bus, unit = CtrlPVSCSI, 0, int32(i)
			if unit >= 7 {
				unit++ // unit 7 is the SCSI controller's own
			}
		}
		key, ok := keyOf[fmt.Sprintf("%s%d", typ, bus)]
		if !ok {
			return nil, fmt.Errorf("disk %s is on controller %s%d, which the VM has not", d.Path, typ, bus)
		}
		mode := d.Mode
		if mode == "" {
			mode = string(types.VirtualDiskModePersistent)
		}
		u := unit
		var parent *types.VirtualDiskFlatVer2BackingInfo
		if d.Parent != "" {
			var pp DatastorePath
			if !pp.FromString(d.Parent) || pp.Datastore == "" || pp.Path == "" {
				return nil, fmt.Errorf("disk %s: parent %q is not a datastore path", d.Path, d.Parent)
			}
			pds, err := f.Datastore(ctx, pp.Datastore)
			if err != nil {
				return nil, fmt.Errorf("disk %s: parent %s: %w", d.Path, d.Parent, err)
			}
			ref := pds.Reference()
			parent = &types.VirtualDiskFlatVer2BackingInfo{DiskMode: mode, VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: d.Parent, Datastore: &ref}}
		}
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key: int32(-200 - i), ControllerKey: key, UnitNumber: &u,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					DiskMode:                     mode,
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: d.Path, Datastore: &ds},
					Parent:                       parent,
				},
			},
			CapacityInKB: d.Capacity / 1024, CapacityInBytes: d.Capacity,
		}
		devices = append(devices, disk)
	}
	nics := spec.NICs
	if len(nics) == 0 && spec.Network != "" {
		nics = []NICSpec{{Type: "vmxnet3", MAC: spec.MAC, Network: spec.Network, StartConnected: true}}
	}
	for i, n := range nics {
		pg, err := f.Network(ctx, n.Network)
		if err != nil {
			return nil, fmt.Errorf("port group %s: %w", n.Network, err)
		}
		backing, err := pg.EthernetCardBackingInfo(ctx)
		if err != nil {
			return nil, err
		}
		nic, err := devices.CreateEthernetCard(n.Type, backing)
		if err != nil {
			return nil, err
		}
		card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.Key = int32(-300 - i)
		if n.MAC != "" {
			card.AddressType = string(types.VirtualEthernetCardMacTypeManual)
			card.MacAddress = n.MAC
		}
		card.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: n.StartConnected, AllowGuestControl: true}
		devices = append(devices, nic)
	}
	return devices, nil
}

// DetachDisks powers a VM off and removes every virtual disk from it
// without a file operation: the files stay on the datastore, and no later
// Destroy of the VM (by vCenter or by Cloud Director, which deletes a VM's
// attached disks with it) can delete them. It returns the detached files. A
// VM that no longer exists has nothing attached: no error.
func (c *Client) DetachDisks(ctx context.Context, ref Ref) ([]string, error) {
	if err := c.PowerOff(ctx, ref); err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, err
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	devices, err := vm.Device(ctx)
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("devices of %s: %w", ref.Value, err)
	}
	disks := devices.SelectByType((*types.VirtualDisk)(nil))
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, d := range disks {
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: d})
	}
	files := backingFiles(disks)
	if len(changes) == 0 {
		return nil, nil
	}
	_, err = RunTask(ctx, func() (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
	})
	if err != nil {
		return nil, fmt.Errorf("detach disks of %s: %w", ref.Value, err)
	}
	// Check: a destroy must find no disk left.
	devices, err = vm.Device(ctx)
	if err != nil {
		return nil, fmt.Errorf("devices of %s: %w", ref.Value, err)
	}
	if left := devices.SelectByType((*types.VirtualDisk)(nil)); len(left) > 0 {
		return nil, fmt.Errorf("detach disks of %s: %d disk(s) still attached", ref.Value, len(left))
	}
	return files, nil
}

// DiskFilesOf lists the files of the virtual disks attached to a VM (none
// for a VM that no longer exists).
func (c *Client) DiskFilesOf(ctx context.Context, ref Ref) ([]string, error) {
	devices, err := object.NewVirtualMachine(c.Client.Client, ref.Reference()).Device(ctx)
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("devices of %s: %w", ref.Value, err)
	}
	return backingFiles(devices.SelectByType((*types.VirtualDisk)(nil))), nil
}

// backingFiles lists the files that back disks.
func backingFiles(disks object.VirtualDeviceList) []string {
	var files []string
	for _, d := range disks {
		if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			files = append(files, b.GetVirtualDeviceFileBackingInfo().FileName)
		}
	}
	return files
}

// DestroyKeepDisks detaches a VM's disks without deleting their files
// (DetachDisks), then destroys the VM: the replica disks survive a rollback.
// A VM already gone is not an error.
func (c *Client) DestroyKeepDisks(ctx context.Context, ref Ref) error {
	if _, err := c.DetachDisks(ctx, ref); err != nil {
		return err
	}
	_, err := RunTask(ctx, func() (*object.Task, error) {
		return object.NewVirtualMachine(c.Client.Client, ref.Reference()).Destroy(ctx)
	})
	if err != nil && !gone(err) {
		return fmt.Errorf("destroy %s: %w", ref.Value, err)
	}
	return nil
}

// gone reports whether err says the managed object no longer exists.
func gone(err error) bool {
	return fault.Is(err, &types.ManagedObjectNotFound{})
}

// VMByRef reads the name of the VM ref; ok false when vCenter has no such
// VM (any more).
func (c *Client) VMByRef(ctx context.Context, ref Ref) (name string, ok bool, err error) {
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"name"}, &vm); err != nil {
		if gone(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("VM %s: %w", ref.Value, err)
	}
	return vm.Name, true, nil
}

// FindVM returns the VM named name, or ok=false. It reads the inventory's
// VM names only: a provider vCenter holds every tenant's VMs, whose devices
// and the rest (VMs) would come to megabytes.
func (c *Client) FindVM(ctx context.Context, name string) (Ref, bool, error) {
	mvms, err := c.retrieveVMs(ctx, []string{"name"})
	if err != nil {
		return Ref{}, false, err
	}
	for _, m := range mvms {
		if m.Name == name {
			return refOf(m.Self), true, nil
		}
	}
	return Ref{}, false, nil
}

// VMInRootFolder finds the VM named name in datacenter's VM folder itself
// (not its subfolders), where CreateVMOverDisks makes a VM: vCenter refuses
// a second VM of a name a folder holds (DuplicateName).
func (c *Client) VMInRootFolder(ctx context.Context, datacenter, name string) (Ref, bool, error) {
	_, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return Ref{}, false, err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return Ref{}, false, err
	}
	found, err := object.NewSearchIndex(c.Client.Client).FindChild(ctx, folders.VmFolder, name)
	if err != nil || found == nil {
		return Ref{}, false, err
	}
	if found.Reference().Type != "VirtualMachine" {
		return Ref{}, false, nil
	}
	return refOf(found.Reference()), true, nil
}

// VMState is a virtual machine's name and power state.
type VMState struct {
	Name       string
	PowerState PowerState
	// Pool is the managed object id of the resource pool the VM runs in
	// ("" when vCenter names none).
	Pool string
}

// VMStates lists the virtual machines of datacenter (the vCenter's only
// one when empty) with their power states and resource pools, sorted by
// name; templates are left out (they cannot run).
func (c *Client) VMStates(ctx context.Context, datacenter string) ([]VMState, error) {
	dc, err := c.Datacenter(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	v, err := view.NewManager(c.Client.Client).CreateContainerView(ctx, dc.dc.Reference(), []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list VMs: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var mvms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState", "config.template", "resourcePool"}, &mvms); err != nil {
		return nil, fmt.Errorf("vCenter %s: list VMs: %w", c.Endpoint, err)
	}
	out := make([]VMState, 0, len(mvms))
	for _, m := range mvms {
		if m.Config != nil && m.Config.Template {
			continue
		}
		st := VMState{Name: m.Name, PowerState: PowerState(m.Runtime.PowerState)}
		if m.ResourcePool != nil {
			st.Pool = m.ResourcePool.Value
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b VMState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// IsTemplate reports whether the VM is a template (which cannot be powered
// on nor reconfigured as a VM).
func (c *Client) IsTemplate(ctx context.Context, ref Ref) (bool, error) {
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"config.template"}, &vm); err != nil {
		return false, fmt.Errorf("VM %s: %w", ref.Value, err)
	}
	return vm.Config != nil && vm.Config.Template, nil
}

// VMPool is the managed object id of the resource pool a VM runs in (""
// when vCenter names none).
func (c *Client) VMPool(ctx context.Context, ref Ref) (string, error) {
	var vm mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"resourcePool"}, &vm); err != nil {
		return "", fmt.Errorf("VM %s: %w", ref.Value, err)
	}
	if vm.ResourcePool == nil {
		return "", nil
	}
	return vm.ResourcePool.Value, nil
}

// PoolChain lists the managed object ids of a resource pool and of every
// resource pool above it, the pool first.
func (c *Client) PoolChain(ctx context.Context, datacenter, pool string) ([]string, error) {
	rp, err := c.resourcePool(ctx, datacenter, pool)
	if err != nil {
		return nil, err
	}
	var out []string
	ref := rp.Reference()
	for ref.Type == "ResourcePool" {
		out = append(out, ref.Value)
		var p mo.ResourcePool
		if err := c.PropertyCollector().RetrieveOne(ctx, ref, []string{"parent"}, &p); err != nil {
			return nil, fmt.Errorf("resource pool %s: %w", pool, err)
		}
		if p.Parent == nil {
			break
		}
		ref = *p.Parent
	}
	return out, nil
}

// Pool is a resource pool (or vApp) by managed object id, with its path
// from the pool PoolsWithin was asked about ("Company-VDC/infra").
type Pool struct{ ID, Path string }

// PoolsWithin lists a resource pool and every resource pool and vApp
// inside it, at any depth: the pool first, each pool before those inside
// it. A child pool's CPU and memory are carved out of its parent's, so
// what runs in it runs on the parent's allocation.
func (c *Client) PoolsWithin(ctx context.Context, datacenter, pool string) ([]Pool, error) {
	rp, err := c.resourcePool(ctx, datacenter, pool)
	if err != nil {
		return nil, err
	}
	return c.poolsUnder(ctx, rp.Reference(), pool)
}

// PoolsWithinID is PoolsWithin of the resource pool whose managed object
// id is id (as Cloud Director names the pools of an org VDC), its paths
// beginning with its name.
func (c *Client) PoolsWithinID(ctx context.Context, id string) ([]Pool, error) {
	ref := types.ManagedObjectReference{Type: "ResourcePool", Value: id}
	var p mo.ResourcePool
	if err := c.PropertyCollector().RetrieveOne(ctx, ref, []string{"name"}, &p); err != nil {
		return nil, fmt.Errorf("resource pool %s: %w", id, err)
	}
	return c.poolsUnder(ctx, ref, p.Name)
}

// poolsUnder lists the pool ref, named path, and every pool and vApp
// inside it (PoolsWithin).
func (c *Client) poolsUnder(ctx context.Context, ref types.ManagedObjectReference, path string) ([]Pool, error) {
	out := []Pool{{ID: ref.Value, Path: path}}
	refs := []types.ManagedObjectReference{ref}
	for i := 0; i < len(refs); i++ {
		var p mo.ResourcePool
		if err := c.PropertyCollector().RetrieveOne(ctx, refs[i], []string{"resourcePool"}, &p); err != nil {
			return nil, fmt.Errorf("resource pool %s: %w", out[i].Path, err)
		}
		if len(p.ResourcePool) == 0 {
			continue
		}
		var children []mo.ResourcePool
		if err := c.PropertyCollector().Retrieve(ctx, p.ResourcePool, []string{"name"}, &children); err != nil {
			return nil, fmt.Errorf("resource pools in %s: %w", out[i].Path, err)
		}
		for _, ch := range children {
			out = append(out, Pool{ID: ch.Self.Value, Path: out[i].Path + "/" + ch.Name})
			refs = append(refs, ch.Self)
		}
	}
	return out, nil
}

// DatastoreID is the managed object id of the named datastore.
func (c *Client) DatastoreID(ctx context.Context, datacenter, name string) (string, error) {
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return "", err
	}
	ds, err := c.datastoreIn(ctx, f, dc, name)
	if err != nil {
		return "", err
	}
	return ds.Reference().Value, nil
}

// DatastoreNames names the datastores whose managed object ids are ids
// ("name (id)"; the id alone for one vCenter cannot read), for messages.
func (c *Client) DatastoreNames(ctx context.Context, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		var ds mo.Datastore
		if err := c.PropertyCollector().RetrieveOne(ctx, types.ManagedObjectReference{Type: "Datastore", Value: id}, []string{"name"}, &ds); err == nil {
			out[i] = ds.Name + " (" + id + ")"
		}
	}
	return out
}

// ToolsRunning reports whether VMware Tools run in the VM's guest (the
// guest booted far enough to start them).
func (c *Client) ToolsRunning(ctx context.Context, ref Ref) (bool, error) {
	var m mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"guest.toolsRunningStatus"}, &m); err != nil {
		return false, fmt.Errorf("VM %s: %w", ref.Value, err)
	}
	return m.Guest != nil && m.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning), nil
}
