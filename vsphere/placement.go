package vsphere

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
)

// finderIn is a finder set to the named datacenter; a name not found is
// refused with the datacenters there (Datacenter).
func (c *Client) finderIn(ctx context.Context, datacenter string) (*find.Finder, *object.Datacenter, error) {
	dc, err := c.Datacenter(ctx, datacenter)
	if err != nil {
		return nil, nil, err
	}
	f := c.Finder()
	f.SetDatacenter(dc.dc)
	return f, dc.dc, nil
}

// datastoreIn finds the named datastore with f (set to datacenter dc); a
// name not found is refused with the datastores there.
func (c *Client) datastoreIn(ctx context.Context, f *find.Finder, dc *object.Datacenter, name string) (*object.Datastore, error) {
	ds, err := f.Datastore(ctx, name)
	if err == nil {
		return ds, nil
	}
	if _, notFound := errors.AsType[*find.NotFoundError](err); !notFound {
		return nil, fmt.Errorf("datastore %q in datacenter %s on vCenter %s: %w", name, dc.Name(), c.Endpoint, err)
	}
	names, _ := c.namesIn(ctx, dc, "Datastore")
	return nil, fmt.Errorf("datastore %q %w in datacenter %s on vCenter %s (datastores: %s)", name, ErrNotFound, dc.Name(), c.Endpoint, list(names))
}

// resourcePoolIn finds the named resource pool with f (set to datacenter
// dc); a name not found is refused with the resource pools there.
func (c *Client) resourcePoolIn(ctx context.Context, f *find.Finder, dc *object.Datacenter, name string) (*object.ResourcePool, error) {
	rp, err := f.ResourcePool(ctx, name)
	if err == nil {
		return rp, nil
	}
	if _, notFound := errors.AsType[*find.NotFoundError](err); !notFound {
		return nil, fmt.Errorf("resource pool %q in datacenter %s on vCenter %s: %w", name, dc.Name(), c.Endpoint, err)
	}
	names, _ := c.namesIn(ctx, dc, "ResourcePool")
	return nil, fmt.Errorf("resource pool %q %w in datacenter %s on vCenter %s (resource pools: %s)", name, ErrNotFound, dc.Name(), c.Endpoint, list(names))
}

// namesIn lists the names of the managed objects of type kind in dc
// (vApps left out of the resource pools), sorted, each once.
func (c *Client) namesIn(ctx context.Context, dc *object.Datacenter, kind string) ([]string, error) {
	v, err := view.NewManager(c.Client.Client).CreateContainerView(ctx, dc.Reference(), []string{kind}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var objs []mo.ManagedEntity
	if err := v.Retrieve(ctx, []string{kind}, []string{"name"}, &objs); err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		if o.Self.Type == kind {
			names = append(names, o.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// InventoryNames lists, sorted, the names of the vCenter's datacenters (kind
// "Datacenter"), or of datacenter's objects of a kind: "Datastore",
// "ResourcePool" (vApps left out), "VirtualMachine" (templates included),
// "Network" (port groups). An empty datacenter is the vCenter's only one.
func (c *Client) InventoryNames(ctx context.Context, datacenter, kind string) ([]string, error) {
	if kind == "Datacenter" {
		return c.datacenterNames(ctx)
	}
	dc, err := c.Datacenter(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	names, err := c.namesIn(ctx, dc.dc, kind)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: datacenter %s: %w", c.Endpoint, dc.dc.Name(), err)
	}
	return names, nil
}
