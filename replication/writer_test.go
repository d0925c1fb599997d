package replication

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// namespacedReceiver runs an appliance receiver whose test sender is paired
// for the namespaces ns only.
func namespacedReceiver(t *testing.T, ns ...string) *testReceiver {
	t.Helper()
	dir := t.TempDir()
	cfg := testReceiverConfig(t, dir)
	cfg.Authorize = PinnedNamespaces(map[string][]string{testTLS(t).sender: ns})
	if err := os.MkdirAll(filepath.Join(dir, "by-id"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := NewReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testReceiver{t: t, dir: dir, byID: filepath.Join(dir, "by-id"), addr: ln.Addr().String(), r: r, cancel: cancel, done: make(chan struct{})}
	byIDOf.Store(tr.addr, tr.byID)
	go func() {
		defer close(tr.done)
		_ = r.Serve(ctx, ln)
	}()
	t.Cleanup(tr.stop)
	return tr
}

func zeros(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{0}) == len(b)
}

// TestSenderRefusedOutsideNamespace: a sender paired for Company/WebApp1
// replicates Company/WebApp1 but cannot open Globex/WebApp1, and Globex's
// replica disk is untouched.
func TestSenderRefusedOutsideNamespace(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 4<<20, 1, Extent{0, 4 << 20})
	rcv := namespacedReceiver(t, "Company/WebApp1")

	job := newJob(t, "WebApp1", NewFileSource(src), rcv.addr)
	job.Org = "Company"
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatalf("own namespace: %v", err)
	}
	sameFiles(t, src, replicaPath(rcv, "WebApp1", 0))

	// Globex's WebApp1 has its own replica disk, hot-added to the appliance.
	globex := newJob(t, "WebApp1", NewFileSource(src), rcv.addr)
	globex.Org = "Globex"
	globex.Retries = 1
	const globexUUID = "6000c290-0b1e-0000-0000-000000000001"
	names, _ := DeviceNames(globexUUID)
	dev := filepath.Join(rcv.byID, names[0])
	if err := blockDeviceFile(dev, 4<<20); err != nil {
		t.Fatal(err)
	}
	globex.Replicas = map[string]string{"0": globexUUID}
	_, err := globex.RunPass(context.Background(), false)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "Globex/WebApp1") {
		t.Fatalf("sender for Company/WebApp1 writing Globex/WebApp1: %v", err)
	}
	if !zeros(t, dev) {
		t.Fatal("Globex's replica disk was written")
	}
}

// TestReplicaDiskBoundToOneNamespace: a replica disk written for one
// namespace is never opened for another, even by a sender allowed there.
func TestReplicaDiskBoundToOneNamespace(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 2<<20, 2, Extent{0, 2 << 20})
	rcv := namespacedReceiver(t, "Company/*", "Globex/*")
	job := newJob(t, "WebApp1", NewFileSource(src), rcv.addr)
	job.Org = "Company"
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	other := newJob(t, "WebApp1", NewFileSource(src), rcv.addr)
	other.Org, other.Retries = "Globex", 1
	other.Replicas = job.Replicas // Company's disk UUID
	if _, err := other.RunPass(context.Background(), false); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Globex opened Company's replica disk: %v", err)
	}
}

// TestCertNamespaces: a CA-issued sender certificate grants the namespaces
// of its ferry://replicas URIs, nothing else.
func TestCertNamespaces(t *testing.T) {
	cert := &x509.Certificate{URIs: []*url.URL{NamespaceURI("Company", "*"), NamespaceURI("Globex", "db1")}}
	auth := CertNamespaces()
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	for _, c := range []struct {
		org, vm string
		ok      bool
	}{{"Company", "WebApp1", true}, {"Globex", "db1", true}, {"Globex", "WebApp1", false}, {"Initech", "db1", false}} {
		if err := auth(cs, c.org, c.vm); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrForbidden)) {
			t.Errorf("%s/%s: %v", c.org, c.vm, err)
		}
	}
}

// TestDetachDuringPass: the replica disk is detached from the appliance in
// the middle of a pass: the pass fails saying so, nothing of it is
// committed; attached again, the next pass finishes and the replica equals
// the source.
func TestDetachDuringPass(t *testing.T) {
	const size = 16 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	job.Retries = 1
	dev := replicaPath(rcv, "vm", 0)
	parked := dev + ".detached"
	hs := &hookSource{Source: fs}
	hs.hook = func(n int64) {
		if n == 6 {
			if err := os.Rename(dev, parked); err != nil {
				t.Error(err)
			}
		}
	}
	job.Source = hs
	_, err := job.RunPass(context.Background(), false)
	if !errors.Is(err, ErrDetached) || !strings.Contains(err.Error(), "detached") {
		t.Fatalf("pass with the disk detached: %v", err)
	}
	// The operator reads which VM's disk, its UUID once (QA: the device's
	// name repeated it, "wwn-0x6944... (disk UUID 6944...-...)"), and
	// what to do.
	uuid := testUUID("vm", 0)
	hex := strings.ReplaceAll(uuid, "-", "")
	if msg := err.Error(); strings.Count(msg, uuid) != 1 || strings.Contains(msg, hex) || !strings.Contains(msg, testOrg+"/vm's disk") || !strings.Contains(msg, "resuming the job has ferry hot-add it again") {
		t.Errorf("pass with the disk detached says: %v\nwant %s/vm's disk, its UUID %s once (not as a device name), and what to do", err, testOrg, uuid)
	}
	if st, _ := job.State.Disk("vm/0"); st.Committed != "" {
		t.Fatalf("a pass committed on a detached disk: %+v", st)
	}
	hs.hook = nil
	if err := os.Rename(parked, dev); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, src, dev)
	if err := job.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverKindPreconditions: each kind refuses to start without what it
// needs, naming it.
func TestReceiverKindPreconditions(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	cfg := testReceiverConfig(t, t.TempDir())
	cfg.Writer = ApplianceWriter{ByID: missing}
	if _, err := NewReceiver(cfg); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "disk.EnableUUID") {
		t.Errorf("appliance without by-id: %v", err)
	}
	cfg.Writer = NFSWriter{Dir: missing}
	if _, err := NewReceiver(cfg); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "NFS") {
		t.Errorf("nfs without mount: %v", err)
	}
	// A sender that prepared disks for another kind is refused.
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 1<<20, 1, Extent{0, 1 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.Kind, job.Retries = KindNFS, 1
	if _, err := job.RunPass(context.Background(), false); err == nil || !strings.Contains(err.Error(), "appliance receiver") {
		t.Errorf("nfs sender at an appliance receiver: %v", err)
	}
}

// esxDescriptor is a base-disk descriptor as ESXi writes one (thin).
func esxDescriptor(flat string, size int64) string {
	return "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"vmfs\"\n\n" +
		"RW " + strconv.FormatInt(size/512, 10) + " VMFS \"" + flat + "\"\n\nddb.adapterType = \"lsilogic\"\nddb.thinProvisioned = \"1\"\n" +
		"ddb.uuid = \"60 00 C2 9a 10 3d 5a 2e-8f 7c 4a 51 2b 3c 4d 5e\"\nddb.virtualHWVersion = \"19\"\n"
}

// TestNFSWriter: the nfs kind writes the flat extent the descriptor names
// (not one derived from the descriptor's name), only inside the sender's
// namespace folder, and writes no descriptor.
func TestNFSWriter(t *testing.T) {
	ds := t.TempDir()
	folder := filepath.Join(ds, ReplicasFolder, "Company", "WebApp1")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	desc := ReplicaDiskPath("Company", "WebApp1", 0)
	if err := os.WriteFile(filepath.Join(ds, desc), []byte(esxDescriptor("extent-of-disk0.vmdk", 2<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	// vCenter made the flat extent (thin: shorter than the disk).
	if err := os.WriteFile(filepath.Join(folder, "extent-of-disk0.vmdk"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w := NFSWriter{Dir: ds}
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	dev, err := w.Open("Company", "WebApp1", desc, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := dev.File.Stat(); err != nil || fi.Size() != 2<<20 {
		t.Fatalf("flat extent not at the disk's size: %v %v", fi, err)
	}
	dev.File.Close()
	if dev.Path != filepath.Join(folder, "extent-of-disk0.vmdk") {
		t.Fatalf("wrote %s", dev.Path)
	}
	if _, err := w.Open("Globex", "WebApp1", desc, 2<<20); err == nil {
		t.Error("opened Company's descriptor for Globex")
	}
	if _, err := w.Open("Company", "WebApp1", ReplicasFolder+"/Company/WebApp1/../../Globex/WebApp1/WebApp1_0.vmdk", 2<<20); err == nil {
		t.Error("a path leaving the namespace folder was opened")
	}
	hosted := ReplicaDiskPath("Company", "WebApp1", 1)
	if err := os.WriteFile(filepath.Join(ds, hosted), []byte(strings.Replace(esxDescriptor("x-flat.vmdk", 2<<20), `createType="vmfs"`, `createType="monolithicFlat"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Open("Company", "WebApp1", hosted, 2<<20); err == nil {
		t.Error("a monolithicFlat descriptor with a VMFS extent was accepted")
	}
	if _, err := w.Open("Company", "WebApp1", ReplicaDiskPath("Company", "WebApp1", 2), 2<<20); !errors.Is(err, ErrNoReplicaDisk) {
		t.Errorf("missing descriptor: %v", err)
	}
	if _, err := os.Stat(filepath.Join(folder, "WebApp1_2.vmdk")); err == nil {
		t.Error("the writer created a descriptor")
	}
}
