package vsphere

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// taskRetry sends a task call again that vCenter refused because another
// task holds its object: ESXi runs one VM-locking task per VM at a time
// and refuses another with TaskInProgress ("Another task is already in
// progress."), having done nothing. Someone else's task is the usual
// cause: a backup job's snapshot, an admin's reconfigure, a storage
// vMotion; a pass's snapshot or the cutover's power-off then waits for it
// instead of failing (Forklift's MTV-1753 failed migrations on it). The
// guest power calls (busyRefused) are no tasks but are refused the same
// way ("TaskInProgress: if the virtual machine is busy", API reference):
// the cutover's guest shutdown waits too, rather than powering the source
// off hard at once (cutover.hard_power_off) or failing. The pauses grow
// from taskFirst to taskMax, for up to taskBudget (busyWait); then the
// refusal is returned, saying how long ferry waited and which task held
// the object. vCenter more often accepts the call and fails its task
// TaskInProgress: RunTask starts such a task again.
type taskRetry struct {
	rt soap.RoundTripper
}

const (
	taskFirst  = 500 * time.Millisecond
	taskMax    = 5 * time.Second
	taskBudget = 3 * time.Minute
)

// busyRefused are the request bodies of the calls other than tasks that
// vCenter refuses TaskInProgress while another task holds their VM,
// having done nothing: the guest power calls.
var busyRefused = map[string]bool{"ShutdownGuestBody": true, "RebootGuestBody": true, "StandbyGuestBody": true}

func (r *taskRetry) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if t := reflect.TypeOf(req); t.Kind() != reflect.Pointer || !(strings.HasSuffix(t.Elem().Name(), "_TaskBody") || busyRefused[t.Elem().Name()]) {
		return r.rt.RoundTrip(ctx, req, res)
	}
	w := busyWait{what: strings.TrimSuffix(reflect.TypeOf(req).Elem().Name(), "Body")}
	for {
		err := r.rt.RoundTrip(ctx, req, res)
		if err = w.again(ctx, err); err != nil || !w.retry {
			return err
		}
		// The response holds the fault: a new one for the retry.
		if v := reflect.ValueOf(res); v.Kind() == reflect.Pointer && !v.IsNil() {
			v.Elem().Set(reflect.Zero(v.Elem().Type()))
		}
	}
}

// busyWait paces the calls of one operation that vCenter refuses
// TaskInProgress: pauses from taskFirst, doubling up to taskMax, for up
// to taskBudget in all.
type busyWait struct {
	what  string // the call, for the notice ("": a task)
	start time.Time
	pause time.Duration
	retry bool // again's answer: send the call again
}

type busyNoticeKey struct{}

// WithBusyNotice returns a context whose vCenter calls, when vCenter
// refuses one because another task holds its VM, tell notice so at the
// first refusal: the wait that follows (up to taskBudget) is otherwise
// silent, and inside a cutover's downtime.
func WithBusyNotice(ctx context.Context, notice func(msg string)) context.Context {
	return context.WithValue(ctx, busyNoticeKey{}, notice)
}

// again says what to do with err, the outcome of one call: retry set when
// it was refused TaskInProgress and the budget allows another after a
// pause (taken here); otherwise err is returned, saying how long ferry
// waited when the budget ran out, or the context's end.
func (w *busyWait) again(ctx context.Context, err error) error {
	w.retry = false
	var busy *types.TaskInProgress
	if _, ok := fault.As(err, &busy); !ok {
		return err
	}
	if w.start.IsZero() {
		w.start, w.pause = time.Now(), taskFirst
		if notice, ok := ctx.Value(busyNoticeKey{}).(func(string)); ok {
			what := "a task"
			if w.what != "" {
				what = w.what
			}
			notice(fmt.Sprintf("vCenter refused %s: another task (%s, in vCenter's recent tasks) holds the VM; ferry waits for it to end and tries again, for up to %s", what, busy.Task.Value, taskBudget))
		}
	}
	waited := time.Since(w.start)
	if waited+w.pause > taskBudget {
		return fmt.Errorf("%w (another task, %s, held the object for the %s ferry waited: find it in vCenter's recent tasks)", err, busy.Task.Value, waited.Round(time.Second))
	}
	select {
	case <-time.After(w.pause):
	case <-ctx.Done():
		return err
	}
	w.pause = min(2*w.pause, taskMax)
	w.retry = true
	return nil
}

// RunTask starts a task with start and waits for it (WaitTask). A task
// that vCenter failed TaskInProgress, another task holding its VM, did
// nothing: it is started again once the other may have ended, as taskRetry
// sends again a call refused so (vCenter refuses either way: vic's task
// waiter, pkg/vsphere/tasks/waiter.go, waits out both).
func RunTask(ctx context.Context, start func() (*object.Task, error)) (*types.TaskInfo, error) {
	var w busyWait
	for {
		task, err := start()
		if err != nil {
			return nil, err
		}
		info, err := WaitTask(ctx, task)
		if err = w.again(ctx, err); err != nil || !w.retry {
			return info, err
		}
	}
}
