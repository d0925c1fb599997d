package vsphere

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	vimtask "github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"
)

// TestDescribeFault: an OVF import lease that fails (govmomi's nfc.Lease
// returns a *task.Error) and a task that fails (a task.Error) say what
// their fault says, not only the fault's Go type, which is all vcsim puts
// in the localized message; errors.As still finds the task.Error.
func TestDescribeFault(t *testing.T) {
	fault := func() *types.LocalizedMethodFault {
		return &types.LocalizedMethodFault{
			LocalizedMessage: "*types.GenericVmConfigFault",
			Fault: &types.GenericVmConfigFault{Reason: "not enough hosts for the storage policy", VmConfigFault: types.VmConfigFault{
				VimFault: types.VimFault{MethodFault: types.MethodFault{FaultMessage: []types.LocalizableMessage{{Message: "vSAN needs 3 hosts, the cluster has 2"}}}}}},
		}
	}
	for _, err := range []error{
		&vimtask.Error{LocalizedMethodFault: fault()}, // an import lease's
		vimtask.Error{LocalizedMethodFault: fault()},  // a task's
	} {
		got := describeFault(err).Error()
		for _, want := range []string{"GenericVmConfigFault", "not enough hosts for the storage policy", "vSAN needs 3 hosts, the cluster has 2"} {
			if !strings.Contains(got, want) {
				t.Errorf("%v: says %q, want it to say %q", err, got, want)
			}
		}
		if strings.Contains(got, "*types.") {
			t.Errorf("%v: says %q, with the fault's Go type", err, got)
		}
		var te vimtask.Error
		if !errors.As(describeFault(err), &te) {
			t.Errorf("%v: errors.As finds no task.Error", err)
		}
	}
	for _, err := range []error{errors.New("connection refused"), fmt.Errorf("upload: %w", &vimtask.Error{LocalizedMethodFault: fault()})} {
		if describeFault(err) != err {
			t.Errorf("%v: changed (only govmomi's own task errors are)", err)
		}
	}
}
