package steps

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
)

// EnvL2VPNPSK is the environment variable holding the L2VPN pre-shared key.
const EnvL2VPNPSK = "FERRY_L2VPN_PSK"

// Env is what a step works with: the answers, the state, and the session
// (the endpoints, Config, and their API clients OnPrem, ProviderVC, VCD,
// Tenant, Edge, each connected on first use; Secret asks for a missing
// password).
type Env struct {
	*session.Session
	State *State
	Log   *slog.Logger
	// CutoverVMs limits the cutover to these VMs (one by one); nil: every VM of the plan.
	CutoverVMs []string
	// CutoverDecision decides on a cutover interrupted after power-on was
	// requested: CutoverFinish or CutoverRollback; empty: none (ferry then
	// finishes only a target found running with its probes green).
	CutoverDecision string

	// phaseHook, for tests, is called as each VM's cutover phase begins
	// (from that VM's goroutine), and with "checks" as its checks begin,
	// before its cutover changes anything.
	phaseHook func(vm, phase string)

	// plan is the answers as they are now (Plan); planMu serialises
	// EditPlan.
	plan   atomic.Pointer[PlanFile]
	planMu sync.Mutex

	mig  migration
	warm *warm

	// decided caches LastCutoverDecided by the report it read (the
	// wizard asks each frame; the file changes only with a new report).
	decided struct {
		mu     sync.Mutex
		report string
		v      bool
	}

	// rooms are the replication jobs' room ledgers, by provider
	// datastore and receiver appliance (replicaRoom): the VMs' passes
	// share them.
	rooms struct {
		mu sync.Mutex
		m  map[string]replication.RoomLedger
	}

	// applianceUse is what step 3's last plan found the L2 appliance
	// still to take on an on-prem datastore (its deploy, or the swap file
	// of its power-on); nil: nothing. A preflight plans step 3 before step
	// 6, whose snapshot room must not count that space as free.
	applianceUse atomic.Pointer[datastoreUse]
}

// datastoreUse is space something is to take on a datastore (what: what
// takes it, in words).
type datastoreUse struct {
	datastore string
	bytes     int64
	what      string
}

// NewEnv returns an Env whose clients connect from cfg when first used.
func NewEnv(cfg *config.Config, pf *PlanFile, st *State) *Env {
	e := &Env{Session: session.New(cfg), State: st, Log: slog.New(slog.DiscardHandler)}
	e.SetPlan(pf)
	return e
}

// Plan is the answers as they are now. Several goroutines read them at
// once (the steps, the replication jobs, and under ferry serve every
// attached terminal while one of them types), so the plan is never changed
// in place once an Env holds it: EditPlan publishes a changed copy, and a
// caller that needs one consistent view of several answers reads Plan once.
// Only code that owns the Env alone (a test before it starts anything) may
// change the plan it returns.
func (e *Env) Plan() *PlanFile { return e.plan.Load() }

// SetPlan replaces the answers with pf, which the Env then owns: the
// caller must not change pf afterwards (EditPlan does that).
func (e *Env) SetPlan(pf *PlanFile) { e.plan.Store(pf) }

// EditPlan changes the answers: edit gets a deep copy of the plan as it is,
// which then becomes the plan (the one returned). Edits are serialised;
// readers see the plan before or after an edit, never halfway.
func (e *Env) EditPlan(edit func(pf *PlanFile)) *PlanFile {
	e.planMu.Lock()
	defer e.planMu.Unlock()
	old := e.plan.Load()
	pf := old.Clone()
	if pf == nil {
		pf = &PlanFile{}
	}
	edit(pf)
	if old != nil {
		followDefaults(old, pf)
	}
	e.plan.Store(pf)
	return pf
}

// followDefaults keeps an answer that holds the default derived from other
// answers (the rights bundle named after the org) following them when they
// change: the wizard writes defaults into the plan, and an operator who
// fixes a typo in the org must not keep a bundle named after the typo. An
// answer that differs from its default stays as it is.
func followDefaults(old, pf *PlanFile) {
	for _, st := range NewItinerary() {
		for _, f := range st.Step.Fields() {
			if f.Default == nil {
				continue
			}
			if was, now := f.Default(old), f.Default(pf); was != now && was != "" && f.Get(pf) == was {
				f.Set(pf, now)
			}
		}
	}
}

// Close logs out of every client that was connected and stops replication.
func (e *Env) Close(ctx context.Context) {
	e.Session.Close(ctx)
	e.stopWarm()
	e.mig.store.Close()
}
