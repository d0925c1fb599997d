package vcdsim

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

func TestFaultInjection(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	tr := newTrunk(t, c)

	id, err := env.srv.Faults.Add(Fault{Method: "POST", Path: "/l2vpn/tunnels", Status: 500, Code: "INTERNAL_SERVER_ERROR", Message: "NSX manager unreachable", Times: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("t1", 1))
	if err == nil || !strings.Contains(err.Error(), "NSX manager unreachable") {
		t.Fatalf("injected 500: %v", err)
	}
	if env.srv.Faults.Remove(id) {
		t.Fatal("a Times=1 rule is still installed after firing")
	}
	must(tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("t1", 1)))(t)

	// XML API faults come back as vCD XML errors.
	if _, err := env.srv.Faults.Add(Fault{Pattern: `^/api/org/[0-9a-f-]+$`, Status: 503, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOrgByName("Company"); err == nil {
		t.Fatal("injected 503 on GET org did not surface")
	}

	// A delay-only rule lets the request through (after the delay).
	if _, err := env.srv.Faults.Add(Fault{Method: "GET", Path: "/edgeGateways", Delay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	must(tr.vdc.GetNsxtEdgeGatewayByName("company-edge"))(t)
	rules := env.srv.Faults.List()
	if len(rules) != 1 || rules[0].Matched == 0 {
		t.Fatalf("delay rule not applied: %+v", rules)
	}
	env.srv.Faults.Clear()

	if _, err := env.srv.Faults.Add(Fault{Pattern: "("}); err == nil {
		t.Fatal("bad pattern accepted")
	}
}

func TestLabFaultEndpointAndPaging(t *testing.T) {
	env := start(t, Config{})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.pool}}}
	base := strings.TrimSuffix(env.srv.URL(), "/api")

	resp, err := hc.Post(base+"/lab/faults", "application/json",
		strings.NewReader(`{"method":"GET","path":"/cloudapi/1.0.0/rights","status":500,"message":"lab says no","times":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ ID int }
	_ = json.NewDecoder(resp.Body).Decode(&added)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || added.ID == 0 {
		t.Fatalf("POST /lab/faults: %d %+v", resp.StatusCode, added)
	}
	c := env.provider(t)
	if _, err := c.Client.GetRightByName(l2vpnRight); err == nil || !strings.Contains(err.Error(), "lab says no") {
		t.Fatalf("fault from the lab endpoint: %v", err)
	}

	// Paging: the nextPage link keeps the filter and page size, rel quoted.
	u := must(c.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointRights))(t)
	req, _ := http.NewRequest(http.MethodGet, u.String()+"?pageSize=10&filter=name==vApp*", nil)
	req.Header.Set("X-Vmware-Vcloud-Access-Token", c.Client.VCDToken)
	req.Header.Set("Accept", "application/json;version=37.0")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pg struct {
		ResultTotal int               `json:"resultTotal"`
		Values      []json.RawMessage `json:"values"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&pg)
	resp.Body.Close()
	link := resp.Header.Get("Link")
	if pg.ResultTotal <= 10 || len(pg.Values) != 10 || !strings.Contains(link, `rel="nextPage"`) ||
		!strings.Contains(link, "page=2") || !strings.Contains(link, "filter=name") {
		t.Fatalf("page: total %d, %d values, Link %q", pg.ResultTotal, len(pg.Values), link)
	}
	all := must(c.Client.GetAllRights(map[string][]string{"filter": {"name==vApp*"}, "pageSize": {"10"}, "sortDesc": {"name"}}))(t)
	if len(all) != pg.ResultTotal || all[0].Name < all[len(all)-1].Name {
		t.Fatalf("client paged %d of %d, first %q last %q", len(all), pg.ResultTotal, all[0].Name, all[len(all)-1].Name)
	}

	// Rules can be listed and removed over the lab endpoint too.
	if _, err := env.srv.Faults.Add(Fault{Path: "/never", Status: 500}); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodDelete, base+"/lab/faults", nil)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(env.srv.Faults.List()) != 0 {
		t.Fatalf("DELETE /lab/faults: %d, %d rules left", resp.StatusCode, len(env.srv.Faults.List()))
	}
}

// TestTaskPolling: with TaskPolls set, a task stays running for that many
// polls; the client waits for it with a short interval.
func TestTaskPolling(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	tr := newTrunk(t, c)
	env.srv.SetTaskPolls(2)

	spec := tr.tunnelSpec("polled", 9)
	u := must(c.Client.OpenApiBuildEndpoint(strings.Replace(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnel, "%s", tr.egw.EdgeGateway.ID, 1)))(t)
	task := must(c.Client.OpenApiPostItemAsync("37.0", u, nil, spec))(t)
	polls := 0
	err := task.WaitInspectTaskCompletion(func(tk *types.Task, n int, _ time.Duration, _, _ bool) {
		polls = n
	}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if polls != 3 || task.Task.Status != "success" || task.Task.Details == "" || task.Task.Owner == nil || task.Task.Owner.ID == "" {
		t.Fatalf("after %d polls: %+v", polls, task.Task)
	}
	must(tr.egw.GetL2VpnTunnelById(task.Task.Details))(t)

	// A task can also be followed from its href alone.
	again := govcd.NewTask(&c.Client)
	again.Task.HREF = task.Task.HREF
	if err := again.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil || again.Task.Status != "success" {
		t.Fatalf("re-read task: %v %+v", err, again.Task)
	}
}
