package vcdsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is a fault injection rule, in the spirit of vcsim's method faults.
// A request matches when its method equals Method (empty: any) and its path
// contains Path (empty: any) or matches Pattern (a regular expression).
// A matching request is first delayed by Delay; then, if Status is set, it
// is answered with that status and a vCD error (Code, Message) in the format
// of the API it called (XML or OpenAPI JSON) instead of being served.
// The rule applies Times times (0: forever).
type Fault struct {
	Method  string        `json:"method,omitempty"`
	Path    string        `json:"path,omitempty"`
	Pattern string        `json:"pattern,omitempty"`
	Status  int           `json:"status,omitempty"`
	Code    string        `json:"code,omitempty"`
	Message string        `json:"message,omitempty"`
	Delay   time.Duration `json:"delay,omitempty"`
	Times   int           `json:"times,omitempty"`
}

// FaultRule is an installed Fault.
type FaultRule struct {
	ID      int `json:"id"`
	Fault   `json:"fault"`
	Matched int `json:"matched"` // requests matched so far

	re *regexp.Regexp
}

// Faults is the set of fault rules of a Server. It is safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	next  int
	rules []*FaultRule
}

// Add installs a rule and returns its id.
func (f *Faults) Add(fault Fault) (int, error) {
	r := &FaultRule{Fault: fault}
	if fault.Pattern != "" {
		re, err := regexp.Compile(fault.Pattern)
		if err != nil {
			return 0, fmt.Errorf("fault pattern %q: %w", fault.Pattern, err)
		}
		r.re = re
	}
	if fault.Status != 0 && (fault.Status < 400 || fault.Status > 599) {
		return 0, fmt.Errorf("fault status %d: want an HTTP error status (400-599)", fault.Status)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	r.ID = f.next
	f.rules = append(f.rules, r)
	return r.ID, nil
}

// Remove deletes the rule with id; it reports whether it existed.
func (f *Faults) Remove(id int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if r.ID == id {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return true
		}
	}
	return false
}

// Clear removes all rules.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// List returns a copy of the installed rules.
func (f *Faults) List() []FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FaultRule, 0, len(f.rules))
	for _, r := range f.rules {
		out = append(out, *r)
	}
	return out
}

func (f *Faults) match(r *http.Request) *FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, rule := range f.rules {
		if rule.Method != "" && !strings.EqualFold(rule.Method, r.Method) {
			continue
		}
		if rule.Path != "" && !strings.Contains(r.URL.Path, rule.Path) {
			continue
		}
		if rule.re != nil && !rule.re.MatchString(r.URL.Path) {
			continue
		}
		rule.Matched++
		hit := *rule
		if rule.Times > 0 && rule.Matched >= rule.Times {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
		}
		return &hit
	}
	return nil
}

// intercept applies the first matching rule; it reports whether the
// request has been answered.
func (f *Faults) intercept(w http.ResponseWriter, r *http.Request) bool {
	rule := f.match(r)
	if rule == nil {
		return false
	}
	if rule.Delay > 0 {
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	if rule.Status == 0 {
		return false
	}
	msg := rule.Message
	if msg == "" {
		msg = fmt.Sprintf("injected fault %d", rule.ID)
	}
	writeError(w, strings.HasPrefix(r.URL.Path, "/cloudapi/"), rule.Status, rule.Code, msg)
	return true
}

// faultRequest is the JSON body of POST /lab/faults; delay is in
// milliseconds so that it is easy to type in curl.
type faultRequest struct {
	Fault
	DelayMS int `json:"delayMs,omitempty"`
}

// handleLabFaults serves the lab-only fault endpoint (no authentication):
//
//	GET    /lab/faults        list rules
//	POST   /lab/faults        add a rule: {"method":"POST","path":"/l2vpn/tunnels","status":500,"times":1}
//	DELETE /lab/faults        remove all rules
//	DELETE /lab/faults/{id}   remove one rule
func (s *Server) handleLabFaults(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"values": s.Faults.List()})
	case r.Method == http.MethodPost:
		var req faultRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, true, http.StatusBadRequest, "BAD_REQUEST", "fault: "+err.Error())
			return
		}
		if req.DelayMS > 0 {
			req.Delay = time.Duration(req.DelayMS) * time.Millisecond
		}
		id, err := s.Faults.Add(req.Fault)
		if err != nil {
			writeError(w, true, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, map[string]int{"id": id})
	case r.Method == http.MethodDelete && r.PathValue("id") == "":
		s.Faults.Clear()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete:
		id, _ := strconv.Atoi(r.PathValue("id"))
		if !s.Faults.Remove(id) {
			writeError(w, true, http.StatusNotFound, "NOT_FOUND", "no fault rule "+r.PathValue("id"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, true, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method)
	}
}
