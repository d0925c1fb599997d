package vcd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/vcd"
)

// TestOlderCloudDirectorNamed: a Cloud Director older than 10.4 (its
// newest API 36.3, Cloud Director 10.3) is named as such, with what ferry
// needs, by a password login and by an API token's; not "login failed"
// with go-vcloud-director's chain of errors.
func TestOlderCloudDirectorNamed(t *testing.T) {
	t.Parallel()
	ca, err := lab.NewCA("version test")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.ServerTLS("vcd", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := vcdsim.New(vcdsim.Config{MaxAPIVersion: "36.3", TaskTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(tlsCfg); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	caFile := t.TempDir() + "/ca.pem"
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	tok := srv.AddAPIToken("Company", "companyadmin")
	for _, cfg := range []vcd.Config{
		{URL: srv.URL(), User: "administrator", Password: "VMware1!", Org: "System", CAFile: caFile},
		{URL: srv.URL(), APIToken: tok, Org: "Company", CAFile: caFile},
	} {
		_, err := vcd.Connect(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "does not speak API version 37.0 (Cloud Director 10.4)") || !strings.Contains(err.Error(), "ferry needs Cloud Director 10.4 or later") {
			t.Errorf("login (token %v) to a Cloud Director 10.3: %v", cfg.APIToken != "", err)
		}
	}
}
