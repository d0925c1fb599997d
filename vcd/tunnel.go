package vcd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// TunnelSpec is the L2 VPN server session on the tenant's edge gateway.
type TunnelSpec struct {
	Name             string
	LocalEndpointIP  string // empty: chosen from the edge's allocated uplink addresses
	RemoteEndpointIP string // the on-prem client's public address
	PreSharedKey     string // empty: generated
	Networks         []*Network
	Enabled          bool
}

// generatePSK returns a random pre-shared key.
func generatePSK() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ChooseLocalEndpointIP picks the tunnel's local endpoint: the first address
// allocated to the edge gateway on its uplinks that nothing else uses, else
// the uplink's primary address.
func ChooseLocalEndpointIP(egwH *EdgeGateway) (string, error) {
	egw := egwH.egw
	used := map[string]bool{}
	uses, err := egw.GetUsedIpAddresses(nil)
	if err != nil {
		return "", fmt.Errorf("used addresses of edge %s: %w", egw.EdgeGateway.Name, err)
	}
	for _, u := range uses {
		used[u.IPAddress] = true
	}
	var primary string
	for _, up := range egw.EdgeGateway.EdgeGatewayUplinks {
		for _, sn := range up.Subnets.Values {
			if primary == "" && sn.PrimaryIP != "" {
				primary = sn.PrimaryIP
			}
			if sn.IPRanges == nil {
				continue
			}
			for _, r := range sn.IPRanges.Values {
				start, err1 := netip.ParseAddr(r.StartAddress)
				end, err2 := netip.ParseAddr(r.EndAddress)
				if err1 != nil || err2 != nil {
					continue
				}
				for a := start; a.Compare(end) <= 0; a = a.Next() {
					if !used[a.String()] && a.String() != sn.PrimaryIP {
						return a.String(), nil
					}
				}
			}
		}
	}
	if primary != "" {
		return primary, nil
	}
	return "", fmt.Errorf("edge %s has no allocated uplink address for the L2 VPN endpoint; allocate one to the edge gateway", egw.EdgeGateway.Name)
}

// MaskedKey is what Cloud Director 10.5.1 and later return in place of an
// L2 VPN tunnel's pre-shared key, on create, GET and update.
const MaskedKey = "******"

// FindTunnel returns the tunnel of this name on egw, or nil. A login
// without the right to view L2 VPN gets an error wrapping ErrForbidden.
// The tunnel is read by id after the name lookup: the list of tunnels
// leaves out the peer code. Its PreSharedKey is what Cloud Director
// shows (MaskedKey on 10.5.1 and later), never to be sent back.
func FindTunnel(egwH *EdgeGateway, name string) (*Tunnel, error) {
	egw := egwH.egw
	t, err := egw.GetL2VpnTunnelByName(name)
	if err == nil {
		t, err = egw.GetL2VpnTunnelById(t.NsxtL2VpnTunnel.ID)
	}
	switch {
	case err == nil:
		return wrapTunnel(egwH, t), nil
	case govcd.ContainsNotFound(err):
		return nil, nil
	case strings.Contains(err.Error(), "ACCESS_TO_RESOURCE_IS_FORBIDDEN"):
		return nil, fmt.Errorf("look up L2 VPN tunnel %q: %w: %w", name, ErrForbidden, err)
	}
	return nil, fmt.Errorf("look up L2 VPN tunnel %q: %w", name, err)
}

// stretchedNetworks lists the networks a tunnel stretches, with tunnel ids
// assigned in order from 1 when the server has not assigned them.
func stretchedNetworks(nets []*Network) []types.EdgeL2VpnStretchedNetwork {
	var out []types.EdgeL2VpnStretchedNetwork
	for i, n := range nets {
		out = append(out, types.EdgeL2VpnStretchedNetwork{
			NetworkRef: types.OpenApiReference{ID: n.ID, Name: n.Name},
			TunnelID:   i + 1,
		})
	}
	return out
}

// TunnelDrift lists how an existing tunnel differs from spec (empty: none).
func TunnelDrift(tH *Tunnel, spec TunnelSpec) []string {
	t := tH.t
	var d []string
	have := map[string]bool{}
	for _, s := range t.NsxtL2VpnTunnel.StretchedNetworks {
		have[s.NetworkRef.ID] = true
	}
	for _, n := range spec.Networks {
		if !have[n.ID] {
			d = append(d, fmt.Sprintf("network %s is not stretched", n.Name))
		}
	}
	if !t.NsxtL2VpnTunnel.Enabled && spec.Enabled {
		d = append(d, "tunnel is disabled")
	}
	if t.NsxtL2VpnTunnel.SessionMode != "SERVER" {
		d = append(d, "session mode is "+t.NsxtL2VpnTunnel.SessionMode+", not SERVER")
	}
	return d
}

// CreateServerTunnel creates the L2 VPN server session and returns it with
// its peer code.
func CreateServerTunnel(egwH *EdgeGateway, spec TunnelSpec) (*Tunnel, error) {
	egw := egwH.egw
	if spec.PreSharedKey == "" {
		spec.PreSharedKey = generatePSK()
	}
	if spec.LocalEndpointIP == "" {
		ip, err := ChooseLocalEndpointIP(egwH)
		if err != nil {
			return nil, err
		}
		spec.LocalEndpointIP = ip
	}
	if spec.RemoteEndpointIP == "" {
		return nil, fmt.Errorf("L2 VPN tunnel %q: the remote (on-prem client) endpoint IP is required", spec.Name)
	}
	// egw.CreateL2VpnTunnel would follow the task with 3 s polls: the same
	// POST, followed with ferry's. Cloud Director names the new tunnel in
	// the task's Details.
	client := egwH.client
	u, err := client.OpenApiBuildEndpoint(fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnel, egw.EdgeGateway.ID))
	if err != nil {
		return nil, err
	}
	task, err := client.OpenApiPostItemAsync(client.APIVersion, u, nil, &types.NsxtL2VpnTunnel{
		Name:                    spec.Name,
		Description:             "L2 VPN server for ferry warm migration",
		SessionMode:             "SERVER",
		Enabled:                 true,
		LocalEndpointIp:         spec.LocalEndpointIP,
		RemoteEndpointIp:        spec.RemoteEndpointIP,
		ConnectorInitiationMode: "INITIATOR",
		PreSharedKey:            spec.PreSharedKey,
		StretchedNetworks:       stretchedNetworks(spec.Networks),
	})
	if err == nil {
		err = followTask(&task, taskPollGrace) // task.Task: as it ended
	}
	if err != nil {
		return nil, fmt.Errorf("create L2 VPN tunnel %q on edge %s: %w", spec.Name, egw.EdgeGateway.Name, err)
	}
	t, err := egw.GetL2VpnTunnelById(task.Task.Details)
	if err != nil {
		return nil, fmt.Errorf("read L2 VPN tunnel %q on edge %s after creating it: %w", spec.Name, egw.EdgeGateway.Name, err)
	}
	return wrapTunnel(egwH, t), nil
}

// ErrKeyUnknown: a tunnel update needs the tunnel's pre-shared key, which
// Cloud Director does not return.
var ErrKeyUnknown = errors.New("the pre-shared key is required to update an L2 VPN tunnel")

// UpdateServerTunnel stretches spec's networks and enables the tunnel. The
// update (a PUT of the whole tunnel) carries spec.PreSharedKey, which must
// be the tunnel's current key: what t says of the key is Cloud Director's
// mask, and sending it back would set the key to it, cutting the on-prem
// client off. The peer code, which carries the key, is not sent either.
func UpdateServerTunnel(tH *Tunnel, spec TunnelSpec) (*Tunnel, error) {
	t := tH.t
	cfg := *t.NsxtL2VpnTunnel
	switch spec.PreSharedKey {
	case "":
		return nil, fmt.Errorf("update L2 VPN tunnel %q: %w: Cloud Director does not return it", cfg.Name, ErrKeyUnknown)
	case MaskedKey:
		return nil, fmt.Errorf("update L2 VPN tunnel %q: %w: %q is Cloud Director's mask, not the key", cfg.Name, ErrKeyUnknown, MaskedKey)
	}
	cfg.PreSharedKey, cfg.PeerCode = spec.PreSharedKey, ""
	cfg.StretchedNetworks = slices.Clone(cfg.StretchedNetworks)
	have := map[string]bool{}
	next := 1
	for _, s := range cfg.StretchedNetworks {
		have[s.NetworkRef.ID] = true
		if s.TunnelID >= next {
			next = s.TunnelID + 1
		}
	}
	for _, n := range spec.Networks {
		if !have[n.ID] {
			cfg.StretchedNetworks = append(cfg.StretchedNetworks, types.EdgeL2VpnStretchedNetwork{
				NetworkRef: types.OpenApiReference{ID: n.ID, Name: n.Name},
				TunnelID:   next,
			})
			next++
		}
	}
	cfg.Enabled = true
	// t.Update would follow the task with 3 s polls: the same PUT (of the
	// version read), followed with ferry's, then the tunnel read again.
	edge := tH.edge
	u, err := edge.client.OpenApiBuildEndpoint(fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnel, edge.ID), cfg.ID)
	if err != nil {
		return nil, err
	}
	if err := wait(edge.client.OpenApiPutItemAsync(edge.client.APIVersion, u, nil, &cfg, nil)); err != nil {
		return nil, fmt.Errorf("update L2 VPN tunnel %q: %w", cfg.Name, err)
	}
	out, err := edge.egw.GetL2VpnTunnelById(cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("read L2 VPN tunnel %q after updating it: %w", cfg.Name, err)
	}
	return wrapTunnel(edge, out), nil
}

// TunnelStatus is the runtime status of an L2 VPN tunnel.
type TunnelStatus struct {
	Up     bool
	Status string // UP, DOWN, ...
	Reason string
}

// TunnelStatus reads a tunnel's runtime status. go-vcloud-director v2.26.1's
// tunnel.Status() is broken (its endpoint is missing from the version
// table), so this calls the endpoint directly.
func (c *Client) TunnelStatus(egwID, tunnelID string) (TunnelStatus, error) {
	path := fmt.Sprintf(types.OpenApiPathVersion1_0_0+types.OpenApiEndpointEdgeGatewayL2VpnTunnelStatus, egwID, tunnelID)
	u, err := c.Client.OpenApiBuildEndpoint(path)
	if err != nil {
		return TunnelStatus{}, err
	}
	var st types.EdgeL2VpnTunnelStatus
	if err := c.Client.OpenApiGetItem("37.0", u, nil, &st, nil); err != nil {
		return TunnelStatus{}, fmt.Errorf("status of L2 VPN tunnel %s: %w", tunnelID, err)
	}
	return TunnelStatus{Up: strings.EqualFold(st.RuntimeStatus, "UP"), Status: st.RuntimeStatus, Reason: st.FailureReason}, nil
}

// WaitTunnelUp polls the tunnel status until UP, ctx ends, or timeout; the
// error carries the last failure reason. Like the edge side's wait, a
// passing failure (a 5xx, a dropped connection) is retried until ctx ends;
// a refusal that will not pass (forbidden, unauthorized, the tunnel gone)
// ends the wait at once.
func (c *Client) WaitTunnelUp(ctx context.Context, egwID, tunnelID string, every time.Duration, onPoll func(TunnelStatus)) (TunnelStatus, error) {
	var last TunnelStatus
	var lastErr error
	for {
		st, err := c.TunnelStatus(egwID, tunnelID)
		switch {
		case err == nil:
			last, lastErr = st, nil
			if onPoll != nil {
				onPoll(st)
			}
			if st.Up {
				return st, nil
			}
		case permanent(err):
			return last, err
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("L2 VPN tunnel %s: the last status request failed: %w (%w)", tunnelID, lastErr, ctx.Err())
			}
			reason := last.Reason
			if reason == "" {
				reason = "no reason given"
			}
			return last, fmt.Errorf("L2 VPN tunnel %s still %s: %s (%w)", tunnelID, last.Status, reason, ctx.Err())
		case <-time.After(every):
		}
	}
}

// permanent says whether a Cloud Director error will not pass by waiting:
// the login lacks a right or was refused, or the object is gone.
func permanent(err error) bool {
	msg := err.Error()
	return govcd.ContainsNotFound(err) || strings.Contains(msg, "ACCESS_TO_RESOURCE_IS_FORBIDDEN") ||
		strings.Contains(msg, "UNAUTHORIZED") || strings.Contains(msg, "401 Unauthorized")
}

// PeerCode returns the server tunnel's peer code (read back from vCD).
func PeerCode(t *Tunnel) string { return t.t.NsxtL2VpnTunnel.PeerCode }

// TunnelIDs lists the tunnel ids the server stretches, sorted.
func TunnelIDs(tH *Tunnel) []int {
	t := tH.t
	var ids []int
	for _, s := range t.NsxtL2VpnTunnel.StretchedNetworks {
		ids = append(ids, s.TunnelID)
	}
	sort.Ints(ids)
	return ids
}
