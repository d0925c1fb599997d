// Package probe checks connectivity between VMs across the stretched
// network before, during and after a cutover: ICMP echo, TCP connect, and
// ping from inside a guest through VMware Tools. A Monitor runs a set of
// probes on a schedule, keeps a timestamped history and reports outages
// with start, end and length.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// Prober checks one target once.
type Prober interface {
	// Probe returns the round-trip time, or an error when the target did not answer.
	Probe(ctx context.Context) (time.Duration, error)
	// String names the probe for people: "tcp 10.0.0.5:22".
	String() string
}

// TCP connects to Addr (host:port).
type TCP struct {
	Addr    string
	Timeout time.Duration // default 1s
}

// Probe implements Prober.
func (p TCP) Probe(ctx context.Context) (time.Duration, error) {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	d := net.Dialer{Timeout: timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	c.Close()
	return rtt, nil
}

func (p TCP) String() string { return "tcp " + p.Addr }

// ICMP sends one echo request to Host.
type ICMP struct {
	Host       string
	Privileged bool // raw socket (root / CAP_NET_RAW); otherwise unprivileged UDP ping
	Timeout    time.Duration
}

// ErrICMPNotAllowed says that this process may not send ICMP echo requests.
var ErrICMPNotAllowed = errors.New("ICMP echo is not allowed for this process")

// Probe implements Prober.
func (p ICMP) Probe(ctx context.Context) (time.Duration, error) {
	pinger, err := probing.NewPinger(p.Host)
	if err != nil {
		return 0, err
	}
	pinger.Count = 1
	pinger.Timeout = p.Timeout
	if pinger.Timeout == 0 {
		pinger.Timeout = time.Second
	}
	pinger.SetPrivileged(p.Privileged)
	if err := pinger.RunWithContext(ctx); err != nil {
		if isPermission(err) {
			return 0, icmpHelp(err)
		}
		return 0, err
	}
	st := pinger.Statistics()
	if st.PacketsRecv == 0 {
		return 0, fmt.Errorf("no echo reply from %s", p.Host)
	}
	return st.AvgRtt, nil
}

func (p ICMP) String() string { return "icmp " + p.Host }

// CheckICMP tells whether ICMP probes can run here, privileged or not, and
// returns the mode that works. The error says how to allow it.
func CheckICMP() (privileged bool, err error) {
	for _, priv := range []bool{false, true} {
		c, err := icmpListen(priv)
		if err == nil {
			c.Close()
			return priv, nil
		}
	}
	return false, icmpHelp(nil)
}

func icmpListen(privileged bool) (net.PacketConn, error) {
	network := "udp4"
	if privileged {
		network = "ip4:icmp"
	}
	return net.ListenPacket(network, "0.0.0.0")
}

func icmpHelp(cause error) error {
	msg := "%w: run as root, give the binary CAP_NET_RAW (setcap cap_net_raw+ep ferry), " +
		"or allow unprivileged ping (sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"); " +
		"TCP and guest probes work without it"
	if cause != nil {
		return fmt.Errorf(msg+": %v", ErrICMPNotAllowed, cause)
	}
	return fmt.Errorf(msg, ErrICMPNotAllowed)
}

func isPermission(err error) bool {
	s := err.Error()
	return strings.Contains(s, "permission denied") || strings.Contains(s, "operation not permitted")
}

// Func adapts a function (e.g. a guest-operations ping) to a Prober.
type Func struct {
	Name string
	F    func(ctx context.Context) error
}

// Probe implements Prober.
func (f Func) Probe(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if err := f.F(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (f Func) String() string { return f.Name }
