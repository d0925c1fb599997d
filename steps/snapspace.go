package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// snapshotReserve reads snapshot_reserve, or its default: the free space
// a pass snapshot needs on the datastore of the source VM's snapshot
// deltas (replication/snapspace.go).
func snapshotReserve(pf *PlanFile) (int64, error) {
	if pf.SnapshotReserve == "" {
		return replication.DefaultSnapshotReserve, nil
	}
	n, err := humanize.ParseBytes(pf.SnapshotReserve)
	if err != nil || n > uint64(replication.MaxSnapshotReserve) {
		return 0, &FieldError{"snapshot_reserve", fmt.Errorf("%q: want a size such as 4GiB (%s to %s, default %s)", pf.SnapshotReserve,
			humanize.IBytes(replication.MinSnapshotReserve), humanize.IBytes(replication.MaxSnapshotReserve), humanize.IBytes(replication.DefaultSnapshotReserve))}
	}
	if err := replication.ValidateSnapshotReserve(int64(n)); err != nil {
		return 0, &FieldError{"snapshot_reserve", err}
	}
	return int64(n), nil
}

// snapshotRoomItems makes one conflict item per source datastore that has
// less than the reserve free where the pass snapshots of the warm VMs among
// sources (warm[i]) would put their deltas: replication would take no
// snapshot there, so step 6 refuses before anything changes. It changes
// nothing.
func (e *Env) snapshotRoomItems(ctx context.Context, onprem *vsphere.Client, sources []vsphere.VM, warm []bool) ([]Item, error) {
	reserve, err := snapshotReserve(e.Plan())
	if err != nil {
		return nil, err
	}
	type low struct {
		room vsphere.SnapshotRoom
		vms  []string
	}
	var lows []*low
	// Each datastore is refreshed once, however many VMs put their
	// deltas there (a wave of 100 VMs on one datastore).
	rooms := map[types.ManagedObjectReference]vsphere.SnapshotRoom{}
	// The L2 appliance step 3 is still to deploy (or power on) takes its
	// part first (a preflight plans every step before step 1).
	pending := e.applianceUse.Load()
	for i, vm := range sources {
		if !warm[i] {
			continue
		}
		room, err := vsphere.SnapshotPlaceOf(ctx, onprem.Client.Client, vm.Ref.Reference())
		if err != nil {
			return nil, fmt.Errorf("VM %s: %w", vm.Name, err)
		}
		if r, ok := rooms[room.Ref]; ok {
			room = r
		} else {
			if room, err = vsphere.RefreshRoom(ctx, onprem.Client.Client, room); err != nil {
				return nil, fmt.Errorf("VM %s: %w", vm.Name, err)
			}
			if pending != nil && pending.datastore == room.Datastore {
				room.Free -= pending.bytes
			}
			rooms[room.Ref] = room
		}
		if room.Free >= reserve {
			continue
		}
		k := slices.IndexFunc(lows, func(l *low) bool { return l.room.Ref == room.Ref })
		if k < 0 {
			lows = append(lows, &low{room: room})
			k = len(lows) - 1
		}
		lows[k].vms = append(lows[k].vms, vm.Name)
	}
	var items []Item
	for _, l := range lows {
		after := ""
		if pending != nil && pending.datastore == l.room.Datastore {
			after = fmt.Sprintf(" once %s has taken its %s", pending.what, Bytes(pending.bytes))
		}
		items = append(items, Item{Action: ActionConflict, Kind: "datastore", Name: l.room.Datastore, Detail: fmt.Sprintf(
			"where the pass snapshots of %s put their deltas: %s free (of %s)%s, and a pass takes its snapshot only with %s free (snapshot_reserve), because a delta grows by every block the guest writes and ESXi stops a VM whose delta cannot grow on a full datastore. Free space on %s, or lower snapshot_reserve (%s to %s)",
			strings.Join(l.vms, ", "), Bytes(l.room.Free), Bytes(l.room.Capacity), after, Bytes(reserve), l.room.Datastore,
			humanize.IBytes(replication.MinSnapshotReserve), humanize.IBytes(replication.MaxSnapshotReserve))})
	}
	return items, nil
}
