package vcd

import (
	"context"
	"strings"
	"testing"
)

// TestConnectRefusesHTTP: a Cloud Director URL with http is refused before
// any credential is sent.
func TestConnectRefusesHTTP(t *testing.T) {
	_, err := Connect(context.Background(), Config{URL: "http://vcd.example.com/api", User: "u", Password: "p", Org: "System"})
	if err == nil || !strings.Contains(err.Error(), "TLS only") {
		t.Errorf("Connect over http: %v; want it refused", err)
	}
}
