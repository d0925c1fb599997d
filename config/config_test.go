package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestFileWinsOverEnv: an endpoint named by --config is used even when the
// shell names another one, and none of the shell's variables for that
// endpoint (its password least of all) reach it.
func TestFileWinsOverEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	c := &Config{OnPrem: Endpoint{URL: "https://lab:8989/sdk", Username: "labuser"},
		VCD: Endpoint{URL: "https://vcd.lab/api", Username: "admin", Password: "labpw", Org: "System"}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := load(path, env(map[string]string{
		"GOVC_URL": "https://prod-vc/sdk", "GOVC_USERNAME": "produser", "GOVC_PASSWORD": "prodpw", "GOVC_INSECURE": "1",
		"VCD_URL": "https://vcd.lab:443/api/", "VCD_PASSWORD": "envpw", // the same Cloud Director
		"FERRY_TENANT_USER": "tenant", "FERRY_CA_FILE": "/ca.pem",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.OnPrem.URL != "https://lab:8989/sdk" || got.OnPrem.Username != "labuser" || got.OnPrem.Password != "" || got.OnPrem.Insecure {
		t.Errorf("on-prem: the environment leaked into the file's endpoint: %+v", got.OnPrem)
	}
	if got.VCD.Password != "labpw" || got.Tenant.Username != "tenant" || got.VCD.CAFile != "/ca.pem" {
		t.Errorf("same Cloud Director: the file's fields win, the environment fills the rest: vcd %+v tenant %+v", got.VCD, got.Tenant)
	}
	w := got.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "on-prem vCenter: using https://lab:8989/sdk from --config "+path) ||
		!strings.Contains(w[0], "GOVC_URL=https://prod-vc/sdk is ignored") || !strings.Contains(w[0], "GOVC_PASSWORD, GOVC_INSECURE") {
		t.Errorf("warnings: %q", w)
	}
	if strings.Contains(strings.Join(w, ""), "prodpw") {
		t.Errorf("a password in a warning: %q", w)
	}
	o := got.Origins()
	if len(o) != 3 || o[0].From != "--config "+path || o[1].Endpoint != "Cloud Director" || o[1].Login != "password" ||
		o[2] != (Origin{"Cloud Director tenant", "https://vcd.lab/api", "password (not set)", "--config " + path}) {
		t.Errorf("origins: %+v", o)
	}
}

// TestEnvFillsWhatTheFileLeaves: endpoints the file does not name come from
// the environment, and say so.
func TestEnvFillsWhatTheFileLeaves(t *testing.T) {
	got, err := load("", env(map[string]string{"GOVC_URL": "https://user:secret@vc.example.com/sdk", "GOVC_INSECURE": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.OnPrem.Username != "user" || got.OnPrem.Password != "secret" || !got.OnPrem.Insecure {
		t.Errorf("got %+v", got.OnPrem)
	}
	if o := got.Origins(); len(o) != 1 || o[0].URL != "https://vc.example.com/sdk" || o[0].From != "environment (GOVC_URL)" {
		t.Errorf("origins (credentials must not show): %+v", o)
	}
	if w := got.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

func TestSameURL(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"https://VC.example.com/sdk", "vc.example.com/sdk/", true},
		{"https://vc:443/sdk", "https://u:p@vc/sdk", true},
		{"https://vc/sdk", "https://vc2/sdk", false},
		{"https://vc:8989/sdk", "https://vc/sdk", false},
		{"127.0.0.1:8443", "127.0.0.1:8443", true},
		{"127.0.0.1:8443", "127.0.0.1:8444", false},
	} {
		if got := SameURL(c.a, c.b); got != c.same {
			t.Errorf("SameURL(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("onprem: [unterminated"), 0o600)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt config: %v", err)
	}
}

// TestUnknownKeysRefused: a key the config file does not have (a typo, or
// insecure: at the top instead of under an endpoint) is refused with its
// line and the keys valid there, not silently ignored; so is a value of
// the wrong type, by its key.
func TestUnknownKeysRefused(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"onprem:\n  url: https://vc.example.com\n  usernme: admin\n", `line 3: unknown key "usernme" under onprem (valid there: api_token, api_token_file, ca_file, cert_file, insecure, key_file, org, password, pin, url, username)`},
		{"insecure: true\n", `line 1: unknown key "insecure" (valid there: edge, guest, lab, onprem, provider, receiver, tenant, vcd)`},
		{"onprem:\n  insecure: maybe\n", `line 2: onprem.insecure: "maybe" is not true or false`},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(c.yaml), 0o600)
		_, err := load(path, env(nil))
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: %v, want the file and %q", c.yaml, err, c.want)
		}
	}
}

func TestExportsQuote(t *testing.T) {
	c := &Config{VCD: Endpoint{Password: "it's $x"}}
	if got := c.Exports(); got != "export VCD_PASSWORD='it'\\''s $x'\n" {
		t.Errorf("got %q", got)
	}
}

// TestPlainHTTPRefused: an http:// vCenter or Cloud Director would carry the
// password (or the bearer token) in clear.
func TestPlainHTTPRefused(t *testing.T) {
	for name, v := range map[string]string{"GOVC_URL": "http://u:pw@vc.example.com/sdk", "VCD_URL": "HTTP://vcd.example.com/api"} {
		c, err := load("", env(map[string]string{name: v}))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Check()
		if err == nil || !strings.Contains(err.Error(), "plain HTTP") || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "pw") {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
	c, _ := load("", env(map[string]string{"GOVC_URL": "vc.example.com", "FERRY_RECEIVER_ADDR": "10.0.0.1:8443"}))
	if err := c.Check(); err != nil {
		t.Errorf("a URL without a scheme is https (as govc reads it): %v", err)
	}
}

// TestUnusedInsecureVariableIsSaid: GOVC_INSECURE that is not a boolean,
// or that names an endpoint the file gives, turns nothing off and says so.
func TestUnusedInsecureVariableIsSaid(t *testing.T) {
	c, _ := load("", env(map[string]string{"GOVC_URL": "https://vc/sdk", "GOVC_INSECURE": "banana"}))
	if w := strings.Join(c.Warnings(), "\n"); c.InsecureWarning() != "" || !strings.Contains(w, "GOVC_INSECURE=banana is not true or false") {
		t.Errorf("GOVC_INSECURE=banana: warnings %q, insecure %q", w, c.InsecureWarning())
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	(&Config{OnPrem: Endpoint{URL: "https://vc/sdk"}}).Save(path)
	c, _ = load(path, env(map[string]string{"GOVC_INSECURE": "1"}))
	if w := strings.Join(c.Warnings(), "\n"); c.InsecureWarning() != "" || !strings.Contains(w, "on-prem vCenter: GOVC_INSECURE is ignored, the endpoint comes from --config "+path) {
		t.Errorf("GOVC_INSECURE=1 with the URL in the file: warnings %q, insecure %q", w, c.InsecureWarning())
	}
}

// TestEveryWayOfTurningVerificationOffIsSaid: the environment, the file and
// the flag each show in the same warning.
func TestEveryWayOfTurningVerificationOffIsSaid(t *testing.T) {
	c, _ := load("", env(map[string]string{"GOVC_URL": "https://vc/sdk", "GOVC_INSECURE": "1"}))
	if w := c.InsecureWarning(); !strings.Contains(w, "NOT verified for on-prem vCenter (GOVC_INSECURE)") {
		t.Errorf("env: %q", w)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	(&Config{VCD: Endpoint{URL: "https://vcd/api", Insecure: true}}).Save(path)
	c, _ = load(path, env(nil))
	if w := c.InsecureWarning(); !strings.Contains(w, "Cloud Director (insecure: true in --config "+path+")") {
		t.Errorf("file: %q", w)
	}
	c, _ = load("", env(map[string]string{"GOVC_URL": "https://vc/sdk"}))
	if w := c.InsecureWarning(); w != "" {
		t.Errorf("verification is on, yet: %q", w)
	}
	c.SetInsecure("--insecure")
	if w := c.InsecureWarning(); !strings.Contains(w, "every endpoint (--insecure)") || !c.OnPrem.Insecure || !c.Receiver.Insecure {
		t.Errorf("flag: %q %+v", w, c)
	}
}

// TestConfigWithPasswordsReadableByOthers (QA: a config holding passwords
// at mode 0644 was used without a word): a warning names the file, which
// endpoints' passwords it holds (never the passwords) and the chmod; at
// 0600, or without passwords, nothing is said.
func TestConfigWithPasswordsReadableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	write := func(body string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	withPw := "vcd:\n  url: https://vcd.example.com\n  username: admin\n  password: s3cret-pw\n"
	write(withPw, 0o644)
	got, err := load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(got.Warnings(), "\n")
	if !strings.Contains(w, "config "+path+" holds passwords or API tokens (vcd) and is readable by others than its owner (mode 0644): chmod 600 "+path) || strings.Contains(w, "s3cret-pw") {
		t.Errorf("warnings of a 0644 config with a password: %q", w)
	}
	for _, c := range []struct {
		body string
		mode os.FileMode
	}{{withPw, 0o600}, {"vcd:\n  url: https://vcd.example.com\n  username: admin\n", 0o644}} {
		write(c.body, c.mode)
		got, err := load(path, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if w := got.Warnings(); len(w) != 0 {
			t.Errorf("mode %04o: warnings %q", c.mode, w)
		}
	}
}

// TestAPITokenIsOneCredentialWithThePassword: a Cloud Director login's
// password and API token come from one source. The file's password keeps
// the environment's token out (and says so), a token from the environment
// fills a file entry that has no credential, and an endpoint given both
// logs in with the token. No warning shows a secret.
func TestAPITokenIsOneCredentialWithThePassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	c := &Config{VCD: Endpoint{URL: "https://vcd.example.com/api", Username: "admin", Password: "file-pw", Org: "System"},
		Tenant: Endpoint{Org: "Company"}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := load(path, env(map[string]string{"VCD_API_TOKEN": "env-provider-token", "FERRY_TENANT_API_TOKEN": "env-tenant-token", "FERRY_TENANT_PASSWORD": "env-tenant-pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.VCD.Password != "file-pw" || got.VCD.APIToken != "" {
		t.Errorf("the file's password and the environment's token mixed: %+v", got.VCD)
	}
	if got.Tenant.APIToken != "env-tenant-token" || got.Tenant.Password != "" {
		t.Errorf("tenant: want the environment's token and no password, got %+v", got.Tenant)
	}
	w := strings.Join(got.Warnings(), "\n")
	if !strings.Contains(w, "Cloud Director: VCD_API_TOKEN is ignored, --config "+path+" gives its credential (a password)") ||
		!strings.Contains(w, "Cloud Director tenant: its password is not used: it logs in with its API token") {
		t.Errorf("warnings: %q", w)
	}
	for _, s := range []string{"file-pw", "env-provider-token", "env-tenant-token", "env-tenant-pw"} {
		if strings.Contains(w, s) {
			t.Errorf("a secret in the warnings: %q", w)
		}
	}
	if exp := got.Exports(); !strings.Contains(exp, "export FERRY_TENANT_API_TOKEN=env-tenant-token") {
		t.Errorf("exports lack the tenant's token: %s", exp)
	}
}

// TestAPITokenOnlyForCloudDirector: an api_token under an endpoint that
// does not take one is refused, not ignored.
func TestAPITokenOnlyForCloudDirector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("onprem:\n  url: https://vc.example.com\n  api_token: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(path, env(nil))
	if err == nil || !strings.Contains(err.Error(), "API token under onprem: only Cloud Director's logins (vcd, tenant) take an API token") || strings.Contains(err.Error(), "abc") {
		t.Errorf("api_token under onprem: %v", err)
	}
}

// TestAPITokenFileIsTheCredential: an API token file from the environment
// fills an entry the file leaves without credential, and a token file is
// the login over a password or token given beside it.
func TestAPITokenFileIsTheCredential(t *testing.T) {
	got, err := load("", env(map[string]string{"VCD_URL": "https://vcd.example.com/api", "VCD_API_TOKEN_FILE": "/etc/ferry/sa.json", "VCD_PASSWORD": "pw", "VCD_ORG": "System"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.VCD.APITokenFile != "/etc/ferry/sa.json" || got.VCD.Password != "" || !got.VCD.ByToken() {
		t.Errorf("vcd: %+v", got.VCD)
	}
	if w := strings.Join(got.Warnings(), "\n"); !strings.Contains(w, "Cloud Director: its password or API token is not used: it logs in with the API token in its file") {
		t.Errorf("warnings: %q", w)
	}
}

// TestOriginsSayHowCloudDirectorLogsIn: the endpoints list has a row for
// each Cloud Director login, the tenant's at the URL it logs in to and
// from where that URL came, saying how it authenticates and never with
// what; the other endpoints say nothing of their login.
func TestOriginsSayHowCloudDirectorLogsIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	c := &Config{OnPrem: Endpoint{URL: "https://vc/sdk", Username: "u", Password: "vc-secret"},
		VCD:    Endpoint{URL: "https://vcd/api", APIToken: "provider-token-secret", Org: "System"},
		Tenant: Endpoint{URL: "https://tenant-vcd/api", APITokenFile: "/secure/tenant.token", Org: "Company"}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name string
		path string
		env  map[string]string
		want []Origin
	}{
		{"file", path, map[string]string{"FERRY_TENANT_API_TOKEN": "env-token-secret"}, []Origin{
			{"on-prem vCenter", "https://vc/sdk", "", "--config " + path},
			{"Cloud Director", "https://vcd/api", "API token", "--config " + path},
			{"Cloud Director tenant", "https://tenant-vcd/api", "token file /secure/tenant.token", "--config " + path}}},
		{"environment", "", map[string]string{"VCD_URL": "https://vcd/api", "VCD_USER": "administrator", "VCD_PASSWORD": "pw-secret",
			"FERRY_TENANT_ORG": "Company", "FERRY_TENANT_API_TOKEN": "env-token-secret"}, []Origin{
			{"Cloud Director", "https://vcd/api", "password", "environment (VCD_URL)"},
			{"Cloud Director tenant", "https://vcd/api", "API token", "environment (VCD_URL)"}}},
		{"no logins", "", map[string]string{"VCD_URL": "https://vcd/api"}, []Origin{
			{"Cloud Director", "https://vcd/api", "not set", "environment (VCD_URL)"},
			{"Cloud Director tenant", "https://vcd/api", "not set", "environment (VCD_URL)"}}},
	} {
		got, err := load(x.path, env(x.env))
		if err != nil {
			t.Fatal(err)
		}
		o := got.Origins()
		if len(o) != len(x.want) {
			t.Errorf("%s: origins %+v, want %+v", x.name, o, x.want)
			continue
		}
		for i := range o {
			if o[i] != x.want[i] {
				t.Errorf("%s: origin %d: %+v, want %+v", x.name, i, o[i], x.want[i])
			}
		}
		if s := fmt.Sprint(o); strings.Contains(s, "secret") {
			t.Errorf("%s: a secret in the origins: %s", x.name, s)
		}
	}
}

// TestTenantLoginIsCheckedLikeCloudDirectors: the tenant's own url and
// insecure (tenant: in the config) are judged as Cloud Director's are: with
// insecure: true the warning names it (it said nothing, while the same
// setting under vcd: was warned of), and a plain-HTTP url is refused
// before its password crosses the network.
func TestTenantLoginIsCheckedLikeCloudDirectors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	(&Config{VCD: Endpoint{URL: "https://vcd/api"}, Tenant: Endpoint{URL: "https://vcd/api", Insecure: true}}).Save(path)
	c, err := load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.InsecureWarning(); !strings.Contains(w, "Cloud Director tenant (insecure: true in --config "+path+")") {
		t.Errorf("tenant insecure: true: warning %q", w)
	}
	(&Config{VCD: Endpoint{URL: "https://vcd/api"}, Tenant: Endpoint{URL: "http://vcd/api", Username: "admin", Password: "secret"}}).Save(path)
	c, err = load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "Cloud Director tenant: http://vcd/api") || !strings.Contains(err.Error(), "https://") {
		t.Errorf("tenant url http://: Check %v, want it refused", err)
	}
}
