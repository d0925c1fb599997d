package nsx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Status is the runtime state of a session as the edge reports it.
type Status struct {
	SessionID string
	Name      string
	Up        bool
	// Reason says why the session is DOWN (the IKE fail reason of its
	// transport tunnel); empty when UP or when the edge gives none.
	Reason  string
	Tunnels []TunnelStatus
}

// TunnelStatus is the state of one transport tunnel.
type TunnelStatus struct {
	TunnelPortID  string
	SessionStatus string // UP | DOWN
	IKEState      string // UP | DOWN | NEGOTIATING ...
	FailReason    string
}

func (s Status) String() string {
	switch {
	case s.Up:
		return "UP"
	case s.Reason != "":
		return "DOWN: " + s.Reason
	default:
		return "DOWN (the edge gives no reason)"
	}
}

type statusJSON struct {
	SessionID        string `json:"session_id"`
	DisplayName      string `json:"display_name"`
	Status           string `json:"status"`
	TransportTunnels []struct {
		TunnelPortID string `json:"tunnel_port_id"`
		Status       struct {
			SessionStatus string `json:"session_status"`
			IKEStatus     struct {
				State      string `json:"ike_session_state"`
				FailReason string `json:"fail_reason"`
			} `json:"ike_status"`
		} `json:"status"`
	} `json:"transport_tunnels"`
}

// SessionStatus reads whether session id is UP, and if not, why.
func (c *Client) SessionStatus(ctx context.Context, id string) (Status, error) {
	var in statusJSON
	if err := c.do(ctx, http.MethodGet, sessionsPath+"/"+url.PathEscape(id)+"/status", nil, &in); err != nil {
		return Status{}, fmt.Errorf("status of L2VPN session %s: %w", id, err)
	}
	st := Status{SessionID: in.SessionID, Name: in.DisplayName, Up: strings.EqualFold(in.Status, "UP")}
	if st.SessionID == "" {
		st.SessionID = id
	}
	for _, t := range in.TransportTunnels {
		ts := TunnelStatus{
			TunnelPortID:  t.TunnelPortID,
			SessionStatus: t.Status.SessionStatus,
			IKEState:      t.Status.IKEStatus.State,
			FailReason:    t.Status.IKEStatus.FailReason,
		}
		st.Tunnels = append(st.Tunnels, ts)
		if !st.Up && st.Reason == "" {
			st.Reason = ts.FailReason
		}
	}
	return st, nil
}

// Statistics are the traffic counters of a session.
type Statistics struct {
	SessionID     string
	SessionStatus string // UP | DOWN
	BytesIn       uint64
	BytesOut      uint64
	PacketsIn     uint64
	PacketsOut    uint64
}

// Statistics reads the traffic counters of session id.
func (c *Client) Statistics(ctx context.Context, id string) (Statistics, error) {
	var in struct {
		SessionID      string `json:"session_id"`
		SessionStatus  string `json:"session_status"`
		TrafficCounter struct {
			BytesIn    uint64 `json:"bytes_in"`
			BytesOut   uint64 `json:"bytes_out"`
			PacketsIn  uint64 `json:"packets_in"`
			PacketsOut uint64 `json:"packets_out"`
		} `json:"traffic_counter"`
	}
	if err := c.do(ctx, http.MethodGet, sessionsPath+"/"+url.PathEscape(id)+"/statistics", nil, &in); err != nil {
		return Statistics{}, fmt.Errorf("statistics of L2VPN session %s: %w", id, err)
	}
	tc := in.TrafficCounter
	return Statistics{
		SessionID: id, SessionStatus: in.SessionStatus,
		BytesIn: tc.BytesIn, BytesOut: tc.BytesOut, PacketsIn: tc.PacketsIn, PacketsOut: tc.PacketsOut,
	}, nil
}

// WaitUp polls the session's status every interval (2s if zero) until it is
// UP or ctx ends, calling onPoll (if non-nil) with every status read.
// Passing failures (edge busy or briefly unreachable) are retried; wrong
// credentials, an untrusted certificate or a missing session end the wait.
// When ctx ends first, the error carries the last reason the edge gave.
func (c *Client) WaitUp(ctx context.Context, id string, interval time.Duration, onPoll func(Status)) (Status, error) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last Status
	var lastErr error
	for {
		st, err := c.SessionStatus(ctx, id)
		switch {
		case err == nil:
			last, lastErr = st, nil
			if onPoll != nil {
				onPoll(st)
			}
			if st.Up {
				return st, nil
			}
		case ctx.Err() != nil:
		case errors.Is(err, ErrAuth), errors.Is(err, ErrUntrusted), errors.Is(err, ErrNotFound):
			return last, err
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			name := id
			if last.Name != "" {
				name = fmt.Sprintf("%q", last.Name)
			}
			why := last.String()
			if lastErr != nil {
				why = "last poll failed: " + lastErr.Error()
			} else if last.SessionID == "" {
				why = "no status was read"
			}
			return last, fmt.Errorf("L2VPN session %s on edge %s not UP after %s: %s: %w",
				name, c.base, time.Since(start).Round(time.Millisecond), why, ctx.Err())
		case <-tick.C:
		}
	}
}
