package vsphere

import (
	"context"
	"strings"
	"testing"
)

// TestParseURL (QA: a provider vCenter URL without a scheme logged in, as
// govc allows, and then broke the cutover's import, which read an empty
// host from it): every reader of a vCenter URL gets the same host, and
// http is refused before any credential is sent.
func TestParseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"vc.example.com":                "https://vc.example.com/sdk",
		" vc.example.com:8443/sdk ":     "https://vc.example.com:8443/sdk",
		"https://vc.example.com/sdk":    "https://vc.example.com/sdk",
		"https://vc.example.com:443/sd": "https://vc.example.com:443/sd",
	} {
		u, err := ParseURL(raw)
		if err != nil || u.Scheme+"://"+u.Host+u.Path != want {
			t.Errorf("ParseURL(%q) = %v, %v; want %s", raw, u, err, want)
		}
	}
	for _, raw := range []string{"http://vc.example.com/sdk", "http://user:secret@vc.example.com/sdk", ""} {
		if _, err := ParseURL(raw); err == nil {
			t.Errorf("ParseURL(%q) accepted", raw)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error shows the password: %v", raw, err)
		}
	}
	_, err := Connect(context.Background(), Config{URL: "http://vc.example.com/sdk", Username: "u", Password: "p"})
	if err == nil || !strings.Contains(err.Error(), "TLS only") {
		t.Errorf("Connect over http: %v; want it refused before sending credentials", err)
	}
}
