// Package session connects ferry to the systems its configuration names: the
// on-prem vCenter (source), the provider vCenter backing the org VDC, Cloud
// Director as the provider administrator and as the tenant's organization
// administrator, and the on-prem L2VPN client edge. Each client connects on
// first use (a plan for step 3 needs vCenter but not Cloud Director) and is
// held until Close; a missing password is asked for through Secret (the
// environment, or the TUI's prompt). Store (store.go) places a plan's
// sender-side replication store, opens it and binds it to one state file.
package session

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/internal/lockout"
	"github.com/ferry-migrate/ferry/internal/noanswer"
	"github.com/ferry-migrate/ferry/nsx"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Session holds the clients of one configuration.
type Session struct {
	Config *config.Config
	// Secret returns a secret by environment variable name; the TUI sets a
	// prompt here. The default (SecretFromEnv) reads the environment.
	Secret func(name, what string) (string, error)
	// Prompts says that Secret asks someone (the wizard) for a secret the
	// environment lacks; without it such a secret is an error, which a
	// plan names before anything changes.
	Prompts bool

	onprem   lazy[*vsphere.Client]
	provider lazy[*vsphere.Client]
	vcd      lazy[*vcd.Client]
	tenant   lazy[*vcd.Client]
	edge     lazy[*nsx.Client]
	silent   silent
}

// New returns a Session whose clients connect from cfg when first used.
func New(cfg *config.Config) *Session {
	s := &Session{Config: cfg, Secret: SecretFromEnv}
	closeVC := func(ctx context.Context, c *vsphere.Client) { _ = c.Close(ctx) }
	s.onprem.dial = remembered(&s.silent, func() string { return s.Config.OnPrem.URL }, func() string { return vcLogin(s.Config.OnPrem) }, func(ctx context.Context) (*vsphere.Client, error) {
		return dialVC(ctx, s.Config.OnPrem, vsphere.Vars{})
	})
	s.onprem.close = closeVC
	s.provider.dial = remembered(&s.silent, func() string { return s.Config.Provider.URL }, func() string { return vcLogin(s.Config.Provider) }, func(ctx context.Context) (*vsphere.Client, error) {
		return dialVC(ctx, s.Config.Provider, vsphere.Vars{URL: "FERRY_PROVIDER_URL or provider.url in the --config file", Username: "FERRY_PROVIDER_USERNAME", Password: "FERRY_PROVIDER_PASSWORD", Section: "provider"})
	})
	s.provider.close = closeVC
	closeVCD := func(_ context.Context, c *vcd.Client) { _ = c.Close() }
	s.vcd.dial = remembered(&s.silent, func() string { return s.Config.VCD.URL }, func() string { return vcdLogin(s.Config.VCD) }, func(ctx context.Context) (*vcd.Client, error) {
		return s.dialVCD(ctx, s.Config.VCD, providerVars, "the Cloud Director provider administrator's password")
	})
	s.vcd.close = closeVCD
	s.tenant.dial = remembered(&s.silent, func() string { return s.Config.Tenant.URL }, func() string { return vcdLogin(s.Config.Tenant) }, func(ctx context.Context) (*vcd.Client, error) {
		c, err := s.dialVCD(ctx, s.Config.Tenant, tenantVars, "the tenant organization administrator's password")
		if errors.Is(err, vcd.ErrLogin) && s.Config.Tenant.Org != "" {
			// Cloud Director answers a login to an org that does not
			// exist as it answers a wrong password: ask the provider's
			// session, when there is one, whether the org exists.
			if p, perr := s.VCD(ctx); perr == nil {
				if _, oerr := p.OrgByName(s.Config.Tenant.Org); errors.Is(oerr, vcd.ErrNotFound) {
					return nil, fmt.Errorf("%w; the tenant's org (tenant.org in the config, or FERRY_TENANT_ORG): %w", err, oerr)
				}
			}
		}
		return c, err
	})
	s.tenant.close = closeVCD
	s.edge.dial = func(ctx context.Context) (*nsx.Client, error) {
		if s.Config.Edge.URL == "" {
			return nil, errors.New("the on-prem L2VPN client edge has no URL (set FERRY_EDGE_URL or edge.url in the config)")
		}
		return s.DialEdge(ctx, s.Config.Edge.URL, 0)
	}
	s.edge.close = func(_ context.Context, c *nsx.Client) { c.Close() }
	return s
}

// The settings of the Cloud Director logins, for messages: the provider
// administrator's (vcd's defaults) and the tenant's.
var (
	providerVars = vcd.Vars{}
	tenantVars   = vcd.Vars{URL: "VCD_URL or vcd.url in the --config file (the tenant logs in to the same Cloud Director)", User: "FERRY_TENANT_USER", Password: "FERRY_TENANT_PASSWORD", Token: "FERRY_TENANT_API_TOKEN", Org: "FERRY_TENANT_ORG", Section: "tenant"}
)

// TokenInstead says where to set an API token for the Cloud Director login
// whose password is the secret passwordVar (VCD_PASSWORD,
// FERRY_TENANT_PASSWORD), to log in with it instead; "" for any other
// secret (a vCenter's, the edge's, the L2VPN key have no token).
func TokenInstead(passwordVar string) string {
	for _, v := range []vcd.Vars{providerVars, tenantVars} {
		if v.PasswordVar() == passwordVar {
			return v.TokenSettings()
		}
	}
	return ""
}

// SecretFromEnv reads the secret from the environment variable name; the
// error says what is needed and where to set it.
func SecretFromEnv(name, what string) (string, error) {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is needed: set %s in the environment%w", what, name, ErrSecretMissing)
}

// ErrSecretMissing marks a secret the environment lacks and nobody could be
// asked for (SecretFromEnv); its message is empty, so that it adds nothing
// to the error that wraps it.
var ErrSecretMissing = errors.New("")

// vcLogin and vcdLogin are an endpoint's login for remembered.
func vcLogin(ep config.Endpoint) string { return loginKey(ep.Username, "", ep.Password) }
func vcdLogin(ep config.Endpoint) string {
	file := ""
	if ep.APITokenFile != "" {
		file = "file:" + ep.APITokenFile // its token changes at each login
	}
	return loginKey(ep.Username, ep.Org, cmp.Or(ep.APIToken, file, ep.Password))
}

func dialVC(ctx context.Context, ep config.Endpoint, vars vsphere.Vars) (*vsphere.Client, error) {
	return vsphere.Connect(ctx, vsphere.Config{URL: ep.URL, Username: ep.Username, Password: ep.Password, CAFile: ep.CAFile, Insecure: ep.Insecure, Vars: vars})
}

// Password is ep's password, else the secret envVar (asked for as what).
func (s *Session) Password(ep config.Endpoint, envVar, what string) (string, error) {
	return s.orSecret(ep.Password, envVar, what)
}

// orSecret is v, else the secret name (asked for as what).
func (s *Session) orSecret(v, name, what string) (string, error) {
	if v != "" {
		return v, nil
	}
	return s.Secret(name, what)
}

func (s *Session) dialVCD(ctx context.Context, ep config.Endpoint, vars vcd.Vars, what string) (*vcd.Client, error) {
	pass := ""
	// vcd.Connect names what is missing; only ask for a password when the
	// rest of the login is there, and it has no API token.
	if ep.URL != "" && ep.Username != "" && ep.APIToken == "" && ep.APITokenFile == "" {
		var err error
		name := vars.PasswordVar()
		if pass, err = s.Password(ep, name, what); err != nil {
			if errors.Is(err, ErrSecretMissing) {
				return nil, fmt.Errorf("%w; or log in with an API token instead: %s", err, TokenInstead(name))
			}
			return nil, err
		}
	}
	return vcd.Connect(ctx, vcd.Config{URL: ep.URL, User: ep.Username, Password: pass, APIToken: ep.APIToken, APITokenFile: ep.APITokenFile, Org: ep.Org, CAFile: ep.CAFile, Insecure: ep.Insecure, Vars: vars})
}

// DialEdge connects to the on-prem L2VPN client edge at url with the
// configured edge login, CA and password (timeout 0: nsx's default). The
// caller closes the client; Edge is the held one at the configured URL.
func (s *Session) DialEdge(ctx context.Context, url string, timeout time.Duration) (*nsx.Client, error) {
	ep := s.Config.Edge
	pass, err := s.Password(ep, "FERRY_EDGE_PASSWORD", "the on-prem L2VPN client edge's password")
	if errors.Is(err, ErrSecretMissing) {
		return nil, fmt.Errorf("%w (or edge.password in the config)", err)
	}
	if err != nil {
		return nil, err
	}
	// A refused login is not tried again at once (silent): each step
	// dials the edge, and NSX locks its API user after 5 refusals in 15
	// minutes (its default auth policy).
	key := url + "\x00" + loginKey(ep.Username, "", pass)
	if err := s.silent.loginRefused(key); err != nil {
		return nil, err
	}
	c, err := nsx.Dial(ctx, nsx.Config{URL: url, Username: ep.Username, Password: pass, CAFile: ep.CAFile, Insecure: ep.Insecure, Timeout: timeout})
	s.silent.loginTried(key, err, errors.Is(err, nsx.ErrAuth))
	return c, err
}

// OnPrem is the on-prem vCenter (source), connected on first use.
func (s *Session) OnPrem(ctx context.Context) (*vsphere.Client, error) {
	if s.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or GOVC_URL)")
	}
	return s.onprem.get(ctx)
}

// ProviderVC is the provider vCenter backing the org VDC, connected on first use.
func (s *Session) ProviderVC(ctx context.Context) (*vsphere.Client, error) {
	if s.Config == nil || s.Config.Provider.URL == "" {
		return nil, errors.New("no provider vCenter configured (FERRY_PROVIDER_URL or provider: in the config)")
	}
	return s.provider.get(ctx)
}

// VCD is Cloud Director as the provider administrator (org System).
func (s *Session) VCD(ctx context.Context) (*vcd.Client, error) {
	if s.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or VCD_URL)")
	}
	return s.vcd.get(ctx)
}

// Tenant is Cloud Director as the tenant's organization administrator.
func (s *Session) Tenant(ctx context.Context) (*vcd.Client, error) {
	if s.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or FERRY_TENANT_*)")
	}
	return s.tenant.get(ctx)
}

// RenewTenant logs the tenant out: its next use logs in again, with the
// rights it holds then (Cloud Director fixes a session's rights at login).
func (s *Session) RenewTenant(ctx context.Context) { s.tenant.release(ctx) }

// Edge is the on-prem L2VPN client edge (NSX autonomous edge API) at the
// configured URL.
func (s *Session) Edge(ctx context.Context) (*nsx.Client, error) {
	if s.Config == nil {
		return nil, errors.New("no endpoints configured (ferry --config or FERRY_EDGE_URL)")
	}
	return s.edge.get(ctx)
}

// Close logs out of every client that was connected.
func (s *Session) Close(ctx context.Context) {
	s.onprem.release(ctx)
	s.provider.release(ctx)
	s.vcd.release(ctx)
	s.tenant.release(ctx)
	s.edge.release(ctx)
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

// silent remembers the endpoints (by URL) that took the connection and
// never answered (noanswer.ErrNoAnswer, after its whole timeout): such an
// endpoint is not waited for again within noAnswerFor. A plan or run asks
// for the same endpoint once per step, and each waited out the timeout
// again (QA h8: a silent vCenter, 8 steps, 4 minutes; QA h3: a silent
// Cloud Director, about 15 s a step); the provider administrator and the
// tenant log in to the same Cloud Director, which is waited for once.
//
// It also remembers the logins an endpoint refused (wrong username or
// password), by endpoint and credentials: each step of a plan or run
// logged in again with them, and vCenter's SSO locks an account after 5
// refused logins within 3 minutes (an org of Cloud Director may lock a
// user too): one `ferry run` with a wrong password locked ferry's account
// for everyone (the lab does as SSO does). The same credentials are not
// tried again within refusedFor; other ones (a password typed at the
// wizard's prompt) are.
type silent struct {
	mu      sync.Mutex
	err     map[string]error     // the no-answer failure of the last dial
	at      map[string]time.Time // when it ended
	refused map[string]refusal   // endpoint and credentials -> their refusal
}

// refusal is a login an endpoint refused, and when.
type refusal struct {
	err error
	at  time.Time
}

// refusedFor is how long a refused login is not tried again with the same
// credentials (as the clients' relogin waits first).
const refusedFor = lockout.First

// loginKey identifies a login: the user and a digest of the password
// (the password itself is kept by the config only); "" when there is no
// password to tell logins apart by (one typed at a prompt).
func loginKey(user, org, password string) string {
	if password == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(password))
	return user + "@" + org + "/" + hex.EncodeToString(sum[:8])
}

// noAnswerFor is how long a server that did not answer is taken as still
// not answering.
const noAnswerFor = time.Minute

// remembered is dial, not run again within noAnswerFor of a dial of the
// same endpoint (url) that got no answer: that answer is given instead.
// Nor within refusedFor of a login the endpoint refused with the same
// credentials (login: loginKey; ""  for none to tell them by).
func remembered[T any](m *silent, url, login func() string, dial func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		u := url()
		key := ""
		if k := login(); k != "" {
			key = u + "\x00" + k
		}
		m.mu.Lock()
		err, at := m.err[u], m.at[u]
		m.mu.Unlock()
		var zero T
		if err != nil && time.Since(at) < noAnswerFor {
			return zero, err
		}
		if key != "" {
			if err := m.loginRefused(key); err != nil {
				return zero, err
			}
		}
		v, err := dial(ctx)
		if key != "" {
			m.loginTried(key, err, errors.Is(err, vsphere.ErrLogin) || errors.Is(err, vcd.ErrLogin))
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.err, u)
		if errors.Is(err, noanswer.ErrNoAnswer) {
			if m.err == nil {
				m.err, m.at = map[string]error{}, map[string]time.Time{}
			}
			m.err[u], m.at[u] = err, time.Now()
		}
		return v, err
	}
}

// again is the error of a login not tried again: the refusal, and when.
func (r refusal) again() error {
	return fmt.Errorf("%w (refused at %s; not tried again before %s, so as not to lock the account)", r.err, r.at.Format("15:04:05"), r.at.Add(refusedFor).Format("15:04:05"))
}

// loginRefused is the remembered refusal of the login key, nil when there
// is none within refusedFor (then the caller tries it and reports the
// outcome to loginTried).
func (m *silent) loginRefused(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.refused[key]; ok && time.Since(r.at) < refusedFor {
		return r.again()
	}
	return nil
}

// loginTried records the outcome of the login key: remembered when refused.
func (m *silent) loginTried(key string, err error, refused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.refused, key)
	if refused {
		if m.refused == nil {
			m.refused = map[string]refusal{}
		}
		m.refused[key] = refusal{err: err, at: time.Now()}
	}
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
