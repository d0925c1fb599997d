package vsphere

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// SnapshotRoom is the datastore that receives a VM's snapshot deltas and
// the space it has. ESXi writes a snapshot's delta disks, one per disk, in
// the VM's working directory (config.files.snapshotDirectory: the VM's home
// directory unless workingDir moved it), whatever datastores the disks are
// on (Broadcom KB 1027887 and 420124). A delta grows by every block the
// guest writes while the snapshot is open, and a VM whose delta cannot grow
// on a full datastore is stopped by ESXi with a question until space is
// freed (KB 1007849, msg.hbacommon.outofspace).
type SnapshotRoom struct {
	Datastore      string
	Ref            types.ManagedObjectReference
	Capacity, Free int64
}

// SnapshotRoomOf reads where vm's snapshot deltas go and that datastore's
// capacity and free space, refreshed now (RefreshDatastore; an account
// without the privilege reads them as vCenter last refreshed them).
func SnapshotRoomOf(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference) (SnapshotRoom, error) {
	room, err := SnapshotPlaceOf(ctx, c, vm)
	if err != nil {
		return room, err
	}
	return RefreshRoom(ctx, c, room)
}

// SnapshotPlaceOf reads where vm's snapshot deltas go: the datastore's
// name and reference, without its space (RefreshRoom reads it).
func SnapshotPlaceOf(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference) (SnapshotRoom, error) {
	var m mo.VirtualMachine
	pc := property.DefaultCollector(c)
	if err := pc.RetrieveOne(ctx, vm, []string{"name", "config.files", "datastore"}, &m); err != nil {
		return SnapshotRoom{}, fmt.Errorf("VM %s: files: %w", vm.Value, err)
	}
	if m.Config == nil {
		return SnapshotRoom{}, fmt.Errorf("VM %s has no configuration (inaccessible?)", m.Name)
	}
	dir := m.Config.Files.SnapshotDirectory
	if dir == "" {
		dir = m.Config.Files.VmPathName
	}
	var p object.DatastorePath
	if !p.FromString(dir) || p.Datastore == "" {
		return SnapshotRoom{}, fmt.Errorf("VM %s: snapshot directory %q is not a datastore path", m.Name, dir)
	}
	room := SnapshotRoom{Datastore: p.Datastore}
	var dss []mo.Datastore
	if len(m.Datastore) > 0 {
		if err := pc.Retrieve(ctx, m.Datastore, []string{"name"}, &dss); err != nil {
			return room, fmt.Errorf("VM %s: datastores: %w", m.Name, err)
		}
	}
	for _, ds := range dss {
		if ds.Name == p.Datastore {
			room.Ref = ds.Self
			return room, nil
		}
	}
	names := make([]string, 0, len(dss))
	for _, ds := range dss {
		names = append(names, ds.Name)
	}
	return room, fmt.Errorf("VM %s: its snapshot directory is on datastore %s, which is not among its datastores (%s)", m.Name, p.Datastore, strings.Join(names, ", "))
}

// RefreshRoom returns room (SnapshotPlaceOf) with its datastore's capacity
// and free space, refreshed now.
func RefreshRoom(ctx context.Context, c *vim25.Client, room SnapshotRoom) (SnapshotRoom, error) {
	if _, err := methods.RefreshDatastore(ctx, c, &types.RefreshDatastore{This: room.Ref}); err != nil && !fault.Is(err, &types.NoPermission{}) {
		return room, fmt.Errorf("datastore %s: refresh its free space: %w", room.Datastore, err)
	}
	var ds mo.Datastore
	if err := property.DefaultCollector(c).RetrieveOne(ctx, room.Ref, []string{"summary"}, &ds); err != nil {
		return room, fmt.Errorf("datastore %s: %w", room.Datastore, err)
	}
	room.Capacity, room.Free = ds.Summary.Capacity, ds.Summary.FreeSpace
	return room, nil
}
