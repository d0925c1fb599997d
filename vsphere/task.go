package vsphere

import (
	"cmp"
	"context"
	"errors"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// WaitTask waits for task and returns its info. govmomi's
// Task.WaitForResult (and Task.Wait) return no error when ctx is cancelled
// while they wait, with no info or the info of a task still running, which
// reads as a success (and a nil result to dereference: a ferry stopped by
// SIGHUP while a pass waited for its snapshot panicked). Here a wait that
// did not see the task succeed is an error: the context's, if it ended.
func WaitTask(ctx context.Context, task *object.Task) (*types.TaskInfo, error) {
	info, err := task.WaitForResult(ctx)
	if err == nil && (info == nil || info.State != types.TaskInfoStateSuccess) {
		err = cmp.Or(ctx.Err(), errors.New("the wait for the task ended without its result"))
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}
