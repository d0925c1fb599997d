// Package vsphere is ferry's vCenter client: connection, inventory, port
// groups, OVF deployment, snapshots and disks, power and guest operations.
// It talks to any vCenter through govmomi and knows nothing of ferry's lab.
package vsphere

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/internal/noanswer"
	"github.com/ferry-migrate/ferry/tlsconf"
)

// Config says how to reach one vCenter.
type Config struct {
	URL      string // https://host[:port][/sdk]
	Username string
	Password string
	CAFile   string         // PEM file(s) of trusted CAs (GOVC_TLS_CA_CERTS), replacing the system roots (tlsconf)
	RootCAs  *x509.CertPool // trusted with CAFile's
	Insecure bool           // skip certificate verification
	// Vars names where the operator sets the URL, username and password,
	// for messages (default: govc's GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD).
	Vars Vars
}

// Vars are the names of the settings of a login, for messages: the
// environment variables, and Section, the entry of the --config file.
type Vars struct{ URL, Username, Password, Section string }

func (v Vars) or() Vars {
	if v.URL == "" {
		v.URL = "GOVC_URL or onprem.url in the --config file"
	}
	if v.Section == "" {
		v.Section = "onprem"
	}
	if v.Username == "" {
		v.Username = "GOVC_USERNAME"
	}
	if v.Password == "" {
		v.Password = "GOVC_PASSWORD"
	}
	return v
}

// login says where the operator sets the username and password a refused
// login used (QA: both vCenters log in as the same user; the message told
// them apart by their ports alone).
func (v Vars) login() string {
	return fmt.Sprintf("the config's %[1]s.username and %[1]s.password, or %[2]s and %[3]s", v.Section, v.Username, v.Password)
}

// Client is a logged-in vCenter session.
type Client struct {
	*govmomi.Client
	// Endpoint is the URL without credentials, for messages.
	Endpoint string

	relogin *relogin // logs in again when vCenter ended the session (nil: never)
}

// Sentinel errors for callers that branch on the cause.
var (
	ErrLogin       = errors.New("wrong username or password")
	ErrUntrusted   = errors.New("certificate not trusted")
	ErrUnreachable = errors.New("unreachable")
)

// ParseURL reads a vCenter URL as govc does: https:// when it has no
// scheme, /sdk when it has no path. http:// is refused: ferry sends
// credentials over TLS only.
func ParseURL(raw string) (*url.URL, error) {
	u, err := soap.ParseURL(strings.TrimSpace(raw))
	if err != nil || u == nil || u.Host == "" {
		return nil, fmt.Errorf("vCenter URL %q is not valid: want https://host[:port]/sdk", raw)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("vCenter URL %q uses %s: ferry sends credentials over TLS only: want https://host[:port]/sdk", redact(u), u.Scheme)
	}
	return u, nil
}

// Connect logs in to the vCenter described by cfg. Errors name the endpoint
// and the cause (bad password, unreachable, certificate not trusted).
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	vars := cfg.Vars.or()
	if cfg.URL == "" {
		return nil, fmt.Errorf("vCenter URL is empty (set %s)", vars.URL)
	}
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	endpoint := redact(u)
	if cfg.Username != "" {
		u.User = url.UserPassword(cfg.Username, cfg.Password)
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("vCenter %s: no username given (set %s)", endpoint, vars.Username)
	}
	if p, _ := u.User.Password(); p == "" {
		return nil, fmt.Errorf("vCenter %s: no password given (set %s)", endpoint, vars.Password)
	}

	pool, err := tlsconf.Endpoint{CAFile: cfg.CAFile, RootCAs: cfg.RootCAs, Insecure: cfg.Insecure}.Pool()
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: %w", endpoint, err)
	}
	sc := soap.NewClient(u, cfg.Insecure)
	sc.DefaultTransport().TLSClientConfig.RootCAs = pool
	// Go keeps two idle connections per host by default: with more calls
	// at once (a pass's readers each ask for a service ticket per read,
	// several VMs replicate together) the others were closed after each
	// call and the next paid a new TCP and TLS handshake.
	sc.DefaultTransport().MaxIdleConnsPerHost = apiIdleConns
	// govmomi's own TLS dial (tls.Dial) has no timeout and ignores ctx: a
	// server that accepts the connection and never answers (a wrong port,
	// a firewall that holds connections, a hung vCenter) held ferry for
	// ever (QA h8). Every connection of this client is bounded instead.
	sc.DefaultTransport().DialTLSContext = boundedDialTLS(sc, sc.DefaultTransport())
	// The login is a few short calls: bounded too, should the server
	// complete the handshake and then never answer.
	lctx, cancel := context.WithTimeout(ctx, noanswer.LoginTimeout)
	defer cancel()
	vc, err := vim25.NewClient(lctx, sc)
	if err != nil {
		return nil, trustedOnly(explain(endpoint, u.User.Username(), vars, noanswer.Login(lctx, err)), cfg.CAFile)
	}
	c := &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}
	if err := c.Login(lctx, u.User); err != nil {
		return nil, trustedOnly(explain(endpoint, u.User.Username(), vars, noanswer.Login(lctx, err)), cfg.CAFile)
	}
	user := u.User
	rl := &relogin{rt: vc.RoundTripper, login: func(ctx context.Context) error {
		if err := c.SessionManager.Login(ctx, user); err != nil {
			return explain(endpoint, user.Username(), vars, err)
		}
		return nil
	}}
	vc.RoundTripper = &taskRetry{rt: rl}
	return &Client{Client: c, Endpoint: endpoint, relogin: rl}, nil
}

// ErrNoAnswer: the server took the connection and did not answer in time
// (noanswer.ErrNoAnswer, shared with Cloud Director's client).
var ErrNoAnswer = noanswer.ErrNoAnswer

// boundedDialTLS dials as govmomi's client does (the transport's TLS
// configuration; when that does not trust the certificate, the thumbprint
// vCenter vouched for, if any) with the connect and the handshake bounded
// by noanswer.DialTimeout and by ctx.
func boundedDialTLS(sc *soap.Client, t *http.Transport) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return noanswer.Dial(ctx, addr, func(dctx context.Context) (net.Conn, error) {
			conn, err := noanswer.DialTLS(dctx, network, addr, t.TLSClientConfig)
			if err != nil && soap.IsCertificateUntrusted(err) {
				if tp := sc.Thumbprint(addr); tp != "" {
					pinned := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
						if len(cs.PeerCertificates) > 0 && (soap.ThumbprintSHA256(cs.PeerCertificates[0]) == tp || soap.ThumbprintSHA1(cs.PeerCertificates[0]) == tp) {
							return nil
						}
						return fmt.Errorf("host %q thumbprint does not match %q", addr, tp)
					}}
					conn, err = noanswer.DialTLS(dctx, network, addr, pinned)
				}
			}
			return conn, err
		})
	}
}

// trustedOnly names the CA file that was trusted when the certificate was
// not: "pass the CA" alone read as if none had been given (QA h8).
func trustedOnly(err error, caFile string) error {
	if caFile == "" || !errors.Is(err, ErrUntrusted) {
		return err
	}
	return fmt.Errorf("%w; the only CAs trusted for it are those of %s (its CA file, which replaces the system's roots): none of them signed its certificate", err, caFile)
}

// apiIdleConns is how many idle connections to vCenter a client keeps.
const apiIdleConns = 32

// Close logs out.
func (c *Client) Close(ctx context.Context) error {
	return c.Logout(ctx)
}

// Finder returns a finder over the whole inventory.
func (c *Client) Finder() *find.Finder {
	return find.NewFinder(c.Client.Client, true)
}

// InstanceUUID is the vCenter's unique instance id.
func (c *Client) InstanceUUID() string {
	return c.ServiceContent.About.InstanceUuid
}

func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

// explain turns transport and login errors into messages that say what is
// wrong and what would fix it; a refused login names the user (who), never
// the password, and where it is set (vars).
func explain(endpoint, who string, vars Vars, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var certInvalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	// Before the *net.OpError case: a timeout is one too.
	if e, ok := noanswer.Explain("vCenter", endpoint, "https://HOST/sdk", err); ok {
		return e
	}
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verify), errors.As(err, &certInvalid):
		return fmt.Errorf("vCenter %s: %w: its certificate is not signed by a CA ferry trusts (pass the CA with GOVC_TLS_CA_CERTS / --config ca_file, or --insecure): %v", endpoint, ErrUntrusted, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("vCenter %s: %w: certificate is for another host: %v", endpoint, ErrUntrusted, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &dnsErr), errors.As(err, &opErr):
		// Where the address comes from, as a refused login says where
		// its user is set (QA walk hB: a mistyped port in the config
		// named neither the file's key nor the variable).
		return fmt.Errorf("vCenter %s is %w: %v (check the address: %s)", endpoint, ErrUnreachable, err, vars.URL)
	case isLoginFault(err):
		return fmt.Errorf("vCenter %s: %w for %s (%s)", endpoint, ErrLogin, who, vars.login())
	}
	if status := httpStatus(err); status != "" {
		// QA: the web client's address (https://HOST/ui) read
		// `POST "/ui": 404 Not Found`, and nothing of what was wanted.
		return fmt.Errorf("vCenter %s: no vSphere API answers there (it answered %s): want the vCenter's address, https://HOST or https://HOST/sdk, not a page of its web client such as https://HOST/ui", endpoint, status)
	}
	return fmt.Errorf("vCenter %s: %w", endpoint, err)
}

// httpStatus is the HTTP status a server answered a SOAP call with when it
// is neither success nor a SOAP fault (a web server, or vCenter's own at
// another path than the API's), or "".
func httpStatus(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Err == nil {
		return ""
	}
	s := ue.Err.Error()
	if len(s) < 4 || s[3] != ' ' || s[0] < '1' || s[0] > '5' || strings.Trim(s[:3], "0123456789") != "" {
		return ""
	}
	return "HTTP " + s
}

func isLoginFault(err error) bool {
	if soap.IsSoapFault(err) {
		switch soap.ToSoapFault(err).VimFault().(type) {
		case types.InvalidLogin, *types.InvalidLogin:
			return true
		}
	}
	return strings.Contains(err.Error(), "InvalidLogin") || strings.Contains(err.Error(), "incorrect user name or password")
}
