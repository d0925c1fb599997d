package probe

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func TestTCPOutageStartEndLength(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	m := NewMonitor(time.Second, Target{Name: "a -> b", Prober: TCP{Addr: addr, Timeout: 500 * time.Millisecond}})
	ctx := context.Background()
	events := m.Subscribe(16)

	m.Round(ctx, time.Second)
	ln.Close()
	m.Round(ctx, time.Second)
	m.Round(ctx, time.Second)
	ln = listen(t, addr)
	defer ln.Close()
	m.Round(ctx, time.Second)

	st := m.Stats()[0]
	if st.Sent != 4 || st.Lost != 2 {
		t.Fatalf("sent %d lost %d, want 4 and 2", st.Sent, st.Lost)
	}
	if len(st.Outages) != 1 {
		t.Fatalf("outages %+v, want one", st.Outages)
	}
	o := st.Outages[0]
	samples := m.Samples("a -> b")
	if !o.Start.Equal(samples[1].At) || !o.End.Equal(samples[3].At) || !o.LastOK.Equal(samples[0].At) {
		t.Errorf("outage %+v does not match samples %+v", o, samples)
	}
	if o.Length(time.Now()) != samples[3].At.Sub(samples[1].At) {
		t.Errorf("length %v", o.Length(time.Now()))
	}
	var outageEvents int
	for len(events) > 0 {
		if ev := <-events; ev.Outage != nil {
			outageEvents++
		}
	}
	if outageEvents != 2 {
		t.Errorf("%d outage events, want 2 (start and end)", outageEvents)
	}
}

func TestFuncProber(t *testing.T) {
	fail := errors.New("guest says no")
	m := NewMonitor(time.Second, Target{Name: "guest", Prober: Func{Name: "guest ping", F: func(context.Context) error { return fail }}})
	m.Round(context.Background(), time.Second)
	st := m.Stats()[0]
	if st.Last.OK || st.Last.Err != "guest says no" || st.Loss() != 1 {
		t.Errorf("stats %+v", st)
	}
	if o := m.Outages(); len(o) != 1 || !o[0].End.IsZero() {
		t.Errorf("open outage expected: %+v", o)
	}
}

func TestICMPLoopbackOrClearError(t *testing.T) {
	priv, err := CheckICMP()
	if err != nil {
		if !errors.Is(err, ErrICMPNotAllowed) {
			t.Fatalf("CheckICMP: %v", err)
		}
		t.Skipf("ICMP not allowed here: %v", err)
	}
	rtt, err := ICMP{Host: "127.0.0.1", Privileged: priv}.Probe(context.Background())
	if err != nil {
		t.Fatalf("ping 127.0.0.1 (privileged=%v): %v", priv, err)
	}
	if rtt <= 0 {
		t.Errorf("rtt %v", rtt)
	}
}
