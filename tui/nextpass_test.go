package tui

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// loopbackJob is a replication job of vm over a 4 MiB disk file, to a
// receiver (the appliance's, writing a file for the hot-added replica
// disk) on a loopback port.
func loopbackJob(t *testing.T, vm string) *replication.Job {
	t.Helper()
	dir := t.TempDir()
	sc, err := replication.SelfSignedCert("receiver")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := replication.SelfSignedCert("sender")
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "disk.img")
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i*7 + i/4096)
	}
	if err := os.WriteFile(disk, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const uuid = "6000c290-0000-0000-0000-00000000ab02"
	names, err := replication.DeviceNames(uuid)
	if err != nil {
		t.Fatal(err)
	}
	byID := filepath.Join(dir, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(byID, names[0]), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(byID, names[0]), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rcv, err := replication.NewReceiver(replication.ReceiverConfig{
		StateDir:  filepath.Join(dir, "receiver"),
		Writer:    replication.ApplianceWriter{ByID: byID},
		TLS:       replication.PinnedServerTLS(sc, replication.Fingerprint(cc.Certificate[0])),
		Authorize: replication.PinnedNamespaces(map[string][]string{replication.Fingerprint(cc.Certificate[0]): {"Company/" + vm}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = rcv.Serve(ctx, ln) }()
	t.Cleanup(func() { stop(); <-served; rcv.Close() })
	st, err := replication.OpenState(filepath.Join(dir, "sender.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &replication.Job{VM: vm, Org: "Company", Kind: replication.KindAppliance, Replicas: map[string]string{"0": uuid},
		Source: replication.NewFileSource(disk), Addr: ln.Addr().String(),
		TLS: replication.PinnedClientTLS(cc, replication.Fingerprint(sc.Certificate[0])), State: st, Conns: 1}
}

// replicatedFeed replicates WebApp2 to a loopback receiver with a real
// scheduler (RPO rpo) feeding a ReplicationFeed until until says the job's
// status is far enough, then stops the scheduler (Run returns once every
// pass it started has ended: each event of the passes, and the due time
// after them, has reached the feed) and returns the feed, the status, and
// the last row the feed published.
func replicatedFeed(t *testing.T, rpo time.Duration, until func(replication.JobStatus) bool) (*ReplicationFeed, replication.JobStatus, ReplicationUpdate) {
	t.Helper()
	f := NewReplicationFeed(func(string) time.Duration { return rpo })
	s := replication.NewScheduler(1, f.Handle)
	if err := s.Add(loopbackJob(t, "WebApp2"), rpo); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s.Run(ctx) }()
	for {
		changed := s.Changed()
		if st := s.Status()[0]; st.Paused {
			t.Fatalf("job paused: %s", st.Reason)
		} else if until(st) && !st.Running {
			break
		}
		<-changed
	}
	stop()
	<-ran
	return f, s.Status()[0], drainUpdates(f)
}

// drainUpdates returns the last row f published since the last read.
func drainUpdates(f *ReplicationFeed) (last ReplicationUpdate) {
	for {
		select {
		case u := <-f.Updates():
			last = u
		default:
			return last
		}
	}
}

// TestDashboardNextPassIsTheSchedulersDueTime (the dashboard said "next in
// 10s" when the pass had started): the scheduler starts a pass a lead
// before last pass + RPO (twice the pass's duration and the longest wait
// for a free slot, at least RPO/10), and the dashboard's "next" is that due
// time, as the scheduler's events say it, not last pass + RPO. A job
// replicated by a real scheduler (its initial sync, then the full compare
// after it) through the feed the wizard uses, at 120x40 and 80x24.
func TestDashboardNextPassIsTheSchedulersDueTime(t *testing.T) {
	const rpo = 10 * time.Minute
	_, st, last := replicatedFeed(t, rpo, func(st replication.JobStatus) bool { return st.Passes >= 2 && st.LastCompare != nil })
	if !st.NextPass.Before(st.LastPass.Add(rpo)) {
		t.Fatalf("scheduler's next pass %s, last pass %s: no lead before last pass + RPO", st.NextPass, st.LastPass)
	}
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 5})
		h.clock = st.LastPass
		h.send(replicationMsg(last))
		want := "next " + until(h.clock, st.NextPass)
		if view := h.view(); !strings.Contains(view, want) {
			t.Errorf("%dx%d: last pass %s, scheduler's next pass %s (RPO %s): view lacks %q\n%s", size[0], size[1],
				st.LastPass.Format("15:04:05.000"), st.NextPass.Format("15:04:05.000"), rpo, want, view)
		}
	}
}

// TestDashboardNewPassDropsTheLastPassFigures (QA over SSH: a row read
// "snapshot #4 ... pass 100% done" and "incremental transfer ... pass 100%
// done" with the last pass's rate while the next pass began, before its
// first progress): once a pass starts, the row's bar and detail line are
// the new pass's, at 120x40 and 80x24. A job replicated by a real scheduler
// through the feed; then the first event of its next pass.
func TestDashboardNewPassDropsTheLastPassFigures(t *testing.T) {
	// After the initial sync and the full compare that follows it (no
	// pass starts after them for 9 minutes).
	f, _, done := replicatedFeed(t, 10*time.Minute, func(st replication.JobStatus) bool { return st.Passes >= 2 && st.LastCompare != nil })
	if done.Planned == 0 || done.Acked != done.Planned {
		t.Fatalf("the pass's row: planned %d, acked %d", done.Planned, done.Acked)
	}
	// The next pass begins as every pass does.
	f.Handle(replication.Event{VM: "WebApp2", Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	began := drainUpdates(f)
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 5})
		h.send(replicationMsg(done))
		if view := h.view(); !strings.Contains(view, "pass 100% done") {
			t.Fatalf("%dx%d: the pass done: view lacks %q\n%s", size[0], size[1], "pass 100% done", view)
		}
		h.send(replicationMsg(began))
		view := h.view()
		if !strings.Contains(view, "snapshot") {
			t.Fatalf("%dx%d: the next pass's row does not say it snapshots\n%s", size[0], size[1], view)
		}
		for _, stale := range []string{"pass 100% done", "planned " + steps.Bytes(done.Planned)} {
			if strings.Contains(view, stale) {
				t.Errorf("%dx%d: the next pass began, and its row shows the last one's %q\n%s", size[0], size[1], stale, view)
			}
		}
	}
}
