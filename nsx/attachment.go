package nsx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Attachment is an on-prem network stretched over an L2VPN session: on the
// autonomous edge, a logical port (named after the network) with an L2
// extension {l2vpn_session_id, tunnel_id}. A port's resource_type is one of
// LogicalPortResourceType's values; an L2 port is a LogicalRouterPort
// (NSX Autonomous Edge REST API, schemas_LogicalPortResourceType,
// schemas_LogicalRouterPort, schemas_L2Extension).
type Attachment struct {
	ID          string // logical port id
	Network     string // the on-prem network / port group
	SessionID   string
	SessionName string
	TunnelID    int // must equal the server's stretched network tunnel id
	VLAN        int
	AdminState  string // UP | DOWN
	Revision    int64
}

type logicalPort struct {
	ID           string       `json:"id,omitempty"`
	ResourceType string       `json:"resource_type,omitempty"`
	DisplayName  string       `json:"display_name"`
	Description  string       `json:"description,omitempty"`
	VLAN         int          `json:"vlan"`
	AdminState   string       `json:"admin_state,omitempty"`
	L2Extension  *l2Extension `json:"l2_extension,omitempty"`
	Revision     int64        `json:"_revision"`
}

type l2Extension struct {
	SessionID   string `json:"l2vpn_session_id"`
	SessionName string `json:"l2vpn_session_name,omitempty"`
	TunnelID    int    `json:"tunnel_id"`
}

func (p logicalPort) attachment() Attachment {
	a := Attachment{ID: p.ID, Network: p.DisplayName, VLAN: p.VLAN, AdminState: p.AdminState, Revision: p.Revision}
	if p.L2Extension != nil {
		a.SessionID, a.SessionName, a.TunnelID = p.L2Extension.SessionID, p.L2Extension.SessionName, p.L2Extension.TunnelID
	}
	return a
}

const portsPath = "/ports"

// portResourceType is the resource_type of the ports ferry creates.
const portResourceType = "LogicalRouterPort"

// Attachments lists the networks stretched over session sessionID.
func (c *Client) Attachments(ctx context.Context, sessionID string) ([]Attachment, error) {
	ports, err := list[logicalPort](ctx, c, portsPath, url.Values{"l2_extension_id": {sessionID}})
	if err != nil {
		return nil, fmt.Errorf("list networks of L2VPN session %s: %w", sessionID, err)
	}
	var out []Attachment
	for _, p := range ports {
		// Filter here too, in case an edge ignores the query parameter.
		if p.L2Extension != nil && p.L2Extension.SessionID == sessionID {
			out = append(out, p.attachment())
		}
	}
	return out, nil
}

// AttachmentByTunnelID finds the network a session carries on tunnelID; the
// error wraps ErrNotFound when there is none.
func (c *Client) AttachmentByTunnelID(ctx context.Context, sessionID string, tunnelID int) (Attachment, error) {
	atts, err := c.Attachments(ctx, sessionID)
	if err != nil {
		return Attachment{}, err
	}
	for _, a := range atts {
		if a.TunnelID == tunnelID {
			return a, nil
		}
	}
	return Attachment{}, tag(ErrNotFound, "no network on tunnel id %d of L2VPN session %s on edge %s", tunnelID, sessionID, c.base)
}

// AttachNetwork stretches the on-prem network over the session with
// tunnelID, its port carrying vlan: the VLAN id of a VLAN-backed port group
// (its frames arrive tagged on the trunk sink), 0 for an untagged one. It is
// idempotent: when the network is already attached that way it returns the
// existing attachment; an attachment with another VLAN gets the right one.
// When the tunnel id or the network is already used differently, the error
// wraps ErrConflict and nothing changes.
func (c *Client) AttachNetwork(ctx context.Context, sessionID, network string, vlan, tunnelID int) (Attachment, error) {
	network = strings.TrimSpace(network)
	if network == "" {
		return Attachment{}, errors.New("network name is empty")
	}
	if vlan < 0 || vlan > 4094 {
		return Attachment{}, fmt.Errorf("VLAN %d of network %q is out of range 0-4094", vlan, network)
	}
	if tunnelID < 1 || tunnelID > 4093 {
		return Attachment{}, fmt.Errorf("tunnel id %d is out of range 1-4093 (use the tunnel id of the network stretched by the Cloud Director L2VPN tunnel)", tunnelID)
	}
	ports, err := list[logicalPort](ctx, c, portsPath, nil)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach network %q: %w", network, err)
	}
	var existing *logicalPort
	for i, p := range ports {
		ext := p.L2Extension
		switch {
		case p.DisplayName == network:
			existing = &ports[i]
		case ext != nil && ext.SessionID == sessionID && ext.TunnelID == tunnelID:
			return Attachment{}, tag(ErrConflict, "attach network %q: tunnel id %d of the session already carries network %q",
				network, tunnelID, p.DisplayName)
		}
	}
	ext := &l2Extension{SessionID: sessionID, TunnelID: tunnelID}
	if existing == nil {
		var out logicalPort
		in := logicalPort{ResourceType: portResourceType, DisplayName: network, VLAN: vlan, AdminState: "UP", L2Extension: ext}
		if err := c.do(ctx, http.MethodPost, portsPath, in, &out); err != nil {
			return Attachment{}, fmt.Errorf("attach network %q with tunnel id %d: %w", network, tunnelID, err)
		}
		return out.attachment(), nil
	}
	if cur := existing.L2Extension; cur != nil {
		if cur.SessionID == sessionID && cur.TunnelID == tunnelID {
			if existing.VLAN == vlan {
				return existing.attachment(), nil
			}
			in := *existing
			in.VLAN = vlan
			var out logicalPort
			if err := c.do(ctx, http.MethodPut, portsPath+"/"+url.PathEscape(existing.ID), in, &out); err != nil {
				return Attachment{}, fmt.Errorf("set VLAN %d on the port of network %q (was %d): %w", vlan, network, existing.VLAN, err)
			}
			return out.attachment(), nil
		}
		return Attachment{}, tag(ErrConflict, "attach network %q: it is already stretched over L2VPN session %s with tunnel id %d; detach it first",
			network, sessionOrName(cur), cur.TunnelID)
	}
	// The network has a port that is not stretched yet: extend it.
	in := *existing
	in.L2Extension = ext
	in.VLAN = vlan
	var out logicalPort
	if err := c.do(ctx, http.MethodPut, portsPath+"/"+url.PathEscape(existing.ID), in, &out); err != nil {
		return Attachment{}, fmt.Errorf("attach network %q with tunnel id %d: %w", network, tunnelID, err)
	}
	return out.attachment(), nil
}

func sessionOrName(e *l2Extension) string {
	if e.SessionName != "" {
		return fmt.Sprintf("%q", e.SessionName)
	}
	return e.SessionID
}

// DetachNetwork removes an attachment (its logical port). One that does not
// exist is not an error.
func (c *Client) DetachNetwork(ctx context.Context, attachmentID string) error {
	err := c.do(ctx, http.MethodDelete, portsPath+"/"+url.PathEscape(attachmentID), nil, nil)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("detach network (port %s): %w", attachmentID, err)
	}
	return nil
}
