package vsphere

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Privileges: vCenter runs a call only when the session's user holds the
// privileges it needs on the objects it touches (its role, granted on the
// object or above it with propagation). ferry's account is often a service
// account with a role of its own: one privilege missing from that role
// would otherwise show up in the middle of the journey, at worst in a
// cutover that shut the source down and then could not power it on again.
// So the steps ask vCenter first (AuthorizationManager.HasPrivilegeOnEntities
// for ferry's own session, vSphere 6.5 and later) and refuse, naming each
// privilege, the object and what it is for, before anything changes.

// Need is a privilege ferry needs on an object, and what for.
type Need struct {
	Privilege string // vCenter's privilege id, e.g. VirtualMachine.Interact.PowerOn
	For       string // what ferry does with it, for the message
}

// Missing is a privilege ferry's account lacks on an object.
type Missing struct {
	Need
	Object string // what the object is, e.g. "VM WebApp2"
}

// Demand is the privileges needed on one object.
type Demand struct {
	Ref    Ref
	Object string // what the object is, for the message ("VM WebApp2")
	Needs  []Need
}

// MissingPrivileges asks vCenter which of the demands its session's user
// does not hold (HasPrivilegeOnEntities, for this session), in the order
// given. It changes nothing.
func (c *Client) MissingPrivileges(ctx context.Context, demands []Demand) ([]Missing, error) {
	if len(demands) == 0 {
		return nil, nil
	}
	us, err := c.userSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: check privileges: %w", c.Endpoint, err)
	}
	if us == nil {
		return nil, fmt.Errorf("vCenter %s: check privileges: not logged in", c.Endpoint)
	}
	var entities []types.ManagedObjectReference
	seen := map[types.ManagedObjectReference]bool{}
	var ids []string
	known := map[string]bool{}
	for _, d := range demands {
		if e := d.Ref.Reference(); !seen[e] {
			seen[e] = true
			entities = append(entities, e)
		}
		for _, n := range d.Needs {
			if !known[n.Privilege] {
				known[n.Privilege] = true
				ids = append(ids, n.Privilege)
			}
		}
	}
	res, err := methods.HasPrivilegeOnEntities(ctx, c.Client.Client, &types.HasPrivilegeOnEntities{
		This: *c.ServiceContent.AuthorizationManager, Entity: entities, SessionId: us.Key, PrivId: ids})
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: check the privileges of %s: %w", c.Endpoint, us.UserName, err)
	}
	granted := map[types.ManagedObjectReference]map[string]bool{}
	for _, e := range res.Returnval {
		m := map[string]bool{}
		for _, a := range e.PrivAvailability {
			m[a.PrivId] = a.IsGranted
		}
		granted[e.Entity] = m
	}
	var out []Missing
	for _, d := range demands {
		for _, n := range d.Needs {
			if !granted[d.Ref.Reference()][n.Privilege] {
				out = append(out, Missing{Need: n, Object: d.Object})
			}
		}
	}
	return out, nil
}

// UserName is the user of the client's session ("" if unknown).
func (c *Client) UserName(ctx context.Context) string {
	us, err := c.userSession(ctx)
	if err != nil || us == nil {
		return ""
	}
	return us.UserName
}

// ProviderRefs are the provider vCenter objects whose privileges the
// replication and the cutover need (zero when not asked for).
type ProviderRefs struct {
	Folder, Pool, Datastore, Network, VM Ref
}

// Refs finds, in datacenter, its VM folder and the named resource pool,
// datastore, network and VM (each "" skipped); a name not found is refused
// with what there is.
func (c *Client) Refs(ctx context.Context, datacenter, pool, datastore, network, vm string) (ProviderRefs, error) {
	var p ProviderRefs
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return p, err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return p, fmt.Errorf("vCenter %s: datacenter %s: %w", c.Endpoint, datacenter, err)
	}
	p.Folder = refOf(folders.VmFolder.Reference())
	if pool != "" {
		rp, err := c.resourcePoolIn(ctx, f, dc, pool)
		if err != nil {
			return p, err
		}
		p.Pool = refOf(rp.Reference())
	}
	if datastore != "" {
		ds, err := c.datastoreIn(ctx, f, dc, datastore)
		if err != nil {
			return p, err
		}
		p.Datastore = refOf(ds.Reference())
	}
	if network != "" {
		dcH := &Datacenter{dc: dc}
		if p.Network, err = c.Network(ctx, dcH, network); err != nil {
			return p, err
		}
	}
	if vm != "" {
		v, err := f.VirtualMachine(ctx, vm)
		if err != nil {
			if _, notFound := errors.AsType[*find.NotFoundError](err); notFound {
				return p, fmt.Errorf("VM %q %w in datacenter %s on vCenter %s", vm, ErrNotFound, datacenter, c.Endpoint)
			}
			return p, err
		}
		p.VM = refOf(v.Reference())
	}
	return p, nil
}

// PrivilegeError is a call vCenter refused because ferry's account lacks a
// privilege (a NoPermission fault): it names the call, the privilege and
// the object, which vCenter's own message ("Permission to perform this
// operation was denied.") leaves out.
type PrivilegeError struct {
	Method    string // e.g. PowerOnVM_Task
	Privilege string
	Object    string // the managed object reference, e.g. VirtualMachine:vm-42
	Err       error
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("vCenter refused %s on %s: ferry's account lacks the privilege %s (grant it to the account's role in vCenter, on that object or above it)", e.Method, e.Object, e.Privilege)
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// privilegeError turns a NoPermission fault (not NotAuthenticated: a
// session that ended) in answer to req into a PrivilegeError.
func privilegeError(req soap.HasFault, err error) error {
	if err == nil || !soap.IsSoapFault(err) {
		return err
	}
	var np *types.NoPermission
	switch f := soap.ToSoapFault(err).VimFault().(type) {
	case types.NoPermission:
		np = &f
	case *types.NoPermission:
		np = f
	default:
		return err
	}
	method := strings.TrimSuffix(reflect.TypeOf(req).Elem().Name(), "Body")
	obj := "?"
	if np.Object != nil {
		obj = np.Object.String()
	}
	return &PrivilegeError{Method: method, Privilege: np.PrivilegeId, Object: obj, Err: err}
}
