package steps

import (
	"testing"

	"github.com/ferry-migrate/ferry/replication"
)

// TestWarningNamesItsVMOnce (QA: ferry run printed "warning: WebApp2: VM
// WebApp2: reading disks through vCenter's /folder proxy ..."): a source's
// warning names its VM already, for the log file; step 6's line says the
// VM once. A job's own warning, which does not, gets the VM's name.
func TestWarningNamesItsVMOnce(t *testing.T) {
	var got []string
	emit := progressEmitter(func(ev Event) {
		if ev.Kind == EventWarning {
			got = append(got, ev.Message)
		}
	}, "WebApp2")
	emit(replication.Event{VM: "WebApp2", Kind: replication.EventWarning, Msg: "VM WebApp2: reading disks through vCenter's /folder proxy, not host-direct"})
	emit(replication.Event{VM: "WebApp2", Kind: replication.EventWarning, Msg: "VM WebApp2 is paused: vCenter asks \"?\""})
	emit(replication.Event{VM: "WebApp2", Kind: replication.EventWarning, Msg: "VM WebApp20: not this one"})
	emit(replication.Event{VM: "WebApp2", Kind: replication.EventWarning, Msg: "Hard disk 1 was extended at the source"})
	want := []string{
		"VM WebApp2: reading disks through vCenter's /folder proxy, not host-direct",
		"VM WebApp2 is paused: vCenter asks \"?\"",
		"WebApp2: VM WebApp20: not this one",
		"WebApp2: Hard disk 1 was extended at the source",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("warning %d reads %q, want %q", i, got[i], want[i])
		}
	}
}
