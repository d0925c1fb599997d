// Package config holds the endpoints ferry talks to: the on-prem vCenter, the
// provider vCenter, Cloud Director (provider and tenant logins), and the
// on-prem L2VPN client edge. It reads them from a YAML file (`ferry --config`)
// and from the environment (govc's GOVC_* and terraform-provider-vcd's VCD_*
// names), the environment winning.
package config

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Endpoint is one API endpoint with its login.
type Endpoint struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	// Password is accepted in a config file only because the lab writes one
	// (0600) for its throw-away credentials; for real endpoints use the
	// environment or the prompt.
	Password string `yaml:"password,omitempty"`
	Org      string `yaml:"org,omitempty"`
	CAFile   string `yaml:"ca_file,omitempty"`
	Insecure bool   `yaml:"insecure,omitempty"`
	// CertFile / KeyFile: a client certificate (the replication sender's).
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// Pin is the SHA-256 fingerprint of the server's certificate, trusted
	// instead of a CA (pairing with a `ferry receiver`).
	Pin string `yaml:"pin,omitempty"`
}

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
}

// Load reads path (if not empty) and then applies the environment.
func Load(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := yaml.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("config %s is not valid YAML: %w", path, err)
		}
	}
	c.ApplyEnv(os.LookupEnv)
	return c, nil
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

// Env returns the environment variables describing c (the names of DESIGN.md).
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
		{"VCD_ORG", c.VCD.Org},
		{"FERRY_TENANT_ORG", c.Tenant.Org},
		{"FERRY_TENANT_USER", c.Tenant.Username},
		{"FERRY_TENANT_PASSWORD", c.Tenant.Password},
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

// ApplyEnv overrides fields from environment variables found by lookup.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	set := func(dst *string, name string) {
		if v, ok := lookup(name); ok && v != "" {
			*dst = v
		}
	}
	set(&c.OnPrem.URL, "GOVC_URL")
	set(&c.OnPrem.Username, "GOVC_USERNAME")
	set(&c.OnPrem.Password, "GOVC_PASSWORD")
	set(&c.OnPrem.CAFile, "GOVC_TLS_CA_CERTS")
	set(&c.Provider.URL, "FERRY_PROVIDER_URL")
	set(&c.Provider.Username, "FERRY_PROVIDER_USERNAME")
	set(&c.Provider.Password, "FERRY_PROVIDER_PASSWORD")
	set(&c.Provider.CAFile, "FERRY_PROVIDER_CA_CERTS")
	set(&c.VCD.URL, "VCD_URL")
	set(&c.VCD.Username, "VCD_USER")
	set(&c.VCD.Password, "VCD_PASSWORD")
	set(&c.VCD.Org, "VCD_ORG")
	set(&c.Tenant.Org, "FERRY_TENANT_ORG")
	set(&c.Tenant.Username, "FERRY_TENANT_USER")
	set(&c.Tenant.Password, "FERRY_TENANT_PASSWORD")
	set(&c.Edge.URL, "FERRY_EDGE_URL")
	set(&c.Edge.Username, "FERRY_EDGE_USERNAME")
	set(&c.Edge.Password, "FERRY_EDGE_PASSWORD")
	set(&c.Guest.Username, "FERRY_GUEST_USER")
	set(&c.Guest.Password, "FERRY_GUEST_PASSWORD")
	set(&c.Receiver.URL, "FERRY_RECEIVER_ADDR")
	set(&c.Receiver.CertFile, "FERRY_RECEIVER_CERT")
	set(&c.Receiver.KeyFile, "FERRY_RECEIVER_KEY")
	set(&c.Receiver.Pin, "FERRY_RECEIVER_PIN")
	if v, ok := lookup("GOVC_INSECURE"); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			c.OnPrem.Insecure = b
		}
	}
	if ca, ok := lookup("FERRY_CA_FILE"); ok && ca != "" {
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
}
