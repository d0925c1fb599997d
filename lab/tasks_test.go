package lab_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	vimtask "github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestOneTaskPerCall: vCenter records one task per task method call, in its
// task history (TaskManager.CreateCollectorForTasks) and in the entity's
// recentTask, named by the call (descriptionId), on the entity called, with
// the session's user and the call's result. The lab runs CreateVM_Task and
// ReconfigVM_Task through tasks of its own that run vcsim's, whose own task
// was listed too: a client that counts or follows the folder's CreateVM
// tasks (a cut-off CreateVM's recovery) saw two per call.
func TestOneTaskPerCall(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	cfg := l.Config()
	pv := lab.ProviderSpec()
	c := connect(t, cfg.Provider.URL, cfg.Provider.Username, cfg.Provider.Password, l.CAFile)
	vc := c.Client.Client
	bg := context.Background()
	disk := newReplica(t, c, "WebApp2", 8<<20)

	dc, err := find.NewFinder(vc).Datacenter(bg, pv.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(bg)
	if err != nil {
		t.Fatal(err)
	}
	folder := folders.VmFolder.Reference()
	folderBefore := recentTasks(t, vc, folder)
	begin, err := methods.GetCurrentTime(bg, vc)
	if err != nil {
		t.Fatal(err)
	}

	ref, err := c.CreateVMOverDisks(bg, vsphere.VMOverDisks{Name: "WebApp2", Datacenter: pv.Datacenter, Pool: pv.Pool,
		Datastore: pv.Datastore, Disks: []vsphere.DiskFile{disk}})
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(vc, types.ManagedObjectReference{Type: "VirtualMachine", Value: ref.Value})
	vmBefore := recentTasks(t, vc, vm.Reference())
	task, err := vm.Reconfigure(bg, types.VirtualMachineConfigSpec{Annotation: "one task per call"})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(bg); err != nil {
		t.Fatal(err)
	}

	history := taskHistory(t, vc, begin)
	onFolder := tasksOn(history, folder)
	if len(onFolder) != 1 {
		t.Errorf("task history: %d tasks on the VM folder for one CreateVM_Task call, want 1: %s", len(onFolder), describeTasks(onFolder))
	} else {
		checkTask(t, onFolder[0], "Folder.createVm", folder, vm.Reference())
	}
	onVM := tasksOn(history, vm.Reference())
	if len(onVM) != 1 {
		t.Errorf("task history: %d tasks on the VM for one ReconfigVM_Task call, want 1: %s", len(onVM), describeTasks(onVM))
	} else {
		checkTask(t, onVM[0], "VirtualMachine.reconfigure", vm.Reference(), nil)
		if onVM[0].Task != task.Reference() {
			t.Errorf("task history lists %s for the reconfigure, the call returned %s", onVM[0].Task.Value, task.Reference().Value)
		}
	}

	if added := newTasks(folderBefore, recentTasks(t, vc, folder)); len(added) != 1 {
		t.Errorf("the VM folder's recentTask gained %v for one CreateVM_Task call, want one task", added)
	} else if len(onFolder) == 1 && added[0] != onFolder[0].Task {
		t.Errorf("the VM folder's recentTask gained %s, the task history lists %s", added[0].Value, onFolder[0].Task.Value)
	}
	if added := newTasks(vmBefore, recentTasks(t, vc, vm.Reference())); len(added) != 1 || added[0] != task.Reference() {
		t.Errorf("the VM's recentTask gained %v for one ReconfigVM_Task call, want the call's task %s alone", added, task.Reference().Value)
	}
}

// checkTask checks that info is a successful task of the lab's ferry user
// named id on entity, with result (when not nil).
func checkTask(t *testing.T, info types.TaskInfo, id string, entity types.ManagedObjectReference, result any) {
	t.Helper()
	if info.DescriptionId != id {
		t.Errorf("task %s is %q, want %q", info.Task.Value, info.DescriptionId, id)
	}
	if info.Entity == nil || *info.Entity != entity {
		t.Errorf("task %s is on %v, want %s", info.Task.Value, info.Entity, entity.Value)
	}
	if by, ok := info.Reason.(*types.TaskReasonUser); !ok || by.UserName != lab.FerryPrincipal {
		t.Errorf("task %s was begun by %#v, want the user %s", info.Task.Value, info.Reason, lab.FerryPrincipal)
	}
	if info.State != types.TaskInfoStateSuccess {
		t.Errorf("task %s is %s, want success", info.Task.Value, info.State)
	}
	if result != nil && info.Result != result {
		t.Errorf("task %s answered %v, want %v", info.Task.Value, info.Result, result)
	}
}

// taskHistory is vCenter's task history queued since begin (vCenter's
// clock), read with a TaskHistoryCollector.
func taskHistory(t *testing.T, vc *vim25.Client, begin *time.Time) []types.TaskInfo {
	t.Helper()
	bg := context.Background()
	collector, err := vimtask.NewManager(vc).CreateCollectorForTasks(bg, types.TaskFilterSpec{
		Time: &types.TaskFilterSpecByTime{TimeType: types.TaskFilterSpecTimeOptionQueuedTime, BeginTime: begin},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = collector.Destroy(bg) }()
	var all []types.TaskInfo
	for {
		page, err := collector.ReadNextTasks(bg, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
	}
}

func tasksOn(tasks []types.TaskInfo, entity types.ManagedObjectReference) []types.TaskInfo {
	var out []types.TaskInfo
	for _, info := range tasks {
		if info.Entity != nil && *info.Entity == entity {
			out = append(out, info)
		}
	}
	return out
}

func describeTasks(tasks []types.TaskInfo) string {
	s := ""
	for _, info := range tasks {
		s += " " + info.Task.Value + " (" + info.DescriptionId + ")"
	}
	return s
}

func recentTasks(t *testing.T, vc *vim25.Client, entity types.ManagedObjectReference) []types.ManagedObjectReference {
	t.Helper()
	var e mo.ManagedEntity
	if err := object.NewCommon(vc, entity).Properties(context.Background(), entity, []string{"recentTask"}, &e); err != nil {
		t.Fatal(err)
	}
	return e.RecentTask
}

func newTasks(before, after []types.ManagedObjectReference) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, r := range after {
		if !slices.Contains(before, r) {
			out = append(out, r)
		}
	}
	return out
}

// TestTasksVCenterBeginsAreTheSystems: a task vCenter begins itself, for no
// user's call, is the system's (TaskReasonSystem), as vCenter records it:
// the removal of the VM of an import whose lease timed out. vcsim named
// every task's user "vcsim", a user no session has.
func TestTasksVCenterBeginsAreTheSystems(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, ImportLeaseTimeout: time.Second})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vc := c.Client.Client
	bg := context.Background()
	finder := find.NewFinder(vc, false)
	dc, err := finder.DefaultDatacenter(bg)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	pool, err := finder.DefaultResourcePool(bg)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(bg)
	if err != nil {
		t.Fatal(err)
	}
	begin, err := methods.GetCurrentTime(bg, vc)
	if err != nil {
		t.Fatal(err)
	}
	spec := &types.VirtualMachineImportSpec{ConfigSpec: types.VirtualMachineConfigSpec{
		Name: "abandoned", GuestId: "otherGuest64", NumCPUs: 1, MemoryMB: 64,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[" + l.OnPrem.Spec.Datastore + "]"},
	}}
	lease, err := pool.ImportVApp(bg, spec, folders.VmFolder, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := lease.Wait(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not kept alive: the lease times out, and vCenter removes the VM.
	var destroy []types.TaskInfo
	for end := time.Now().Add(2 * time.Minute); len(destroy) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no task removed %s, the VM of an import whose lease timed out", info.Entity.Value)
		}
		for _, task := range tasksOn(taskHistory(t, vc, begin), info.Entity) {
			if task.DescriptionId == "VirtualMachine.destroy" && (task.State == types.TaskInfoStateSuccess || task.State == types.TaskInfoStateError) {
				destroy = append(destroy, task)
			}
		}
	}
	for _, task := range destroy {
		if _, ok := task.Reason.(*types.TaskReasonSystem); !ok {
			t.Errorf("task %s (%s), vCenter's removal of an expired import's VM, was begun by %#v, want the system (TaskReasonSystem)", task.Task.Value, task.DescriptionId, task.Reason)
		}
	}
}
