// Package vcd is ferry's Cloud Director client: login, tenant rights, org VDC
// networks, the L2 VPN server tunnel on an NSX-T edge gateway, VM import and
// power. It wraps go-vcloud-director and knows nothing of ferry's lab.
package vcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/internal/noanswer"
	"github.com/ferry-migrate/ferry/tlsconf"
)

// Config says how to reach Cloud Director and as whom.
type Config struct {
	URL      string // https://host/api
	User     string
	Password string
	// APIToken, when set, is the login instead of User and Password: an
	// API token (Cloud Director 10.3.1+), traded for a session with
	// OAuth's refresh grant. User may then be empty: the session names it.
	APIToken string
	// APITokenFile, when set, holds the API token (a bare token, or JSON
	// with a refresh_token as terraform-provider-vcd writes): a service
	// account's token is replaced at each login, and written back there
	// (tokenSource).
	APITokenFile string
	Org          string         // "System" for the provider administrator
	CAFile       string         // trusted CAs, replacing the system roots (tlsconf)
	RootCAs      *x509.CertPool // trusted with CAFile's
	Insecure     bool
	// Vars names where the operator sets the URL, user, password and org,
	// for messages (default: terraform-provider-vcd's VCD_URL, VCD_USER,
	// VCD_PASSWORD, VCD_ORG).
	Vars Vars
}

// Client is a logged-in Cloud Director session.
type Client struct {
	*govcd.VCDClient
	Endpoint string
	Org      string
	User     string
	// ViaToken says the session was made from an API token: Cloud
	// Director lets it only view users, groups, roles and rights bundles.
	ViaToken bool
}

// Vars are the names of the settings of a login, for messages: the
// environment variables, and Section, the entry of the --config file.
type Vars struct{ URL, User, Password, Token, Org, Section string }

func (v Vars) or() Vars {
	if v.Section == "" {
		v.Section = "vcd"
	}
	if v.URL == "" {
		v.URL = "VCD_URL or vcd.url in the --config file"
	}
	if v.User == "" {
		v.User = "VCD_USER"
	}
	if v.Password == "" {
		v.Password = "VCD_PASSWORD"
	}
	if v.Token == "" {
		v.Token = "VCD_API_TOKEN"
	}
	if v.Org == "" {
		v.Org = "VCD_ORG; System for the provider"
	}
	return v
}

// login says where the operator sets the username and password a refused
// login used.
func (v Vars) login() string {
	return fmt.Sprintf("the config's %[1]s.username and %[1]s.password, or %[2]s and %[3]s", v.Section, v.User, v.Password)
}

// token says where the operator sets the API token.
func (v Vars) token() string {
	return fmt.Sprintf("the config's %[1]s.api_token or %[1]s.api_token_file, or %[2]s or %[2]s_FILE", v.Section, v.Token)
}

// PasswordVar is the environment variable of the login's password (the
// provider administrator's, VCD_PASSWORD, when v leaves it unset).
func (v Vars) PasswordVar() string { return v.or().Password }

// TokenSettings says where the operator sets an API token for the login
// instead of its password, as Connect's messages do.
func (v Vars) TokenSettings() string { return v.or().token() }

// Sentinel errors for callers that branch on the cause.
var (
	ErrLogin       = errors.New("wrong username or password")
	ErrUntrusted   = errors.New("certificate not trusted")
	ErrUnreachable = errors.New("unreachable")
	ErrNotFound    = errors.New("not found")
	// ErrForbidden is Cloud Director refusing this login the object
	// (403 ACCESS_TO_RESOURCE_IS_FORBIDDEN): a right it lacks.
	ErrForbidden = errors.New("access forbidden")
	// ErrTokenRefused is Cloud Director refusing an API token (400
	// invalid_grant: revoked, mistyped, or of another org); it is an
	// ErrLogin too.
	ErrTokenRefused error = refusedToken{}
)

type refusedToken struct{}

func (refusedToken) Error() string        { return "API token refused" }
func (refusedToken) Is(target error) bool { return target == ErrLogin }

// Connect logs in. Errors name the endpoint and the cause.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	vars := cfg.Vars.or()
	if cfg.URL == "" {
		return nil, fmt.Errorf("Cloud Director URL is empty (set %s)", vars.URL)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("Cloud Director URL %q is not valid: want https://host/api", cfg.URL)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("Cloud Director URL %q uses %s: ferry sends credentials over TLS only: want https://host/api", u.Redacted(), u.Scheme)
	}
	if !strings.HasSuffix(u.Path, "/api") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/api"
	}
	endpoint := u.String()
	byToken := cfg.APIToken != "" || cfg.APITokenFile != ""
	switch {
	case byToken:
		if cfg.Org == "" {
			return nil, fmt.Errorf("Cloud Director %s: no organization given for the API token (set %s)", endpoint, vars.Org)
		}
	case cfg.User == "":
		return nil, fmt.Errorf("Cloud Director %s: no user given (set %s, or an API token: %s)", endpoint, vars.User, vars.token())
	case cfg.Password == "":
		return nil, fmt.Errorf("Cloud Director %s: no password given for %s (set %s)", endpoint, cfg.User, vars.Password)
	case cfg.Org == "":
		return nil, fmt.Errorf("Cloud Director %s: no organization given for %s (set %s)", endpoint, cfg.User, vars.Org)
	}

	c := govcd.NewVCDClient(*u, cfg.Insecure, govcd.WithHttpTimeout(120), govcd.WithVcloudRequestIdFunc(requestID))
	tr := c.Client.Http.Transport.(*http.Transport)
	tlsCfg, err := tlsconf.Endpoint{CAFile: cfg.CAFile, RootCAs: cfg.RootCAs, Insecure: cfg.Insecure}.Config()
	if err != nil {
		return nil, fmt.Errorf("Cloud Director %s: %w", endpoint, err)
	}
	tr.TLSClientConfig = tlsCfg
	// A server that takes the connection and never answers: the connect
	// and the handshake are bounded as vCenter's are, and named as such
	// (QA h3: each step waited 15 s for a handshake timeout and said only
	// that, and the next step dialed again).
	var silent atomic.Pointer[noanswer.Error] // the last dial's no-answer
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := noanswer.Dial(ctx, addr, func(dctx context.Context) (net.Conn, error) {
			return noanswer.DialTLS(dctx, network, addr, tr.TLSClientConfig)
		})
		if na := (noanswer.Error{}); errors.As(err, &na) {
			silent.Store(&na)
		}
		return conn, err
	}
	who := cfg.User + "@" + cfg.Org
	ts := &tokenSource{file: cfg.APITokenFile, value: cfg.APIToken}
	switch {
	case cfg.APITokenFile != "":
		who = "the API token of org " + cfg.Org + " in " + cfg.APITokenFile
	case byToken:
		who = "the API token of org " + cfg.Org
	}
	// login authenticates n and returns the session's user (an API
	// token's session names it): go-vcloud-director formats the
	// transport's error into its own text (%s), so a dial that got no
	// answer is taken from the dialer.
	login := func(n *govcd.VCDClient) (string, error) {
		silent.Store(nil)
		user, err := cfg.User, error(nil)
		if byToken {
			user, err = tokenLogin(n, cfg.Org, ts)
		} else {
			err = n.Authenticate(cfg.User, cfg.Password, cfg.Org)
		}
		if na := silent.Load(); err != nil && na != nil {
			return "", *na
		}
		return user, err
	}
	// go-vcloud-director has no context; bound the login by ctx's deadline
	// and by noanswer.LoginTimeout.
	lctx, cancel := context.WithTimeout(ctx, noanswer.LoginTimeout)
	defer cancel()
	type loggedIn struct {
		user string
		err  error
	}
	done := make(chan loggedIn, 1)
	go func() { u, err := login(c); done <- loggedIn{u, err} }()
	var user string
	select {
	case l := <-done:
		user, err = l.user, l.err
	case <-lctx.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("Cloud Director %s: login: %w", endpoint, ctx.Err())
		}
		err = noanswer.Login(lctx, lctx.Err())
	}
	if err == nil && byToken && cfg.User != "" && !strings.EqualFold(cfg.User, user) {
		err = fmt.Errorf("Cloud Director %s: the API token of org %s is user %s's, not %s (the configured user): set the user's own token, or leave the user unset when logging in with a token", endpoint, cfg.Org, user, cfg.User)
		_ = c.Disconnect()
		return nil, err
	}
	if err != nil {
		err = explain(endpoint, who, vars, err)
		if cfg.CAFile != "" && errors.Is(err, ErrUntrusted) {
			// "pass its CA" alone read as if none had been given (QA h8).
			err = fmt.Errorf("%w; the only CAs trusted for it are those of %s (its CA file, which replaces the system's roots): none of them signed its certificate", err, cfg.CAFile)
		}
		return nil, err
	}
	// A session Cloud Director ended (idle, restart) is logged in again,
	// through a client of its own on the same transport (relogin); a change
	// refused because its entity is busy is sent again (busyRetry).
	why := lockedBy
	if byToken {
		why = tokenRefused
	}
	c.Client.Http.Transport = &busyRetry{base: &relogin{base: tr, why: why, login: func() (string, error) {
		n := govcd.NewVCDClient(*u, cfg.Insecure, govcd.WithHttpTimeout(120), govcd.WithVcloudRequestIdFunc(requestID), govcd.WithAPIVersion(c.Client.APIVersion))
		n.Client.Http.Transport = tr
		if _, err := login(n); err != nil {
			return "", explain(endpoint, who, vars, err)
		}
		return n.Client.VCDToken, nil
	}}}
	return &Client{VCDClient: c, Endpoint: endpoint, Org: cfg.Org, User: user, ViaToken: byToken}, nil
}

// tokenLogin trades ts's API token for a session of n (OAuth's refresh
// grant, POST /oauth/tenant/ORG/token or /oauth/provider/token) and
// returns the session's user.
func tokenLogin(n *govcd.VCDClient, org string, ts *tokenSource) (string, error) {
	err := ts.grant(func(token string) (string, error) {
		r, err := n.GetBearerTokenFromApiToken(org, token)
		if err != nil {
			// invalid_grant (400), as RFC 6749 says; a 401 is refused too.
			if m := httpCode.FindStringSubmatch(err.Error()); strings.Contains(err.Error(), "invalid_grant") || (m != nil && m[1] == "401") {
				return "", ErrTokenRefused
			}
			return "", err
		}
		return r.RefreshToken, n.SetToken(org, govcd.BearerTokenHeader, r.AccessToken)
	})
	if err != nil {
		return "", err
	}
	info, err := n.Client.GetSessionInfo()
	if err != nil {
		return "", fmt.Errorf("the API token's session: %w", err)
	}
	return info.User.Name, nil
}

// httpCode finds the HTTP status in go-vcloud-director's errors ("API
// Error: 404: ...", "StatusCode:404").
var httpCode = regexp.MustCompile(`(?:API Error: |StatusCode:)([1-5][0-9][0-9])\b`)

// tooOld finds go-vcloud-director's refusal of a Cloud Director whose
// /api/versions lists not the API version it needs, and Cloud Director's
// refusal (406) of a request that asked for a version it does not speak.
var tooOld = regexp.MustCompile(`API version ([0-9]+\.[0-9]+) is not supported|Invalid API version requested ([0-9]+\.[0-9]+)`)

// versionsFailure says how GET /api/versions failed, without the Go
// values go-vcloud-director prints in some of its errors.
func versionsFailure(msg string) string {
	if m := httpCode.FindStringSubmatch(msg); m != nil {
		return "GET /api/versions answered HTTP " + m[1]
	}
	msg, _, _ = strings.Cut(msg, " (&{")
	return "GET /api/versions: " + msg
}

// Close ends the session.
func (c *Client) Close() error { return c.Disconnect() }

// IsSysAdmin reports whether the session is the provider's.
func (c *Client) IsSysAdmin() bool { return c.Client.IsSysAdmin }

// explain turns transport and login errors into messages that say what is
// wrong and what would fix it; a refused login names the user (who), never
// the password, and where it is set (vars).
func explain(endpoint, who string, vars Vars, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostname x509.HostnameError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	msg := err.Error()
	// Before the *net.OpError case: a timeout is one too.
	if e, ok := noanswer.Explain("Cloud Director", endpoint, "https://HOST/api", err); ok {
		return e
	}
	if m := tooOld.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("Cloud Director %s does not speak API version %s (Cloud Director 10.4), the oldest ferry's client (go-vcloud-director) speaks: it is an older Cloud Director (its /api/versions lists none that recent); ferry needs Cloud Director 10.4 or later", endpoint, m[1]+m[2])
	}
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verify), errors.As(err, &hostname),
		strings.Contains(msg, "x509:"), strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("Cloud Director %s: %w: pass its CA (FERRY_CA_FILE / ca_file) or --insecure: %v", endpoint, ErrUntrusted, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &dnsErr), errors.As(err, &opErr),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		// Where the address comes from, as a refused login says where
		// its user is set.
		return fmt.Errorf("Cloud Director %s is %w: %v (check the address: %s)", endpoint, ErrUnreachable, err, vars.URL)
	case strings.Contains(msg, "supported versions") && !strings.Contains(msg, "API Error: 401"):
		// QA: the tenant portal's address (https://HOST/tenant/ORG)
		// read as go-vcloud-director's chain of errors, one with a Go
		// struct dump, and nothing of what was wanted. Before the 401
		// case: the URL in the message may hold "401" (a port).
		return fmt.Errorf("Cloud Director %s: no Cloud Director API answers there (%s): want the API's address, https://HOST/api, not a page of its portal such as https://HOST/tenant/ORG or https://HOST/provider",
			endpoint, versionsFailure(msg))
	case errors.Is(err, ErrTokenRefused):
		return fmt.Errorf("Cloud Director %s: %w: %s is revoked, mistyped, made in another org or Cloud Director, or a service account's already used (single-use: give it as a file, which ferry keeps current) (%s); a user makes one in Cloud Director's portal (User preferences, API tokens)", endpoint, ErrTokenRefused, who, vars.token())
	case strings.Contains(msg, "401"), strings.Contains(strings.ToLower(msg), "unauthorized"):
		return fmt.Errorf("Cloud Director %s: %w for %s (%s)", endpoint, ErrLogin, who, vars.login())
	}
	return fmt.Errorf("Cloud Director %s: login as %s: %w", endpoint, who, err)
}

// notFound wraps go-vcloud-director's not-found errors with what exists,
// and which of it the name was probably meant to be ("did you mean NFS?"),
// as the vCenter side does for a mistyped VM: Cloud Director found no
// object of that exact name, so one differing only in case is a hint, not
// a match.
func notFound(kind, name string, have []string) error {
	h := "none"
	if len(have) > 0 {
		h = strings.Join(have, ", ")
	}
	return fmt.Errorf("%s %q%s %w (available: %s)", kind, name, nearname.Hint(name, have), ErrNotFound, h)
}

// OrgByName finds the organization; the error lists the orgs this login
// sees.
func (c *Client) OrgByName(name string) (*Org, error) {
	org, err := c.orgByName(name)
	if err != nil {
		return nil, err
	}
	return &Org{Name: org.Org.Name, ID: org.Org.ID}, nil
}

// orgByName returns the organization; the error lists the orgs this login sees.
func (c *Client) orgByName(name string) (*govcd.Org, error) {
	org, err := c.GetOrgByName(name)
	if err == nil {
		return org, nil
	}
	if !govcd.ContainsNotFound(err) {
		return nil, fmt.Errorf("org %q: %w", name, err)
	}
	// go-vcloud-director says "not found" when its list of orgs failed
	// too (a refused login, a dropped connection): listing them again
	// tells the two apart, instead of "not found (available: none)".
	names, lerr := c.OrgNames()
	if lerr != nil {
		return nil, fmt.Errorf("org %q: %w", name, lerr)
	}
	return nil, notFound("organization", name, names)
}

// OrgNames lists the organizations this login sees.
func (c *Client) OrgNames() ([]string, error) {
	refs, err := c.GetOrgList()
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	var names []string
	for _, r := range refs.Org {
		names = append(names, r.Name)
	}
	return names, nil
}

// adminOrgByName returns the admin view of an organization.
func (c *Client) adminOrgByName(name string) (*govcd.AdminOrg, error) {
	if _, err := c.orgByName(name); err != nil {
		return nil, err
	}
	org, err := c.GetAdminOrgByName(name)
	if err != nil {
		return nil, fmt.Errorf("org %q: %w", name, err)
	}
	return org, nil
}

// VDCByName returns the org VDC; the error lists the org's VDCs.
func (c *Client) VDCByName(orgName, vdcName string) (*VDC, error) {
	org, err := c.orgByName(orgName)
	if err != nil {
		return nil, err
	}
	vdc, err := org.GetVDCByName(vdcName, false)
	if err == nil {
		return wrapVDC(&c.Client, vdc), nil
	}
	if !govcd.ContainsNotFound(err) {
		return nil, fmt.Errorf("VDC %q in org %q: %w", vdcName, orgName, err)
	}
	return nil, notFound("VDC in org "+orgName, vdcName, vdcNames(org))
}

// VDCNames lists the org's VDCs.
func (c *Client) VDCNames(orgName string) ([]string, error) {
	org, err := c.orgByName(orgName)
	if err != nil {
		return nil, err
	}
	return vdcNames(org), nil
}

func vdcNames(org *govcd.Org) []string {
	var names []string
	for _, l := range org.Org.Link {
		if l.Type == "application/vnd.vmware.vcloud.vdc+xml" {
			names = append(names, l.Name)
		}
	}
	return names
}

// EdgeGatewayByName returns the NSX-T edge gateway of a VDC; the error lists them.
func (c *Client) EdgeGatewayByName(vdcH *VDC, name string) (*EdgeGateway, error) {
	vdc := vdcH.vdc
	egw, err := vdc.GetNsxtEdgeGatewayByName(name)
	if err == nil {
		return wrapEdgeGateway(&c.Client, egw), nil
	}
	if !govcd.ContainsNotFound(err) {
		return nil, fmt.Errorf("edge gateway %q: %w", name, err)
	}
	names, lerr := EdgeGatewayNames(vdcH)
	if lerr != nil {
		return nil, fmt.Errorf("edge gateway %q: %w", name, lerr)
	}
	return nil, notFound("edge gateway in VDC "+vdc.Vdc.Name, name, names)
}

// EdgeGatewayNames lists the VDC's NSX-T edge gateways.
func EdgeGatewayNames(vdcH *VDC) ([]string, error) {
	vdc := vdcH.vdc
	all, err := vdc.GetAllNsxtEdgeGateways(nil)
	if err != nil {
		return nil, fmt.Errorf("edge gateways of VDC %s: %w", vdc.Vdc.Name, err)
	}
	var names []string
	for _, g := range all {
		names = append(names, g.EdgeGateway.Name)
	}
	return names, nil
}

// requestCount numbers the requests of this process, for requestID.
var requestCount atomic.Uint64

// requestID is the X-VMWARE-VCLOUD-CLIENT-REQUEST-ID of a request, in the
// format of govcd.VcloudRequestIdBuilderFunc ("7-2026-12-01-18-40-05-123-"),
// which Cloud Director writes into its logs and vCenter's. govcd's own reads
// its counter without synchronization, a data race when several goroutines
// use clients at once (the VMs of a cutover wave).
func requestID() string {
	return fmt.Sprintf("%d-%s-", requestCount.Add(1), strings.ReplaceAll(time.Now().Format("2006-01-02-15-04-05.000"), ".", "-"))
}
