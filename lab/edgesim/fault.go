package edgesim

import (
	"fmt"
	"net/http"
	"path"
	"time"
)

// Fault makes matching requests slow or fail, like vcsim's method delays and
// fault rules. Faults are checked before authentication, in the order they
// were added; the first live match applies.
type Fault struct {
	// Method to match ("GET", "POST", ...); empty matches any method.
	Method string
	// Path is a path.Match pattern for the URL path, e.g.
	// "/api/v1/vpn/l2vpn/sessions/*/status"; empty matches any path.
	Path string
	// Delay before answering (or before failing, with Status).
	Delay time.Duration
	// Status, when non-zero, is returned as an NSX error instead of serving
	// the request.
	Status int
	// Message is the error_message; a default names the fault.
	Message string
	// Times is how many requests the fault hits; 0 means every request.
	Times int
}

type faultRule struct {
	Fault
	left int // remaining hits when Times > 0
}

// Inject adds a fault rule.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{Fault: f, left: f.Times})
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// applyFault applies the first matching fault to the request; it reports
// whether it answered the request.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request) bool {
	f, ok := s.takeFault(r)
	if !ok {
		return false
	}
	if f.Delay > 0 {
		sleepCtx(r.Context(), f.Delay)
	}
	if f.Status == 0 {
		return false
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("injected fault: %s %s answers %d", r.Method, r.URL.Path, f.Status)
	}
	writeError(w, f.Status, codeInjected, msg)
	return true
}

func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, rule := range s.faults {
		if rule.Method != "" && rule.Method != r.Method {
			continue
		}
		if rule.Path != "" {
			if ok, _ := path.Match(rule.Path, r.URL.Path); !ok {
				continue
			}
		}
		if rule.Times > 0 {
			rule.left--
			if rule.left <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return rule.Fault, true
	}
	return Fault{}, false
}
