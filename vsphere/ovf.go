package vsphere

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/progress"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"
)

// OVFDeploy describes one OVF / OVA import (the govc import.ovf path).
type OVFDeploy struct {
	// Source is a .ovf or .ova file, or an http(s) URL of one.
	Source     string
	Name       string
	Datacenter *Datacenter
	// Datastore is a datastore name; empty picks the datastore with the
	// most free space on the host that carries the first mapped network.
	Datastore string
	// Networks maps the OVF's network names to network names (distributed
	// or standard port groups).
	Networks map[string]string
	// PlaceBy names the OVF network whose port group decides the host (and
	// so the resource pool and datastore); default: the first by name.
	PlaceBy string
	// Properties are OVF property values by key ("ferry.ip").
	Properties map[string]string
	PowerOn    bool
	// Progress receives progress messages; fraction in 0..1 or -1.
	Progress func(msg string, fraction float64)
	// Importing, if set, is told the import lease and the VM it creates
	// as soon as vCenter has made them, before any upload: a caller killed
	// during the upload can then abort that import (AbortImport) instead
	// of finding a VM it cannot power on until the lease times out.
	Importing func(lease, vm Ref) error
}

func (d *OVFDeploy) progress(msg string, f float64) {
	if d.Progress != nil {
		d.Progress(msg, f)
	}
}

func (c *Client) ovfArchive(source string) importer.Archive {
	o := importer.Opener{Client: c.Client.Client}
	if strings.HasSuffix(strings.ToLower(source), ".ova") {
		return &importer.TapeArchive{Path: source, Opener: o}
	}
	return &importer.FileArchive{Path: source, Opener: o}
}

func ovfDescriptorName(source string) string {
	if strings.HasSuffix(strings.ToLower(source), ".ova") {
		return "*.ovf"
	}
	return source
}

// ReadOVF reads and parses the descriptor of an OVF or OVA.
func (c *Client) ReadOVF(source string) (*ovf.Envelope, error) {
	b, err := importer.ReadOvf(ovfDescriptorName(source), c.ovfArchive(source))
	if err != nil {
		return nil, fmt.Errorf("read OVF %s: %w", source, err)
	}
	e, err := importer.ReadEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("OVF %s: %w", source, err)
	}
	if e.VirtualSystem == nil {
		return nil, fmt.Errorf("OVF %s has no VirtualSystem (a vApp of several VMs is not supported)", source)
	}
	return e, nil
}

// OVFRoom is what the VM of an OVF takes on its datastore: its disks as
// deployed thin (Populated: the data the OVF carries) and at their capacity
// (Disks: what they may grow to), and, once powered on, its swap file (its
// memory beyond its reservation; with several deployment options, the
// largest).
type OVFRoom struct{ Disks, Populated, Swap int64 }

// OVFNeeds reads an OVF's OVFRoom.
func OVFNeeds(e *ovf.Envelope) OVFRoom {
	var r OVFRoom
	files := map[string]int64{}
	for _, f := range e.References {
		files[f.ID] = int64(f.Size)
	}
	if e.Disk != nil {
		for _, d := range e.Disk.Disks {
			switch {
			case d.PopulatedSize != nil:
				r.Populated += int64(*d.PopulatedSize)
			case d.FileRef != nil:
				r.Populated += files[*d.FileRef] // at least what is uploaded
			}
			n, err := strconv.ParseInt(d.Capacity, 10, 64)
			if err != nil {
				continue // a ${property} capacity: set at the deploy
			}
			unit := int64(1)
			if d.CapacityAllocationUnits != nil {
				unit = max(ovf.ParseCapacityAllocationUnits(*d.CapacityAllocationUnits), 1)
			}
			r.Disks += n * unit
		}
	}
	if e.VirtualSystem == nil {
		return r
	}
	for _, hw := range e.VirtualSystem.VirtualHardware {
		for _, it := range hw.Item {
			if it.ResourceType == nil || *it.ResourceType != ovf.Memory || it.VirtualQuantity == nil {
				continue
			}
			unit := int64(1 << 20) // vSphere's default for memory: MB
			if it.AllocationUnits != nil {
				unit = max(ovf.ParseCapacityAllocationUnits(*it.AllocationUnits), 1)
			}
			mem := int64(*it.VirtualQuantity) * unit
			if it.Reservation != nil {
				mem -= int64(*it.Reservation) * unit
			}
			r.Swap = max(r.Swap, mem)
		}
	}
	return r
}

// OVFNetworks lists the network names an OVF declares.
func OVFNetworks(e *ovf.Envelope) []string {
	var out []string
	if e.Network != nil {
		for _, n := range e.Network.Networks {
			out = append(out, n.Name)
		}
	}
	return out
}

// OVFProperties lists the property keys an OVF declares ("class.id.instance" form as vSphere expects).
func OVFProperties(e *ovf.Envelope) []string {
	var out []string
	if e.VirtualSystem == nil {
		return nil
	}
	for _, p := range e.VirtualSystem.Product {
		for _, prop := range p.Property {
			out = append(out, p.Key(prop))
		}
	}
	return out
}

// Placement is where a VM goes.
type Placement struct {
	Host          *object.HostSystem
	ResourcePool  *object.ResourcePool
	Datastore     *object.Datastore
	DatastoreName string
	Folder        *object.Folder
}

// PlaceOnNetwork picks a host connected to the port group (so the VM's NIC
// can attach), its cluster's root resource pool, and the named datastore of
// that host, or the one with the most free space.
func (c *Client) PlaceOnNetwork(ctx context.Context, dcH *Datacenter, pg Ref, datastore string) (*Placement, error) {
	dc := dcH.dc
	pc := property.DefaultCollector(c.Client.Client)
	var net mo.Network
	if err := pc.RetrieveOne(ctx, pg.Reference(), []string{"name", "host"}, &net); err != nil {
		return nil, fmt.Errorf("read network %s: %w", pg.Value, err)
	}
	if len(net.Host) == 0 {
		// Some inventories (vcsim's standard networks) only record the
		// link on the host side.
		hosts, err := c.hostsWithNetwork(ctx, dc, pg.Reference())
		if err != nil {
			return nil, err
		}
		net.Host = hosts
	}
	if len(net.Host) == 0 {
		return nil, fmt.Errorf("port group %q is not available on any host", net.Name)
	}
	var hosts []mo.HostSystem
	if err := pc.Retrieve(ctx, net.Host, []string{"name", "parent", "datastore", "runtime.connectionState"}, &hosts); err != nil {
		return nil, fmt.Errorf("read hosts of %q: %w", net.Name, err)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	var dsNames []string
	refreshed := map[types.ManagedObjectReference]bool{}
	for _, h := range hosts {
		if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected || h.Parent == nil {
			continue
		}
		if datastore == "" {
			// Ranked by free space: vCenter's figure is as of its last
			// refresh, so each candidate is refreshed first (else the
			// ranking follows stale figures and changes with each refresh:
			// a plan would check one datastore and the deploy use another).
			for _, ref := range h.Datastore {
				if refreshed[ref] {
					continue
				}
				refreshed[ref] = true
				if _, err := methods.RefreshDatastore(ctx, c.Client.Client, &types.RefreshDatastore{This: ref}); err != nil && !fault.Is(err, &types.NoPermission{}) {
					return nil, fmt.Errorf("refresh the free space of datastore %s: %w", ref.Value, err)
				}
			}
		}
		var dss []mo.Datastore
		if len(h.Datastore) > 0 {
			if err := pc.Retrieve(ctx, h.Datastore, []string{"name", "summary"}, &dss); err != nil {
				return nil, fmt.Errorf("read datastores of host %s: %w", h.Name, err)
			}
		}
		var best *mo.Datastore
		for i := range dss {
			ds := &dss[i]
			dsNames = append(dsNames, ds.Name)
			if !ds.Summary.Accessible {
				continue
			}
			if datastore != "" {
				if ds.Name == datastore {
					best = ds
				}
				continue
			}
			if best == nil || betterPick(ds, best) {
				best = ds
			}
		}
		if best == nil {
			continue
		}
		var cr mo.ComputeResource
		if err := pc.RetrieveOne(ctx, *h.Parent, []string{"resourcePool"}, &cr); err != nil || cr.ResourcePool == nil {
			continue
		}
		folders, err := dc.Folders(ctx)
		if err != nil {
			return nil, err
		}
		return &Placement{
			Host:          object.NewHostSystem(c.Client.Client, h.Self),
			ResourcePool:  object.NewResourcePool(c.Client.Client, *cr.ResourcePool),
			Datastore:     object.NewDatastore(c.Client.Client, best.Self),
			DatastoreName: best.Name,
			Folder:        folders.VmFolder,
		}, nil
	}
	if datastore != "" {
		return nil, fmt.Errorf("datastore %q %w on the hosts of port group %q (datastores there: %s)", datastore, ErrNotFound, net.Name, list(dedupe(dsNames)))
	}
	return nil, fmt.Errorf("no connected host with an accessible datastore carries port group %q", net.Name)
}

// betterPick says whether datastore a is a better place than b for a VM
// placed by free space: a vSAN or vVols datastore only when there is no
// other (their objects follow a storage policy ferry did not choose: vSAN's
// default needs three fault domains, or two and a witness, and a small
// cluster's deploy fails on it), then the most free space.
func betterPick(a, b *mo.Datastore) bool {
	if ao, bo := objectDatastore(a), objectDatastore(b); ao != bo {
		return bo
	}
	return a.Summary.FreeSpace > b.Summary.FreeSpace
}

// objectDatastore says whether ds stores objects under a storage policy
// (vSAN, vVols) rather than files (VMFS, NFS).
func objectDatastore(ds *mo.Datastore) bool {
	t := ds.Summary.Type
	return t == string(types.HostFileSystemVolumeFileSystemTypeVsan) || t == string(types.HostFileSystemVolumeFileSystemTypeVVOL)
}

func (c *Client) hostsWithNetwork(ctx context.Context, dc *object.Datacenter, net types.ManagedObjectReference) ([]types.ManagedObjectReference, error) {
	v, err := view.NewManager(c.Client.Client).CreateContainerView(ctx, dc.Reference(), []string{"HostSystem"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list hosts: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var hosts []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"network"}, &hosts); err != nil {
		return nil, fmt.Errorf("vCenter %s: list hosts: %w", c.Endpoint, err)
	}
	var out []types.ManagedObjectReference
	for _, h := range hosts {
		for _, n := range h.Network {
			if n == net {
				out = append(out, h.Self)
				break
			}
		}
	}
	return out, nil
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// DeployOVF imports the OVF (CreateImportSpec, ImportVApp, NFC upload of
// every disk) and powers the VM on if asked. Networks and datastore are
// resolved before anything is created.
func (c *Client) DeployOVF(ctx context.Context, d OVFDeploy) (Ref, error) {
	var none Ref
	if d.Datacenter == nil {
		return none, errors.New("deploy OVF: no datacenter")
	}
	if _, err := c.ReadOVF(d.Source); err != nil {
		return none, err
	}
	var netMap []importer.Network
	var first *Ref
	var names []string
	for n := range d.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ref, err := c.Network(ctx, d.Datacenter, d.Networks[n])
		if err != nil {
			return none, err
		}
		if first == nil || n == d.PlaceBy {
			first = &ref
		}
		netMap = append(netMap, importer.Network{Name: n, Network: ref.Reference().String()})
	}
	if first == nil {
		return none, errors.New("deploy OVF: no network mapping")
	}
	pl, err := c.PlaceOnNetwork(ctx, d.Datacenter, *first, d.Datastore)
	if err != nil {
		return none, err
	}

	var props []importer.Property
	var keys []string
	for k := range d.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		props = append(props, importer.Property{KeyValue: importer.KeyValue{Key: k, Value: d.Properties[k]}})
	}
	name := d.Name
	opts := importer.Options{
		Name:               &name,
		NetworkMapping:     netMap,
		PropertyMapping:    props,
		DiskProvisioning:   string(types.OvfCreateImportSpecParamsDiskProvisioningTypeThin),
		IPAllocationPolicy: string(types.VAppIPAssignmentInfoIpAllocationPolicyFixedPolicy),
		IPProtocol:         string(types.VAppIPAssignmentInfoProtocolsIPv4),
	}
	imp := &importer.Importer{
		Name:         name,
		Client:       c.Client.Client,
		Finder:       find.NewFinder(c.Client.Client, false).SetDatacenter(d.Datacenter.dc),
		Datacenter:   d.Datacenter.dc,
		Datastore:    pl.Datastore,
		ResourcePool: pl.ResourcePool,
		Host:         pl.Host,
		Folder:       pl.Folder,
		Archive:      c.ovfArchive(d.Source),
		Log: func(msg string) (int, error) {
			d.progress(strings.TrimSpace(msg), -1)
			return len(msg), nil
		},
	}
	d.progress("creating import spec for "+name, 0.05)
	info, lease, err := imp.ImportVApp(ctx, ovfDescriptorName(d.Source), opts)
	if err != nil {
		var dup *types.DuplicateName
		if _, ok := fault.As(err, &dup); ok {
			// vCenter fails the lease (or the call) and makes nothing.
			holder := ""
			if dup.Object.Value != "" {
				holder = fmt.Sprintf(" (%s %s)", dup.Object.Type, dup.Object.Value)
			}
			return none, fmt.Errorf("import OVF %s as %q: the datacenter's VM folder holds an object named %s already%s, and vCenter makes no second of a name in a folder; nothing was made: deploy under another name, or rename or remove that one, then run again (%w)",
				d.Source, name, cmp.Or(dup.Name, name), holder, err)
		}
		return none, fmt.Errorf("import OVF %s as %q: %w", d.Source, name, describeFault(err))
	}
	if d.Importing != nil {
		if err := d.Importing(refOf(lease.Reference()), refOf(info.Entity)); err != nil {
			_ = lease.Abort(context.WithoutCancel(ctx), nil)
			return none, fmt.Errorf("import OVF %s as %q: %w", d.Source, name, err)
		}
	}
	d.progress(fmt.Sprintf("importing %s: vCenter made VM %s under import lease %s; uploading %d files", name, info.Entity.Value, lease.Reference().Value, len(info.Items)), 0.1)
	updater := lease.StartUpdater(ctx, info)
	for i, item := range info.Items {
		if err := c.upload(ctx, &d, imp.Archive, lease, item, i, len(info.Items)); err != nil {
			updater.Done()
			_ = lease.Abort(context.WithoutCancel(ctx), &types.LocalizedMethodFault{Fault: &types.FileFault{File: item.Path}})
			return none, fmt.Errorf("import OVF %s as %q: upload %s: %w", d.Source, name, item.Path, err)
		}
	}
	updater.Done()
	if err := lease.Complete(ctx); err != nil {
		return none, fmt.Errorf("import OVF %s as %q: complete: %w", d.Source, name, describeFault(err))
	}
	ref := refOf(info.Entity)
	if d.PowerOn {
		d.progress("powering on "+name, 0.95)
		if err := c.EnsurePoweredOn(ctx, ref); err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// AbortImport ends an OVF import a killed process left (lease and vm as
// OVFDeploy.Importing was told): it aborts the lease, so vCenter fails the
// import and removes the VM it was creating, and waits until that VM is
// gone (until timeout). A lease already over (timed out, aborted or
// completed) is not an error; a VM still there after the abort, powered
// off, is destroyed: it is the import's, and was never started.
func (c *Client) AbortImport(ctx context.Context, lease, vm Ref, timeout time.Duration) error {
	err := nfc.NewLease(c.Client.Client, lease.Reference()).Abort(ctx, &types.LocalizedMethodFault{
		Fault: &types.RequestCanceled{}, LocalizedMessage: "the process that imported this OVF was interrupted"})
	if err != nil && !gone(err) && !fault.Is(err, &types.InvalidState{}) && !fault.Is(err, &types.Timedout{}) {
		return fmt.Errorf("abort import lease %s: %w", lease.Value, err)
	}
	for end := time.Now().Add(timeout); ; {
		_, ok, err := c.VMByRef(ctx, vm)
		if err != nil || !ok {
			return err
		}
		if time.Now().After(end) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if ps, err := c.PowerState(ctx, vm); err != nil || ps == PoweredOn {
		if gone(err) {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("VM %s, left by an interrupted OVF import, runs: it was not removed; check it in vCenter", vm.Value)
		}
		return err
	}
	_, err = RunTask(ctx, func() (*object.Task, error) {
		return object.NewVirtualMachine(c.Client.Client, vm.Reference()).Destroy(ctx)
	})
	if err != nil && !gone(err) {
		return fmt.Errorf("remove VM %s left by an interrupted OVF import (its lease %s may still be held until it times out): %w", vm.Value, lease.Value, err)
	}
	return nil
}

// upload sends one file of the OVF over the NFC lease, reporting progress
// as a fraction of the whole deploy (uploads span 0.1 to 0.9).
func (c *Client) upload(ctx context.Context, d *OVFDeploy, a importer.Archive, lease *nfc.Lease, item nfc.FileItem, i, n int) error {
	f, size, err := a.Open(item.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	base, span := 0.1+0.8*float64(i)/float64(n), 0.8/float64(n)
	// The progress reader closes the channel it gets from Sink when the
	// upload ends (not when the context is cancelled).
	var done chan struct{}
	sink := progress.SinkFunc(func() chan<- progress.Report {
		ch := make(chan progress.Report)
		done = make(chan struct{})
		go func() {
			defer close(done)
			last := float32(-1)
			for r := range ch {
				if r.Percentage() == last {
					continue // the reader repeats reports on a timer
				}
				last = r.Percentage()
				d.progress(fmt.Sprintf("uploading %s (%.0f%%)", path.Base(item.Path), r.Percentage()), base+span*float64(r.Percentage())/100)
			}
		}()
		return ch
	})
	err = lease.Upload(ctx, item, f, soap.Upload{ContentLength: size, Progress: sink})
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	return err
}

// DeployedVM is a VM deployed from an OVF, as ferry checks it.
type DeployedVM struct {
	Name       string
	Ref        Ref
	PowerState PowerState
	Networks   []string          // port group names of its NICs' networks
	Properties map[string]string // OVF (vApp) property values by id
	// Datastore holds its configuration, where ESXi makes its swap file
	// when it powers on; Swap is that file's size (its memory beyond its
	// reservation).
	Datastore string
	Swap      int64
	// Importing is the OVF import in progress that holds this VM (vCenter
	// made it and the import's lease is open: its disks are not whole, and
	// vCenter refuses to power it on); nil when none.
	Importing *ImportTask
	// Up is how long it has been powered on (since its bootTime, by
	// vCenter's clock: this machine's may differ); 0 when off or unknown.
	// A restart of its guest OS alone does not count: the VM stays on.
	Up time.Duration
}

// ImportTask is an OVF import in progress as vCenter lists it: its task
// (ResourcePool.ImportVAppLRO) in the VM's recentTask, running until the
// import's lease is completed, aborted or times out.
type ImportTask struct {
	Task     Ref
	User     string // who began it; "" when vCenter does not say
	Started  time.Time
	Progress int32
}

// importTaskID is the descriptionId of vCenter's OVF import task.
const importTaskID = "ResourcePool.ImportVAppLRO"

// importInProgress is the OVF import in progress among a VM's recent
// tasks, nil when none.
func (c *Client) importInProgress(ctx context.Context, recent []types.ManagedObjectReference) (*ImportTask, error) {
	if len(recent) == 0 {
		return nil, nil
	}
	var tasks []mo.Task
	if err := property.DefaultCollector(c.Client.Client).Retrieve(ctx, recent, []string{"info"}, &tasks); err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("vCenter %s: read recent tasks: %w", c.Endpoint, err)
	}
	for _, t := range tasks {
		i := t.Info
		if i.DescriptionId != importTaskID || (i.State != types.TaskInfoStateRunning && i.State != types.TaskInfoStateQueued) {
			continue
		}
		it := &ImportTask{Task: refOf(t.Self), Progress: i.Progress}
		if i.StartTime != nil {
			it.Started = *i.StartTime
		}
		if u, ok := i.Reason.(*types.TaskReasonUser); ok {
			it.User = u.UserName
		}
		return it, nil
	}
	return nil, nil
}

// WaitImportEnded waits (until timeout) for the OVF import in progress imp
// on VM vm to end, saying every so often what it waits for: gone when
// vCenter removed the VM (removed: the import failed, was aborted or its lease
// timed out), else the import completed and the VM is whole. It removes
// nothing.
func (c *Client) WaitImportEnded(ctx context.Context, vm Ref, imp *ImportTask, timeout time.Duration, say func(string)) (removed bool, err error) {
	began := time.Now()
	for {
		_, ok, err := c.VMByRef(ctx, vm)
		if err != nil {
			return false, err
		}
		if !ok {
			return true, nil
		}
		var t mo.Task
		if err := property.DefaultCollector(c.Client.Client).RetrieveOne(ctx, imp.Task.Reference(), []string{"info"}, &t); err != nil && !gone(err) {
			return false, fmt.Errorf("vCenter %s: read task %s: %w", c.Endpoint, imp.Task.Value, err)
		}
		if t.Info.State == types.TaskInfoStateSuccess {
			return false, nil
		}
		if time.Since(began) > timeout {
			return false, fmt.Errorf("VM %s is still being imported (vCenter task %s) after %s: ferry does not know that import's lease, so cannot abort it; an import nobody keeps alive times out (5 minutes by default) and vCenter removes its VM: if it is another deploy in progress, let it end; else cancel that task in vCenter, then run again",
				vm.Value, imp.Task.Value, timeout.Round(time.Second))
		}
		say(fmt.Sprintf("waiting for vCenter to end the OVF import of VM %s (task %s, %d%%, %s so far): an import whose lease gets no progress times out and vCenter removes its VM",
			vm.Value, imp.Task.Value, t.Info.Progress, time.Since(began).Round(time.Second)))
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// PoweredOn reports whether the VM runs.
func (v *DeployedVM) PoweredOn() bool {
	return v.PowerState == PoweredOn
}

// FindDeployedVM finds a VM of dc by name; (nil, nil) when there is none.
func (c *Client) FindDeployedVM(ctx context.Context, dcH *Datacenter, name string) (*DeployedVM, error) {
	dc := dcH.dc
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list VMs: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var all []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name"}, &all); err != nil {
		return nil, fmt.Errorf("vCenter %s: find VM %q: %w", c.Endpoint, name, err)
	}
	var refs []types.ManagedObjectReference
	for _, vm := range all {
		if vm.Name == name {
			refs = append(refs, vm.Self)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	if len(refs) > 1 {
		return nil, fmt.Errorf("%d VMs are named %q in datacenter %s; rename all but one", len(refs), name, dc.Name())
	}
	var vms []mo.VirtualMachine
	pc := property.DefaultCollector(c.Client.Client)
	if err := pc.Retrieve(ctx, refs, []string{"name", "runtime.powerState", "summary.runtime.bootTime", "network", "config.vAppConfig", "config.hardware.memoryMB", "config.memoryAllocation", "config.files", "recentTask"}, &vms); err != nil {
		return nil, fmt.Errorf("vCenter %s: read VM %q: %w", c.Endpoint, name, err)
	}
	vm := &vms[0]
	nets, err := c.networkNames(ctx, vms)
	if err != nil {
		return nil, err
	}
	out := &DeployedVM{Name: vm.Name, Ref: refOf(vm.Self), PowerState: PowerState(vm.Runtime.PowerState), Properties: map[string]string{}}
	for _, n := range vm.Network {
		out.Networks = append(out.Networks, nets[n])
	}
	sort.Strings(out.Networks)
	if !out.PoweredOn() {
		if out.Importing, err = c.importInProgress(ctx, vm.RecentTask); err != nil {
			return nil, err
		}
	} else if vm.Summary.Runtime.BootTime != nil {
		now, err := methods.GetCurrentTime(ctx, c.Client.Client)
		if err != nil {
			return nil, fmt.Errorf("vCenter %s: its clock: %w", c.Endpoint, err)
		}
		out.Up = max(now.Sub(*vm.Summary.Runtime.BootTime), 0)
	}
	if vm.Config != nil {
		var p DatastorePath
		if p.FromString(vm.Config.Files.VmPathName) {
			out.Datastore = p.Datastore
		}
		mem := int64(vm.Config.Hardware.MemoryMB) << 20
		if a := vm.Config.MemoryAllocation; a != nil && a.Reservation != nil {
			mem -= *a.Reservation << 20
		}
		out.Swap = max(mem, 0)
	}
	if vm.Config != nil && vm.Config.VAppConfig != nil {
		if vc, ok := vm.Config.VAppConfig.(*types.VmConfigInfo); ok {
			for _, p := range vc.Property {
				val := p.Value
				if val == "" {
					val = p.DefaultValue
				}
				out.Properties[propertyKey(p)] = val
			}
		}
	}
	return out, nil
}

// propertyKey is the OVF environment key of a vApp property:
// [class.]id[.instance], as OVFDeploy.Properties and the OVF spec spell it.
func propertyKey(p types.VAppPropertyInfo) string {
	k := p.Id
	if p.ClassId != "" {
		k = p.ClassId + "." + k
	}
	if p.InstanceId != "" {
		k += "." + p.InstanceId
	}
	return k
}

// WriteBlankDisk writes a valid, empty stream-optimized VMDK of capacity
// bytes to path: a few KiB whatever the capacity, so ferry ships its
// minimal appliance without a disk image in the repository.
func WriteBlankDisk(path string, capacity int64) error {
	w, err := vmdk.NewStreamOptimizedWriter(path, capacity)
	if err != nil {
		return err
	}
	if err := w.Write(io.LimitReader(zeros{}, capacity)); err != nil {
		_ = w.Abort()
		return err
	}
	return w.Close()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// OVFProperty is one property an OVF declares, as ferry checks it.
type OVFProperty struct {
	Key      string // as vSphere expects it: [class.]key[.instance]
	Label    string
	Type     string
	Default  string
	Password bool
	// MinLen is the minimum length the OVF's vmw:qualifiers ask for
	// (MinLen(n)); 0 when none.
	MinLen int
}

// OVFPropertyInfo lists the properties an OVF declares, in order.
func OVFPropertyInfo(e *ovf.Envelope) []OVFProperty {
	if e.VirtualSystem == nil {
		return nil
	}
	var out []OVFProperty
	for _, p := range e.VirtualSystem.Product {
		for _, prop := range p.Property {
			o := OVFProperty{Key: p.Key(prop), Type: prop.Type}
			if prop.Label != nil {
				o.Label = strings.TrimSpace(*prop.Label)
			}
			if prop.Default != nil {
				o.Default = *prop.Default
			}
			o.Password = prop.Password != nil && *prop.Password
			if q := prop.Qualifiers; q != nil {
				if i := strings.Index(*q, "MinLen("); i >= 0 {
					_, _ = fmt.Sscanf((*q)[i:], "MinLen(%d)", &o.MinLen)
				}
			}
			out = append(out, o)
		}
	}
	return out
}
