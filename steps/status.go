package steps

import (
	"errors"
	"fmt"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// VMStatus is one replication job's health, as `ferry status` shows it.
type VMStatus struct {
	VM       string        `json:"vm"`
	RPO      string        `json:"rpo"`
	LastPass time.Time     `json:"last_pass,omitempty"`
	Age      time.Duration `json:"age_ns,omitempty"`
	Health   string        `json:"health"`
	Paused   bool          `json:"paused,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	// LastCompare is the last full compare of the replica with its source
	// (blocks compared, differing, repaired); nil: none yet.
	LastCompare *replication.CompareResult `json:"last_compare,omitempty"`
}

// ReplicationStatus reads every planned VM's replication record, read-only:
// it creates no store, changes nothing and does not wait for a ferry that
// holds the store (then the error wraps replication.ErrStoreBusy and names
// that process when the state lock says which it is).
func (e *Env) ReplicationStatus(now time.Time) ([]VMStatus, error) {
	store, done, err := e.readReplicationStore()
	if errors.Is(err, replication.ErrStoreBusy) {
		who := "a running ferry (a wizard or run of this plan)"
		if pid := StateHolder(e.State.Path()); pid > 0 {
			who = fmt.Sprintf("ferry process %d (a wizard or run of this plan)", pid)
		}
		return nil, fmt.Errorf("replication data is held by %s; its dashboard shows the live status: %w", who, err)
	}
	if err != nil {
		return nil, err
	}
	defer done()

	cut := e.State.Get("cutover").Outputs
	var out []VMStatus
	for _, vm := range e.Plan.VMs {
		var vs replication.VMState
		if store != nil {
			var err error
			if vs, err = store.VM(vm.Name); err != nil {
				return nil, err
			}
		}
		st := VMStatus{VM: vm.Name, RPO: vm.RPO, LastPass: vs.LastPass, Paused: vs.Paused, Reason: vs.PausedReason, LastCompare: vs.LastCompare}
		rpo, _ := time.ParseDuration(vm.RPO)
		switch {
		case cut[cutoverKey(vm.Name)] == cutoverDone:
			st.Health = "cut over"
		case cut[cutoverKey(vm.Name)] == cutoverPowerOnRequested:
			st.Health = "DECISION NEEDED: the cutover stopped after power-on of the target was requested; " + decisionHint(vm.Name)
		case e.isCold(vm.Name):
			st.Health = coldHealth(vs.LastPass, now)
		case vs.LastPass.IsZero():
			st.Health = "no replica yet (run the replication step)"
		case vs.Paused:
			st.Health = "paused"
		default:
			st.Age = now.Sub(vs.LastPass)
			st.Health = "ok"
			if rpo > 0 && st.Age > rpo {
				st.Health = fmt.Sprintf("RPO missed: last complete pass %s ago, RPO %s", st.Age.Round(time.Second), vm.RPO)
			}
		}
		out = append(out, st)
	}
	return out, nil
}
