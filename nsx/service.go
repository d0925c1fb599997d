package nsx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// The edge's L2VPN service runs as a server or as a client. The peer-code
// sessions and L2 extensions ferry uses are supported only in client mode
// (NSX autonomous edge REST API, developer.broadcom.com
// nsx-autonomous-edge-rest-api). The service resource is the NSX Manager API
// v1 L2VpnService, {id, mode: SERVER|CLIENT, _revision}, at
// /api/v1/vpn/l2vpn/services (POST to create, PUT /{id} to change;
// developer.broadcom.com nsx-t-data-center-rest-api method_CreateL2VpnService,
// method_UpdateL2VpnService), the same /api/v1/vpn/l2vpn tree as the sessions
// (that the autonomous edge's own API serves it is unverified:
// docs/real-world.md).

// Service is the edge's L2VPN service.
type Service struct {
	ID       string `json:"id,omitempty"`
	Mode     string `json:"mode"`
	Revision int64  `json:"_revision"`
}

// L2VPN service modes.
const (
	ModeClient = "CLIENT"
	ModeServer = "SERVER"
)

const servicesPath = "/vpn/l2vpn/services"

// L2VPNService reads the edge's L2VPN service; the error wraps ErrNotFound
// when the edge has none yet.
func (c *Client) L2VPNService(ctx context.Context) (Service, error) {
	all, err := list[Service](ctx, c, servicesPath, nil)
	if err != nil {
		return Service{}, err // names the edge and the cause
	}
	if len(all) == 0 {
		return Service{}, tag(ErrNotFound, "edge %s has no L2VPN service configured", c.base)
	}
	return all[0], nil
}

// EnsureClientMode makes sure the L2VPN service runs in client mode. With
// set false it only checks, and an edge that is not in client mode is an
// ErrConflict naming its mode. With set true it creates the service in
// client mode, or switches a server-mode service (the edge refuses while
// server sessions exist; its reason is in the error). changed says what it
// did ("" when nothing).
func (c *Client) EnsureClientMode(ctx context.Context, set bool) (changed string, err error) {
	sv, err := c.L2VPNService(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		if !set {
			return "", tag(ErrConflict, "edge %s has no L2VPN service; it must run the L2VPN client (set extension.set_client_mode to let ferry configure it)", c.base)
		}
		var out Service
		if err := c.do(ctx, http.MethodPost, servicesPath, Service{Mode: ModeClient}, &out); err != nil {
			return "", fmt.Errorf("create the L2VPN service in client mode on edge %s: %w", c.base, err)
		}
		return "created the L2VPN service in client mode", nil
	case err != nil:
		return "", err
	case sv.Mode == ModeClient:
		return "", nil
	case !set:
		return "", tag(ErrConflict, "the L2VPN service of edge %s is in %s mode; ferry needs CLIENT mode (set extension.set_client_mode to let ferry switch it, or switch it on the edge)", c.base, sv.Mode)
	}
	was := sv.Mode
	sv.Mode = ModeClient
	var out Service
	if err := c.do(ctx, http.MethodPut, servicesPath+"/"+url.PathEscape(sv.ID), sv, &out); err != nil {
		return "", fmt.Errorf("switch the L2VPN service of edge %s from %s to client mode: %w", c.base, was, err)
	}
	return "switched the L2VPN service from " + was + " to client mode", nil
}
