package lab_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
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
	unfinished := createCutOff(t, c, hold, disk)
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

// TestCreateVMTasksListTheCallersOwn: CreateVMTasks lists only the CreateVM
// tasks its session's user began. Another user's CreateVM in the same VM
// folder, begun while ferry's call was cut off (an admin making a VM of
// their own meanwhile), is not listed, so the rollback that follows the
// listed tasks (waiting for each to end) does not follow it; ferry's own
// task is listed and makes its VM.
func TestCreateVMTasksListTheCallersOwn(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	cfg := l.Config()
	pv := lab.ProviderSpec()
	ferry := connect(t, cfg.Provider.URL, cfg.Provider.Username, cfg.Provider.Password, l.CAFile)
	admin := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	disk := newReplica(t, ferry, "WebApp2", 8<<20)
	theirs := newReplica(t, admin, "Other", 8<<20)
	hold := l.Provider.HoldCreateVMAnswers()
	t.Cleanup(hold.Release)
	unfinished := createCutOff(t, ferry, hold, disk)
	bg := context.Background()
	type made struct {
		ref vsphere.Ref
		err error
	}
	adminMade := make(chan made, 1)
	go func() {
		ref, err := admin.CreateVMOverDisks(bg, vsphere.VMOverDisks{Name: "Other", Datacenter: pv.Datacenter, Pool: pv.Pool,
			Datastore: pv.Datastore, Disks: []vsphere.DiskFile{theirs}})
		adminMade <- made{ref, err}
	}()
	<-hold.Began() // the admin's task has begun, its answer held
	tasks, err := ferry.CreateVMTasks(bg, pv.Datacenter, unfinished.Sent)
	hold.Release()
	if m := <-adminMade; m.err != nil {
		t.Fatalf("the admin's CreateVM: %v", m.err)
	}
	if err != nil || len(tasks) == 0 {
		t.Fatalf("CreateVM tasks in the task history: %v %v; want ferry's", tasks, err)
	}
	for _, task := range tasks {
		ref, ok, err := ferry.CreatedVM(bg, task, time.Now().Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("task %s: %v %v; want it to make ferry's VM", task.Value, ok, err)
		}
		if name, _, err := ferry.VMByRef(bg, ref); err != nil || name != "WebApp2" {
			t.Errorf("CreateVMTasks of ferry's session lists task %s, which made %s %q (%v): another user's, want ferry's own (WebApp2) alone", task.Value, ref.Value, name, err)
		}
	}
	hold.Ended()
}

// createCutOff has c create WebApp2 over disk in the provider's VM folder
// and gives up on the call once vCenter began its task, whose answer hold
// keeps back: the call is cut off, its task unknown to the caller.
func createCutOff(t *testing.T, c *vsphere.Client, hold *lab.Hold, disk vsphere.DiskFile) *vsphere.CreateUnfinishedError {
	t.Helper()
	pv := lab.ProviderSpec()
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
	return unfinished
}
