package vcd

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// busyRetry sends a change again that Cloud Director refused because an
// entity it changes was busy: while a task runs on a vApp, a VM, an org
// VDC network or an edge gateway, Cloud Director refuses other changes of
// it with 400 BUSY_ENTITY ("The entity Ref: ... is busy completing an
// operation ..."), and did nothing. ferry waits for its own tasks, but
// the VMs of a wave are cut over in parallel (two vApps given one org VDC
// network at once), and a tenant or the provider may be changing the same
// entities. The request is sent again after a growing pause (busyFirst,
// doubling up to busyMax) for up to busyBudget; then the last refusal is
// returned, its message saying how long ferry waited. The pauses stay
// short: the refused request costs Cloud Director little, and a pause
// longer than the other task keeps ferry waiting for nothing, inside a
// cutover's downtime. Only requests whose
// body can be sent again are retried; reads are never refused busy.
type busyRetry struct {
	base http.RoundTripper
}

// The pauses between attempts, and how long ferry keeps trying. The
// budget stays below the client's own request timeout (120 s, NewClient),
// which bounds the whole round trip, retries included.
var (
	busyFirst  = 100 * time.Millisecond
	busyMax    = time.Second
	busyBudget = 100 * time.Second
)

func (b *busyRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return b.base.RoundTrip(req)
	}
	start, pause := time.Now(), busyFirst
	for {
		resp, err := b.base.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			return resp, err
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr != nil || !isBusy(body) {
			return resp, nil
		}
		waited := time.Since(start)
		if waited+pause > busyBudget {
			return gaveUp(resp, body, waited), nil
		}
		select {
		case <-time.After(pause):
		case <-req.Context().Done():
			return gaveUp(resp, body, time.Since(start)), nil
		}
		pause = min(2*pause, busyMax)
		next := req.Clone(req.Context())
		if req.GetBody != nil {
			if next.Body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		req = next
	}
}

// isBusy says whether an error body (XML or OpenAPI JSON) is Cloud
// Director's BUSY_ENTITY.
func isBusy(body []byte) bool {
	var x struct {
		Minor string `xml:"minorErrorCode,attr" json:"minorErrorCode"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		_ = json.Unmarshal(body, &x)
	} else {
		_ = xml.Unmarshal(body, &x)
	}
	return x.Minor == "BUSY_ENTITY"
}

var (
	xmlMessage  = regexp.MustCompile(`message="`)
	jsonMessage = regexp.MustCompile(`"message"\s*:\s*"`)
)

// gaveUp is the last busy refusal, its message beginning with how long
// ferry tried.
func gaveUp(resp *http.Response, body []byte, waited time.Duration) *http.Response {
	note := fmt.Sprintf("still busy after ferry tried for %s: ", waited.Round(time.Millisecond))
	re := xmlMessage
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		re = jsonMessage
	}
	if loc := re.FindIndex(body); loc != nil {
		body = append(append(append([]byte{}, body[:loc[1]]...), note...), body[loc[1]:]...)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp
}
