package vcd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBusyRetryGivesUp: a change Cloud Director keeps refusing BUSY_ENTITY
// is sent again with pauses, then the last refusal is returned saying how
// long ferry tried; other refusals and reads are returned as they came.
func TestBusyRetryGivesUp(t *testing.T) {
	defer func(f, m, b time.Duration) { busyFirst, busyMax, busyBudget = f, m, b }(busyFirst, busyMax, busyBudget)
	busyFirst, busyMax, busyBudget = time.Millisecond, 2*time.Millisecond, 50*time.Millisecond

	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/json":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"minorErrorCode":"BUSY_ENTITY","message":"[ x ] The entity Ref: com.vmware.vcloud.entity.gateway:1 is busy completing an operation X.","stackTrace":""}`)
		case string(body) != "payload":
			t.Errorf("attempt %d carried %q, want the request's body", calls.Load(), body)
			w.WriteHeader(http.StatusInternalServerError)
		case r.URL.Path == "/other":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `<Error majorErrorCode="400" minorErrorCode="BAD_REQUEST" message="no"/>`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `<Error majorErrorCode="400" minorErrorCode="BUSY_ENTITY" message="[ x ] The entity Ref: com.vmware.vcloud.entity.vapp:1 is busy completing an operation X."/>`)
		}
	}))
	defer srv.Close()
	c := &http.Client{Transport: &busyRetry{base: srv.Client().Transport}}
	do := func(method, path string) (int64, string) {
		t.Helper()
		calls.Store(0)
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
		return calls.Load(), string(b)
	}
	if n, body := do(http.MethodPut, "/xml"); n < 2 || !strings.Contains(body, `message="still busy after ferry tried for `) || !strings.Contains(body, "BUSY_ENTITY") {
		t.Errorf("busy XML: %d attempts, %s", n, body)
	}
	if n, body := do(http.MethodPost, "/json"); n < 2 || !strings.Contains(body, `"message":"still busy after ferry tried for `) {
		t.Errorf("busy JSON: %d attempts, %s", n, body)
	}
	if n, body := do(http.MethodPost, "/other"); n != 1 || !strings.Contains(body, `message="no"`) {
		t.Errorf("another refusal: %d attempts, %s", n, body)
	}
	if n, _ := do(http.MethodGet, "/xml"); n != 1 {
		t.Errorf("a read: %d attempts", n)
	}
}
