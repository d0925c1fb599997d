package steps

import (
	"fmt"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
)

// NamesRefused is why a flag that names VMs of the plan (--test-migrate,
// --verify) was refused for a VM whose state it does not take (cut over,
// its cutover left unfinished, no replica yet): bad input, refused before
// anything runs, nothing changed (the front ends exit 2, as for a name
// that is not in the plan).
type NamesRefused struct{ Err error }

func (r *NamesRefused) Error() string { return r.Err.Error() }
func (r *NamesRefused) Unwrap() error { return r.Err }

// replicaUse is what a flag does with the replicas of the VMs it names.
type replicaUse struct {
	flag string // "--test-migrate"
	what string // "a test migration"
	// test: a test migration (it refuses a cold VM's missing replica and
	// a replica a verify found to differ; a full compare repairs those).
	test bool
}

var (
	testUse   = replicaUse{flag: "--test-migrate", what: "a test migration", test: true}
	verifyUse = replicaUse{flag: "--verify", what: "a full compare", test: false}
)

// replicaRefusal says why u cannot be given vm in the state it is in (its
// cutover, its replica as store records it; nil: no replica yet): "" when
// it can. It reads only the state and the store.
func (e *Env) replicaRefusal(store *replication.StateStore, vm string, u replicaUse) (string, error) {
	runsOnPrem := u.what + " takes the replica of a VM that still runs on-prem"
	switch st := e.State.Get("cutover").Outputs[cutoverKey(vm)]; st {
	case "", cutoverRolledBack:
	case cutoverDone:
		return fmt.Sprintf("%s is cut over (its cutover is done): it runs in Cloud Director on what were its replica disks, and %s", vm, runsOnPrem), nil
	case cutoverRunning:
		return fmt.Sprintf("%s's cutover is unfinished (interrupted before power-on of the target was requested: ferry status says what to do), and %s", vm, runsOnPrem), nil
	case cutoverPowerOnRequested:
		return fmt.Sprintf("%s's cutover is unfinished (stopped after power-on of the target was requested: %s), and %s", vm, decisionHint(vm), runsOnPrem), nil
	default:
		return fmt.Sprintf("%s's cutover is %q, and %s", vm, st, runsOnPrem), nil
	}
	ok, err := synced(store, vm)
	if err != nil {
		return "", err
	}
	switch {
	case !ok && u.test && e.isCold(vm):
		// QA: "run the replication step first" could never help.
		return fmt.Sprintf("%s is migrated cold and runs: its one pass is in its cutover window, so it has no replica to test (a test migration tests a warm VM's replica, or a powered-off VM's)", vm), nil
	case !ok:
		return fmt.Sprintf("%s has no completed pass yet, so no replica for %s: step 6 (replication) makes it; run it first (`ferry run` without %s, the wizard or ferry serve) and wait for its initial sync to complete", vm, u.what, u.flag), nil
	}
	if !u.test {
		return "", nil
	}
	// A replica a verify found to differ from its source would test
	// nothing the cutover could rely on.
	vs, err := store.VM(vm)
	if err != nil {
		return "", err
	}
	if vs.CompareNeeded {
		return fmt.Sprintf("%s: not tested: a verify found the replica differs from the source (%s); %s", vm, mismatchOf(vs), mismatchAdvice(vm, "test it again")), nil
	}
	return "", nil
}

// refuseReplicaNames refuses, with a *NamesRefused, the VMs of names u
// cannot be given now (replicaRefusal): it names each with why, and the
// plan's VMs u takes now. nil when it takes them all.
func (e *Env) refuseReplicaNames(store *replication.StateStore, names []string, u replicaUse) error {
	var why []string
	for _, n := range names {
		w, err := e.replicaRefusal(store, n, u)
		if err != nil {
			return err
		}
		if w != "" {
			why = append(why, w)
		}
	}
	if len(why) == 0 {
		return nil
	}
	var valid []string
	for _, vm := range e.Plan().VMs {
		if w, err := e.replicaRefusal(store, vm.Name, u); err == nil && w == "" {
			valid = append(valid, vm.Name)
		}
	}
	return &NamesRefused{fmt.Errorf("%s=%s refused: %s; nothing was run (VMs of the plan %s takes now: %s)",
		u.flag, strings.Join(names, ","), strings.Join(why, "; "), u.what, listOrNone(valid))}
}

// checkReplicaNames is refuseReplicaNames over the plan's store as it is
// now (read, never created nor changed).
func (e *Env) checkReplicaNames(names []string, u replicaUse) error {
	if len(names) == 0 {
		return nil
	}
	store, done, err := e.readReplicationStore()
	if err != nil {
		return err
	}
	defer done()
	return e.refuseReplicaNames(store, names, u)
}

// CheckTestNames refuses, before anything runs (and before a front end
// opens the replication store or a log), a test migration of VMs of the
// plan (TestNames) it cannot test in the state they are in: cut over or
// their cutover unfinished, no completed pass yet, a replica a verify
// found to differ. The error, a *NamesRefused, names each VM, what it is,
// and the VMs a test migration takes now; other errors are the store's.
func (e *Env) CheckTestNames(names []string) error {
	return e.checkReplicaNames(names, testUse)
}

// CheckVerifyNames is CheckTestNames for --verify (VerifyNames): a full
// compare needs a replica of a VM that still runs on-prem.
func (e *Env) CheckVerifyNames(names []string) error {
	return e.checkReplicaNames(names, verifyUse)
}
