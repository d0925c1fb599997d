package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// TestRunBoardNeverBlocksAndCoalesces: a session that watches and never
// reads does not hold up a run (thousands of events go by); when it reads,
// it gets each run's latest state once, with the byte progress of a phase
// kept as its latest and the oldest events beyond MaxRunEvents counted;
// a session that attaches after the runs started gets them all at once.
func TestRunBoardNeverBlocksAndCoalesces(t *testing.T) {
	b := NewRunBoard()
	stuck := b.Watch() // never read until the end
	defer stuck.Close()

	plan := b.Start(StepRun{Step: "rights", Phase: RunPlanning, By: "admin"})
	b.Planned(plan, steps.Plan{Items: []steps.Item{{Action: steps.ActionCreate, Kind: "rights bundle", Name: "ferry"}}}, nil)
	apply := b.Start(StepRun{Step: "rights", Phase: RunApplying, By: "admin"})
	b.Planned(plan, steps.Plan{}, errors.New("too late")) // superseded: ignored
	cut := b.Start(StepRun{Step: "cutover", Phase: RunApplying, By: "admin"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3 * MaxRunEvents {
			b.Event(cut, steps.Event{Kind: steps.EventProgress, Message: "WebApp2: phase", Fraction: -1})
			b.Event(cut, steps.Event{Kind: steps.EventProgress, Message: "bytes", Fraction: float64(i) / float64(3*MaxRunEvents)})
			b.Event(cut, steps.Event{Kind: steps.EventProgress, Message: "bytes", Fraction: 0.5})
		}
		b.Event(apply, steps.Event{Kind: steps.EventChange, Message: "create rights bundle ferry"})
		b.Finish(apply, steps.Outcome{}, "", nil)
		b.Finish(cut, steps.Outcome{}, "", nil)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the runs were held up by a session that does not read")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := stuck.Next(ctx)
	if err != nil || len(rs) != 2 {
		t.Fatalf("the stuck session's next read: %d runs (%v), want the latest of rights and cutover", len(rs), err)
	}
	rights, cutover := rs[0], rs[1]
	if rights.ID != apply || rights.Phase != RunFinished || len(rights.Events) != 1 || rights.Err != nil {
		t.Fatalf("rights: %+v", rights)
	}
	if cutover.Phase != RunFinished || len(cutover.Events) != MaxRunEvents || cutover.Dropped != 2*3*MaxRunEvents-MaxRunEvents {
		t.Fatalf("cutover: phase %s, %d events kept, %d dropped", cutover.Phase, len(cutover.Events), cutover.Dropped)
	}
	if last := cutover.Events[len(cutover.Events)-1]; last.Fraction != 0.5 || last.Time.IsZero() {
		t.Fatalf("the cutover's last event: %+v", last)
	}
	// Nothing changed since: the next read waits.
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if rs, err := stuck.Next(short); err == nil {
		t.Fatalf("a read with nothing new returned %d runs", len(rs))
	}

	late := b.Watch()
	defer late.Close()
	if rs, err := late.Next(ctx); err != nil || len(rs) != 2 || rs[0].Step != "rights" || rs[1].Step != "cutover" {
		t.Fatalf("a session attaching later: %d runs (%v)", len(rs), err)
	}
	late.Close()
	b.Start(StepRun{Step: "checks", Phase: RunPlanning}) // a closed watch is not told
}

// TestRunBoardSharesEngineRuns: the steps of a `ferry run` client's run
// are on the board, one run per step started, ended by its done or failed
// event (a step the runner passes over without starting it is not).
func TestRunBoardSharesEngineRuns(t *testing.T) {
	b := NewRunBoard()
	w := b.Watch()
	defer w.Close()
	var got []steps.Event
	emit, ended := b.share(func(ev steps.Event) { got = append(got, ev) }, "a ferry run client")
	emit(steps.Event{Kind: steps.EventSkipped, Step: "rights", Message: "done before"})
	emit(steps.Event{Kind: steps.EventStarted, Step: "trunk-network", Message: "Trunk network"})
	emit(steps.Event{Kind: steps.EventChange, Step: "trunk-network", Message: "+ create L2VPN tunnel"})
	emit(steps.Event{Kind: steps.EventDone, Step: "trunk-network", Message: "1 change"})
	emit(steps.Event{Kind: steps.EventStarted, Step: "appliance", Message: "L2 appliance"})
	emit(steps.Event{Kind: steps.EventFailed, Step: "appliance", Error: "conflict"})
	if len(got) != 6 {
		t.Fatalf("the client got %d events, want 6", len(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := w.Next(ctx)
	if err != nil || len(rs) != 2 {
		t.Fatalf("%d runs (%v), want trunk-network and appliance", len(rs), err)
	}
	if r := rs[0]; r.Step != "trunk-network" || r.Phase != RunFinished || r.Err != nil || len(r.Events) != 1 || r.By != "a ferry run client" {
		t.Fatalf("trunk-network: %+v", r)
	}
	if r := rs[1]; r.Step != "appliance" || r.Phase != RunFinished || r.Err == nil || r.Err.Error() != "conflict" {
		t.Fatalf("appliance: %+v", r)
	}

	// A step that ends waiting for the operator (a rollback as decided,
	// VMs not confirmed) has no done or failed event: the run's end
	// finishes it with the run's outcome (it stayed applying).
	emit(steps.Event{Kind: steps.EventStarted, Step: "cutover", Message: "Cutover"})
	emit(steps.Event{Kind: steps.EventProgress, Step: "cutover", Message: "WebApp2: cutover rolled back as decided (--rollback)", Fraction: -1})
	ended(steps.Outcome{StoppedBefore: "cutover", RolledBack: true}, nil)
	for {
		rs, err = w.Next(ctx)
		if err != nil {
			t.Fatalf("the cutover's run never finished: %v", err)
		}
		if r := rs[len(rs)-1]; r.Step == "cutover" && r.Phase == RunFinished {
			if !r.Outcome.RolledBack || r.Outcome.StoppedBefore != "cutover" || r.Err != nil {
				t.Fatalf("cutover: %+v; want finished with the run's outcome", r)
			}
			break
		}
	}
}
