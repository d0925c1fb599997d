package lab_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/vsphere"
)

// eventually waits for cond, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReachabilityFollowsPowerAndStretch(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	var web2Addr string
	for _, r := range l.Reach.Plan() {
		if r.Name == "WebApp2" && r.GuestIP == "172.16.10.12" {
			web2Addr = r.Addr
		}
	}
	if web2Addr == "" {
		t.Fatalf("address plan %+v has no WebApp2 at 172.16.10.12", l.Reach.Plan())
	}
	web2 := probe.TCP{Addr: web2Addr, Timeout: time.Second}
	up := func() bool { _, err := web2.Probe(ctx); return err == nil }
	if !up() {
		t.Fatal("WebApp2 does not answer while powered on")
	}

	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	auth := vsphere.GuestAuth{Username: lab.GuestUser, Password: lab.GuestPassword}
	web1, _ := onprem.VMByName(ctx, "WebApp1")
	if err := onprem.GuestPing(ctx, web1.Ref, auth, "172.16.10.12"); err != nil {
		t.Fatalf("WebApp1 -> WebApp2 guest ping: %v", err)
	}
	if err := onprem.GuestPing(ctx, web1.Ref, vsphere.GuestAuth{Username: "x", Password: "y"}, "172.16.10.12"); err == nil {
		t.Error("guest ping with a wrong guest login succeeded")
	}
	// A TCP connect from inside WebApp1 reaches WebApp2's service, by its
	// guest address or its loopback, and no other port.
	_, port, _ := net.SplitHostPort(web2Addr)
	for _, addr := range []string{web2Addr, net.JoinHostPort("172.16.10.12", port)} {
		if err := onprem.GuestTCP(ctx, web1.Ref, auth, addr); err != nil {
			t.Errorf("WebApp1 -> WebApp2 guest tcp %s: %v", addr, err)
		}
	}
	if err := onprem.GuestTCP(ctx, web1.Ref, auth, "172.16.10.12:1"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("guest tcp to a port WebApp2 does not listen on: %v", err)
	}
	if err := onprem.GuestTCP(ctx, web1.Ref, auth, "172.16.10.12:80;reboot"); err == nil {
		t.Error("guest tcp took a port that is not a number")
	}

	task, err := object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference()).PowerOff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "WebApp2 to stop answering", func() bool { return !up() })
	if err := onprem.GuestPing(ctx, web1.Ref, auth, "172.16.10.12"); err == nil {
		t.Error("guest ping to a powered-off VM succeeded")
	}
	if err := onprem.GuestTCP(ctx, web1.Ref, auth, web2Addr); err == nil {
		t.Error("guest tcp to a powered-off VM succeeded")
	}

	// A provider VM with WebApp2's MAC, powered on: reachable only with the stretch UP.
	provider := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	// (a faithful copy: the guest model boots it, see TestGuestModel)
	createCopy(t, l, provider, "WebApp2", sourceLayout(t, l, onprem, "WebApp2"))
	time.Sleep(200 * time.Millisecond) // several reachability polls
	if up() {
		t.Fatal("cloud VM answers without the L2 stretch")
	}
	l.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	l.Fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	eventually(t, "WebApp2 to answer from the cloud", up)
}
