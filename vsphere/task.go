package vsphere

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/object"
	vimtask "github.com/vmware/govmomi/task"
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
		return nil, describeFault(err)
	}
	return info, nil
}

// describeFault makes a task's failure as govmomi returns it (a
// task.Error from a task's wait, a *task.Error from an OVF import lease's)
// a taskError, whose message says what its fault says; any other error,
// wrapped ones included, is returned as it is.
func describeFault(err error) error {
	switch e := err.(type) {
	case vimtask.Error:
		return taskError{e}
	case *vimtask.Error:
		if e != nil {
			return taskError{*e}
		}
	}
	return err
}

// taskError is a task's failure whose message says what its fault says:
// vCenter's localized message, then the fault's own messages and reason
// where they add to it (a power-on refused for want of room for the swap
// file names the file in a fault message; a localized message can be a
// bare "A general system error occurred", or, from some servers, only
// the fault's type). errors.As still finds the task.Error.
type taskError struct{ te vimtask.Error }

func (e taskError) Unwrap() error { return e.te }

func (e taskError) Error() string {
	msg := e.te.LocalizedMessage
	f := e.te.Fault()
	if f == nil {
		return msg
	}
	typ := reflect.TypeOf(f).String()
	if msg == "" || msg == typ {
		msg = strings.TrimPrefix(typ, "*types.")
	}
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(msg, strings.TrimSuffix(s, ".")) {
			msg = strings.TrimSuffix(msg, ".") + ": " + s
		}
	}
	v := reflect.ValueOf(f)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if r := v.Elem().FieldByName("Reason"); r.IsValid() && r.Kind() == reflect.String {
			add(r.String())
		}
	}
	for _, m := range f.GetMethodFault().FaultMessage {
		add(m.Message)
	}
	return msg
}
