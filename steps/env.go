package steps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/vsphere"
)

// EnvL2VPNPSK is the environment variable holding the L2VPN pre-shared key.
const EnvL2VPNPSK = "FERRY_L2VPN_PSK"

// Env is what a step works with: the endpoints, the answers, the state, and
// the API clients (OnPrem, ProviderVC, VCD, Tenant, Edge), each a lazy
// field connected on first use (a plan for step 3 needs vCenter but not
// Cloud Director).
type Env struct {
	Config *config.Config
	Plan   *PlanFile
	State  *State
	Log    *slog.Logger
	// Secret returns a secret by environment variable name; the TUI sets a
	// prompt here. The default reads the environment.
	Secret func(name, what string) (string, error)
	// CutoverVMs limits the cutover to these VMs (one by one); nil: every VM of the plan.
	CutoverVMs []string
	// CutoverDecision decides on a cutover interrupted after power-on was
	// requested: CutoverFinish or CutoverRollback; empty: none (ferry then
	// finishes only a target found running with its probes green).
	CutoverDecision string

	// phaseHook, for tests, is called as each VM's cutover phase begins
	// (from that VM's goroutine).
	phaseHook func(vm, phase string)

	onprem   lazy[*vsphere.Client]
	provider lazy[*vsphere.Client]
	cloud    cloudClients
	mig      migration
	warm     *warm
}

// NewEnv returns an Env whose clients connect from cfg when first used.
func NewEnv(cfg *config.Config, pf *PlanFile, st *State) *Env {
	e := &Env{Config: cfg, Plan: pf, State: st, Log: slog.New(slog.DiscardHandler), Secret: secretFromEnv}
	e.onprem.dial = func(ctx context.Context) (*vsphere.Client, error) {
		ep := cfg.OnPrem
		return vsphere.Connect(ctx, vsphere.Config{URL: ep.URL, Username: ep.Username, Password: ep.Password, CAFile: ep.CAFile, Insecure: ep.Insecure})
	}
	e.onprem.close = func(ctx context.Context, c *vsphere.Client) { _ = c.Close(ctx) }
	e.provider.dial = func(ctx context.Context) (*vsphere.Client, error) {
		ep := cfg.Provider
		return vsphere.Connect(ctx, vsphere.Config{URL: ep.URL, Username: ep.Username, Password: ep.Password, CAFile: ep.CAFile, Insecure: ep.Insecure})
	}
	e.provider.close = e.onprem.close
	e.initCloud(cfg)
	return e
}

func secretFromEnv(name, what string) (string, error) {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is needed: set %s in the environment", what, name)
}

// OnPrem is the on-prem vCenter (source), connected on first use.
func (e *Env) OnPrem(ctx context.Context) (*vsphere.Client, error) {
	if e.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or GOVC_URL)")
	}
	return e.onprem.get(ctx)
}

// Close logs out of every client that was connected.
func (e *Env) Close(ctx context.Context) {
	e.onprem.release(ctx)
	e.provider.release(ctx)
	e.closeCloud(ctx)
	e.stopWarm()
	e.closeMigration()
}

// lazy is a client connected on first use. A failed connect is not cached,
// so the next use retries (the operator may have fixed the password).
type lazy[T any] struct {
	mu    sync.Mutex
	v     T
	ok    bool
	dial  func(context.Context) (T, error)
	close func(context.Context, T)
}

func (l *lazy[T]) get(ctx context.Context) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ok {
		return l.v, nil
	}
	v, err := l.dial(ctx)
	if err != nil {
		return v, err
	}
	l.v, l.ok = v, true
	return v, nil
}

func (l *lazy[T]) release(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ok && l.close != nil {
		l.close(ctx, l.v)
	}
	var zero T
	l.v, l.ok = zero, false
}
