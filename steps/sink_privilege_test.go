package steps_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestSinkDriftNeedsModify: step 3 re-applies the sink port group's policy
// when it drifted behind ferry's back (a reconfigure with a partial spec
// dropped it), which needs DVPortgroup.Modify on the port group (vCenter
// checks it for ReconfigureDVPortgroup_Task). Without it the run is
// refused before it changes anything, naming the privilege and the port
// group; given back, the next run re-applies the policy.
func TestSinkDriftNeedsModify(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	plan := labPlan(t, l, nil)
	if ev, err := run(t, l.Config(), plan, ""); err != nil {
		t.Fatalf("setup: %v\n%s", err, ev)
	}
	ctx := context.Background()
	c, f := labtest.OnPrem(t, l)
	defer c.Logout(ctx)
	net, err := f.Network(ctx, "ferry-sink")
	if err != nil {
		t.Fatal(err)
	}
	pg := object.NewDistributedVirtualPortgroup(c.Client, net.Reference())
	sinkPolicy := func() bool {
		t.Helper()
		var m mo.DistributedVirtualPortgroup
		if err := pg.Properties(ctx, pg.Reference(), []string{"config"}, &m); err != nil {
			t.Fatal(err)
		}
		ps, ok := m.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting)
		if !ok {
			return false
		}
		if mp := ps.MacManagementPolicy; mp != nil { // vSphere 6.7+: MAC learning, or promiscuous
			return mp.MacLearningPolicy != nil && mp.MacLearningPolicy.Enabled || mp.AllowPromiscuous != nil && *mp.AllowPromiscuous
		}
		return ps.SecurityPolicy != nil && ps.SecurityPolicy.AllowPromiscuous != nil && ps.SecurityPolicy.AllowPromiscuous.Value != nil && *ps.SecurityPolicy.AllowPromiscuous.Value
	}
	if !sinkPolicy() {
		t.Fatal("the sink port group has no sink policy after setup")
	}
	var m mo.DistributedVirtualPortgroup
	if err := pg.Properties(ctx, pg.Reference(), []string{"config"}, &m); err != nil {
		t.Fatal(err)
	}
	task, err := pg.Reconfigure(ctx, types.DVPortgroupConfigSpec{Name: m.Config.Name, ConfigVersion: m.Config.ConfigVersion, Type: m.Config.Type, NumPorts: m.Config.NumPorts})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if sinkPolicy() {
		t.Fatal("the drift did not drop the policy")
	}

	if err := l.OnPrem.Privileges.Withhold("DVPortgroup.Modify"); err != nil {
		t.Fatal(err)
	}
	ev, err := run(t, l.Config(), plan, "")
	if !errors.Is(err, steps.ErrPreflight) || !strings.Contains(err.Error(), `privilege "DVPortgroup.Modify"`) ||
		!strings.Contains(err.Error(), "on port group ferry-sink, needed to re-apply the sink policy") {
		t.Fatalf("a run with the sink drifted and without DVPortgroup.Modify: %v, want a refusal naming it\n%s", err, ev)
	}
	if sinkPolicy() {
		t.Error("the refused run changed the port group")
	}

	l.OnPrem.Privileges.Grant("DVPortgroup.Modify")
	if ev, err := run(t, l.Config(), plan, ""); err != nil {
		t.Fatalf("with the privilege back: %v\n%s", err, ev)
	}
	if !sinkPolicy() {
		t.Error("the run with the privilege back did not re-apply the sink policy")
	}
}
