package vsphere

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
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
// from taskFirst to taskMax, for up to taskBudget; then the refusal is
// returned, saying how long ferry waited and which task held the object.
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
	start, pause := time.Now(), taskFirst
	for {
		err := r.rt.RoundTrip(ctx, req, res)
		var busy *types.TaskInProgress
		if _, ok := fault.As(err, &busy); !ok {
			return err
		}
		waited := time.Since(start)
		if waited+pause > taskBudget {
			return fmt.Errorf("%w (another task, %s, held the object for the %s ferry waited: find it in vCenter's recent tasks)", err, busy.Task.Value, waited.Round(time.Second))
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
		pause = min(2*pause, taskMax)
		// The response holds the fault: a new one for the retry.
		if v := reflect.ValueOf(res); v.Kind() == reflect.Pointer && !v.IsNil() {
			v.Elem().Set(reflect.Zero(v.Elem().Type()))
		}
	}
}
