package steps

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/vmware/govmomi/vim25/types"
)

// TestWarmPassWarningsReachTheDashboard (found reading warmJob: the
// wizard's jobs were built without events, so the source's warnings went
// to the log file only): in warm replication, a source whose ESXi host
// cannot be read host-direct warns on the scheduler's events (the
// dashboard's) that it reads through vCenter's proxy, naming the cost.
func TestWarmPassWarningsReachTheDashboard(t *testing.T) {
	t.Parallel()
	j := startDiskChangeJourney(t)
	ctx := context.Background()
	j.l.OnPrem.ESX.Close() // the host's HTTPS port answers no more
	before := j.l.OnPrem.ESX.ProxyReads()
	if err := j.sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if err := j.sched.WaitPass(ctx, "WebApp2"); err != nil {
		t.Fatalf("the pass through the proxy: %v", err)
	}
	if j.l.OnPrem.ESX.ProxyReads() == before {
		t.Fatal("the pass did not read through vCenter's proxy: the test shows nothing")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, w := range j.warnings {
		if strings.Contains(w, "VM WebApp2: reading disks through vCenter's /folder proxy, not host-direct") && strings.Contains(w, "expect several times slower passes") {
			return
		}
	}
	t.Errorf("no warning of the proxy reads among the scheduler's events: %q", j.warnings)
}

// TestWarmJobSaysADiskWasAddedWhileFerryWasStopped: a disk added to the
// source while no ferry ran is found when the next session's warm
// replication takes the job, and that session's events (its dashboard)
// say so, not its log file only.
func TestWarmJobSaysADiskWasAddedWhileFerryWasStopped(t *testing.T) {
	t.Parallel()
	j := startDiskChangeJourney(t)
	ctx := context.Background()
	data := "[onprem-ds] WebApp2/data.vmdk"
	changeSourceDisk(t, j.env, "WebApp2", types.VirtualDeviceConfigSpecOperationAdd, true, data, 4<<20)
	j.env.Close(ctx) // this session ends
	st, err := LoadState(j.env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	next := NewEnv(j.l.Config(), j.env.Plan(), st)
	var mu sync.Mutex
	var warnings []string
	if _, err := next.EnableWarm(ctx, func(ev replication.Event) {
		if ev.Kind == replication.EventWarning {
			mu.Lock()
			warnings = append(warnings, ev.Msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Close(context.Background()) })
	mu.Lock()
	defer mu.Unlock()
	for _, w := range warnings {
		if strings.Contains(w, "Hard disk 2 ("+data) && strings.Contains(w, "was added to the source after VM selection: it is replicated, and the target gets it too") {
			return
		}
	}
	t.Errorf("the restarted session's events do not say the disk was added: %q", warnings)
}
