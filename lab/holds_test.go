package lab_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestCreateVMAnswerHeld: under HoldCreateVMAnswers, a CreateVM call its
// caller gives up on before the answer comes is cut off (the caller does not
// know the task: CreateUnfinishedError without one), while vCenter took the
// request and runs its task: the VM folder stays readable, and vCenter's task
// history lists the task among the VM folder's CreateVM tasks (as vCenter's
// TaskHistoryCollector does). Released, the task makes the VM over the disk
// asked for, and following the task (CreatedVM) names it.
func TestCreateVMAnswerHeld(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	pv := lab.ProviderSpec()
	disk := newReplica(t, c, "WebApp2", 8<<20)
	hold := l.Provider.HoldCreateVMAnswers()
	t.Cleanup(hold.Release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-hold.Began():
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := c.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "WebApp2", Datacenter: pv.Datacenter, Pool: pv.Pool,
		Datastore: pv.Datastore, Disks: []vsphere.DiskFile{disk}})
	var unfinished *vsphere.CreateUnfinishedError
	if !errors.As(err, &unfinished) || unfinished.Task.Value != "" || unfinished.Sent.IsZero() {
		t.Fatalf("create cut off while its answer was held: %v (%+v); want it unfinished, its task unknown", err, unfinished)
	}
	bg := context.Background()
	if ref, ok, err := c.VMInRootFolder(bg, pv.Datacenter, "WebApp2"); err != nil || ok {
		t.Fatalf("VM folder while the task is held: %v %v %v; want it readable, no WebApp2 yet", ref, ok, err)
	}
	tasks, err := c.CreateVMTasks(bg, pv.Datacenter, unfinished.Sent)
	if err != nil || len(tasks) == 0 {
		t.Fatalf("CreateVM tasks in the task history: %v %v; want the held one", tasks, err)
	}
	// Among the VM folder's recent tasks too, as vCenter lists a task.
	dc, err := find.NewFinder(c.Client.Client).Datacenter(bg, pv.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(bg)
	if err != nil {
		t.Fatal(err)
	}
	var vmFolder mo.Folder
	if err := folders.VmFolder.Properties(bg, folders.VmFolder.Reference(), []string{"recentTask"}, &vmFolder); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(vmFolder.RecentTask, func(r types.ManagedObjectReference) bool { return r.Value == tasks[0].Value }) {
		t.Errorf("the VM folder's recent tasks %v, want the held task %s among them", vmFolder.RecentTask, tasks[0].Value)
	}
	hold.Release()
	// The newest is the call's.
	ref, ok, err := c.CreatedVM(bg, tasks[0], time.Now().Add(time.Minute))
	if err != nil || !ok {
		t.Fatalf("task %s: %v %v; want it to make the VM", tasks[0].Value, ok, err)
	}
	if name, ok, err := c.VMByRef(bg, ref); err != nil || !ok || name != "WebApp2" {
		t.Fatalf("the task made %s %q %v %v, want WebApp2", ref.Value, name, ok, err)
	}
	if files, err := c.DiskFilesOf(bg, ref); err != nil || !slices.Contains(files, disk.Path) {
		t.Fatalf("the VM made holds %v (%v), want %s", files, err, disk.Path)
	}
	hold.Ended()
}
