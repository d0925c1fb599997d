package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/replication"
)

// TestPassAfterAnUnfinishedRemoval: a pass's snapshot removal still
// consolidates when the next pass opens (the pass that asked for it was
// interrupted while it waited: the cutover's hold of a scheduled pass in
// its release phase, then the cutover's pre-cutover pass). The snapshot is
// still listed, so the new pass removes it as a stale one of ferry's:
// vCenter refuses that TaskInProgress while the first removal runs, and
// once it ended the snapshot is gone. The pass goes on (the snapshot was
// to be removed and is), instead of failing (and the cutover with it).
func TestPassAfterAnUnfinishedRemoval(t *testing.T) {
	labParallel(t)
	l, src, _, _ := webApp1Source(t)
	ctx := context.Background()
	c := src.Client
	vm := object.NewVirtualMachine(c, src.VM)
	task, err := vm.CreateSnapshot(ctx, replication.SnapshotPrefix+"interrupted", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := vm.FindSnapshot(ctx, replication.SnapshotPrefix+"interrupted")
	if err != nil {
		t.Fatal(err)
	}
	hold := l.OnPrem.HoldSnapshotRemovals()
	// The interrupted pass's removal: asked for, not waited for.
	if _, err := methods.RemoveSnapshot_Task(ctx, c, &types.RemoveSnapshot_Task{This: *left, Consolidate: types.NewBool(true)}); err != nil {
		t.Fatal(err)
	}
	refused := l.OnPrem.TasksRefused()
	// The consolidation ends once vCenter refused the new pass's call.
	go func() {
		for l.OnPrem.TasksRefused() == refused {
			time.Sleep(20 * time.Millisecond)
		}
		hold.Release()
	}()
	t.Cleanup(hold.Release)
	snap, err := src.Open(ctx, "", false)
	if err != nil {
		t.Fatalf("a pass opened while an earlier pass's snapshot removal ran: %v", err)
	}
	if err := snap.Release(ctx); err != nil {
		t.Error(err)
	}
	if l.OnPrem.TasksRefused() == refused {
		t.Error("vCenter refused no call: the earlier removal had ended when the pass opened")
	}
	if _, err := vm.FindSnapshot(ctx, replication.SnapshotPrefix+"interrupted"); err == nil {
		t.Error("the interrupted pass's snapshot is still listed")
	}
}
