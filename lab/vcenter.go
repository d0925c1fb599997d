package lab

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/google/uuid"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// VMSpec describes one lab VM.
type VMSpec struct {
	Name     string
	IP       string // guest IP reported by VMware Tools
	Network  string // port group name
	DiskSize int64  // bytes
	PowerOn  bool
	// Seed makes the disk content reproducible and distinct per VM.
	Seed int64
	// Disk is the disk's kind (lab/vmdk.go): "" a thin base disk ferry can
	// read; the others are kinds preflight must refuse.
	Disk string
	// Datastore holds the VM's disk, created if missing; "" the vCenter's
	// datastore.
	Datastore string
	// Extent, when set, is the file name of the disk's flat extent, which
	// its descriptor <name>.vmdk names instead of <name>-flat.vmdk: a
	// descriptor renamed by hand (mv in the ESXi shell) keeps naming its
	// old extent, and ESXi follows the extent line. A reader that derives
	// the flat file from the descriptor's name finds nothing.
	Extent string
}

// VCenterSpec describes one simulated vCenter.
type VCenterSpec struct {
	Name       string // "onprem" or "provider": used for the datastore directory and messages
	Datacenter string
	Cluster    string
	Hosts      []string
	Datastore  string
	DVS        string
	Portgroups []string
	Pool       string // extra resource pool under the cluster (e.g. the org VDC's), optional
	VMs        []VMSpec
	// SessionIdle is how long an API session may go unused before vCenter
	// ends it (later calls with its cookie fail NotAuthenticated). 0:
	// DefaultSessionIdle.
	SessionIdle time.Duration
	// DatastoreCapacity is each datastore's capacity in bytes (its free
	// space is what its files leave). 0: DefaultDatastoreCapacity.
	DatastoreCapacity int64
}

// VCenter is one running simulated vCenter.
type VCenter struct {
	Spec   VCenterSpec
	Model  *simulator.Model
	Server *simulator.Server
	// ESX plays the vCenter's ESXi hosts on the data path: host-direct
	// /folder reads with service tickets, and a count of vCenter's proxied reads.
	ESX          *ESXHosts
	URL          string // https://127.0.0.1:port/sdk (no credentials)
	Username     string
	Password     string
	DatastoreDir string // the directory backing the datastore
	InstanceUUID string
	// FerryPassword is the password of ferry's own account, FerryUser
	// (Username is the administrator's, for the lab and tests), whose
	// role lacks the privileges Privileges withholds.
	FerryPassword string
	Privileges    *Privileges

	storage  *storage
	sessions *sessionClock
	accounts *accounts
	leases   *importLeases
	holds    holds
	tasks    *callTasks
	// busyTasks numbers BusyVM's tasks.
	busyTasks atomic.Int64
	// consolidations are the VMs whose disks cannot consolidate
	// (FailConsolidations).
	consolidations consolidations
}

// Calls is how many API calls this vCenter has been made so far (the lab's
// own included).
func (vc *VCenter) Calls() int64 { return vc.sessions.calls.Load() }

// Validate checks a spec before any vcsim call: a panic inside a vcsim task
// kills the whole process, so nothing wrong may reach it.
func (s VCenterSpec) Validate() error {
	switch {
	case s.Name == "" || s.Datacenter == "" || s.Cluster == "" || s.Datastore == "" || s.DVS == "":
		return fmt.Errorf("lab vCenter %q: name, datacenter, cluster, datastore and DVS are required", s.Name)
	case len(s.Hosts) == 0:
		return fmt.Errorf("lab vCenter %q: at least one host is required", s.Name)
	}
	pgs := map[string]bool{}
	for _, pg := range s.Portgroups {
		pgs[pg] = true
	}
	names := map[string]bool{}
	for _, vm := range s.VMs {
		switch {
		case vm.Name == "":
			return fmt.Errorf("lab vCenter %q: a VM has no name", s.Name)
		case names[vm.Name]:
			return fmt.Errorf("lab vCenter %q: VM name %q used twice", s.Name, vm.Name)
		case !pgs[vm.Network]:
			return fmt.Errorf("lab vCenter %q: VM %q is on port group %q, which is not one of %v", s.Name, vm.Name, vm.Network, s.Portgroups)
		case !validDiskKind(vm.Disk):
			return fmt.Errorf("lab vCenter %q: VM %q has an unknown disk kind %q", s.Name, vm.Name, vm.Disk)
		case vm.Extent != "" && (vm.Disk != "" || !strings.HasSuffix(vm.Extent, "-flat.vmdk") || strings.ContainsAny(vm.Extent, `/\`) || vm.Extent == vm.Name+"-flat.vmdk"):
			return fmt.Errorf("lab vCenter %q: VM %q extent %q: want another file name ending in -flat.vmdk, in the VM's folder, for a base disk", s.Name, vm.Name, vm.Extent)
		case vm.DiskSize < 1<<20 || vm.DiskSize%(1<<20) != 0:
			return fmt.Errorf("lab vCenter %q: VM %q disk size %d must be a whole number of MiB, at least 1 MiB", s.Name, vm.Name, vm.DiskSize)
		}
		names[vm.Name] = true
	}
	return nil
}

// vcsimBuild lets one vCenter of the process be built at a time: vcsim's
// model creation writes package-level values (the evaluation license's
// properties, appended to at each model; the option manager's template
// settings) that a model built at the same time reads or writes, and its
// AddHost reads the license (the race detector, with labs started by
// parallel tests).
var vcsimBuild sync.Mutex

// startVCenter starts a vcsim on loopback with TLS from ca, then builds the
// inventory of spec through the vSphere API, as an admin would.
func startVCenter(ctx context.Context, spec VCenterSpec, dir string, ca *CA) (vc *VCenter, err error) {
	vcsimBuild.Lock()
	defer vcsimBuild.Unlock()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	dsDir := filepath.Join(dir, spec.Name+"-"+spec.Datastore)
	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab vCenter %s: datastore directory: %w", spec.Name, err)
	}
	tlsCfg, err := ca.ServerTLS("vcenter-" + spec.Name)
	if err != nil {
		return nil, err
	}

	m := simulator.VPX()
	m.Datacenter = 0 // build the inventory through the API, with realistic names
	m.Host = 0
	m.ClusterHost = 0
	m.Cluster = 0
	m.Machine = 0
	m.Portgroup = 0
	m.Datastore = 0
	m.ServiceContent.About.InstanceUuid = uuid.NewString()
	if err := m.Create(); err != nil {
		return nil, fmt.Errorf("lab vCenter %s: %w", spec.Name, err)
	}
	trackNetworkVMs(m.Map())
	checkPortgroupVersions(m.Map())
	relocateKeepsPoolMembers(m.Map())
	sessions := enforceSessions(m.Map(), cmp.Or(spec.SessionIdle, DefaultSessionIdle))
	user, pass := "administrator@vsphere.local", randomSecret()
	ferryPass := randomSecret()
	// Logins are checked by principal, the name vCenter gives a session
	// (namePrincipals rewrites the login name before vcsim takes it).
	namePrincipals(m.Map(), map[string]string{user: AdminPrincipal, FerryUser: FerryPrincipal})
	tasks := oneTaskPerCall(m.Map())
	accounts := newAccounts(map[string]string{AdminPrincipal: pass, FerryPrincipal: ferryPass})
	m.Map().SessionManager().ValidLogin = accounts.valid
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(user, pass)}
	m.Service.TLS = tlsCfg
	srv := m.Service.NewServer()
	vc = &VCenter{
		Spec:          spec,
		Model:         m,
		Server:        srv,
		URL:           (&url.URL{Scheme: "https", Host: srv.URL.Host, Path: "/sdk"}).String(),
		Username:      user,
		Password:      pass,
		DatastoreDir:  dsDir,
		InstanceUUID:  m.ServiceContent.About.InstanceUuid,
		FerryPassword: ferryPass,
		Privileges:    newPrivileges(),
		sessions:      sessions,
		accounts:      accounts,
		tasks:         tasks,
	}
	defer func() {
		if err != nil {
			vc.Close()
		}
	}()

	installDeviceLabels(vc)
	u := *srv.URL
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return vc, fmt.Errorf("lab vCenter %s: login: %w", spec.Name, err)
	}
	defer c.Logout(context.WithoutCancel(ctx))
	if err := build(ctx, c, spec, dir, dsDir); err != nil {
		return vc, fmt.Errorf("lab vCenter %s: %w", spec.Name, err)
	}
	if err := shapeDisks(ctx, m, c, spec); err != nil {
		return vc, fmt.Errorf("lab vCenter %s: %w", spec.Name, err)
	}
	markUplinkPortgroups(m.Map())
	folderAccess := func(r *http.Request) (int, error) {
		switch {
		case sessions.live(r, AdminPrincipal):
			return 0, nil
		case sessions.live(r, FerryPrincipal):
			if id := folderPrivilege(r.Method); !vc.Privileges.holds(id) {
				return http.StatusForbidden, fmt.Errorf("permission denied: %s lacks %s on datastore %s (HTTP access to datastore files needs it)", FerryUser, id, r.URL.Query().Get("dsName"))
			}
			return 0, nil
		}
		return http.StatusUnauthorized, errors.New("not authenticated: /folder needs a vCenter session (cookie " + soap.SessionCookieName + ")")
	}
	if vc.ESX, err = startESXHosts(m, ca, folderAccess); err != nil {
		return vc, fmt.Errorf("lab vCenter %s: %w", spec.Name, err)
	}
	vc.storage = installStorage(vc, cmp.Or(spec.DatastoreCapacity, DefaultDatastoreCapacity))
	return vc, nil
}

// markUplinkPortgroups marks each switch's uplink port group as vCenter
// does (config.uplink true, the switch's config.uplinkPortgroup naming it):
// vcsim makes "<switch>-DVUplinks-<n>" as an ordinary port group, which a
// port group list then offered as a VM network. Called while the lab starts,
// before any client.
func markUplinkPortgroups(reg *simulator.Registry) {
	for _, o := range append(reg.All("DistributedVirtualSwitch"), reg.All("VmwareDistributedVirtualSwitch")...) {
		dvs, ok := o.(*simulator.DistributedVirtualSwitch)
		if !ok {
			continue
		}
		for _, ref := range dvs.Portgroup {
			pg, ok := reg.Get(ref).(*simulator.DistributedVirtualPortgroup)
			if !ok || !strings.HasPrefix(pg.Name, dvs.Name+"-DVUplinks") {
				continue
			}
			pg.Config.Uplink = types.NewBool(true)
			if cfg := dvs.Config.GetDVSConfigInfo(); !slices.Contains(cfg.UplinkPortgroup, ref) {
				cfg.UplinkPortgroup = append(cfg.UplinkPortgroup, ref)
			}
		}
	}
}

// Close stops the vCenter.
func (vc *VCenter) Close() {
	if vc.ESX != nil {
		vc.ESX.Close()
	}
	if vc.Server != nil {
		vc.Server.Close()
	}
	if vc.Model != nil {
		simwrap.Forget(vc.Model.Map())
		vc.Model.Remove()
	}
}

// FlatFile returns the local path of a VM's first disk's flat extent, as
// its descriptor names it ("" if the VM has no such disk).
func (vc *VCenter) FlatFile(vm string) string {
	for _, o := range vc.Model.Map().All("VirtualMachine") {
		v, ok := o.(*simulator.VirtualMachine)
		if !ok || v.Name != vm {
			continue
		}
		for _, d := range object.VirtualDeviceList(v.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			if f := cbt.BaseFile(d.(*types.VirtualDisk).Backing); f != "" {
				p, err := dsfile.Flat(vc.Model, f)
				if err != nil {
					return ""
				}
				return p
			}
		}
	}
	return ""
}

func build(ctx context.Context, c *govmomi.Client, spec VCenterSpec, dir, dsDir string) error {
	dc, err := object.NewRootFolder(c.Client).CreateDatacenter(ctx, spec.Datacenter)
	if err != nil {
		return fmt.Errorf("create datacenter: %w", err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	cluster, err := folders.HostFolder.CreateCluster(ctx, spec.Cluster, types.ClusterConfigSpecEx{})
	if err != nil {
		return fmt.Errorf("create cluster: %w", err)
	}
	var hosts []*object.HostSystem
	for _, name := range spec.Hosts {
		task, err := cluster.AddHost(ctx, types.HostConnectSpec{HostName: name, UserName: "root", Password: "lab", Force: true}, true, nil, nil)
		if err != nil {
			return fmt.Errorf("add host %s: %w", name, err)
		}
		info, err := task.WaitForResult(ctx)
		if err != nil {
			return fmt.Errorf("add host %s: %w", name, err)
		}
		hosts = append(hosts, object.NewHostSystem(c.Client, info.Result.(types.ManagedObjectReference)))
	}

	// Mount each datastore on every host; vcsim answers an empty moref for
	// the second mount of the same datastore, so keep the first.
	type datastore struct {
		ds  *object.Datastore
		dir string
	}
	dss := map[string]datastore{}
	mount := func(name, dir string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, h := range hosts {
			sys, err := h.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return err
			}
			ref, err := sys.CreateLocalDatastore(ctx, name, dir)
			if err != nil {
				return fmt.Errorf("create datastore %s on %s: %w", name, h.Name(), err)
			}
			if _, ok := dss[name]; !ok {
				dss[name] = datastore{object.NewDatastore(c.Client, ref.Reference()), dir}
			}
		}
		return nil
	}
	if err := mount(spec.Datastore, dsDir); err != nil {
		return err
	}
	for _, vm := range spec.VMs {
		if _, ok := dss[vm.Datastore]; vm.Datastore != "" && !ok {
			if err := mount(vm.Datastore, filepath.Join(dir, spec.Name+"-"+vm.Datastore)); err != nil {
				return err
			}
		}
	}

	dvsSpec := types.DVSCreateSpec{ConfigSpec: &types.VMwareDVSConfigSpec{DVSConfigSpec: types.DVSConfigSpec{Name: spec.DVS}}}
	task, err := folders.NetworkFolder.CreateDVS(ctx, dvsSpec)
	if err != nil {
		return fmt.Errorf("create DVS %s: %w", spec.DVS, err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return fmt.Errorf("create DVS %s: %w", spec.DVS, err)
	}
	dvs := object.NewDistributedVirtualSwitch(c.Client, info.Result.(types.ManagedObjectReference))
	members := &types.DVSConfigSpec{}
	for _, h := range hosts {
		members.Host = append(members.Host, types.DistributedVirtualSwitchHostMemberConfigSpec{
			Operation: string(types.ConfigSpecOperationAdd), Host: h.Reference()})
	}
	if task, err = dvs.Reconfigure(ctx, members); err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("add hosts to DVS %s: %w", spec.DVS, err)
	}
	var pgSpecs []types.DVPortgroupConfigSpec
	for _, pg := range spec.Portgroups {
		pgSpecs = append(pgSpecs, types.DVPortgroupConfigSpec{Name: pg, Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 128})
	}
	if len(pgSpecs) > 0 {
		task, err = dvs.AddPortgroup(ctx, pgSpecs)
		if err != nil {
			return fmt.Errorf("add port groups: %w", err)
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("add port groups: %w", err)
		}
	}

	pool, err := cluster.ResourcePool(ctx)
	if err != nil {
		return err
	}
	if spec.Pool != "" {
		if _, err := pool.Create(ctx, spec.Pool, types.DefaultResourceConfigSpec()); err != nil {
			return fmt.Errorf("create resource pool %s: %w", spec.Pool, err)
		}
	}

	finder := findIn(c, dc)
	for i, vm := range spec.VMs {
		pg, err := finder.Network(ctx, vm.Network)
		if err != nil {
			return fmt.Errorf("VM %s: port group %s: %w", vm.Name, vm.Network, err)
		}
		name := spec.Datastore
		if vm.Datastore != "" {
			name = vm.Datastore
		}
		if err := createVM(ctx, c, folders.VmFolder, pool, hosts[i%len(hosts)], dss[name].ds, name, pg, vm, dss[name].dir); err != nil {
			return fmt.Errorf("VM %s: %w", vm.Name, err)
		}
	}
	return nil
}

func createVM(ctx context.Context, c *govmomi.Client, folder *object.Folder, pool *object.ResourcePool, host *object.HostSystem,
	ds *object.Datastore, dsName string, pg object.NetworkReference, spec VMSpec, dsDir string) error {
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	ctrl, err := devices.FindDiskController("scsi")
	if err != nil {
		return err
	}
	disk := devices.CreateDisk(ctrl, ds.Reference(), fmt.Sprintf("[%s] %s/%s.vmdk", dsName, spec.Name, spec.Name))
	disk.CapacityInKB = spec.DiskSize / 1024
	disk.CapacityInBytes = spec.DiskSize
	disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = types.NewBool(true)
	devices = append(devices, disk)
	backing, err := pg.EthernetCardBackingInfo(ctx)
	if err != nil {
		return err
	}
	nic, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		return err
	}
	devices = append(devices, nic)
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if d, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok && d != nil {
			ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	cfg := types.VirtualMachineConfigSpec{
		Name:         spec.Name,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierUbuntu64Guest),
		NumCPUs:      1,
		MemoryMB:     1024,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s", dsName, spec.Name)},
		DeviceChange: changes,
		ExtraConfig: []types.BaseOptionValue{
			&types.OptionValue{Key: "SET.guest.ipAddress", Value: spec.IP},
			&types.OptionValue{Key: "SET.guest.hostName", Value: spec.Name},
			&types.OptionValue{Key: "SET.guest.toolsRunningStatus", Value: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
		},
	}
	task, err := folder.CreateVM(ctx, cfg, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return err
	}
	vm := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
	if err := fillDisk(filepath.Join(dsDir, spec.Name, spec.Name+"-flat.vmdk"), spec.DiskSize, spec.Seed); err != nil {
		return fmt.Errorf("disk content: %w", err)
	}
	if spec.PowerOn {
		task, err := vm.PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("power on: %w", err)
		}
	}
	return nil
}

func randomSecret() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

func findIn(c *govmomi.Client, dc *object.Datacenter) *find.Finder {
	return find.NewFinder(c.Client, true).SetDatacenter(dc)
}
