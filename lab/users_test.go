package lab_test

import (
	"context"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestTasksNameTheirSessionsUser: as vCenter, the lab names a session by
// its account's principal (DOMAIN\user, whatever the login name), and a
// task by the user of the session that began it (TaskReasonUser), as any
// session reads it; vcsim names the login as given and "vcsim" every task.
func TestTasksNameTheirSessionsUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	cfg := l.Config()
	pv := lab.ProviderSpec()
	ferry := connect(t, cfg.Provider.URL, cfg.Provider.Username, cfg.Provider.Password, l.CAFile)
	admin := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	users := map[string]string{"ferry": ferry.UserName(ctx), "admin": admin.UserName(ctx)}
	if users["ferry"] != lab.FerryPrincipal || users["admin"] != lab.AdminPrincipal {
		t.Fatalf("session users %q (as %s) and %q (as %s), want %s and %s", users["ferry"], cfg.Provider.Username, users["admin"], l.Provider.Username, lab.FerryPrincipal, lab.AdminPrincipal)
	}
	for _, tc := range []struct {
		who, vm, want string
	}{{"ferry", "UsersFerry", lab.FerryPrincipal}, {"admin", "UsersAdmin", lab.AdminPrincipal}} {
		c := ferry
		if tc.who == "admin" {
			c = admin
		}
		f := find.NewFinder(c.Client.Client)
		dc, err := f.Datacenter(ctx, pv.Datacenter)
		if err != nil {
			t.Fatal(err)
		}
		f.SetDatacenter(dc)
		folders, err := dc.Folders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := f.ResourcePool(ctx, pv.Pool)
		if err != nil {
			t.Fatal(err)
		}
		task, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{Name: tc.vm, GuestId: "otherGuest64",
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + pv.Datastore + "]"}}, pool, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.WaitForResult(ctx); err != nil {
			t.Fatalf("%s creates %s: %v", tc.who, tc.vm, err)
		}
		// Read by the other session.
		other := admin
		if tc.who == "admin" {
			other = ferry
		}
		var mt mo.Task
		if err := object.NewTask(other.Client.Client, task.Reference()).Properties(ctx, task.Reference(), []string{"info"}, &mt); err != nil {
			t.Fatal(err)
		}
		r, ok := mt.Info.Reason.(*types.TaskReasonUser)
		if !ok || r.UserName != tc.want {
			t.Errorf("the task %s of %s's CreateVM (%s) reads its reason as %#v, want the user %s", task.Reference().Value, tc.who, tc.vm, mt.Info.Reason, tc.want)
		}
	}
}
