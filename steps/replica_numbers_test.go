package steps

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestReplicaNumbersForLife: each source disk keeps the replica disk it was
// first given, whatever disks are added before it in the device list later
// (vSphere keys a disk by its position: a disk added at SCSI0:1 lists
// before one at SCSI1:0), and a removed disk's replica is never handed to
// another. A state from before the numbers were recorded keeps the names
// its replicas were made with (the disks' order).
func TestReplicaNumbersForLife(t *testing.T) {
	pf := &PlanFile{Org: "Company", MigrationPlan: MigrationPlan{Provider: ProviderPlan{Datastore: "ds"}}}
	env := NewEnv(&config.Config{}, pf, NewState(filepath.Join(t.TempDir(), "state.json")))
	names := func(keys ...int32) []string {
		t.Helper()
		var disks []vsphere.Disk
		for _, k := range keys {
			disks = append(disks, vsphere.Disk{Key: k})
		}
		if err := env.recordReplicaNumbers("DB", disks); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range env.replicaFiles("DB", disks) {
			out = append(out, filepath.Base(f.Path))
		}
		return out
	}
	for _, step := range []struct {
		what string
		keys []int32
		want []string
	}{
		{"selected with two disks", []int32{2000, 2016}, []string{"DB_0.vmdk", "DB_1.vmdk"}},
		{"a disk added at SCSI0:1", []int32{2000, 2001, 2016}, []string{"DB_0.vmdk", "DB_2.vmdk", "DB_1.vmdk"}},
		{"the first disk removed", []int32{2001, 2016}, []string{"DB_2.vmdk", "DB_1.vmdk"}},
		{"another disk added", []int32{2001, 2002, 2016}, []string{"DB_2.vmdk", "DB_3.vmdk", "DB_1.vmdk"}},
	} {
		if got := names(step.keys...); !slices.Equal(got, step.want) {
			t.Errorf("%s: replica disks %v, want %v", step.what, got, step.want)
		}
	}
}
