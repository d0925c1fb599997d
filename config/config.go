// Package config holds the endpoints ferry talks to: the on-prem vCenter, the
// provider vCenter, Cloud Director (provider and tenant logins), and the
// on-prem L2VPN client edge. It reads them from a YAML file (`ferry --config`)
// and from the environment (govc's GOVC_* and terraform-provider-vcd's VCD_*
// names); an explicitly named file wins over the environment.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ferry-migrate/ferry/internal/yamlstrict"
)

// Endpoint is one API endpoint with its login.
type Endpoint struct {
	URL      string `yaml:"url,omitempty"`
	Username string `yaml:"username,omitempty"`
	// Password is accepted in a config file only because the lab writes one
	// (0600) for its throw-away credentials; for real endpoints use the
	// environment or the prompt.
	Password string `yaml:"password,omitempty"`
	// APIToken is a Cloud Director API token (vcd and tenant only; Cloud
	// Director 10.3.1 and later): the login trades it for a session, and
	// no password is used. A token and a password are one credential: the
	// source that gives either (the file, else the environment) gives it.
	APIToken string `yaml:"api_token,omitempty"`
	// APITokenFile holds the API token instead (vcd and tenant only): a
	// service account's token is single-use, and ferry writes the one
	// Cloud Director replaces it with back to the file.
	APITokenFile string `yaml:"api_token_file,omitempty"`
	Org          string `yaml:"org,omitempty"`
	CAFile       string `yaml:"ca_file,omitempty"`
	Insecure     bool   `yaml:"insecure,omitempty"`
	// CertFile / KeyFile: a client certificate (the replication sender's).
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// Pin is the SHA-256 fingerprint of the server's certificate, trusted
	// instead of a CA (pairing with a `ferry receiver`).
	Pin string `yaml:"pin,omitempty"`
}

// ByToken says whether the endpoint logs in with an API token (Cloud
// Director's), given or in a file.
func (e Endpoint) ByToken() bool { return e.APIToken != "" || e.APITokenFile != "" }

// Config is the set of endpoints.
type Config struct {
	OnPrem   Endpoint `yaml:"onprem"`   // on-prem vCenter (source)
	Provider Endpoint `yaml:"provider"` // provider vCenter backing the org VDC
	VCD      Endpoint `yaml:"vcd"`      // Cloud Director, provider administrator (org System)
	Tenant   Endpoint `yaml:"tenant"`   // Cloud Director, the tenant's org administrator
	Edge     Endpoint `yaml:"edge"`     // on-prem L2VPN client edge (NSX autonomous edge API)
	// Guest is the guest OS login for guest-operation probes (ping from inside a VM).
	Guest Endpoint `yaml:"guest,omitempty"`
	// Receiver is the provider-side replication receiver address (host:port).
	Receiver Endpoint `yaml:"receiver,omitempty"`
	// Lab is true when the endpoints belong to ferry's embedded lab (shown as a badge).
	Lab bool `yaml:"lab,omitempty"`

	origins   []Origin   // where each endpoint came from (Load)
	conflicts []conflict // file and environment disagreed (Load)
	notes     []string   // environment settings not used, and why (Load)
	insecure  []string   // "on-prem vCenter (GOVC_INSECURE)": verification off, and why
}

// Load reads the file named by --config (path; "" for none) and the
// environment, in the order govc, terraform and kubectl users expect: what
// the named file says wins over the environment, which wins over defaults
// (command-line flags such as --insecure are applied by the caller, last).
//
// The precedence is per endpoint, not per field: when the file names an
// endpoint's URL and the environment names another one for it (GOVC_URL for
// the on-prem vCenter, VCD_URL for Cloud Director, ...), the file's endpoint
// is used and every environment variable of that endpoint is ignored, so a
// password meant for one server is never sent to another. Origins says where
// each endpoint came from and Warnings says what was ignored.
func Load(path string) (*Config, error) {
	return load(path, os.LookupEnv)
}

func load(path string, lookup func(string) (string, bool)) (*Config, error) {
	file := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			const valid = "--config names a YAML file of endpoints, such as the one `ferry lab serve` writes (its \"# config file:\" line); without --config, ferry takes the endpoints from the environment (GOVC_URL, VCD_URL, FERRY_PROVIDER_URL, FERRY_RECEIVER_ADDR, ...)"
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("config file %s does not exist: %s", path, valid)
			}
			return nil, fmt.Errorf("config file %s cannot be read (%w): %s", path, err, valid)
		}
		root, err := yamlstrict.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("config %s is %w", path, err)
		}
		if err := yamlstrict.Decode(b, root, file); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		for key, ep := range map[string]*Endpoint{"onprem": &file.OnPrem, "provider": &file.Provider, "edge": &file.Edge, "guest": &file.Guest, "receiver": &file.Receiver} {
			if ep.APIToken != "" || ep.APITokenFile != "" {
				return nil, fmt.Errorf("config %s: API token under %s: only Cloud Director's logins (vcd, tenant) take an API token (api_token, api_token_file); %s logs in with username and password", path, key, key)
			}
		}
	}
	c := merge(file, path, lookup)
	if note := exposedPasswords(path, file); note != "" {
		c.notes = append(c.notes, note)
	}
	return c, nil
}

// exposedPasswords says when the config file at path holds passwords and
// others than its owner may read it ("" otherwise), as ssh says of a key.
func exposedPasswords(path string, file *Config) string {
	if path == "" {
		return ""
	}
	var with []string
	for _, e := range []struct {
		key string
		ep  *Endpoint
	}{{"onprem", &file.OnPrem}, {"provider", &file.Provider}, {"vcd", &file.VCD}, {"tenant", &file.Tenant}, {"edge", &file.Edge}, {"guest", &file.Guest}, {"receiver", &file.Receiver}} {
		if e.ep.Password != "" || e.ep.APIToken != "" {
			with = append(with, e.key)
		}
	}
	fi, err := os.Stat(path)
	if len(with) == 0 || err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("config %s holds passwords or API tokens (%s) and is readable by others than its owner (mode %04o): chmod 600 %s, or take them out of it (the environment, or the prompt)",
		path, strings.Join(with, ", "), fi.Mode().Perm(), path)
}

// Save writes the config to path with mode 0600 (it may hold lab passwords).
func (c *Config) Save(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// EnvVar is one NAME=value pair, in the order the lab prints them.
type EnvVar struct{ Name, Value string }

// Env returns the environment variables describing c (the names listed in
// docs/architecture.md, "How a command gets its world").
func (c *Config) Env() []EnvVar {
	v := []EnvVar{
		{"GOVC_URL", c.OnPrem.URL},
		{"GOVC_USERNAME", c.OnPrem.Username},
		{"GOVC_PASSWORD", c.OnPrem.Password},
		{"GOVC_TLS_CA_CERTS", c.OnPrem.CAFile},
		{"FERRY_PROVIDER_URL", c.Provider.URL},
		{"FERRY_PROVIDER_USERNAME", c.Provider.Username},
		{"FERRY_PROVIDER_PASSWORD", c.Provider.Password},
		{"FERRY_PROVIDER_CA_CERTS", c.Provider.CAFile},
		{"VCD_URL", c.VCD.URL},
		{"VCD_USER", c.VCD.Username},
		{"VCD_PASSWORD", c.VCD.Password},
		{"VCD_API_TOKEN", c.VCD.APIToken},
		{"VCD_API_TOKEN_FILE", c.VCD.APITokenFile},
		{"VCD_ORG", c.VCD.Org},
		{"FERRY_TENANT_ORG", c.Tenant.Org},
		{"FERRY_TENANT_USER", c.Tenant.Username},
		{"FERRY_TENANT_PASSWORD", c.Tenant.Password},
		{"FERRY_TENANT_API_TOKEN", c.Tenant.APIToken},
		{"FERRY_TENANT_API_TOKEN_FILE", c.Tenant.APITokenFile},
		{"FERRY_EDGE_URL", c.Edge.URL},
		{"FERRY_EDGE_USERNAME", c.Edge.Username},
		{"FERRY_EDGE_PASSWORD", c.Edge.Password},
		{"FERRY_RECEIVER_ADDR", c.Receiver.URL},
		{"FERRY_RECEIVER_CERT", c.Receiver.CertFile},
		{"FERRY_RECEIVER_KEY", c.Receiver.KeyFile},
		{"FERRY_RECEIVER_PIN", c.Receiver.Pin},
		{"FERRY_GUEST_USER", c.Guest.Username},
		{"FERRY_GUEST_PASSWORD", c.Guest.Password},
		{"FERRY_CA_FILE", c.OnPrem.CAFile},
	}
	out := v[:0]
	for _, e := range v {
		if e.Value != "" {
			out = append(out, e)
		}
	}
	return out
}

// Exports renders Env as shell `export NAME=value` lines.
func (c *Config) Exports() string {
	var b strings.Builder
	for _, e := range c.Env() {
		fmt.Fprintf(&b, "export %s=%s\n", e.Name, shellQuote(e.Value))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Origin says where one endpoint came from.
type Origin struct {
	Endpoint string `json:"endpoint"` // "on-prem vCenter"
	URL      string `json:"url"`      // without credentials
	// Login is how a Cloud Director login authenticates (LoginMethod);
	// "" for the other endpoints.
	Login string `json:"login,omitempty"`
	From  string `json:"from"` // "--config FILE", "environment (GOVC_URL)"
}

// LoginMethod says how a Cloud Director login authenticates, never with
// its secret: "API token", "token file PATH", "password", "password (not
// set)" (a user without one: the wizard asks for it, a headless command
// refuses), or "not set" (no user and no token).
func LoginMethod(e Endpoint) string {
	switch {
	case e.APITokenFile != "":
		return "token file " + e.APITokenFile
	case e.APIToken != "":
		return "API token"
	case e.Password != "":
		return "password"
	case e.Username != "":
		return "password (not set)"
	}
	return "not set"
}

// conflict is an endpoint the file and the environment disagree on.
type conflict struct {
	endpoint, path, fileURL, envURL, urlVar string
	ignored                                 []string // every variable not used
}

// envField is one environment variable of an endpoint.
type envField struct {
	name  string
	field func(*Endpoint) *string
}

// endpointSpec is one endpoint with the environment variables describing it.
type endpointSpec struct {
	name     string
	get      func(*Config) *Endpoint
	urlVar   string
	urlOf    func(*Config) string // the URL the file gives it ("" for none)
	fields   []envField
	insecVar string
	report   bool // listed by Origins (the tenant and the guest follow another endpoint)
	// listed: listed by Origins though not reported, at the URL it
	// follows (the tenant's login: Cloud Director's, unless tenant.url).
	listed bool
}

// loginOf is e's LoginMethod when sp is a Cloud Director login (it takes
// an API token), else "".
func loginOf(sp endpointSpec, e *Endpoint) string {
	for _, f := range sp.fields {
		var x Endpoint
		if f.field(&x) == &x.APIToken {
			return LoginMethod(*e)
		}
	}
	return ""
}

func username(e *Endpoint) *string  { return &e.Username }
func password(e *Endpoint) *string  { return &e.Password }
func apiToken(e *Endpoint) *string  { return &e.APIToken }
func tokenFile(e *Endpoint) *string { return &e.APITokenFile }
func caFile(e *Endpoint) *string    { return &e.CAFile }
func ownURL(get func(*Config) *Endpoint) func(*Config) string {
	return func(c *Config) string { return get(c).URL }
}

// secret says whether an endpoint's field is its credential (a password,
// an API token or its file): they are taken from one source (merge).
func secret(f envField) bool {
	var e Endpoint
	p := f.field(&e)
	return p == &e.Password || p == &e.APIToken || p == &e.APITokenFile
}

var specs = []endpointSpec{
	{name: "on-prem vCenter", get: func(c *Config) *Endpoint { return &c.OnPrem }, urlVar: "GOVC_URL", report: true,
		fields: []envField{{"GOVC_USERNAME", username}, {"GOVC_PASSWORD", password}, {"GOVC_TLS_CA_CERTS", caFile}}, insecVar: "GOVC_INSECURE"},
	{name: "guest login", get: func(c *Config) *Endpoint { return &c.Guest }, urlVar: "GOVC_URL",
		urlOf:  func(c *Config) string { return c.OnPrem.URL },
		fields: []envField{{"FERRY_GUEST_USER", username}, {"FERRY_GUEST_PASSWORD", password}}},
	{name: "provider vCenter", get: func(c *Config) *Endpoint { return &c.Provider }, urlVar: "FERRY_PROVIDER_URL", report: true,
		fields: []envField{{"FERRY_PROVIDER_USERNAME", username}, {"FERRY_PROVIDER_PASSWORD", password}, {"FERRY_PROVIDER_CA_CERTS", caFile}}},
	{name: "Cloud Director", get: func(c *Config) *Endpoint { return &c.VCD }, urlVar: "VCD_URL", report: true,
		fields: []envField{{"VCD_USER", username}, {"VCD_PASSWORD", password}, {"VCD_API_TOKEN", apiToken}, {"VCD_API_TOKEN_FILE", tokenFile}, {"VCD_ORG", func(e *Endpoint) *string { return &e.Org }}}},
	{name: "Cloud Director tenant", get: func(c *Config) *Endpoint { return &c.Tenant }, urlVar: "VCD_URL", listed: true,
		urlOf: func(c *Config) string {
			if c.Tenant.URL != "" {
				return c.Tenant.URL
			}
			return c.VCD.URL
		},
		fields: []envField{{"FERRY_TENANT_ORG", func(e *Endpoint) *string { return &e.Org }}, {"FERRY_TENANT_USER", username}, {"FERRY_TENANT_PASSWORD", password}, {"FERRY_TENANT_API_TOKEN", apiToken}, {"FERRY_TENANT_API_TOKEN_FILE", tokenFile}}},
	{name: "L2VPN client edge", get: func(c *Config) *Endpoint { return &c.Edge }, urlVar: "FERRY_EDGE_URL", report: true,
		fields: []envField{{"FERRY_EDGE_USERNAME", username}, {"FERRY_EDGE_PASSWORD", password}}},
	{name: "replication receiver", get: func(c *Config) *Endpoint { return &c.Receiver }, urlVar: "FERRY_RECEIVER_ADDR", report: true,
		fields: []envField{{"FERRY_RECEIVER_CERT", func(e *Endpoint) *string { return &e.CertFile }},
			{"FERRY_RECEIVER_KEY", func(e *Endpoint) *string { return &e.KeyFile }},
			{"FERRY_RECEIVER_PIN", func(e *Endpoint) *string { return &e.Pin }}}},
}

// merge applies the environment to the file's endpoints (see Load).
func merge(file *Config, path string, lookup func(string) (string, bool)) *Config {
	c := *file
	get := func(name string) string {
		v, ok := lookup(name)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
	fromFile := "--config " + path
	for _, sp := range specs {
		urlOf := sp.urlOf
		if urlOf == nil {
			urlOf = ownURL(sp.get)
		}
		e := sp.get(&c)
		fileURL, envURL := urlOf(file), get(sp.urlVar)
		if v := get(sp.insecVar); sp.insecVar != "" && v != "" {
			// Verification is never turned off by a word ferry does not
			// understand, nor for an endpoint the file names.
			b, err := strconv.ParseBool(v)
			switch {
			case err != nil:
				c.notes = append(c.notes, fmt.Sprintf("%s=%s is not true or false (1, true, 0, false): %s certificates stay verified", sp.insecVar, v, sp.name))
			case b && fileURL != "" && (envURL == "" || SameURL(fileURL, envURL)): // (a conflict lists it below)
				c.notes = append(c.notes, fmt.Sprintf("%s: %s is ignored, the endpoint comes from --config %s; to skip verification for it (not recommended) set insecure: true under its entry there", sp.name, sp.insecVar, path))
			}
		}
		if fileURL != "" && envURL != "" && !SameURL(fileURL, envURL) {
			// The file names another endpoint: none of the environment's
			// variables for it are used, credentials least of all.
			var ignored []string
			for _, f := range sp.fields {
				if get(f.name) != "" {
					ignored = append(ignored, f.name)
				}
			}
			if sp.insecVar != "" && get(sp.insecVar) != "" {
				ignored = append(ignored, sp.insecVar)
			}
			c.addConflict(sp, path, fileURL, envURL, ignored)
			if sp.report || sp.listed {
				c.origins = append(c.origins, Origin{sp.name, redact(fileURL), loginOf(sp, e), fromFile})
			}
			continue
		}
		// A password or an API token is the endpoint's credential: when the
		// file gives one, the environment's are not used, so that a
		// token meant for one login never mixes with another's password.
		fileSecret := e.Password != "" || e.APIToken != "" || e.APITokenFile != ""
		for _, f := range sp.fields {
			dst := f.field(e)
			switch v := get(f.name); {
			case *dst != "" || v == "":
			case secret(f) && fileSecret:
				c.notes = append(c.notes, fmt.Sprintf("%s: %s is ignored, --config %s gives its credential (%s)", sp.name, f.name, path, fileCredential(e)))
			default:
				*dst = v
			}
		}
		if e.APITokenFile != "" && (e.APIToken != "" || e.Password != "") {
			// From one source: the token's file is the login.
			e.APIToken, e.Password = "", ""
			c.notes = append(c.notes, fmt.Sprintf("%s: its password or API token is not used: it logs in with the API token in its file", sp.name))
		}
		if e.APIToken != "" && e.Password != "" {
			// Both from one source: the token is the login.
			e.Password = ""
			c.notes = append(c.notes, fmt.Sprintf("%s: its password is not used: it logs in with its API token", sp.name))
		}
		from := fromFile
		if fileURL == "" && envURL != "" && sp.urlOf == nil { // the tenant and the guest have no URL of their own
			e.URL = envURL
			from = "environment (" + sp.urlVar + ")"
			if sp.insecVar != "" {
				if b, err := strconv.ParseBool(get(sp.insecVar)); err == nil {
					e.Insecure = b
				}
			}
			if e.Insecure && !sp.get(file).Insecure {
				c.insecure = append(c.insecure, sp.name+" ("+sp.insecVar+")")
			}
		}
		used := e.URL
		if sp.listed { // its URL is set below, after the loop
			used = cmp.Or(fileURL, envURL)
			if fileURL == "" && envURL != "" {
				from = "environment (" + sp.urlVar + ")"
			}
		}
		if (sp.report || sp.listed) && used != "" {
			c.origins = append(c.origins, Origin{sp.name, redact(used), loginOf(sp, e), from})
		}
	}
	for _, sp := range specs {
		// The tenant's too: its own url and insecure log in to Cloud
		// Director as vcd:'s do.
		if (sp.report || sp.listed) && sp.get(file).Insecure {
			c.insecure = append(c.insecure, sp.name+" (insecure: true in --config "+path+")")
		}
	}
	if ca := get("FERRY_CA_FILE"); ca != "" {
		for _, e := range []*Endpoint{&c.OnPrem, &c.Provider, &c.VCD, &c.Tenant, &c.Edge, &c.Receiver} {
			if e.CAFile == "" {
				e.CAFile = ca
			}
		}
	}
	// The tenant logs in to the same Cloud Director.
	if c.Tenant.URL == "" {
		c.Tenant.URL = c.VCD.URL
	}
	// GOVC_URL may carry the credentials (user:pass@host), as govc allows.
	if u, err := url.Parse(c.OnPrem.URL); err == nil && u.User != nil {
		if c.OnPrem.Username == "" {
			c.OnPrem.Username = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && c.OnPrem.Password == "" {
			c.OnPrem.Password = p
		}
	}
	return &c
}

// fileCredential names the credential the file gives e.
func fileCredential(e *Endpoint) string {
	if e.APIToken != "" || e.APITokenFile != "" {
		return "an API token"
	}
	return "a password"
}

func (c *Config) addConflict(sp endpointSpec, path, fileURL, envURL string, ignored []string) {
	for i := range c.conflicts {
		if c.conflicts[i].urlVar == sp.urlVar {
			c.conflicts[i].ignored = append(c.conflicts[i].ignored, ignored...)
			return
		}
	}
	c.conflicts = append(c.conflicts, conflict{endpoint: sp.name, path: path, fileURL: fileURL, envURL: envURL,
		urlVar: sp.urlVar, ignored: append([]string{sp.urlVar}, ignored...)})
}

// Origins lists the endpoints that have a URL and where each came from, in a
// fixed order (on-prem vCenter, provider vCenter, Cloud Director, the
// tenant's login to it, edge, receiver); the Cloud Director logins say how
// they authenticate.
func (c *Config) Origins() []Origin { return append([]Origin(nil), c.origins...) }

// Warnings says, one line per endpoint, where --config and the environment
// named different endpoints and which one is used, and which environment
// settings of verification were not used and why. Credentials are never shown.
func (c *Config) Warnings() []string {
	var out []string
	for _, k := range c.conflicts {
		w := fmt.Sprintf("%s: using %s from --config %s; the environment's %s=%s is ignored",
			k.endpoint, redact(k.fileURL), k.path, k.urlVar, redact(k.envURL))
		if others := k.ignored[1:]; len(others) > 0 {
			w += ", and with it " + strings.Join(others, ", ")
		}
		out = append(out, w)
	}
	return append(out, c.notes...)
}

// SetInsecure turns certificate verification off for every endpoint (the
// --insecure flag); why is what asked for it.
func (c *Config) SetInsecure(why string) {
	for _, e := range []*Endpoint{&c.OnPrem, &c.Provider, &c.VCD, &c.Tenant, &c.Edge, &c.Receiver} {
		e.Insecure = true
	}
	c.insecure = []string{"every endpoint (" + why + ")"}
}

// Unverified says which endpoints skip TLS certificate verification and
// what turned it off (the flag, an environment variable or the file); empty
// when every certificate is verified.
func (c *Config) Unverified() []string { return append([]string(nil), c.insecure...) }

// InsecureWarning is the one warning every way of turning verification off
// gets ("" when none is off).
func (c *Config) InsecureWarning() string {
	if len(c.insecure) == 0 {
		return ""
	}
	return "TLS certificates are NOT verified for " + strings.Join(c.insecure, ", ") +
		"; anyone on the path can read your passwords"
}

// Check refuses endpoints that would send credentials in clear text: an
// http:// URL for a vCenter, Cloud Director (the tenant's login too) or the
// edge.
func (c *Config) Check() error {
	for _, sp := range specs {
		if !sp.report && !sp.listed {
			continue
		}
		u := sp.get(c).URL
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(u)), "http://") {
			from := "--config"
			for _, o := range c.origins {
				if o.Endpoint == sp.name {
					from = o.From
				}
			}
			return fmt.Errorf("%s: %s (from %s) is plain HTTP: its password or token would cross the network in clear; use its https:// URL", sp.name, redact(u), from)
		}
	}
	return nil
}

// IgnoredEnv names the environment variables that named another endpoint
// than --config and were ignored (for a short notice, e.g. the wizard's header).
func (c *Config) IgnoredEnv() []string {
	var out []string
	for _, k := range c.conflicts {
		out = append(out, k.urlVar)
	}
	return out
}

// SameURL says whether two endpoint URLs name the same endpoint: scheme and
// host compared without case, default ports and credentials dropped, a
// trailing slash ignored; a URL without a scheme is https (as govc reads
// GOVC_URL), and a bare host:port (the receiver's address) compares as is.
func SameURL(a, b string) bool {
	na, nb := normURL(a), normURL(b)
	return na == nb
}

func normURL(raw string) string {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return raw
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	scheme := strings.ToLower(u.Scheme)
	if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimSuffix(u.EscapedPath(), "/")
}

// redact drops the credentials from a URL (GOVC_URL may carry them).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Host == "" {
		return raw
	}
	u.User = nil
	return u.String()
}
