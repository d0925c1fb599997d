package vcdsim

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// busyMessage is the shape of Cloud Director's BUSY_ENTITY message
// (vmware/go-vcloud-director#616, vmware/terraform-provider-vcd#649).
var busyMessage = regexp.MustCompile(`^\[ [0-9a-f-]+ \] The entity Ref: com\.vmware\.vcloud\.entity\.[a-zA-Z]+:[^ ]+ is busy completing an operation ([A-Z0-9_]+)\. ([A-Z0-9_]+)\(com\.vmware\.vcloud\.entity\.task:[0-9a-f-]+\)$`)

// TestTasksTakeTimeAndHoldTheirEntities: a task runs for TaskTime; while
// it runs, another change of its entities is refused with 400 BUSY_ENTITY
// (OpenAPI and XML alike), reads are answered, and once it has ended the
// change goes through.
func TestTasksTakeTimeAndHoldTheirEntities(t *testing.T) {
	// Long enough that the requests below come while the task runs, on a
	// slow machine too; nothing here measures it.
	env := start(t, Config{TaskTime: 2 * time.Second})
	c := env.tenant(t)
	env.srv.SetTaskTime(-1) // the trunk network, through the client's 3 s waits
	tr := newTrunk(t, c)
	env.srv.SetTaskTime(2 * time.Second)

	// OpenAPI: an L2 VPN tunnel's task holds the edge gateway.
	u := must(c.Client.OpenApiBuildEndpoint(strings.Replace(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnel, "%s", tr.egw.EdgeGateway.ID, 1)))(t)
	first := must(c.Client.OpenApiPostItemAsync("37.0", u, nil, tr.tunnelSpec("first", 9)))(t)
	if err := first.Refresh(); err != nil || first.Task.Status != "running" {
		t.Fatalf("a task just created: %v, status %q (want running)", err, first.Task.Status)
	}
	before := env.srv.BusyRefusals()
	_, err := c.Client.OpenApiPostItemAsync("37.0", u, nil, tr.tunnelSpec("second", 10))
	if err == nil || !strings.Contains(err.Error(), "BUSY_ENTITY") {
		t.Fatalf("a second tunnel while the edge gateway's task runs: %v (want BUSY_ENTITY)", err)
	}
	m := busyMessage.FindStringSubmatch(strings.TrimSpace(err.Error()[strings.Index(err.Error(), "["):]))
	if m == nil || m[1] != "NSXT_L2_VPN_TUNNEL_CREATE" || m[2] != m[1] || !strings.Contains(err.Error(), "com.vmware.vcloud.entity.gateway:") {
		t.Fatalf("busy error %q: not Cloud Director's shape", err)
	}
	if n := env.srv.BusyRefusals() - before; n != 1 {
		t.Fatalf("%d refusals counted, want 1", n)
	}
	// Reads are answered meanwhile.
	if _, err := tr.egw.GetAllL2VpnTunnels(nil); err != nil {
		t.Fatalf("read while busy: %v", err)
	}
	if err := first.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.OpenApiPostItemAsync("37.0", u, nil, tr.tunnelSpec("second", 10)); err != nil {
		t.Fatalf("once the task ended: %v", err)
	}

	// XML: a vApp network change holds the vApp and the org VDC network
	// it adds; a change of either is refused meanwhile.
	env.srv.SetTaskTime(-1)
	vapp := must(tr.vdc.CreateRawVApp("busy-vapp", ""))(t)
	other := must(tr.vdc.CreateRawVApp("busy-other", ""))(t)
	env.srv.SetTaskTime(2 * time.Second)
	org := &types.OrgVDCNetwork{Name: tr.net.OpenApiOrgVdcNetwork.Name, HREF: c.Client.VCDHREF.String() + "/network/" + strings.TrimPrefix(tr.net.OpenApiOrgVdcNetwork.ID, "urn:vcloud:network:")}
	task := must(vapp.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, org, false))(t)
	if _, err := vapp.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, org, false); err == nil || !strings.Contains(err.Error(), "is busy completing an operation VDC_UPDATE_VAPP_NETWORK_SECTION") ||
		!strings.Contains(err.Error(), "com.vmware.vcloud.entity.vapp:") {
		t.Fatalf("the vApp changed again while its task runs: %v", err)
	}
	if _, err := other.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, org, false); err == nil || !strings.Contains(err.Error(), "com.vmware.vcloud.entity.network:") {
		t.Fatalf("another vApp given the network while a task holds it: %v", err)
	}
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, org, false); err != nil {
		t.Fatalf("once the task ended: %v", err)
	}
}

// TestTasksTakeTimeByDefault: unless a test says otherwise, a task runs
// for DefaultTaskTime, as Cloud Director's take time: polled at once it is
// running, and it ends no sooner.
func TestTasksTakeTimeByDefault(t *testing.T) {
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, pool := selfSigned(t)
	if err := srv.Start(tlsCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := (&testEnv{srv: srv, pool: pool}).tenant(t)
	vdc := must(must(c.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	egw := must(vdc.GetNsxtEdgeGatewayByName("company-edge"))(t)
	u := must(c.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointOrgVdcNetworks))(t)
	start := time.Now()
	task := must(c.Client.OpenApiPostItemAsync("37.0", u, nil, &types.OpenApiOrgVdcNetwork{
		Name: "company-network", OwnerRef: &types.OpenApiReference{ID: vdc.Vdc.ID}, NetworkType: "NAT_ROUTED",
		Connection: &types.Connection{RouterRef: types.OpenApiReference{ID: egw.EdgeGateway.ID}, ConnectionTypeValue: "INTERNAL"},
		Subnets:    types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{Gateway: "172.16.10.1", PrefixLength: 24}}},
	}))(t)
	if err := task.Refresh(); err != nil || task.Task.Status != "running" {
		t.Fatalf("a task polled at once: %v, status %q (want running: tasks take %s by default)", err, task.Task.Status, DefaultTaskTime)
	}
	if err := task.WaitInspectTaskCompletion(nil, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < DefaultTaskTime || DefaultTaskTime < 50*time.Millisecond {
		t.Fatalf("the task ended after %s; tasks take DefaultTaskTime (%s, at least 50 ms)", took, DefaultTaskTime)
	}
}
