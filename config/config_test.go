package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvWinsOverFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	c := &Config{OnPrem: Endpoint{URL: "https://file/sdk", Username: "fileuser", Password: "filepass"}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	t.Setenv("GOVC_URL", "https://env/sdk")
	t.Setenv("GOVC_USERNAME", "")
	t.Setenv("FERRY_CA_FILE", "/ca.pem")
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.OnPrem.URL != "https://env/sdk" || got.OnPrem.Username != "fileuser" || got.VCD.CAFile != "/ca.pem" {
		t.Errorf("got %+v", got)
	}
}

func TestGovcURLWithCredentials(t *testing.T) {
	c := &Config{}
	c.ApplyEnv(func(k string) (string, bool) {
		if k == "GOVC_URL" {
			return "https://user:secret@vc.example.com/sdk", true
		}
		return "", false
	})
	if c.OnPrem.Username != "user" || c.OnPrem.Password != "secret" {
		t.Errorf("got %+v", c.OnPrem)
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

func TestExportsQuote(t *testing.T) {
	c := &Config{VCD: Endpoint{Password: "it's $x"}}
	if got := c.Exports(); got != "export VCD_PASSWORD='it'\\''s $x'\n" {
		t.Errorf("got %q", got)
	}
}
