package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

func TestProviderSide(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	if l.OnPrem.InstanceUUID == l.Provider.InstanceUUID {
		t.Fatalf("both vCenters report InstanceUuid %s", l.OnPrem.InstanceUUID)
	}
	c := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	if c.InstanceUUID() != l.Provider.InstanceUUID {
		t.Errorf("provider InstanceUuid %s, want %s", c.InstanceUUID(), l.Provider.InstanceUUID)
	}
	if _, err := c.Finder().Datacenter(context.Background(), "Provider-DC"); err != nil {
		t.Error(err)
	}
	if _, err := c.Finder().ResourcePool(context.Background(), "/Provider-DC/host/Provider-Cluster/Resources/Company-VDC"); err != nil {
		t.Error(err)
	}
	if _, err := c.Finder().Datacenter(context.Background(), "OnPrem-DC"); err == nil {
		t.Error("provider vCenter has the on-prem datacenter")
	}
	if l.OnPrem.Password == l.Provider.Password {
		t.Error("both vCenters share a password")
	}
}

// TestStartStopLeaksNothing starts and stops labs and checks that no
// goroutine and no file outlives them. Not parallel: it counts the
// process's goroutines, and other tests' labs running beside it counted
// as its leaks (CI run of 89cfcd7: "25 goroutines before, 93 after", the
// stacks of TestDiskExtendAsESXi and others); a sequential test runs
// before the parallel ones are released.
func TestStartStopLeaksNothing(t *testing.T) {
	run := func() string {
		l, err := lab.Start(context.Background(), lab.Options{DiskSize: 16 << 20})
		if err != nil {
			t.Fatal(err)
		}
		dir := l.Dir
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	run() // warm up package-level goroutines (http keep-alives, vcsim globals)
	before := runtime.NumGoroutine()
	dir := run()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab directory %s still exists after Close: %v", dir, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestKeepDir(t *testing.T) {
	dir := t.TempDir()
	l, err := lab.Start(context.Background(), lab.Options{Dir: dir, DiskSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.ConfigFile
	l.Close()
	st, err := os.Stat(cfg)
	if err != nil {
		t.Fatalf("config file gone with --dir: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v, want 0600", st.Mode().Perm())
	}
	// A second lab in the kept directory is refused with the reason and
	// what to do, and leaves the kept files as they were.
	before, _ := os.ReadFile(cfg)
	_, err = lab.Start(context.Background(), lab.Options{Dir: dir, DiskSize: 16 << 20})
	if err == nil || !strings.Contains(err.Error(), "holds a lab already") || !strings.Contains(err.Error(), "empty or new directory") {
		t.Errorf("second lab in the kept directory: %v, want a refusal saying what to do", err)
	}
	if after, _ := os.ReadFile(cfg); string(after) != string(before) {
		t.Error("the refused start changed the kept config file")
	}
	// A directory holding something else (QA: a source tree) is refused
	// too, naming what is there; its log alone is not in the way.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Start(context.Background(), lab.Options{Dir: other, DiskSize: 16 << 20}); err == nil || !strings.Contains(err.Error(), "is not empty (go.mod)") {
		t.Errorf("lab in a directory holding go.mod: %v, want it refused", err)
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Errorf("the refused start wrote into %s: %d entries", other, len(entries))
	}
}

func TestBadOptions(t *testing.T) {
	_, err := lab.Start(context.Background(), lab.Options{DiskSize: 1000})
	if err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Errorf("odd disk size: %v", err)
	}
	spec := lab.OnPremSpec(16 << 20)
	spec.VMs[0].Network = "nowhere"
	if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("unknown port group: %v", err)
	}
}
