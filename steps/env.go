package steps

import (
	"context"
	"log/slog"
	"sync"

	"github.com/ferry-migrate/ferry/config"
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
	Plan  *PlanFile
	State *State
	Log   *slog.Logger
	// CutoverVMs limits the cutover to these VMs (one by one); nil: every VM of the plan.
	CutoverVMs []string
	// CutoverDecision decides on a cutover interrupted after power-on was
	// requested: CutoverFinish or CutoverRollback; empty: none (ferry then
	// finishes only a target found running with its probes green).
	CutoverDecision string

	// phaseHook, for tests, is called as each VM's cutover phase begins
	// (from that VM's goroutine).
	phaseHook func(vm, phase string)

	mig  migration
	warm *warm

	// decided caches LastCutoverDecided by the report it read (the
	// wizard asks each frame; the file changes only with a new report).
	decided struct {
		mu     sync.Mutex
		report string
		v      bool
	}
}

// NewEnv returns an Env whose clients connect from cfg when first used.
func NewEnv(cfg *config.Config, pf *PlanFile, st *State) *Env {
	return &Env{Session: session.New(cfg), Plan: pf, State: st, Log: slog.New(slog.DiscardHandler)}
}

// Close logs out of every client that was connected and stops replication.
func (e *Env) Close(ctx context.Context) {
	e.Session.Close(ctx)
	e.stopWarm()
	e.mig.store.Close()
}
