package lab_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/cli"
	_ "github.com/vmware/govmomi/cli/datastore"
	_ "github.com/vmware/govmomi/cli/object"
	_ "github.com/vmware/govmomi/cli/vm"
	_ "github.com/vmware/govmomi/cli/vm/snapshot"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

var govcMu sync.Mutex

// govc runs an unmodified govc command (govmomi's cli package) with the
// environment the lab exports, and returns what it printed.
func govc(t *testing.T, l *lab.Lab, args ...string) string {
	t.Helper()
	govcMu.Lock()
	defer govcMu.Unlock()
	for _, e := range l.Config().Env() {
		t.Setenv(e.Name, e.Value)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, r); close(done) }()
	code := cli.Run(args)
	os.Stdout = stdout
	w.Close()
	<-done
	if code != 0 {
		t.Fatalf("govc %s: exit %d: %s", strings.Join(args, " "), code, out.String())
	}
	return out.String()
}

func TestGovcSeesLab(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})

	out := govc(t, l, "ls", "/OnPrem-DC/vm")
	for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
		if !strings.Contains(out, "/OnPrem-DC/vm/"+vm) {
			t.Errorf("govc ls: %s missing in\n%s", vm, out)
		}
	}

	var info struct {
		VirtualMachines []struct {
			Name    string
			Runtime struct{ PowerState string }
			Guest   struct{ IpAddress string }
		}
	}
	if err := json.Unmarshal([]byte(govc(t, l, "vm.info", "-json", "WebApp2")), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.VirtualMachines) != 1 || info.VirtualMachines[0].Runtime.PowerState != "poweredOn" || info.VirtualMachines[0].Guest.IpAddress != "172.16.10.12" {
		t.Errorf("govc vm.info WebApp2: %+v", info)
	}

	out = govc(t, l, "ls", "-l", "/OnPrem-DC/network")
	if !strings.Contains(out, "/OnPrem-DC/network/company-network (DistributedVirtualPortgroup)") || !strings.Contains(out, "onprem-vds") {
		t.Errorf("govc ls network: company-network on onprem-vds missing:\n%s", out)
	}

	out = govc(t, l, "datastore.ls", "-dc", "OnPrem-DC", "-ds", "onprem-ds", "-l", "WebApp2")
	if !strings.Contains(out, "WebApp2-flat.vmdk") && !strings.Contains(out, "WebApp2.vmdk") {
		t.Errorf("govc datastore.ls: disk missing:\n%s", out)
	}

	// The disk holds data, and govc can download it over the datastore API
	// (WebApp2's descriptor names its flat extent RenamedExtent) once a
	// snapshot freezes it: the running VM locks the disk it writes.
	govc(t, l, "snapshot.create", "-vm", "WebApp2", "backup")
	dst := t.TempDir() + "/disk"
	govc(t, l, "datastore.download", "-dc", "OnPrem-DC", "-ds", "onprem-ds", "WebApp2/"+lab.RenamedExtent, dst)
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 16<<20 || bytes.Count(got[:1<<20], []byte{0}) == 1<<20 {
		t.Errorf("downloaded disk: %d bytes, first MiB all zero=%v", len(got), bytes.Count(got[:1<<20], []byte{0}) == 1<<20)
	}
}
