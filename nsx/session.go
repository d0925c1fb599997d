package nsx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Session is an L2VPN client session on the edge.
type Session struct {
	ID               string            `json:"id,omitempty"`
	Name             string            `json:"display_name"`
	Description      string            `json:"description,omitempty"`
	Enabled          bool              `json:"enabled"`
	TransportTunnels []TransportTunnel `json:"transport_tunnels,omitempty"`
	Revision         int64             `json:"_revision"`
}

// TransportTunnel is the IPsec transport of a session. Edges may leave the
// peer code out of what they return.
type TransportTunnel struct {
	PeerCode     string `json:"peer_code,omitempty"`
	PeerAddress  string `json:"peer_address,omitempty"`
	LocalAddress string `json:"local_address,omitempty"`
}

const sessionsPath = "/vpn/l2vpn/sessions"

// ListSessions lists the edge's L2VPN sessions.
func (c *Client) ListSessions(ctx context.Context) ([]Session, error) {
	return list[Session](ctx, c, sessionsPath, nil)
}

// Session reads one session by id.
func (c *Client) Session(ctx context.Context, id string) (Session, error) {
	var s Session
	if err := c.do(ctx, http.MethodGet, sessionsPath+"/"+url.PathEscape(id), nil, &s); err != nil {
		return Session{}, fmt.Errorf("read L2VPN session %s: %w", id, err)
	}
	return s, nil
}

// SessionByName finds a session by its display name; the error wraps
// ErrNotFound when there is none.
func (c *Client) SessionByName(ctx context.Context, name string) (Session, error) {
	all, err := c.ListSessions(ctx)
	if err != nil {
		return Session{}, err
	}
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	return Session{}, tag(ErrNotFound, "no L2VPN session %q on edge %s", name, c.base)
}

// CreateSessionFromPeerCode creates an enabled client session from the
// server's peer code. peerAddr is the server's (Cloud Director edge
// gateway's) public address, localAddr the edge's own uplink address.
// Input is checked before anything is sent.
func (c *Client) CreateSessionFromPeerCode(ctx context.Context, name, peerCode, peerAddr, localAddr string) (Session, error) {
	if err := checkSessionInput(name, peerCode, peerAddr, localAddr); err != nil {
		return Session{}, err
	}
	in := Session{
		Name:    name,
		Enabled: true,
		TransportTunnels: []TransportTunnel{{
			PeerCode:     normalizePeerCode(peerCode),
			PeerAddress:  peerAddr,
			LocalAddress: localAddr,
		}},
	}
	var out Session
	if err := c.do(ctx, http.MethodPost, sessionsPath+"?action=create_with_peer_code", in, &out); err != nil {
		return Session{}, fmt.Errorf("create L2VPN session %q: %w", name, err)
	}
	return out, nil
}

// EnsureSession returns the session called name, creating it when it does
// not exist (created reports which). An existing session built from another
// peer code is an ErrConflict: it must be deleted, or another name chosen.
func (c *Client) EnsureSession(ctx context.Context, name, peerCode, peerAddr, localAddr string) (s Session, created bool, err error) {
	if err := checkSessionInput(name, peerCode, peerAddr, localAddr); err != nil {
		return Session{}, false, err
	}
	s, err = c.SessionByName(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		s, err = c.CreateSessionFromPeerCode(ctx, name, peerCode, peerAddr, localAddr)
		return s, err == nil, err
	case err != nil:
		return Session{}, false, err
	}
	for _, t := range s.TransportTunnels {
		if t.PeerCode != "" && !SamePeerCode(t.PeerCode, peerCode) {
			return Session{}, false, tag(ErrConflict, "L2VPN session %q on edge %s was created from a different peer code: delete it or choose another session name",
				name, c.base)
		}
	}
	return s, false, nil
}

func checkSessionInput(name, peerCode, peerAddr, localAddr string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("session name is empty")
	}
	if _, err := DecodePeerCode(peerCode); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(peerAddr); err != nil {
		return fmt.Errorf("peer address %q is not an IP address (want the public IP of the Cloud Director edge gateway's L2VPN endpoint)", peerAddr)
	}
	if _, err := netip.ParseAddr(localAddr); err != nil {
		return fmt.Errorf("local address %q is not an IP address (want the edge's uplink IP)", localAddr)
	}
	return nil
}

// SetSessionEnabled enables or disables a session (read, change, write back
// with the revision read; retried when someone else changed it meanwhile).
func (c *Client) SetSessionEnabled(ctx context.Context, id string, enabled bool) (Session, error) {
	verb := map[bool]string{true: "enable", false: "disable"}[enabled]
	var lastErr error
	for range 3 {
		s, err := c.Session(ctx, id)
		if err != nil {
			return Session{}, err
		}
		if s.Enabled == enabled {
			return s, nil
		}
		s.Enabled = enabled
		var out Session
		err = c.do(ctx, http.MethodPut, sessionsPath+"/"+url.PathEscape(id), s, &out)
		if err == nil {
			return out, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusPreconditionFailed {
			return Session{}, fmt.Errorf("%s L2VPN session %q: %w", verb, s.Name, err)
		}
		lastErr = err
	}
	return Session{}, fmt.Errorf("%s L2VPN session %s: %w", verb, id, lastErr)
}

// DeleteSession removes the networks stretched over the session, then the
// session. A session that does not exist is not an error.
func (c *Client) DeleteSession(ctx context.Context, id string) error {
	atts, err := c.Attachments(ctx, id)
	if err != nil {
		return fmt.Errorf("delete L2VPN session %s: %w", id, err)
	}
	for _, a := range atts {
		if err := c.DetachNetwork(ctx, a.ID); err != nil {
			return fmt.Errorf("delete L2VPN session %s: %w", id, err)
		}
	}
	err = c.do(ctx, http.MethodDelete, sessionsPath+"/"+url.PathEscape(id), nil, nil)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete L2VPN session %s: %w", id, err)
	}
	return nil
}
