package probe

import (
	"context"
	"errors"
	"net"
	"sync"
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

// script is a prober that answers from a list: nil succeeds, errTimeout
// waits for the deadline, anything else is a refusal.
type script struct {
	mu  sync.Mutex
	out []error
}

var errTimeout = errors.New("no answer")

func (s *script) String() string { return "script" }
func (s *script) Probe(ctx context.Context) (time.Duration, error) {
	s.mu.Lock()
	var err error
	if len(s.out) > 0 {
		err, s.out = s.out[0], s.out[1:]
	}
	s.mu.Unlock()
	if err == errTimeout {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return time.Millisecond, err
}

// TestOneLateAnswerIsNotAnOutage: a single probe that times out between
// answers is lost, not downtime; two in a row are an outage that starts at
// the first; a refusal is an outage at once.
func TestOneLateAnswerIsNotAnOutage(t *testing.T) {
	refused := errors.New("connection refused")
	for name, c := range map[string]struct {
		seq     []error
		outages int
		lost    int
		startAt int // index of the sample the outage starts at
	}{
		"one timeout":          {[]error{nil, errTimeout, nil}, 0, 1, -1},
		"two timeouts":         {[]error{nil, errTimeout, errTimeout, nil}, 1, 2, 1},
		"one refusal":          {[]error{nil, refused, nil}, 1, 1, 1},
		"timeout then refusal": {[]error{nil, errTimeout, refused, refused, nil}, 1, 3, 1},
	} {
		t.Run(name, func(t *testing.T) {
			p := &script{out: c.seq}
			m := NewMonitor(time.Millisecond, Target{Name: "t", Prober: p})
			for range c.seq {
				m.Round(context.Background(), 20*time.Millisecond)
			}
			st := m.Stats()[0]
			if len(st.Outages) != c.outages || st.Lost != c.lost {
				t.Fatalf("outages %+v, lost %d; want %d outages, %d lost", st.Outages, st.Lost, c.outages, c.lost)
			}
			if c.outages == 1 {
				samples := m.Samples("t")
				if o := st.Outages[0]; !o.Start.Equal(samples[c.startAt].At) || o.End.IsZero() {
					t.Errorf("outage %+v, want it to start at sample %d (%v) and end", o, c.startAt, samples[c.startAt].At)
				}
			}
		})
	}
}

// TestAnsweringSince: the first answer of a target's current run of
// answers, counted from probes sent after since; none while it does not
// answer.
func TestAnsweringSince(t *testing.T) {
	refused := errors.New("connection refused")
	p := &script{out: []error{nil, refused, nil, nil, refused, nil}}
	m := NewMonitor(time.Hour, Target{Name: "t", Prober: p})
	round := func() { m.Round(context.Background(), time.Second) }
	round()
	round() // refused
	since := m.Samples("t")[1].At
	if _, ok := m.AnsweringSince("t", since); ok {
		t.Fatal("answering while its last probe was refused")
	}
	round()
	round()
	s := m.Samples("t")
	if at, ok := m.AnsweringSince("t", since); !ok || !at.Equal(s[2].At.Add(s[2].Latency)) {
		t.Fatalf("answering since %v %v, want the arrival of the first answer after the refusal (%v)", at, ok, s[2].At.Add(s[2].Latency))
	}
	// Probes sent before since do not count.
	if at, ok := m.AnsweringSince("t", s[2].At); !ok || !at.Equal(s[3].At.Add(s[3].Latency)) {
		t.Fatalf("answering since %v %v, want the first answer to a probe sent after since", at, ok)
	}
	if _, ok := m.AnsweringSince("t", s[3].At); ok {
		t.Fatal("answering, with no probe sent after since")
	}
	if _, ok := m.AnsweringSince("nobody", since); ok {
		t.Fatal("an unknown target answers")
	}
	round() // refused again: a new outage
	round()
	s = m.Samples("t")
	if at, ok := m.AnsweringSince("t", since); !ok || !at.Equal(s[5].At.Add(s[5].Latency)) {
		t.Fatalf("answering since %v %v, want since the answer after the second refusal", at, ok)
	}
}

// TestHurry: a hurried target is probed again at once and then every
// FastInterval, not every Interval (an hour here); the others keep their
// interval; Unsubscribe closes the event channel.
func TestHurry(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}
	prober := func(name string) Prober {
		return Func{Name: name, F: func(context.Context) error {
			mu.Lock()
			counts[name]++
			mu.Unlock()
			return nil
		}}
	}
	m := NewMonitor(time.Hour, Target{Name: "fast", Prober: prober("fast")}, Target{Name: "slow", Prober: prober("slow")})
	m.FastInterval = time.Millisecond
	events := m.Subscribe(1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	// The first sample of each target, at Run's start.
	for seen := map[string]bool{}; len(seen) < 2; {
		seen[(<-events).Target] = true
	}
	release := m.Hurry("fast", "unknown")
	for n := 0; n < 5; {
		var ev Event
		select {
		case ev = <-events:
		case <-time.After(time.Minute): // a hang guard, not a measurement
			t.Fatalf("hurried: %d samples of fast in a minute, want 5 (its interval is an hour)", n)
		}
		if ev.Target != "fast" {
			t.Fatalf("a sample of %s, which was not hurried, before its hour", ev.Target)
		}
		n++
	}
	release()
	release() // once is enough
	m.Unsubscribe(events)
	for range events { // drained, then closed
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if counts["slow"] != 1 || counts["fast"] < 6 {
		t.Fatalf("probes %v: want 1 of slow, at least 6 of fast", counts)
	}
}
