package cbt_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const diskSize = 40 << 20

type fixture struct {
	m       *simulator.Model
	tr      *cbt.Tracker
	c       *vim25.Client
	vm      *object.VirtualMachine
	key     int32
	flat    string
	dsPath  string // path of the flat file inside the datastore
	dsName  string
	baseURL *url.URL
}

func setup(t *testing.T) *fixture {
	t.Helper()
	m := simulator.VPX()
	m.Host, m.Machine = 1, 1
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{m: m, tr: cbt.Install(m)}
	s := m.Service.NewServer()
	t.Cleanup(func() { s.Close(); m.Remove() })
	c, err := govmomi.NewClient(context.Background(), s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	f.c, f.baseURL = c.Client, s.URL
	vm := m.Map().Any("VirtualMachine").(*simulator.VirtualMachine)
	f.vm = object.NewVirtualMachine(c.Client, vm.Self)
	for _, d := range vm.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			vd.CapacityInBytes, vd.CapacityInKB = diskSize, diskSize/1024
			f.key = vd.Key
			var p object.DatastorePath
			p.FromString(vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName)
			ds := m.Map().Any("Datastore").(*simulator.Datastore)
			f.dsName = ds.Name
			f.dsPath = simulator.VirtualDiskBackingFileName(p.Path)
			f.flat = path.Join(ds.Info.GetDatastoreInfo().Url, f.dsPath)
			break
		}
	}
	if err := os.Truncate(f.flat, diskSize); err != nil {
		t.Fatal(err)
	}
	return f
}

// put writes data at off through the ranged PUT handler.
func (f *fixture) put(t *testing.T, off int64, data []byte) {
	t.Helper()
	u := *f.baseURL
	u.User = nil
	u.Path = "/folder/" + f.dsPath
	u.RawQuery = url.Values{"dsName": {f.dsName}, "dcPath": {"DC0"}}.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(data))
	req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+int64(len(data))-1, diskSize))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("PUT: %s", res.Status)
	}
}

func (f *fixture) snapshot(t *testing.T) (types.ManagedObjectReference, string) {
	t.Helper()
	ctx := context.Background()
	task, err := f.vm.CreateSnapshot(ctx, "s", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref := info.Result.(types.ManagedObjectReference)
	var snap mo.VirtualMachineSnapshot
	if err := objectProps(ctx, f.c, ref, &snap); err != nil {
		t.Fatal(err)
	}
	for _, d := range snap.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok && vd.Key == f.key {
			return ref, vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ChangeId
		}
	}
	t.Fatal("snapshot has no disk")
	return ref, ""
}

func objectProps(ctx context.Context, c *vim25.Client, ref types.ManagedObjectReference, dst any) error {
	return object.NewCommon(c, ref).Properties(ctx, ref, []string{"config"}, dst)
}

// changed loops QueryChangedDiskAreas over the whole disk like a client must.
func (f *fixture) changed(t *testing.T, snap *types.ManagedObjectReference, changeID string) ([]types.DiskChangeExtent, int, error) {
	t.Helper()
	var out []types.DiskChangeExtent
	calls := 0
	for off := int64(0); off < diskSize; {
		res, err := methods.QueryChangedDiskAreas(context.Background(), f.c, &types.QueryChangedDiskAreas{
			This: f.vm.Reference(), Snapshot: snap, DeviceKey: f.key, StartOffset: off, ChangeId: changeID})
		if err != nil {
			return nil, calls, err
		}
		calls++
		a := res.Returnval
		if a.StartOffset != off || a.Length <= 0 || a.StartOffset+a.Length > diskSize {
			t.Fatalf("answer at %d covers %d+%d: want a non-empty range from the offset asked, within the disk", off, a.StartOffset, a.Length)
		}
		for _, e := range a.ChangedArea {
			if e.Start < a.StartOffset || e.Start+e.Length > a.StartOffset+a.Length {
				t.Fatalf("extent %+v outside the answer's range %d+%d", e, a.StartOffset, a.Length)
			}
		}
		out = append(out, res.Returnval.ChangedArea...)
		off = res.Returnval.StartOffset + res.Returnval.Length
	}
	return out, calls, nil
}

func TestChangedBlockTracking(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// Without CBT enabled: a fault, no changeId on snapshots.
	if _, _, err := f.changed(t, nil, "*"); err == nil {
		t.Fatal("QueryChangedDiskAreas answered without CBT enabled")
	}
	task, err := f.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil || task.Wait(ctx) != nil {
		t.Fatal("enable CBT", err)
	}
	data := bytes.Repeat([]byte{0xab}, 100<<10)
	f.put(t, 1<<20, data)
	f.put(t, 30<<20, data[:10])
	if fi, _ := os.Stat(f.flat); fi.Size() != diskSize {
		t.Fatalf("ranged PUT changed the file size to %d", fi.Size())
	}
	s1, id1 := f.snapshot(t)
	if !strings.HasPrefix(id1, "52 ") {
		t.Fatalf("changeId %q", id1)
	}
	all, calls, err := f.changed(t, &s1, "*")
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("%d calls to cover %d bytes holding 2 extents, want 1 (as real vSphere answers a whole disk)", calls, diskSize)
	}
	want := []types.DiskChangeExtent{{Start: 1 << 20, Length: 128 << 10}, {Start: 30 << 20, Length: 64 << 10}}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("allocated areas %v, want %v", all, want)
	}
	// The VM's properties still read fine after an extended call.
	var vm mo.VirtualMachine
	if err := f.vm.Properties(ctx, f.vm.Reference(), []string{"name", "config.changeTrackingEnabled"}, &vm); err != nil || vm.Name == "" {
		t.Fatalf("VM properties after QueryChangedDiskAreas: %v", err)
	}

	f.put(t, 20<<20+5, []byte("x"))
	s2, id2 := f.snapshot(t)
	if id2 == id1 {
		t.Fatal("changeId did not move")
	}
	got, _, err := f.changed(t, &s2, id1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []types.DiskChangeExtent{{Start: 20 << 20, Length: 64 << 10}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	// No snapshot: changes up to the live file (the powered-off final pass).
	f.put(t, 39<<20, []byte("y"))
	if got, _, err = f.changed(t, nil, id1); err != nil || len(got) != 2 {
		t.Fatalf("live changes %v %v", got, err)
	}

	if err := f.tr.Reset(vm.Name); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.changed(t, nil, id2)
	if !soap.IsSoapFault(err) {
		t.Fatalf("after reset: %v, want a fault", err)
	}
	if _, ok := soap.ToSoapFault(err).VimFault().(types.InvalidArgument); !ok {
		t.Fatalf("after reset: %T", soap.ToSoapFault(err).VimFault())
	}
}

// TestEpochPruning: changes since a pruned epoch are refused (the client
// falls back to a full compare); recent ones still answer.
func TestEpochPruning(t *testing.T) {
	defer cbt.SetMaxEpochs(3)()
	f := setup(t)
	ctx := context.Background()
	task, err := f.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil || task.Wait(ctx) != nil {
		t.Fatal("enable CBT", err)
	}
	var ids []string
	var last types.ManagedObjectReference
	for i := range 5 {
		f.put(t, int64(i)<<20, []byte{byte(i + 1)})
		var id string
		last, id = f.snapshot(t)
		ids = append(ids, id)
	}
	if _, _, err := f.changed(t, &last, ids[0]); err == nil {
		t.Fatal("changes since a pruned epoch were answered")
	}
	got, _, err := f.changed(t, &last, ids[3])
	if err != nil || len(got) != 1 || got[0].Start != 4<<20 {
		t.Fatalf("changes since a kept epoch: %v %v", got, err)
	}
}

func (f *fixture) enable(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	task, err := f.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil || task.Wait(ctx) != nil {
		t.Fatal("enable CBT", err)
	}
}

// write is a guest write: through the tracker, as every lab write path.
func (f *fixture) write(t *testing.T, off int64, n int) {
	t.Helper()
	if err := f.tr.WriteAt(f.flat, bytes.Repeat([]byte{0x5a}, n), off); err != nil {
		t.Fatal(err)
	}
}

func extents(e ...int64) string {
	var out []types.DiskChangeExtent
	for i := 0; i < len(e); i += 2 {
		out = append(out, types.DiskChangeExtent{Start: e[i], Length: e[i+1]})
	}
	return fmt.Sprint(out)
}

// TestChangesTrackedAsWritten: the tracker answers from the writes it saw,
// never reading the disk: a write after a snapshot is reported, a block
// written before the target snapshot and again after it is still reported
// for that snapshot, an unchanged disk reports nothing, "*" answers the
// allocated areas.
func TestChangesTrackedAsWritten(t *testing.T) {
	f := setup(t)
	f.enable(t)
	_, id1 := f.snapshot(t)
	f.write(t, 5<<20+100, 100<<10) // blocks 80 and 81
	s2, id2 := f.snapshot(t)
	f.write(t, 5<<20, 10)   // block 80 again, after s2
	f.write(t, 25<<20, 1)   // block 400, after s2
	f.write(t, 38<<20, 200) // block 608, after s2

	got, _, err := f.changed(t, &s2, id1)
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(5<<20, 128<<10); fmt.Sprint(got) != want {
		t.Fatalf("changes up to s2: %v, want %v", got, want)
	}
	live, _, err := f.changed(t, nil, id2)
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(5<<20, 64<<10, 25<<20, 64<<10, 38<<20, 64<<10); fmt.Sprint(live) != want {
		t.Fatalf("changes since s2 up to now: %v, want %v", live, want)
	}
	s3, id3 := f.snapshot(t)
	if got, _, err = f.changed(t, &s3, id2); err != nil || fmt.Sprint(got) != fmt.Sprint(live) {
		t.Fatalf("changes s2..s3: %v %v, want %v", got, err, live)
	}
	// Nothing written since s3: nothing to report.
	s4, _ := f.snapshot(t)
	if got, _, err = f.changed(t, &s4, id3); err != nil || len(got) != 0 {
		t.Fatalf("unchanged disk reports %v %v", got, err)
	}
	if got, _, err = f.changed(t, nil, id3); err != nil || len(got) != 0 {
		t.Fatalf("unchanged disk (live) reports %v %v", got, err)
	}
	// A changeId newer than the snapshot asked about is refused.
	if _, _, err = f.changed(t, &s2, id3); err == nil {
		t.Fatal("changes from a later changeId to an earlier snapshot were answered")
	}
	all, _, err := f.changed(t, &s4, "*")
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(5<<20, 128<<10, 25<<20, 64<<10, 38<<20, 64<<10); fmt.Sprint(all) != want {
		t.Fatalf("allocated areas %v, want %v", all, want)
	}
	st := f.tr.Stats()
	if st.BytesRead != 0 || st.Writes != 4 || st.Epochs != 4 || st.Untracked != 0 {
		t.Fatalf("tracker stats %+v: want no bytes read, 4 writes, 4 epochs", st)
	}
	// Writes never grow the disk.
	if err := f.tr.WriteAt(f.flat, []byte("xx"), diskSize-1); err == nil {
		t.Fatal("a write past the end of the disk was accepted")
	}
}

// TestUntrackedWriteResetsTracking: a write into a tracked flat file that
// did not go through the tracker is never silently lost: the tracking is
// reset (as ESXi resets CBT when it cannot vouch for it), old changeIds are
// refused, and the client's full compare finds the write.
func TestUntrackedWriteResetsTracking(t *testing.T) {
	f := setup(t)
	f.enable(t)
	_, id1 := f.snapshot(t)
	f.write(t, 0, 10)
	// Older kernels stamp files with a coarse clock: let it move on.
	time.Sleep(20 * time.Millisecond)
	w, err := os.OpenFile(f.flat, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("behind the tracker's back"), 7<<20); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s2, id2 := f.snapshot(t)
	_, _, err = f.changed(t, &s2, id1)
	if !soap.IsSoapFault(err) {
		t.Fatalf("changes since a changeId from before an untracked write: %v, want a fault", err)
	}
	if _, ok := soap.ToSoapFault(err).VimFault().(types.InvalidArgument); !ok {
		t.Fatalf("fault %T, want InvalidArgument (changeId)", soap.ToSoapFault(err).VimFault())
	}
	if st := f.tr.Stats(); st.Untracked != 1 {
		t.Fatalf("stats %+v: want 1 untracked disk", st)
	}
	all, _, err := f.changed(t, &s2, "*")
	if err != nil || fmt.Sprint(all) != extents(0, 64<<10, 7<<20, 64<<10) {
		t.Fatalf("allocated areas after the reset: %v %v", all, err)
	}
	// Tracking goes on from the snapshot after the reset.
	f.write(t, 9<<20, 1)
	s3, _ := f.snapshot(t)
	if got, _, err := f.changed(t, &s3, id2); err != nil || fmt.Sprint(got) != extents(9<<20, 64<<10) {
		t.Fatalf("changes after the reset: %v %v", got, err)
	}
}

// TestAnswerBoundedByExtents: an answer holds at most MaxExtents extents
// (adjacent blocks are one extent) and then ends with its last one, so a
// client that makes one call misses the rest and one that loops on
// StartOffset+Length gets every change.
func TestAnswerBoundedByExtents(t *testing.T) {
	defer cbt.SetMaxExtents(2)()
	f := setup(t)
	f.enable(t)
	_, id1 := f.snapshot(t)
	f.write(t, 1<<20, 128<<10) // blocks 16, 17: one extent
	f.write(t, 3<<20, 1)
	f.write(t, 9<<20, 1)
	f.write(t, 20<<20, 1)
	f.write(t, diskSize-1, 1) // the last block
	s2, _ := f.snapshot(t)
	res, err := methods.QueryChangedDiskAreas(context.Background(), f.c, &types.QueryChangedDiskAreas{
		This: f.vm.Reference(), Snapshot: &s2, DeviceKey: f.key, StartOffset: 0, ChangeId: id1})
	if err != nil {
		t.Fatal(err)
	}
	first := res.Returnval
	if fmt.Sprint(first.ChangedArea) != extents(1<<20, 128<<10, 3<<20, 64<<10) || first.Length != 3<<20+64<<10 {
		t.Fatalf("first answer %v over %d bytes: want 2 extents, ending with the second", first.ChangedArea, first.Length)
	}
	got, calls, err := f.changed(t, &s2, id1)
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(1<<20, 128<<10, 3<<20, 64<<10, 9<<20, 64<<10, 20<<20, 64<<10, diskSize-64<<10, 64<<10); fmt.Sprint(got) != want || calls != 3 {
		t.Fatalf("looping: %v in %d calls, want %v in 3", got, calls, want)
	}
	// An answer from an offset inside an extent starts there.
	res, err = methods.QueryChangedDiskAreas(context.Background(), f.c, &types.QueryChangedDiskAreas{
		This: f.vm.Reference(), Snapshot: &s2, DeviceKey: f.key, StartOffset: 1<<20 + 100, ChangeId: id1})
	if err != nil || len(res.Returnval.ChangedArea) == 0 || res.Returnval.ChangedArea[0] != (types.DiskChangeExtent{Start: 1<<20 + 100, Length: 128<<10 - 100}) {
		t.Fatalf("answer from inside an extent: %+v %v", res, err)
	}
}

// TestAnswersAsOfTheSnapshot: ESXi answers for a snapshot as of the
// snapshot (the frozen base), whatever the guest writes into its delta
// since. "*" for a snapshot lists the areas allocated when it was taken,
// not a region the guest allocated after it; changes since a changeId up to
// a snapshot are exactly the writes between the two snapshots, not the
// writes after the one asked about.
func TestAnswersAsOfTheSnapshot(t *testing.T) {
	f := setup(t)
	f.enable(t)
	f.write(t, 2<<20, 1) // block 32, before s1
	s1, id1 := f.snapshot(t)
	f.write(t, 10<<20, 64<<10) // block 160: a new region, after s1
	all, _, err := f.changed(t, &s1, "*")
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(2<<20, 64<<10); fmt.Sprint(all) != want {
		t.Fatalf("allocated areas of s1 after the guest allocated a new region: %v, want %v (the disk as of s1)", all, want)
	}
	if got, _, err := f.changed(t, &s1, id1); err != nil || len(got) != 0 {
		t.Fatalf("changes from s1's own changeId up to s1: %v %v, want none", got, err)
	}

	s2, id2 := f.snapshot(t)
	f.write(t, 2<<20, 1)        // block 32 again, after s2
	f.write(t, 30<<20, 128<<10) // blocks 480, 481: a new region, after s2
	all, _, err = f.changed(t, &s2, "*")
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(2<<20, 64<<10, 10<<20, 64<<10); fmt.Sprint(all) != want {
		t.Fatalf("allocated areas of s2: %v, want %v (the disk as of s2)", all, want)
	}
	// s1 still answers as of s1, though the disk moved twice since.
	if all, _, err = f.changed(t, &s1, "*"); err != nil || fmt.Sprint(all) != extents(2<<20, 64<<10) {
		t.Fatalf("allocated areas of s1 after s2: %v %v", all, err)
	}
	got, _, err := f.changed(t, &s2, id1)
	if err != nil {
		t.Fatal(err)
	}
	if want := extents(10<<20, 64<<10); fmt.Sprint(got) != want {
		t.Fatalf("changes s1..s2 after the guest wrote on: %v, want %v (exactly the writes between the snapshots)", got, want)
	}
	// The live disk (no snapshot) has it all.
	if all, _, err = f.changed(t, nil, "*"); err != nil || fmt.Sprint(all) != extents(2<<20, 64<<10, 10<<20, 64<<10, 30<<20, 128<<10) {
		t.Fatalf("allocated areas of the live disk: %v %v", all, err)
	}
	s3, _ := f.snapshot(t)
	if got, _, err = f.changed(t, &s3, id2); err != nil || fmt.Sprint(got) != extents(2<<20, 64<<10, 30<<20, 128<<10) {
		t.Fatalf("changes s2..s3: %v %v", got, err)
	}
	if got, _, err = f.changed(t, &s3, id1); err != nil || fmt.Sprint(got) != extents(2<<20, 64<<10, 10<<20, 64<<10, 30<<20, 128<<10) {
		t.Fatalf("changes s1..s3: %v %v", got, err)
	}
	if all, _, err = f.changed(t, &s3, "*"); err != nil || fmt.Sprint(all) != extents(2<<20, 64<<10, 10<<20, 64<<10, 30<<20, 128<<10) {
		t.Fatalf("allocated areas of s3: %v %v", all, err)
	}
}
