package steps

import (
	"context"
	"errors"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/nsx"
	"github.com/ferry-migrate/ferry/vcd"
)

// The Cloud Director and edge clients of the Env: the provider administrator
// (step 1), the tenant's org administrator (steps 2 and 4: what it can do
// proves step 1's rights) and the on-prem L2VPN client edge (step 4). Like
// OnPrem they connect on first use; a missing password is asked for through
// Env.Secret (the environment, or the TUI's prompt).

// cloudClients are the Env's lazy Cloud Director and edge clients.
type cloudClients struct {
	vcd    lazy[*vcd.Client]
	tenant lazy[*vcd.Client]
	edge   lazy[*nsx.Client]
}

func (e *Env) initCloud(cfg *config.Config) {
	closeVCD := func(_ context.Context, c *vcd.Client) { _ = c.Close() }
	e.cloud.vcd.dial = func(ctx context.Context) (*vcd.Client, error) {
		return e.dialVCD(ctx, cfg.VCD, "VCD_PASSWORD", "the Cloud Director provider administrator's password")
	}
	e.cloud.vcd.close = closeVCD
	e.cloud.tenant.dial = func(ctx context.Context) (*vcd.Client, error) {
		return e.dialVCD(ctx, cfg.Tenant, "FERRY_TENANT_PASSWORD", "the tenant organization administrator's password")
	}
	e.cloud.tenant.close = closeVCD
	e.cloud.edge.dial = func(ctx context.Context) (*nsx.Client, error) {
		ep := cfg.Edge
		if ep.URL == "" {
			return nil, errors.New("the on-prem L2VPN client edge has no URL (set FERRY_EDGE_URL or edge.url in the config)")
		}
		pass, err := e.password(ep, "FERRY_EDGE_PASSWORD", "the on-prem L2VPN client edge's password")
		if err != nil {
			return nil, err
		}
		return nsx.Dial(ctx, nsx.Config{URL: ep.URL, Username: ep.Username, Password: pass, CAFile: ep.CAFile, Insecure: ep.Insecure})
	}
	e.cloud.edge.close = func(_ context.Context, c *nsx.Client) { c.Close() }
}

func (e *Env) closeCloud(ctx context.Context) {
	e.cloud.vcd.release(ctx)
	e.cloud.tenant.release(ctx)
	e.cloud.edge.release(ctx)
}

func (e *Env) password(ep config.Endpoint, envVar, what string) (string, error) {
	if ep.Password != "" {
		return ep.Password, nil
	}
	return e.Secret(envVar, what)
}

func (e *Env) dialVCD(ctx context.Context, ep config.Endpoint, passVar, what string) (*vcd.Client, error) {
	pass := ""
	// vcd.Connect names what is missing; only ask for a password when the
	// rest of the login is there.
	if ep.URL != "" && ep.Username != "" {
		var err error
		if pass, err = e.password(ep, passVar, what); err != nil {
			return nil, err
		}
	}
	return vcd.Connect(ctx, vcd.Config{URL: ep.URL, User: ep.Username, Password: pass, Org: ep.Org, CAFile: ep.CAFile, Insecure: ep.Insecure})
}

// VCD is Cloud Director as the provider administrator (org System).
func (e *Env) VCD(ctx context.Context) (*vcd.Client, error) {
	if e.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or VCD_URL)")
	}
	return e.cloud.vcd.get(ctx)
}

// Tenant is Cloud Director as the tenant's organization administrator.
func (e *Env) Tenant(ctx context.Context) (*vcd.Client, error) {
	if e.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or FERRY_TENANT_*)")
	}
	return e.cloud.tenant.get(ctx)
}

// Edge is the on-prem L2VPN client edge (NSX autonomous edge API).
func (e *Env) Edge(ctx context.Context) (*nsx.Client, error) {
	if e.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or FERRY_EDGE_URL)")
	}
	return e.cloud.edge.get(ctx)
}
