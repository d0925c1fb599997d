package steps

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// stopWhileHeld runs WebApp2's confirmed cutover, stopping it (its
// context cancelled, as a signal does) once hold announces the work it
// holds (ferry waits for it), and releasing the work once a line of the
// run says waitLine, or else when the run has returned; it returns once the
// work held has ended, with the run's lines, the report as text and the
// run's error.
func stopWhileHeld(t *testing.T, env *Env, r *Runner, hold *lab.Hold, waitLine string) ([]string, string, error) {
	t.Helper()
	t.Cleanup(hold.Release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var lines []string
	r.Emit = func(ev Event) {
		line := string(ev.Kind) + " " + ev.Step + ": " + ev.Message + ev.Error
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
		if strings.Contains(line, waitLine) {
			hold.Release()
		}
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-hold.Began():
			cancel()
		case <-ctx.Done():
		}
		close(stopped)
	}()
	r.Confirmed = true
	_, err := r.Run(ctx)
	cancel()
	<-stopped
	hold.Release()
	hold.Ended()
	md, rerr := os.ReadFile(env.State.Get("cutover").Outputs["report"])
	if rerr != nil {
		t.Fatalf("report: %v", rerr)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lines), string(md), err
}

// TestStoppedDuringGuestShutdownRollsBackRunning (QA: SIGTERM while the
// cutover waited for WebApp1 to power off after vCenter had accepted its
// guest shutdown: the rollback found it still powered on and left it, then
// the guest powered off; the run said "rolled back: WebApp1 is running
// on-prem again", and the next run found it off and migrated it cold): a
// guest shutdown cannot be cancelled, so the rollback waits for the
// power-off and powers the source on again; it runs at the end, the
// replica is intact, nothing is left at the provider, and the run and the
// report say what happened.
func TestStoppedDuringGuestShutdownRollsBackRunning(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	r := replicateToCutover(t, env)
	hold := l.OnPrem.HoldGuestShutdowns()
	waitLine := "WebApp2: its guest OS was asked to shut down at "
	lines, md, err := stopWhileHeld(t, env, r, hold, waitLine)
	text := strings.Join(lines, "\n")
	if err == nil || !strings.Contains(err.Error(), "rolled back: WebApp2 is running on-prem again") {
		t.Fatalf("stopped in the shutdown: %v; want it rolled back, running again:\n%s", err, text)
	}
	// Checked once the guest's shutdown has ended: the source runs.
	if !sourceOn(t, env) {
		t.Fatalf("WebApp2 is powered off after a rollback that said it runs on-prem again:\n%s", text)
	}
	if !strings.Contains(text, waitLine) || !strings.Contains(text, "vCenter cannot cancel that") ||
		!strings.Contains(text, "WebApp2: its guest OS finished the shutdown: powering it on again") {
		t.Errorf("the run does not say it waited for the guest's shutdown to power the source on again:\n%s", text)
	}
	if !strings.Contains(md, "| WebApp2 | rolled back |") {
		t.Errorf("report:\n%s", md)
	}
	ctx := context.Background()
	provider, perr := env.ProviderVC(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	if ref, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Errorf("a VM WebApp2 (%s) is left at the provider", ref.Value)
	}
	checkReplicaResumes(t, l, env, "WebApp2")
}

// TestStoppedDuringCreateVMRemovesItsVM (QA: SIGTERM while the cutover
// waited for the provider vCenter's CreateVM task: the task made the VM
// after the wait was cancelled, the rollback knew nothing of it, and the
// next run refused "a VM named WebApp1 (vm-70) ... which ferry did not
// make"): the rollback waits for the task's end and removes the VM it made,
// its replica disks detached and kept; the source runs again, nothing is
// left at the provider, the next cutover is not refused, and the run says
// what happened.
func TestStoppedDuringCreateVMRemovesItsVM(t *testing.T) {
	t.Parallel()
	// No pass's content is asserted: no background writer, less CPU.
	l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	r := replicateToCutover(t, env)
	hold := l.Provider.HoldCreateVMs()
	waitLine := "WebApp2: the provider vCenter's task creating the target ("
	lines, md, err := stopWhileHeld(t, env, r, hold, waitLine)
	text := strings.Join(lines, "\n")
	if err == nil || !strings.Contains(err.Error(), "create VM at provider") || !strings.Contains(err.Error(), "rolled back: WebApp2 is running on-prem again") {
		t.Fatalf("stopped in the create: %v; want it rolled back, running again:\n%s", err, text)
	}
	ctx := context.Background()
	provider, perr := env.ProviderVC(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	// Checked once the task has ended: nothing it made is left.
	if ref, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Errorf("the VM WebApp2 (%s) the stopped create made is left at the provider:\n%s", ref.Value, text)
	}
	if taken, err := env.targetNameTaken(ctx, "WebApp2"); err != nil || taken != "" {
		t.Errorf("the next cutover would be refused: %v %s", err, taken)
	}
	if !strings.Contains(text, waitLine) || !strings.Contains(text, "was still running when the cutover stopped") ||
		!strings.Contains(text, "after the stop: removing it, its replica disks detached and kept") {
		t.Errorf("the run does not say it waited for the create and removed what it made:\n%s", text)
	}
	if !strings.Contains(md, "| WebApp2 | rolled back |") {
		t.Errorf("report:\n%s", md)
	}
	if !sourceOn(t, env) {
		t.Fatal("WebApp2 is not running after the rollback")
	}
	checkReplicaResumes(t, l, env, "WebApp2")
}

// TestStoppedDuringCreateVMCallRemovesItsVM (the gap left by
// TestStoppedDuringCreateVMRemovesItsVM: the stop cut the CreateVM call
// itself off, after vCenter had taken the request and begun its task but
// before its answer naming the task came; the rollback only said that a VM
// might be made, and the task then made the VM over the replica disks,
// which the rollback had hot-added to the receiver appliance again): the
// rollback finds the task in the provider vCenter's task history, follows
// it, and removes the VM it made, its replica disks detached and kept; no
// VM but the appliance holds them, the source runs, replication resumes,
// and the run says what it found.
func TestStoppedDuringCreateVMCallRemovesItsVM(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	r := replicateToCutover(t, env)
	hold := l.Provider.HoldCreateVMAnswers()
	waitLine := "WebApp2: the request creating the target was cut off by the stop, before vCenter's answer: the provider vCenter's task history shows "
	lines, md, err := stopWhileHeld(t, env, r, hold, waitLine)
	text := strings.Join(lines, "\n")
	ctx := context.Background()
	provider, perr := env.ProviderVC(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	// Checked once the task has ended: nothing it made is left, and only
	// the appliance holds the replica disks.
	if ref, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Errorf("the VM WebApp2 (%s) the cut-off create made is left at the provider:\n%s", ref.Value, text)
	}
	var paths []string
	_, src := sourceVM(t, env, "WebApp2")
	for _, f := range env.replicaFiles("WebApp2", src.Disks) {
		paths = append(paths, f.Path)
	}
	users, uerr := provider.DiskUsers(ctx, env.Plan().Provider.Datacenter, paths)
	if uerr != nil {
		t.Fatal(uerr)
	}
	for _, p := range paths {
		if !slices.Equal(users[p], []string{lab.ApplianceVM}) {
			t.Errorf("replica disk %s is held by %v, want the receiver appliance alone", p, users[p])
		}
	}
	if err == nil || !strings.Contains(err.Error(), "create VM at provider") || !strings.Contains(err.Error(), "rolled back: WebApp2 is running on-prem again") {
		t.Fatalf("stopped in the create call: %v; want it rolled back, running again:\n%s", err, text)
	}
	if !strings.Contains(text, "waiting until ") ||
		!regexp.MustCompile(`WebApp2: the request creating the target was cut off by the stop, and the provider vCenter had it: its task task-\d+ \(found in its task history\) made WebApp2 \[vm-\d+\]: removing it, its replica disks detached and kept`).MatchString(text) {
		t.Errorf("the run does not say it found the create's task and removed what it made:\n%s", text)
	}
	if !strings.Contains(md, "| WebApp2 | rolled back |") {
		t.Errorf("report:\n%s", md)
	}
	if !sourceOn(t, env) {
		t.Fatal("WebApp2 is not running after the rollback")
	}
	checkReplicaResumes(t, l, env, "WebApp2")
}

// TestReattachUnsettledLeavesHeldReplica: a rollback that did not find the
// VM its cut-off CreateVM request may have made gives the replica disks back
// to the receiver appliance only if no other VM at the provider holds them,
// though the cutover's state is running (which spares an interrupted
// cutover's own target the check): the error names the VM, the disk and the
// --rollback that removes it, and the appliance does not get the disk.
func TestReattachUnsettledLeavesHeldReplica(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	replicateToCutover(t, env)
	ctx := context.Background()
	_, src := sourceVM(t, env, "WebApp2")
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pp := env.Plan().Provider
	files := env.replicaFiles("WebApp2", src.Disks)
	if err := env.releaseReplicas(ctx, "WebApp2", src.Disks); err != nil {
		t.Fatal(err)
	}
	// The VM the late task made, over the replica disks.
	if _, err := provider.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "WebApp2", Datacenter: pp.Datacenter, Pool: pp.ResourcePool,
		Datastore: pp.Datastore, Disks: files}); err != nil {
		t.Fatal(err)
	}
	if err := env.State.SetOutput("cutover", cutoverKey("WebApp2"), cutoverRunning); err != nil {
		t.Fatal(err)
	}
	err = env.reattachReplicas(ctx, "WebApp2", src.Disks, true)
	if err == nil || !strings.Contains(err.Error(), "is held by VM WebApp2 at the provider, so it was not hot-added to the receiver appliance again") ||
		!strings.Contains(err.Error(), "ferry run --confirm-cutover=WebApp2 --rollback") {
		t.Errorf("hot-add of replica disks another VM holds: %v; want it refused, saying which VM and what removes it", err)
	}
	users, err := provider.DiskUsers(ctx, pp.Datacenter, []string{files[0].Path})
	if err != nil {
		t.Fatal(err)
	}
	if got := users[files[0].Path]; !slices.Equal(got, []string{"WebApp2"}) {
		t.Errorf("replica disk %s held by %v, want the late VM WebApp2 alone", files[0].Path, got)
	}
}
