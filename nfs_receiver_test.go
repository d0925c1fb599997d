package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
)

// TestNFSReceiverJourney runs the nfs receiver kind as the README tells an
// operator to: `ferry receiver --kind nfs --datastore-dir` on a host that
// mounts the provider's NFS datastore (the lab's export of
// provider-nfs), and a plan with provider.receiver_kind: nfs on that
// datastore. `ferry run` has the provider vCenter create WebApp2's replica
// disk there (ESXi's descriptor), the receiver writes the flat extent that
// descriptor names, nothing is hot-added to the receiver appliance, and the
// confirmed cutover's final pass leaves the replica equal to the powered-off
// source, from which the migrated VM is built; the source's disk, extended
// before the cutover, has its replica extended on the NFS datastore too.
func TestNFSReceiverJourney(t *testing.T) {
	t.Parallel() // labs of its own
	l, _ := labWith(t, lab.Options{DiskSize: 32 << 20})
	dir := t.TempDir()

	// The receiver host: a certificate from the lab CA for its address,
	// senders authenticated by the same CA (their URI SANs grant Company/*).
	cert, key := filepath.Join(dir, "receiver.pem"), filepath.Join(dir, "receiver-key.pem")
	if err := l.CA.IssueFiles(cert, key, "ferry-receiver-nfs", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ferryBin, "receiver", "--kind", "nfs", "--datastore-dir", l.NFSExport, "--listen", "127.0.0.1:0",
		"--state-dir", filepath.Join(dir, "state"), "--ca", l.CAFile, "--cert", cert, "--key", key)
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	var addr string
	sc := bufio.NewScanner(stdout)
	for addr == "" && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "ferry receiver listening on "); ok {
			addr, _, _ = strings.Cut(rest, ",")
			if !strings.Contains(rest, "nfs receiver: flat extents on the NFS datastore at "+l.NFSExport) {
				t.Errorf("receiver banner: %s", sc.Text())
			}
		}
	}
	if addr == "" {
		t.Fatal("the nfs receiver printed no address")
	}
	go io.Copy(io.Discard, stdout)

	// The operator's config and plan: the nfs receiver, on provider-nfs.
	cfg := l.Config()
	cfg.Receiver.URL = addr
	cfgFile := filepath.Join(dir, "ferry-nfs.yaml")
	if err := cfg.Save(cfgFile); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	plan := string(raw)
	for old, repl := range map[string]string{
		"  receiver_kind: appliance\n":                        "  receiver_kind: nfs\n",
		"  datastore: " + lab.ProviderSpec().Datastore + "\n": "  datastore: " + lab.ProviderNFSDatastore + "\n",
		"  receiver_vm: " + lab.ApplianceVM + "\n":            "",
	} {
		if !strings.Contains(plan, old) {
			t.Fatalf("the lab plan has no %q", old)
		}
		plan = strings.Replace(plan, old, repl, 1)
	}
	planFile := filepath.Join(l.Dir, "plan-nfs.yaml")
	if err := os.WriteFile(planFile, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		c := exec.Command(ferryBin, append([]string{"--config", cfgFile}, args...)...)
		c.Env = cleanEnv()
		out, err := c.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
	appliance0, _ := os.ReadDir(l.Appliance.ByID)

	out, code := run("run", "--plan", planFile)
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run without confirmation: exit %d\n%s", code, out)
	}
	replica := "[" + lab.ProviderNFSDatastore + "] " + replication.ReplicaDiskPath(lab.TenantOrg, "WebApp2", 0)
	desc, err := dsfile.Local(l.Provider.Model, replica)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(desc)
	if err != nil {
		t.Fatalf("the provider vCenter made no replica disk on %s: %v", lab.ProviderNFSDatastore, err)
	}
	for _, want := range []string{`createType="vmfs"`, "parentCID=ffffffff", "ddb.uuid"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("replica descriptor lacks %s (not made by the provider vCenter?):\n%s", want, text)
		}
	}
	if now, _ := os.ReadDir(l.Appliance.ByID); len(now) != len(appliance0) {
		t.Errorf("devices in the receiver appliance: %d, before: %d (the nfs kind hot-adds nothing)", len(now), len(appliance0))
	}

	// An admin extends WebApp2's disk before the cutover: its final pass
	// has the provider vCenter extend the replica disk on the NFS datastore
	// (nothing to detach: the nfs kind hot-adds nothing), and the receiver
	// writes it at its new size.
	_, f := labtest.OnPrem(t, l)
	ctx := context.Background()
	vm, err := f.VirtualMachine(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	disk := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	disk.CapacityInBytes, disk.CapacityInKB = 48<<20, 48<<10
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk}}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}

	out, code = run("run", "--plan", planFile, "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover: exit %d\n%s", code, out)
	}
	flat, err := dsfile.FlatOf(desc)
	if err != nil {
		t.Fatal(err)
	}
	if sum(t, l.OnPrem.FlatFile("WebApp2")) != sum(t, flat) {
		t.Error("the replica on the NFS datastore differs from the powered-off source")
	}
	if text, err := os.ReadFile(desc); err != nil || !strings.Contains(string(text), "RW 98304 VMFS ") {
		t.Errorf("the replica's descriptor after the source's extension to 48 MiB (%v):\n%s", err, text)
	}
	t.Log(out)
}

func sum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
