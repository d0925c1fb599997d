package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/tui"
)

// servedWizard is the wizard a ferry serve engine serves to the terminals
// that attach to it, over SSH or over its socket: one bubbletea model per
// terminal over the engine's shared env; one driver at a time (the first
// terminal that asks), the others watch.
type servedWizard struct {
	eng  *engine.Engine
	plan string
	log  *slog.Logger

	mu     sync.Mutex
	driver string // the driving terminal's user, "" when none
	// followers are the programs of the terminals that watch because
	// another drives (not those that asked to watch): told when the
	// driver goes or another comes (their header names who drives).
	followers map[*tea.Program]bool
	// feed keeps every VM's dashboard row from the engine's events, for
	// as long as the engine runs: a terminal that attaches starts from it
	// (replicationFeed).
	feed *tui.ReplicationFeed
}

// replicationFeed is the engine's dashboard rows, kept from the first
// attach on (seeded from the scheduler's status, then its events): the
// feed each terminal's dashboard follows, so that one attaching after a
// pass shows that pass's figures as one attached all along does.
func (w *servedWizard) replicationFeed() *tui.ReplicationFeed {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.feed == nil {
		env := w.eng.Env
		w.feed = tui.NewReplicationFeed(func(vm string) time.Duration {
			for _, v := range env.Plan().VMs {
				if v.Name == vm {
					return v.RPO.Duration()
				}
			}
			return 0
		})
		w.eng.Subscribe(w.feed.Handle) // for the engine's life
		w.feed.Seed(w.eng.Sched.Status())
	}
	return w.feed
}

// noDriver is why a terminal watches once the driver that made it watch
// went away: its role is kept until it attaches again.
const noDriver = "no one drives now: attach again to drive"

// tellFollowers tells the watching terminals that the driver changed.
// Called with w.mu held; Send does not wait for them.
func (w *servedWizard) tellFollowers(msg tui.DriverChanged) {
	for p := range w.followers {
		go p.Send(msg)
	}
}

// attachee is a terminal attaching to the wizard.
type attachee struct {
	who         string // its user as the others see it
	fingerprint string // an SSH session's key ("" for a local terminal)
	remote      string // where it is: an address, or a local process
	via         string // "ssh" or "local"
	viewer      string // why it only watches ("": it asks to drive)
}

// attach returns the wizard of a terminal: it drives unless it asked to
// watch or another terminal drives. The program writes and reads through
// opts; cancel (or the end of ctx) detaches the terminal: nothing of the
// engine stops.
func (w *servedWizard) attach(ctx context.Context, a attachee, opts ...tea.ProgramOption) (*tea.Program, context.CancelFunc) {
	role, why := roleDriver, a.viewer
	if why != "" {
		role = roleViewer
	} else {
		w.mu.Lock()
		if w.driver != "" {
			role, why = roleViewer, w.driver+" drives"
		} else {
			w.driver = a.who
			w.tellFollowers(tui.DriverChanged{Viewer: a.who + " drives"})
		}
		w.mu.Unlock()
	}
	w.log.Info("wizard: attached", "user", a.who, "via", a.via, "fingerprint", a.fingerprint, "role", role, "remote", a.remote)
	detach := w.eng.Attach(engine.Attachment{User: a.who, Fingerprint: a.fingerprint, Role: role, Remote: a.remote, Via: a.via})
	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(ctx, func() {
		detach()
		if role == roleDriver {
			w.mu.Lock()
			w.driver = ""
			w.tellFollowers(tui.DriverChanged{Viewer: noDriver, Left: a.who})
			w.mu.Unlock()
		}
		w.log.Info("wizard: detached", "user", a.who, "via", a.via, "fingerprint", a.fingerprint, "role", role)
	})

	env := w.eng.Env
	// The rows a terminal attached all along has, then the events.
	feed, unfollow := w.replicationFeed().Follow()
	context.AfterFunc(ctx, unfollow)
	// Jobs the engine could not start: their rows say why, as the
	// foreground wizard's do.
	feed.NotStarted(env.WarmNotStarted())
	feeds := tui.Feeds{Replication: feed.Updates(),
		Pause:  func(_ context.Context, vm string) error { return w.eng.Sched.PauseBy(vm, a.who+" ("+a.via+")") },
		Resume: func(_ context.Context, vm string) error { return w.eng.Sched.Resume(vm) },
		Verify: func(_ context.Context, vm string) error { return env.VerifyNow(vm) },
	}
	feeds.Probes = tui.ProbeWatchFeed(ctx, w.eng.Probes.Subscribe(ctx, 64))
	feeds.ProbesErr = w.eng.Probes.Err()
	session := &tui.Session{Who: a.who, RunCtx: w.eng.Context(), Emit: w.eng.StepEmit, Runs: runBoard{w.eng.Runs},
		Exclusive: func(who string) (func(), error) { return w.eng.Exclusive(who + " (" + a.via + ")") },
		Busy:      w.eng.Busy,
		Others: func() []string {
			var o []string
			for _, at := range w.eng.Attached() {
				if at.Fingerprint == a.fingerprint && at.Remote == a.remote {
					continue
				}
				o = append(o, at.String())
			}
			return o
		}}
	if role == roleViewer {
		session.Viewer = why
	}
	deps := tui.Deps{Env: env, Itinerary: w.eng.Itinerary, Feeds: feeds, Session: session, Recovered: w.eng.Recovered(),
		SavePlan: func(pf *steps.PlanFile) error { return pf.Save(w.plan) }}
	model := tui.New(ctx, deps)
	// The engine's signals are the engine's (its ctx ends the sessions),
	// not each session's: bubbletea's handler would race that cancel and
	// hang the program's shutdown (see tui.Run).
	p := tea.NewProgram(model, append(opts, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithoutSignalHandler())...)
	if role == roleViewer && a.viewer == "" {
		w.mu.Lock()
		if w.followers == nil {
			w.followers = map[*tea.Program]bool{}
		}
		w.followers[p] = true
		if w.driver == "" { // it went while this one attached
			w.tellFollowers(tui.DriverChanged{Viewer: noDriver})
		}
		w.mu.Unlock()
		context.AfterFunc(ctx, func() {
			w.mu.Lock()
			delete(w.followers, p)
			w.mu.Unlock()
		})
	}
	return p, cancel
}

// serveTerminal serves the wizard to a local terminal attached over the
// engine's socket, until it detaches or the engine stops.
func (w *servedWizard) serveTerminal(ctx context.Context, t *engine.Terminal) error {
	a := attachee{who: t.User + " (local terminal)", remote: fmt.Sprintf("pid %d", t.PID), via: "local"}
	if t.View {
		a.viewer = "view mode"
	}
	// The terminal is in raw mode at the other end: lines end in \r\n, as
	// over SSH.
	out := ssh.NewPtyWriter(t.Out)
	p, cancel := w.attach(ctx, a, tea.WithInput(t.In), tea.WithOutput(out))
	defer cancel()
	go p.Send(tea.WindowSizeMsg{Width: t.Width, Height: t.Height})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ws := <-t.Resize:
				p.Send(tea.WindowSizeMsg{Width: ws.Width, Height: ws.Height})
			}
		}
	}()
	_, err := p.Run()
	p.Kill() // restores what the program set up, after a failure too
	if ctx.Err() != nil {
		return nil // the terminal went away, or the engine stops
	}
	return err
}

// runBoard is the engine's board of step runs as the wizard sees it
// (tui.RunBoard): the same records, field for field.
type runBoard struct{ b *engine.RunBoard }

func (r runBoard) Start(run tui.SharedRun) uint64             { return r.b.Start(engine.StepRun(run)) }
func (r runBoard) Planned(id uint64, p steps.Plan, err error) { r.b.Planned(id, p, err) }
func (r runBoard) Event(id uint64, ev steps.Event)            { r.b.Event(id, ev) }
func (r runBoard) Finish(id uint64, out steps.Outcome, report string, err error) {
	r.b.Finish(id, out, report, err)
}
func (r runBoard) FinishAt(id uint64, at time.Time, out steps.Outcome, report string, err error) {
	r.b.FinishAt(id, at, out, report, err)
}
func (r runBoard) Watch() tui.RunWatch { return runWatch{r.b.Watch()} }

type runWatch struct{ w *engine.RunWatch }

func (r runWatch) Next(ctx context.Context) ([]tui.SharedRun, error) {
	rs, err := r.w.Next(ctx)
	out := make([]tui.SharedRun, len(rs))
	for i, run := range rs {
		out[i] = tui.SharedRun(run)
	}
	return out, err
}
func (r runWatch) Close() { r.w.Close() }
