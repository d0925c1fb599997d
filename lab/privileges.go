package lab

import (
	"fmt"
	"slices"
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
	known map[string]bool // every privilege id this vCenter defines

	mu       sync.Mutex
	withheld map[string]bool
}

func newPrivileges(m *simulator.Model) *Privileges {
	p := &Privileges{known: map[string]bool{}, withheld: map[string]bool{}}
	for _, r := range m.Map().Get(*m.ServiceContent.AuthorizationManager).(*simulator.AuthorizationManager).RoleList {
		for _, id := range r.Privilege {
			p.known[id] = true
		}
	}
	return p
}

// CheckPrivileges refuses an id the lab's vCenters do not define.
func CheckPrivileges(ids []string) error {
	for _, id := range ids {
		known := false
		for _, r := range esx.RoleList {
			known = known || slices.Contains(r.Privilege, id)
		}
		if !known {
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

func (p *Privileges) lacks(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.withheld[id]
}

// enforcePrivileges makes reg's vCenter refuse FerryUser's calls that need
// a withheld privilege, and answer its privilege checks from its role. It
// is installed last, so that it runs before the lab's other wrappers.
func enforcePrivileges(reg *simulator.Registry, p *Privileges) {
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
		if ctx.Session != nil && ctx.Session.UserName == FerryUser {
			for _, id := range requiredPrivileges(ctx, method) {
				if p.lacks(id) {
					return nil, &types.NoPermission{Object: &method.This, PrivilegeId: id}
				}
			}
			if method.This.Type == "AuthorizationManager" && (method.Name == "HasPrivilegeOnEntities" || method.Name == "HasPrivilegeOnEntity") {
				if m, ok := ctx.Map.Get(method.This).(*simulator.AuthorizationManager); ok {
					w := &ferryAuthorization{AuthorizationManager: m, p: p, session: ctx.Session.Key}
					simwrap.Put(ctx, w)
					return w, nil
				}
			}
		}
		if ctx.Session != nil {
			if _, ok := ctx.Session.Registry.Get(method.This).(*ferryAuthorization); ok {
				ctx.Session.Registry.Remove(ctx, method.This)
			}
		}
		if prev != nil {
			return prev(ctx, method)
		}
		return nil, nil
	}
}

// ferryAuthorization answers FerryUser's privilege checks of its own
// session from its role: granted unless withheld (the role is granted at
// the root, propagating).
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
			ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: id, IsGranted: a.p.known[id] && !a.p.lacks(id)})
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
		res[i] = a.p.known[id] && !a.p.lacks(id)
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: res}}
}

// requiredPrivileges are the privileges vCenter checks for a call (the
// vSphere API reference's "Required privileges" of each method), for the
// calls of the journey; a reconfigure needs what its spec changes.
func requiredPrivileges(ctx *simulator.Context, method *simulator.Method) []string {
	switch method.This.Type + "." + method.Name {
	case "VirtualMachine.CreateSnapshot_Task", "VirtualMachine.CreateSnapshotEx_Task":
		return []string{"VirtualMachine.State.CreateSnapshot"}
	case "VirtualMachineSnapshot.RemoveSnapshot_Task", "VirtualMachine.RemoveAllSnapshots_Task":
		return []string{"VirtualMachine.State.RemoveSnapshot"}
	case "VirtualMachineSnapshot.RevertToSnapshot_Task", "VirtualMachine.RevertToCurrentSnapshot_Task":
		return []string{"VirtualMachine.State.RevertToSnapshot"}
	case "VirtualMachine.QueryChangedDiskAreas":
		return []string{"VirtualMachine.Provisioning.DiskRandomRead"}
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
		return []string{"VApp.Import"}
	case "VmwareDistributedVirtualSwitch.AddDVPortgroup_Task", "DistributedVirtualSwitch.AddDVPortgroup_Task", "VmwareDistributedVirtualSwitch.CreateDVPortgroup_Task", "DistributedVirtualSwitch.CreateDVPortgroup_Task":
		return []string{"DVPortgroup.Create"}
	case "VirtualDiskManager.CreateVirtualDisk_Task", "VirtualDiskManager.ExtendVirtualDisk_Task", "VirtualDiskManager.DeleteVirtualDisk_Task",
		"VirtualDiskManager.CopyVirtualDisk_Task", "VirtualDiskManager.MoveVirtualDisk_Task",
		"FileManager.MakeDirectory", "FileManager.DeleteDatastoreFile_Task", "FileManager.MoveDatastoreFile_Task", "FileManager.CopyDatastoreFile_Task":
		return []string{"Datastore.FileManagement"}
	}
	return nil
}

// reconfigPrivileges are what a reconfigure with spec needs: a privilege
// per kind of change.
func reconfigPrivileges(spec types.VirtualMachineConfigSpec) []string {
	var ids []string
	add := func(id string) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if spec.ChangeTrackingEnabled != nil {
		add("VirtualMachine.Config.ChangeTracking")
	}
	if len(spec.ExtraConfig) > 0 {
		add("VirtualMachine.Config.AdvancedConfig")
	}
	if spec.NumCPUs != 0 || spec.NumCoresPerSocket != nil {
		add("VirtualMachine.Config.CPUCount")
	}
	if spec.MemoryMB != 0 {
		add("VirtualMachine.Config.Memory")
	}
	if spec.Name != "" {
		add("VirtualMachine.Config.Rename")
	}
	for _, c := range spec.DeviceChange {
		d := c.GetVirtualDeviceConfigSpec()
		_, disk := d.Device.(*types.VirtualDisk)
		switch {
		case disk && d.Operation == types.VirtualDeviceConfigSpecOperationAdd && d.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate:
			add("VirtualMachine.Config.AddNewDisk")
		case disk && d.Operation == types.VirtualDeviceConfigSpecOperationAdd:
			add("VirtualMachine.Config.AddExistingDisk")
		case disk && d.Operation == types.VirtualDeviceConfigSpecOperationRemove:
			add("VirtualMachine.Config.RemoveDisk")
		case d.Operation == types.VirtualDeviceConfigSpecOperationEdit:
			add("VirtualMachine.Config.EditDevice")
		default:
			add("VirtualMachine.Config.AddRemoveDevice")
		}
	}
	return ids
}

// createVMPrivileges are what CreateVM_Task with config needs: the VM's
// creation in the folder, its resource pool, the space for its files, an
// existing disk it is given, and the networks its NICs join.
func createVMPrivileges(config types.VirtualMachineConfigSpec) []string {
	ids := []string{"VirtualMachine.Inventory.Create", "Resource.AssignVMToPool", "Datastore.AllocateSpace"}
	for _, c := range config.DeviceChange {
		d := c.GetVirtualDeviceConfigSpec()
		switch d.Device.(type) {
		case *types.VirtualDisk:
			if d.FileOperation != types.VirtualDeviceConfigSpecFileOperationCreate && !slices.Contains(ids, "VirtualMachine.Config.AddExistingDisk") {
				ids = append(ids, "VirtualMachine.Config.AddExistingDisk")
			}
		case types.BaseVirtualEthernetCard:
			if !slices.Contains(ids, "Network.Assign") {
				ids = append(ids, "Network.Assign")
			}
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
