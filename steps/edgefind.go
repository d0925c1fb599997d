package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/nsx"
)

// findEdge finds the on-prem edge's API. A URL in the configuration
// (FERRY_EDGE_URL, edge.url) wins; otherwise the edge is the appliance step
// 3 deployed, at the management address it was given (the OVF property
// ApplianceOVFMap maps to appliance.ip, read back from the VM) on
// extension.edge_port. An appliance that does not answer yet (booting) is
// not an error here: w.edge stays nil and w.edgeDown says why. One that
// has been powered on for longer than extension.timeout and refuses the
// connection is: nothing listens on that port, and waiting for a boot
// that is over would only put off saying so (refusedError).
func (w *extWorld) findEdge(ctx context.Context, env *Env) error {
	if env.Config != nil && env.Config.Edge.URL != "" {
		w.edgeURL, w.edgeFrom, w.edgeConfigured = env.Config.Edge.URL, "the configured edge URL", true
		c, err := env.Edge(ctx)
		if err != nil {
			return err
		}
		w.edge = c
		return nil
	}
	a := w.pf.Appliance
	port := w.pf.Extension.EdgePort
	c, err := env.OnPrem(ctx)
	if err != nil {
		return err
	}
	dc, err := c.Datacenter(ctx, a.Datacenter)
	if err != nil {
		return fmt.Errorf("appliance.datacenter: %w", err)
	}
	vm, err := c.FindDeployedVM(ctx, dc, a.Name)
	if err != nil {
		return err
	}
	key := ovfMap(a).mgmtKey()
	if vm == nil {
		if !stepPending(ctx, env, "appliance") {
			return fmt.Errorf("the L2VPN client appliance VM %q does not exist: step 3 (appliance) deploys it, run it again (or set the edge's URL, FERRY_EDGE_URL)", a.Name)
		}
		w.edgeURL = "https://" + net.JoinHostPort(a.IP, port)
		w.edgeFrom = "appliance " + a.Name + "'s management address (deployed by step 3)"
		w.edgeDown = errors.New("the appliance is not deployed yet")
		return nil
	}
	ip := vm.Properties[key]
	if key == "" || ip == "" {
		return fmt.Errorf("appliance VM %q has no management address in OVF property %q: set the edge's URL (FERRY_EDGE_URL)", a.Name, key)
	}
	w.edgeURL = "https://" + net.JoinHostPort(ip, port)
	w.edgeFrom = fmt.Sprintf("appliance %s's management address (%s)", a.Name, key)
	if !vm.PoweredOn() {
		w.edgeDown = fmt.Errorf("appliance VM %q is %s: step 3 (appliance) powers it on", a.Name, vm.PowerState)
		return nil
	}
	edge, err := w.dialEdge(ctx, env)
	switch {
	case err == nil:
		w.edge, w.ownEdge = edge, true
	case errors.Is(err, nsx.ErrUnreachable):
		w.edgeDown = err
		if errors.Is(err, syscall.ECONNREFUSED) && vm.Up > w.timeout {
			return w.refusedError(err, vm.Up)
		}
	default:
		return err
	}
	return nil
}

func (w *extWorld) dialEdge(ctx context.Context, env *Env) (*nsx.Client, error) {
	return env.DialEdge(ctx, w.edgeURL, 10*time.Second)
}

// waitEdge waits, within the plan's timeout, for the appliance's API to
// answer after boot. Credentials or a certificate that do not verify end
// the wait at once: they will not pass.
func (w *extWorld) waitEdge(ctx context.Context, env *Env, emit Emit) error {
	if w.edge != nil {
		return nil
	}
	waiting := fmt.Sprintf("waiting up to %s for the edge's API at %s (%s)", w.pf.Extension.Timeout, w.edgeURL, w.edgeFrom)
	emit(Progress(waiting, -1))
	every := min(max(w.timeout/40, 100*time.Millisecond), 2*time.Second)
	start := time.Now()
	deadline := start.Add(w.timeout)
	// How the wait goes is said every eighth of it (every 15s of the
	// default 2m): what the tries met so far, so that a port nothing
	// listens on shows while the wait runs, not only at its end (QA walk
	// hB: two minutes of a spinner, then "nothing listens on port 443").
	told, tell := start, max(w.timeout/8, time.Second)
	// refused stays true while every attempt was refused: nothing ever
	// listened at the address, as while the appliance boots, or because
	// the port is not the edge's.
	refused := true
	for {
		edge, err := w.dialEdge(ctx, env)
		if err == nil {
			w.edge, w.ownEdge, w.edgeDown = edge, true, nil
			return nil
		}
		if !errors.Is(err, nsx.ErrUnreachable) {
			return err
		}
		w.edgeDown = err
		refused = refused && errors.Is(err, syscall.ECONNREFUSED)
		if now := time.Now(); now.Sub(told) >= tell && now.Before(deadline) {
			told = now
			so := fmt.Sprintf("%s: %s so far, ", waiting, now.Sub(start).Round(time.Second))
			if refused {
				emit(Progress(so+"every connection refused (nothing listens on port "+w.edgePort()+" yet: the appliance still booting, or extension.edge_port is not its API's port)", -1))
			} else {
				emit(Progress(so+"the last try: "+err.Error(), -1))
			}
		}
		if time.Now().After(deadline) {
			if refused {
				return w.refusedError(err, 0)
			}
			return fmt.Errorf("the edge's API at %s (%s) did not answer within %s (extension.timeout): %w", w.edgeURL, w.edgeFrom, w.pf.Extension.Timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// refusedError is the error when the edge's address refused every
// connection until extension.timeout (waitEdge), or refuses it while the
// appliance has been powered on for up, longer than that (findEdge): it
// leads to the port first (a wrong port refuses for ever), then to the
// boot (an appliance that boots refuses until its API starts).
func (w *extWorld) refusedError(err error, up time.Duration) error {
	host, port := w.edgeURL, w.edgePort()
	if u, perr := url.Parse(w.edgeURL); perr == nil && u.Port() != "" {
		host = u.Hostname()
	}
	const check = "Check the port: extension.edge_port sets it (step 4's Edge API port; default 443, where a real NSX autonomous edge answers). "
	if up > 0 {
		err = fmt.Errorf("nothing listens on port %s at %s: the edge's API at %s (%s) refuses the connection, and the appliance has been powered on for %s, longer than extension.timeout (%s) gives its boot. "+
			check+"If the port is right, its guest OS restarted since it was powered on (run the step again once it answers) or it has no API (deployed without is_autonomous_edge=True): %w",
			port, host, w.edgeURL, w.edgeFrom, up.Round(time.Second), w.pf.Extension.Timeout, err)
	} else {
		err = fmt.Errorf("nothing listens on port %s at %s: the edge's API at %s (%s) refused every connection for %s (extension.timeout). "+
			check+"If the port is right, the appliance is still booting (raise extension.timeout) or has no API (deployed without is_autonomous_edge=True): %w",
			port, host, w.edgeURL, w.edgeFrom, w.pf.Extension.Timeout, err)
	}
	if w.edgeConfigured {
		return err
	}
	// The answer it leads to first: the wizard's esc opens step 4's form
	// on Edge API port (QA: it opened on Organization).
	return &FieldError{Key: "extension.edge_port", Err: err}
}

// edgePort is the port of the edge's API URL ("?" when it names none).
func (w *extWorld) edgePort() string {
	if u, err := url.Parse(w.edgeURL); err == nil && u.Port() != "" {
		return u.Port()
	}
	return "?"
}

func (w *extWorld) modeText() string {
	if w.mode == "" {
		return fmt.Sprintf("the L2VPN service of edge %s is not configured", w.edgeURL)
	}
	return fmt.Sprintf("the L2VPN service of edge %s is in %s mode", w.edgeURL, w.mode)
}

// stretchedVLAN is the VLAN id of the stretched port group (0: untagged),
// which the edge port must carry.
func stretchedVLAN(ctx context.Context, env *Env, pf *PlanFile) (int, error) {
	c, err := env.OnPrem(ctx)
	if err != nil {
		return 0, err
	}
	dc, err := c.Datacenter(ctx, pf.Appliance.Datacenter)
	if err != nil {
		return 0, fmt.Errorf("appliance.datacenter: %w", err)
	}
	pg, err := c.Portgroup(ctx, dc, pf.Appliance.StretchedPortgroup)
	if err != nil {
		return 0, fmt.Errorf("appliance.stretched_portgroup: %w", err)
	}
	if pg.Trunk != "" {
		return 0, fmt.Errorf("appliance.stretched_portgroup: %q is a VLAN trunk (%s), not the port group of a VM network", pg.Name, pg.Trunk)
	}
	return int(pg.VLAN), nil
}
