package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// DiskUse is what a VM's disks take on their datastores: the sum of the
// disk extents in its storage layout (layoutEx), after vCenter refreshed
// it (RefreshStorageInfo). ESXi allocates a thin disk as it is written, so
// this is what a copy of the disks' written blocks takes at most, where
// their capacity is what they could grow to.
func (c *Client) DiskUse(ctx context.Context, ref Ref) (int64, error) {
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	// An account without the privilege reads the layout as vCenter last
	// refreshed it (it does so on its own, every few minutes).
	if err := vm.RefreshStorageInfo(ctx); err != nil && !fault.Is(err, &types.NoPermission{}) {
		return 0, fmt.Errorf("VM %s: refresh its storage information: %w", ref.Value, err)
	}
	var m mo.VirtualMachine
	if err := c.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"layoutEx.file"}, &m); err != nil {
		return 0, fmt.Errorf("VM %s: storage layout: %w", ref.Value, err)
	}
	var n int64
	if m.LayoutEx != nil {
		for _, f := range m.LayoutEx.File {
			if f.Type == string(types.VirtualMachineFileLayoutExFileTypeDiskExtent) {
				n += f.Size
			}
		}
	}
	return n, nil
}

// DatastoreSpace is a datastore's capacity and free space, as refreshed
// by vCenter now (RefreshDatastore; without the privilege, as vCenter last
// refreshed them).
func (c *Client) DatastoreSpace(ctx context.Context, datacenter, name string) (capacity, free int64, err error) {
	f, dc, err := c.finderIn(ctx, datacenter)
	if err != nil {
		return 0, 0, err
	}
	ds, err := c.datastoreIn(ctx, f, dc, name)
	if err != nil {
		return 0, 0, err
	}
	if _, err := methods.RefreshDatastore(ctx, c.Client.Client, &types.RefreshDatastore{This: ds.Reference()}); err != nil && !fault.Is(err, &types.NoPermission{}) {
		return 0, 0, fmt.Errorf("datastore %s: refresh its free space: %w", name, err)
	}
	var m mo.Datastore
	if err := c.PropertyCollector().RetrieveOne(ctx, ds.Reference(), []string{"summary"}, &m); err != nil {
		return 0, 0, fmt.Errorf("datastore %s: %w", name, err)
	}
	return m.Summary.Capacity, m.Summary.FreeSpace, nil
}
