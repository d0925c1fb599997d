package tui

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
	"gopkg.in/yaml.v3"
)

// Options are what `ferry` and `ferry lab` pass to Run.
type Options struct {
	Config *config.Config // endpoints; Config.Lab shows the LAB badge
	// PlanPath holds the answers. It is read when it exists and written
	// after each screen's inputs are accepted, so `ferry run --plan PlanPath`
	// replays them headless. Empty: answers live in memory only.
	PlanPath string
	// StatePath is the steps.State file the wizard resumes from; default,
	// as `ferry run`: next to the plan, plan.yaml -> plan.state.json.
	StatePath string
	// Plan is the starting answers when PlanPath does not exist yet (the
	// lab's defaults); nil: an empty plan.
	Plan *steps.PlanFile
	// Itinerary defaults to steps.NewItinerary().
	Itinerary steps.Itinerary
	// LogFile receives every log line (log/slog and the standard logger,
	// which vcsim uses) while the wizard runs, so nothing writes to the
	// screen behind bubbletea's back; default: ferry.log next to the state.
	LogFile string
	// Adapters are the optional feeds and listers (Inventory, Choices,
	// Feeds, SavePlan, Now); Run fills in Config, Env and Itinerary.
	Adapters Deps
	// RunsLab is true when this process runs the lab (`ferry lab`): the
	// lab stops when the wizard ends, and quitting says so. A wizard
	// attached to `ferry lab serve` leaves it false.
	RunsLab bool
	// LabDir is the lab's temporary directory, deleted when ferry lab
	// ends; quitting says so and offers to keep it, and KeepLabDir is
	// called when the operator does (the caller then leaves it in place).
	LabDir     string
	KeepLabDir func()
	// Who is the operator, as records name them: a VM's replication paused
	// from the dashboard is "paused by request of Who", which ferry status
	// shows. Default: this process's user, "alice (wizard)".
	Who string
}

// CheckTerminal says, before anything starts, whether the wizard can run here.
func CheckTerminal() error {
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		return fmt.Errorf("%w on standard input and output; to run the same steps without one, use `ferry run --plan plan.yaml` (add --json for JSON lines)", ErrNoTerminal)
	}
	return nil
}

// ErrNoTerminal is returned by Run without a terminal.
var ErrNoTerminal = errors.New("the wizard needs a terminal")

// Run opens the wizard and returns when the operator quits (nil) or ctx is
// cancelled. It refuses to start without a terminal on stdin and stdout.
func Run(ctx context.Context, opts Options) error {
	if err := CheckTerminal(); err != nil {
		return err
	}
	if opts.StatePath == "" && opts.PlanPath != "" {
		opts.StatePath = strings.TrimSuffix(opts.PlanPath, filepath.Ext(opts.PlanPath)) + ".state.json"
	}
	if opts.LogFile == "" {
		if opts.StatePath == "" {
			return errors.New("tui: set Options.LogFile (or a plan or state path to put ferry.log beside): logs must not reach the screen")
		}
		opts.LogFile = filepath.Join(filepath.Dir(opts.StatePath), "ferry.log")
	}
	logger, restore, err := RedirectLogs(opts.LogFile)
	if err != nil {
		return err
	}
	defer restore()
	if os.Getenv("NO_COLOR") != "" {
		NoColor()
	}

	pf, err := loadPlan(opts)
	if err != nil {
		return err
	}
	// One ferry per itinerary: a dropped SSH session may have left one
	// running. The lock comes before the state is read.
	release, err := steps.LockState(opts.StatePath)
	if errors.Is(err, steps.ErrStateLocked) && opts.PlanPath != "" && !opts.RunsLab {
		// QA: a second terminal on the plan was told only to wait.
		return fmt.Errorf("%w. To open one plan from several terminals, let an engine hold it: once that ferry has ended, run ferry serve with the same --config and --plan %s; then ferry --plan %s in each terminal attaches to it (the first drives, the others watch)", err, opts.PlanPath, opts.PlanPath)
	}
	if err != nil {
		return err
	}
	defer release()
	state, err := steps.LoadState(opts.StatePath)
	if err != nil {
		return err
	}
	if opts.PlanPath != "" {
		if err := state.BindPlan(opts.PlanPath); err != nil {
			return err
		}
	}
	it := opts.Itinerary
	if it == nil {
		it = steps.NewItinerary()
	}
	env := steps.NewEnv(opts.Config, pf, state)
	env.Log = logger
	// A VM taken out of the plan with its cutover unfinished: the wizard
	// would not show it, nor end it.
	if err := env.CheckDroppedCutovers(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer env.Close(context.WithoutCancel(ctx))
	// The plan's one replication store, before the screen opens: it may
	// belong to another state file of this plan.
	if err := env.OpenReplicationStore(); err != nil {
		return err
	}
	// A cutover a killed ferry left with the source shut down and no
	// power-on requested is rolled back before the screen opens, as
	// `ferry run` and `ferry serve` do when they start: the service has
	// been down since. Before, not beside, the screen: nothing the
	// operator confirms can race it. A failure is said and the wizard
	// opens all the same (its cutover screen decides: ctrl+r). What it
	// did goes to the terminal (seen after quitting) and to the screen:
	// the first screen and the cutover screen say it (QA: the terminal
	// alone was hidden by the alternate screen).
	//
	// Someone is at this terminal, though: before, the wizard asks whether
	// to go on with those cutovers instead (rolling back and then cutting
	// over again power-cycles each source, a guest boot and a shutdown
	// more of downtime); nobody answering within a minute, it rolls back.
	// A signal while it asks (a dropped SSH session's SIGHUP): nobody is
	// there any more; it rolls back, as if nobody had answered, and stops.
	var keep []string
	recoverCtx, stoppedAsking := ctx, false
	if ins := env.InterruptedShutdowns(); len(ins) > 0 {
		choice, err := askInterrupted(ctx, ins, decideWithin, cutoverStep(it))
		switch {
		case err != nil && ctx.Err() != nil:
			recoverCtx, stoppedAsking = context.WithoutCancel(ctx), true
			fmt.Fprintln(os.Stderr, "ferry: stopped while asking: rolling back the interrupted cutovers first, as nobody is there to decide")
		case err != nil:
			return err
		case choice == choseQuit:
			return ErrInterrupted
		case choice == choseGoOn:
			for _, in := range ins {
				keep = append(keep, in.VM)
			}
		}
	}
	var recovered []steps.Event
	lines := recoveryLines(os.Stderr)
	if err := env.RecoverInterruptedCutovers(recoverCtx, func(ev steps.Event) {
		recovered = append(recovered, ev)
		lines(ev)
	}, keep...); err != nil {
		logger.Error("automatic rollback at start", "err", err) // its warning said it
	}
	if stoppedAsking {
		return ctx.Err()
	}

	d := opts.Adapters
	d.Config, d.Env, d.Itinerary = opts.Config, env, it
	d.Recovered = recovered
	d.RunsLab = opts.RunsLab
	if opts.RunsLab && opts.KeepLabDir != nil {
		d.LabDir = opts.LabDir
	}
	if d.SavePlan == nil && opts.PlanPath != "" {
		path := opts.PlanPath
		d.SavePlan = func(pf *steps.PlanFile) error { return pf.Save(path) }
	}
	feedLive(ctx, &d.Feeds, env, logger, cmp.Or(opts.Who, wizardUser()+" (wizard)"))
	logger.Info("wizard start", "state", opts.StatePath, "plan", opts.PlanPath, "lab", opts.Config != nil && opts.Config.Lab)
	model := New(ctx, d)
	// ferry handles SIGINT and SIGTERM itself (main cancels ctx, which
	// stops the program): bubbletea's own handler raced that cancel, its
	// QuitMsg sent to an event loop that had already ended, and its
	// shutdown waited for that send for ever (QA: a wizard sent SIGTERM
	// kept replicating, the state locked, until killed).
	p := tea.NewProgram(model, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithoutSignalHandler())
	final, err := p.Run()
	logger.Info("wizard end", "err", err)
	if opts.PlanPath != "" && !opts.RunsLab && opts.Adapters.SavePlan == nil {
		keepTyped(opts.PlanPath, env.Plan(), logger)
	}
	stopped := ctx.Err() // a signal (the caller's ctx), not the quit below
	// A step still running (the wizard was stopped by a signal, or quit
	// from another screen) is cancelled and ends by its own rules before
	// ferry does: the terminal is back, the state and the lock are still
	// held, the env still open.
	cancel()
	model.w.runs.close(func() {
		fmt.Fprintln(os.Stderr, "ferry: stopping: waiting for the running step to end by its own rules (a cutover rolls back, or finishes once the target was powered on)")
		logger.Info("wizard end: waiting for the running step")
	})
	switch {
	case errors.Is(err, tea.ErrProgramKilled) && stopped != nil:
		return stopped
	case err != nil:
		return err
	}
	m, ok := final.(*Model)
	if !ok {
		return nil
	}
	if m.KeepLab() {
		opts.KeepLabDir()
		fmt.Fprintf(os.Stderr, "ferry: the lab's directory is kept: %s\n", opts.LabDir)
	}
	if m.Interrupted() {
		if opts.RunsLab {
			// The lab goes with this process: there is nothing to resume.
			return labInterrupted{}
		}
		return ErrInterrupted
	}
	return nil
}

// keepTyped writes answers typed but not planned yet into the plan file, so
// that quitting (or a dropped session) loses none: only when they differ
// from what the file holds, so a plan file left as it was keeps its
// comments and layout.
func keepTyped(path string, pf *steps.PlanFile, logger *slog.Logger) {
	now, err := yaml.Marshal(pf)
	if err != nil {
		return
	}
	if old, err := steps.LoadPlanFile(path); err == nil {
		if was, err := yaml.Marshal(old); err == nil && bytes.Equal(was, now) {
			return
		}
	} else if _, statErr := os.Stat(path); statErr == nil {
		// A file that does not parse is the operator's to fix: not
		// overwritten.
		return
	}
	if err := pf.Clone().Save(path); err != nil {
		logger.Warn("keep the typed answers", "plan", path, "err", err)
		fmt.Fprintf(os.Stderr, "ferry: could not save the answers typed to %s: %v\n", path, err)
	}
}

// labInterrupted is ErrInterrupted for `ferry lab`, whose lab ends with it.
type labInterrupted struct{}

func (labInterrupted) Error() string { return "interrupted; the lab stopped" }
func (labInterrupted) Unwrap() error { return ErrInterrupted }

// ErrInterrupted is returned when the operator quits with ctrl+c; it wraps
// context.Canceled so main exits with 130. The state is saved: running
// ferry again resumes.
// Its message is the operator's (QA: "...: context canceled" after a quit).
var ErrInterrupted error = interrupted{}

type interrupted struct{}

func (interrupted) Error() string { return "interrupted; run ferry again to resume" }
func (interrupted) Unwrap() error { return context.Canceled }

func loadPlan(opts Options) (*steps.PlanFile, error) {
	if opts.PlanPath != "" {
		pf, err := steps.LoadPlanFile(opts.PlanPath)
		if err == nil {
			// A plan ferry run or a person wrote leaves the VMs' RPO,
			// network and vApp to their defaults, as ferry run applies
			// them: warm replication refused a VM without an RPO ("0s is
			// out of range", in the log only) and never ran.
			pf.ApplyVMDefaults()
			return pf, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if opts.Plan != nil {
		return opts.Plan, nil
	}
	return &steps.PlanFile{}, nil
}

// RedirectLogs sends log/slog's default logger and the standard logger to
// path (created 0600, appended) and returns the logger and a function that
// restores both. Call it before starting anything that logs (the lab's
// vcsim logs through the standard logger) when the wizard will follow.
func RedirectLogs(path string) (*slog.Logger, func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	prevSlog, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	logger := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	slog.SetDefault(logger)
	// Straight to the file as well, in case something resets the bridge
	// slog.SetDefault installs: vcsim logs through the standard logger.
	log.SetOutput(f)
	return logger, func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		f.Close()
	}, nil
}

// feedLive connects what the caller did not: warm replication (a pass per
// RPO for every replicated VM while the wizard is open) to the dashboard,
// and a monitor over the plan's probes to the probe panel.
//
// who is the operator whom a pause from the dashboard names.
func feedLive(ctx context.Context, f *Feeds, env *steps.Env, logger *slog.Logger, who string) {
	if f.Replication == nil {
		feed := NewReplicationFeed(func(vm string) time.Duration {
			for _, v := range env.Plan().VMs {
				if v.Name == vm {
					return v.RPO.Duration()
				}
			}
			return 0
		})
		sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
			if ev.Kind == replication.EventResumed && ev.Msg != "" {
				// A hold a stopped ferry left, ended: said in the log too.
				logger.Info("replication resumed", "vm", ev.VM, "why", ev.Msg)
			}
			feed.Handle(ev)
		})
		if err != nil {
			logger.Warn("warm replication: some jobs did not start", "err", err)
		}
		feed.Seed(sched.Status())
		feed.NotStarted(err)
		f.Replication = feed.Updates()
		f.Pause = func(_ context.Context, vm string) error { return sched.PauseBy(vm, who) }
		f.Resume = func(_ context.Context, vm string) error { return sched.Resume(vm) }
		f.Verify = func(_ context.Context, vm string) error { return env.VerifyNow(vm) }
	}
	if f.Probes == nil {
		// The plan's probes, followed through the wizard's edits (step 5
		// sets them, often after a start with none).
		pw := env.WatchProbes(ctx, time.Second, time.Second)
		if err := pw.Err(); err != nil {
			logger.Warn("probe panel: the plan's probes cannot run", "err", err)
			f.ProbesErr = err
		}
		f.Probes = ProbeWatchFeed(ctx, pw.Subscribe(ctx, 64))
	}
}

// recoveryLines prints the warnings of the start's rollback of
// interrupted cutovers, a line each, before the screen opens. It does not
// log them: the Env's logger (the wizard's, env.Log) already has every
// event of the recovery (QA: each warning was twice in ferry.log).
func recoveryLines(w io.Writer) steps.Emit {
	return func(ev steps.Event) {
		if ev.Kind == steps.EventWarning {
			fmt.Fprintf(w, "ferry: warning: %s\n", ev.Message)
		}
	}
}

// wizardUser is this process's user's name (who runs the standalone
// wizard).
func wizardUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "an unknown user"
}
