package lab

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// Privileges, as vCenter enforces them: a call runs only when the session's
// user holds the privileges it needs (NoPermission otherwise, naming one),
// and AuthorizationManager.HasPrivilegeOnEntities tells a session which of
// them it holds. Stock vcsim grants every privilege to every user and runs
// every call.
//
// Each lab vCenter gives ferry a service account of its own, FerryUser,
// whose role holds every privilege but the ones withheld (Privileges):
// `ferry lab serve --onprem-withhold/--provider-withhold` and tests take
// some away, as an admin who built ferry's role by hand may have. The lab's
// own clients (its setup, Cloud Director's vCenter connection, the edge and
// guest models) log in as the administrator, whose role is Admin.

// FerryUser is the account the lab's config gives ferry on each vCenter.
const FerryUser = "ferry@vsphere.local"

// Privileges are the privileges the role of a vCenter's FerryUser lacks.
type Privileges struct {
	mu       sync.Mutex
	withheld map[string]bool
}

func newPrivileges() *Privileges { return &Privileges{withheld: map[string]bool{}} }

// definedPrivileges are the privilege ids the lab's vCenters define (those
// of vcsim's roles, Admin's being all of them).
var definedPrivileges = sync.OnceValue(func() map[string]bool {
	ids := map[string]bool{}
	for _, r := range esx.RoleList {
		for _, id := range r.Privilege {
			ids[id] = true
		}
	}
	return ids
})

// CheckPrivileges refuses an id the lab's vCenters do not define.
func CheckPrivileges(ids []string) error {
	for _, id := range ids {
		if !definedPrivileges()[id] {
			return fmt.Errorf("privilege %q: vCenter defines no such privilege (ids look like VirtualMachine.Interact.PowerOn or Datastore.FileManagement)", id)
		}
	}
	return nil
}

// Withhold takes the privileges ids from ferry's role; an id this vCenter
// does not define is refused, and then nothing changes.
func (p *Privileges) Withhold(ids ...string) error {
	if err := CheckPrivileges(ids); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.withheld[id] = true
	}
	return nil
}

// Grant gives the privileges ids back to ferry's role.
func (p *Privileges) Grant(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.withheld, id)
	}
}

// Withheld lists the privileges ferry's role lacks, sorted.
func (p *Privileges) Withheld() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.withheld {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// holds says whether ferry's role holds the privilege id: one vCenter
// defines and that is not withheld.
func (p *Privileges) holds(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return definedPrivileges()[id] && !p.withheld[id]
}

// enforcePrivileges makes reg's vCenter answer FerryUser's privilege checks
// of its own session from its role, and refuse its calls that need a
// withheld privilege. It is installed after the lab's other wrappers, so
// that a refusal comes before any of them runs.
func enforcePrivileges(reg *simulator.Registry, p *Privileges) {
	simwrap.Wrap(reg, "AuthorizationManager", []string{"HasPrivilegeOnEntities", "HasPrivilegeOnEntity"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		m, ok := obj.(*simulator.AuthorizationManager)
		if !ok || ctx.Session == nil || ctx.Session.UserName != FerryPrincipal {
			return nil
		}
		return &ferryAuthorization{AuthorizationManager: m, p: p, session: ctx.Session.Key}
	})
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if ctx.Session != nil && ctx.Session.UserName == FerryPrincipal {
				for _, id := range requiredPrivileges(method) {
					if !p.holds(id) {
						return nil, &types.NoPermission{Object: &method.This, PrivilegeId: id}
					}
				}
				if id, ds := ticketPrivilege(reg, method); id != "" && !p.holds(id) {
					return nil, &types.NoPermission{Object: ds, PrivilegeId: id}
				}
			}
			return prev(ctx, method)
		}
	})
}

// ferryAuthorization answers FerryUser's privilege checks of its own
// session from its role (granted at the root, propagating): every
// privilege it holds, on every entity.
type ferryAuthorization struct {
	*simulator.AuthorizationManager
	p       *Privileges
	session string
	simwrap.Own
}

func (a *ferryAuthorization) HasPrivilegeOnEntities(req *types.HasPrivilegeOnEntities) soap.HasFault {
	if req.SessionId != a.session {
		return a.AuthorizationManager.HasPrivilegeOnEntities(req)
	}
	var res []types.EntityPrivilege
	for _, e := range req.Entity {
		ep := types.EntityPrivilege{Entity: e}
		for _, id := range req.PrivId {
			ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: id, IsGranted: a.p.holds(id)})
		}
		res = append(res, ep)
	}
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{Returnval: res}}
}

func (a *ferryAuthorization) HasPrivilegeOnEntity(req *types.HasPrivilegeOnEntity) soap.HasFault {
	if req.SessionId != a.session {
		return a.AuthorizationManager.HasPrivilegeOnEntity(req)
	}
	res := make([]bool, len(req.PrivId))
	for i, id := range req.PrivId {
		res[i] = a.p.holds(id)
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: res}}
}

// folderPrivilege is the privilege an HTTP request for a datastore file
// (/folder) needs on its datastore, by method: Datastore.Browse to read,
// Datastore.FileManagement to write or delete (vSphere Web Services SDK
// Programming Guide, "Privilege Requirements for HTTP Access": HTTP access
// to a file needs the privileges any other way to it would).
func folderPrivilege(method string) string {
	if method == "GET" || method == "HEAD" {
		return "Datastore.Browse"
	}
	return "Datastore.FileManagement"
}

// ticketPrivilege is what a generic service ticket for a host's /folder
// URL needs, and the datastore it names: the host honours a ticket without
// knowing vCenter's users, so vCenter checks the privilege of the access
// when it issues one (the lab's reading of the guide's rule above).
func ticketPrivilege(reg *simulator.Registry, method *simulator.Method) (string, *types.ManagedObjectReference) {
	req, ok := method.Body.(*types.AcquireGenericServiceTicket)
	if !ok {
		return "", nil
	}
	spec, ok := req.Spec.(*types.SessionManagerHttpServiceRequestSpec)
	if !ok {
		return "", nil
	}
	u, err := url.Parse(spec.Url)
	if err != nil || !strings.HasPrefix(u.Path, "/folder") {
		return "", nil
	}
	// The spec's method is httpGet, httpPut, ...
	id := folderPrivilege(strings.ToUpper(strings.TrimPrefix(spec.Method, "http")))
	ds := &method.This
	for _, o := range reg.All("Datastore") {
		if d, ok := o.(*simulator.Datastore); ok && d.Name == u.Query().Get("dsName") {
			ref := d.Self
			ds = &ref
		}
	}
	return id, ds
}

// requiredPrivileges are the privileges vCenter checks for a call (the
// vSphere API reference's "Required privileges" of each method), for the
// calls of the journey; a reconfigure needs what its spec changes.
func requiredPrivileges(method *simulator.Method) []string {
	switch method.This.Type + "." + method.Name {
	case "VirtualMachine.CreateSnapshot_Task", "VirtualMachine.CreateSnapshotEx_Task":
		return []string{"VirtualMachine.State.CreateSnapshot"}
	case "VirtualMachineSnapshot.RemoveSnapshot_Task", "VirtualMachine.RemoveAllSnapshots_Task", "VirtualMachine.ConsolidateVMDisks_Task":
		return []string{"VirtualMachine.State.RemoveSnapshot"}
	case "VirtualMachineSnapshot.RevertToSnapshot_Task", "VirtualMachine.RevertToCurrentSnapshot_Task":
		return []string{"VirtualMachine.State.RevertToSnapshot"}
	case "VirtualMachine.QueryChangedDiskAreas":
		return []string{"VirtualMachine.Provisioning.DiskRandomRead"}
	case "GuestProcessManager.StartProgramInGuest", "GuestProcessManager.TerminateProcessInGuest":
		return []string{"VirtualMachine.GuestOperations.Execute"}
	case "GuestProcessManager.ListProcessesInGuest", "GuestAuthManager.ValidateCredentialsInGuest":
		return []string{"VirtualMachine.GuestOperations.Query"}
	case "VirtualMachine.PowerOnVM_Task":
		return []string{"VirtualMachine.Interact.PowerOn"}
	case "VirtualMachine.PowerOffVM_Task", "VirtualMachine.ShutdownGuest":
		return []string{"VirtualMachine.Interact.PowerOff"}
	case "VirtualMachine.Destroy_Task":
		return []string{"VirtualMachine.Inventory.Delete"}
	case "VirtualMachine.CloneVM_Task":
		return []string{"VirtualMachine.Provisioning.Clone"}
	case "VirtualMachine.ReconfigVM_Task":
		if req, ok := method.Body.(*types.ReconfigVM_Task); ok {
			return reconfigPrivileges(req.Spec)
		}
	case "Folder.CreateVM_Task":
		if req, ok := method.Body.(*types.CreateVM_Task); ok {
			return createVMPrivileges(req.Config)
		}
	case "ResourcePool.ImportVApp", "VirtualApp.ImportVApp":
		// The import, the space its disks take, and the networks its NICs
		// join (an OVF deployment's minimum permissions: Broadcom KB 322346).
		ids := []string{"VApp.Import", "Datastore.AllocateSpace"}
		if req, ok := method.Body.(*types.ImportVApp); ok && importsNIC(req.Spec) {
			ids = append(ids, "Network.Assign")
		}
		return ids
	case "DistributedVirtualPortgroup.ReconfigureDVPortgroup_Task":
		return []string{"DVPortgroup.Modify"}
	case "VmwareDistributedVirtualSwitch.AddDVPortgroup_Task", "DistributedVirtualSwitch.AddDVPortgroup_Task", "VmwareDistributedVirtualSwitch.CreateDVPortgroup_Task", "DistributedVirtualSwitch.CreateDVPortgroup_Task":
		return []string{"DVPortgroup.Create"}
	case "VirtualDiskManager.CreateVirtualDisk_Task", "VirtualDiskManager.ExtendVirtualDisk_Task", "VirtualDiskManager.DeleteVirtualDisk_Task",
		"VirtualDiskManager.CopyVirtualDisk_Task", "VirtualDiskManager.MoveVirtualDisk_Task",
		"FileManager.MakeDirectory", "FileManager.DeleteDatastoreFile_Task", "FileManager.MoveDatastoreFile_Task", "FileManager.CopyDatastoreFile_Task":
		return []string{"Datastore.FileManagement"}
	}
	return nil
}

// importsNIC says whether an import spec gives a VM a NIC.
func importsNIC(spec types.BaseImportSpec) bool {
	switch sp := spec.(type) {
	case *types.VirtualMachineImportSpec:
		for _, c := range sp.ConfigSpec.DeviceChange {
			if _, ok := c.GetVirtualDeviceConfigSpec().Device.(types.BaseVirtualEthernetCard); ok {
				return true
			}
		}
	case *types.VirtualAppImportSpec:
		for _, child := range sp.Child {
			if importsNIC(child) {
				return true
			}
		}
	}
	return false
}

// reconfigPrivileges are what a reconfigure with spec needs: a privilege
// per kind of change (an id may come more than once).
func reconfigPrivileges(spec types.VirtualMachineConfigSpec) []string {
	var ids []string
	if spec.ChangeTrackingEnabled != nil {
		ids = append(ids, "VirtualMachine.Config.ChangeTracking")
	}
	if len(spec.ExtraConfig) > 0 {
		ids = append(ids, "VirtualMachine.Config.AdvancedConfig")
	}
	if spec.NumCPUs != 0 || spec.NumCoresPerSocket != nil {
		ids = append(ids, "VirtualMachine.Config.CPUCount")
	}
	if spec.MemoryMB != 0 {
		ids = append(ids, "VirtualMachine.Config.Memory")
	}
	if spec.Name != "" {
		ids = append(ids, "VirtualMachine.Config.Rename")
	}
	for _, c := range spec.DeviceChange {
		d := c.GetVirtualDeviceConfigSpec()
		_, disk := d.Device.(*types.VirtualDisk)
		switch {
		case disk && d.Operation == types.VirtualDeviceConfigSpecOperationAdd && d.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate:
			ids = append(ids, "VirtualMachine.Config.AddNewDisk")
		case disk && d.Operation == types.VirtualDeviceConfigSpecOperationAdd:
			ids = append(ids, "VirtualMachine.Config.AddExistingDisk")
		case disk && d.Operation == types.VirtualDeviceConfigSpecOperationRemove:
			ids = append(ids, "VirtualMachine.Config.RemoveDisk")
		case d.Operation == types.VirtualDeviceConfigSpecOperationEdit:
			ids = append(ids, "VirtualMachine.Config.EditDevice")
		default:
			ids = append(ids, "VirtualMachine.Config.AddRemoveDevice")
		}
	}
	return ids
}

// createVMPrivileges are what CreateVM_Task with config needs: the VM's
// creation in the folder, its resource pool, the space for its files, an
// existing disk it is given, and the networks its NICs join (an id may
// come more than once).
func createVMPrivileges(config types.VirtualMachineConfigSpec) []string {
	ids := []string{"VirtualMachine.Inventory.Create", "Resource.AssignVMToPool", "Datastore.AllocateSpace"}
	for _, c := range config.DeviceChange {
		d := c.GetVirtualDeviceConfigSpec()
		switch d.Device.(type) {
		case *types.VirtualDisk:
			if d.FileOperation != types.VirtualDeviceConfigSpecFileOperationCreate {
				ids = append(ids, "VirtualMachine.Config.AddExistingDisk")
			}
		case types.BaseVirtualEthernetCard:
			ids = append(ids, "Network.Assign")
		}
	}
	return ids
}

// WithheldText is the withheld privileges, comma-separated, for messages
// ("none").
func (p *Privileges) WithheldText() string {
	if w := p.Withheld(); len(w) > 0 {
		return strings.Join(w, ", ")
	}
	return "none"
}
