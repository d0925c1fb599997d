package labtest

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/ferry-migrate/ferry/vcd"
)

// TunnelPath is the OpenAPI path of an L2 VPN tunnel of an edge gateway.
func TunnelPath(edgeID, tunnelID string) string {
	return fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnel, edgeID) + tunnelID
}

// NetworkPath is the OpenAPI path of an org VDC network.
func NetworkPath(id string) string {
	return types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointOrgVdcNetworks + id
}

// UIChange changes an OpenAPI entity through c as someone in Cloud
// Director's UI would, behind ferry's back: method PUT (of body) or DELETE
// of path (TunnelPath, NetworkPath), and waits for Cloud Director's task,
// polling every 20 ms. go-vcloud-director's own Update and Delete poll
// their task every 3 s: each such change of a test took 3 s, the lab's
// tasks taking time.
func UIChange(t testing.TB, c *vcd.Client, method, path string, body any) {
	t.Helper()
	u, err := c.Client.OpenApiBuildEndpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	var task govcd.Task
	switch method {
	case http.MethodPut:
		if task, err = c.Client.OpenApiPutItemAsync(c.Client.APIVersion, u, nil, body, nil); err != nil {
			t.Fatalf("PUT %s: %v", path, err)
		}
	case http.MethodDelete:
		req := c.Client.NewRequest(nil, http.MethodDelete, *u, nil)
		req.Header.Set("Accept", "application/json;version="+c.Client.APIVersion)
		resp, err := c.Client.Http.Do(req)
		if err != nil {
			t.Fatalf("DELETE %s: %v", path, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") == "" {
			t.Fatalf("DELETE %s: %s %s (want 202 and the task's Location)", path, resp.Status, msg)
		}
		task = *govcd.NewTask(&c.Client)
		task.Task.HREF = resp.Header.Get("Location")
	default:
		t.Fatalf("UIChange: method %s: want PUT or DELETE", method)
	}
	if err := task.WaitInspectTaskCompletion(nil, 20*time.Millisecond); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}
