package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

// itemFieldsHelp describes a plan item's JSON fields (steps.Item), as
// ferry run --json's item and ferry plan --json's items have them.
const itemFieldsHelp = `action, kind,
name, detail, resource, field; its action is one of exists, check, create,
update, power on, conflict; its kind and name are the object's ("VM",
"WebApp2"); detail, resource and field only when set; resource is the object
once it exists; resource's fields: kind, name, id, created (id: its moref, URN
or href; created is true for an object ferry created, which a cleanup may
remove); field is the plan answer that resolves a conflict when changed (e.g.
appliance.sink_portgroup)`

func newRunCmd(g *globalFlags) *cobra.Command {
	var (
		f       planFlags
		asJSON  bool
		confirm string
		finish  bool
		rollbk  bool
		verify  string
		redo    string
		testMig string
		testCln bool
	)
	cmd := &cobra.Command{
		Use:   "run --plan FILE [--json] [--confirm-cutover NAME | --test-migrate NAMES | --test-cleanup] [--state FILE]",
		Short: "Run the itinerary headless; progress as lines (or JSON lines)",
		Long: `Run the itinerary's steps in order without a terminal, resuming from the
state file: steps already done are not run again, a step that failed or was
interrupted runs again (every step is idempotent). The run stops at the first
failure.

Before step 1 a run plans every step it would run (its preflight) and is
refused, with nothing changed (exit 1), for whatever would stop it later: a
name that does not resolve, a login that fails, the receiver not answering,
or a privilege the role of ferry's vCenter accounts lacks for the L2
appliance (step 3), the replication (the source disks' datastores among
them), the probes (guest pings from on-prem VMs) or the cutover; each is
named with its object and what it is for (README: "vCenter privileges").

The cutover is never run without --confirm-cutover=NAMES naming the VMs to cut
over (comma-separated); without it the run stops in front of it and says so.
Naming only some of the plan's VMs cuts over only those (together, one wave):
the others stay replicating and the next run with their names cuts them over. A flag that
takes VM names (--confirm-cutover, --test-migrate, --verify) or step ids
(--redo) given an empty value (a shell variable not set) is refused (exit 2),
not read as the flag left out.

A failure before the target's power-on is requested rolls the cutover back
(the replica disks are kept). Once power-on was requested, ferry never rolls
back on its own: if it stopped there, the next run finishes the cutover when
the target runs and answers its probes, and otherwise stops and asks for a
decision, given with --confirm-cutover=NAMES and --finish (keep the target,
power it on if needed) or --rollback (remove the target, keeping the replica,
and power the source on again). ferry status shows such a VM as
"DECISION NEEDED", and a run that does not confirm its cutover ends with a
warning saying so.

A cutover stopped before power-on was requested (ferry killed, its machine
lost) holds the VM's replication, and its source may be shut down. Run with
--confirm-cutover=NAMES again, it removes what it left at the provider
(replica disks kept) and cuts over anew: a source it left off is not powered
on to be shut down again (the final pass reads it off; if that attempt fails,
it is powered on again), one running again is shut down anew; with --rollback
too, it only rolls back: what it left removed, the source powered on again
(a cold migration's source that was off before stays off), the state "rolled
back", replication resumed, the outage it left reported; the run then ends
as a decided rollback does (exit 0: nothing failed; the cutover step
waits to cut the VM over anew). Run again (a dropped session, or a
--rollback killed while the source came back), --rollback for a VM whose
cutover is rolled back already says so ("already rolled back at <time>;
nothing to do; cut over again with --confirm-cutover=VM") and changes
nothing (exit 0; a cutover step a killed --rollback left running is
ended); naming only such VMs, it refuses --verify and --redo beside it
(exit 2: it runs no step, and would ignore them; run them without
--confirm-cutover and --rollback); --rollback of a finished cutover, or of one that never started,
is refused (exit 2). A run or a ferry
serve that starts and finds such a cutover whose source is still off, and
that does not confirm that VM's cutover itself, rolls it back by itself,
with a warning naming the VM, when its source was shut down and the outage;
ferry status says so. A rollback that fails leaves the cutover's state and
its hold on the replica as they were (the run fails).

Progress goes to stdout, one line per event ("[3/8] appliance: ..."), but
for a step's changes made as its plan lines said: those are not listed twice,
one line per object counts them ("[1/8] rights: changed: ~ update rights
bundle "ferry L2 VPN (Company)": 26 changes (as planned above)"); a change
that differs from its plan line is listed whole. Or one JSON object per line
with --json, every change its own line (fields: time, step, index, kind, message,
fraction, item, error, begins, resolves; kind is one of started, plan,
progress, change, warning, done, failed, skipped; fraction, the progress
from 0 to 1 (0 included), is on a progress line whose progress is known and
absent from any other; item is set on plan and
change lines, the plan item or the change made; item's fields: ` + itemFieldsHelp + `; begins is true on the progress line that begins a
cutover phase, which its "... done in ..." line ends; resolves is true on the
progress line that ends what an earlier warning said was going on, e.g.
"WebApp2: replication resumed ..." after step 6's "replication paused ...:
step 6 waits"). A run that is refused or fails ends with a failed line whose
step is empty and whose error is the run's (also on stderr); any other ends
with a progress line whose step is empty and whose message is the text's
closing line ("ferry: 2 done, ...; stopped at cutover (...)").

--verify=NAMES first runs a full compare of those VMs' replicas (comma-separated)
while they run: every block of a new snapshot against the replica read back at
the receiver, blocks that differ sent again; ferry status and the cutover report
show when the last one ran and what it found. Full compares also run right after
the initial sync and then every verify_every (plan, default 24h) in the wizard.
A cutover whose verify finds the replica differs from the source rolls back and
pauses the VM's replication (ferry status: paused, and why); its cutover is
refused until --verify=NAME has compared and repaired the replica, which
resumes it.

--redo=STEPS runs those steps again though they are done (comma-separated step
ids: rights, trunk-network, appliance, dc-extension, vm-selection, replication,
checks; not the cutover). Every step is idempotent and plans from what it finds:
--redo vm-selection captures the VMs' configurations as they are now, after a
disk was removed from a source (its cutover refuses the configuration captured
before, naming the disk).

--test-migrate=NAMES runs a test migration of those VMs (comma-separated) and
nothing else: with their replication idle, a snapshot of the receiver appliance
freezes the replica disks (replication goes on into the appliance's deltas); a
copy of each VM, built as its cutover target would be but on child disks of
its frozen replica (nothing copied, the replica never written), is imported
into Cloud Director as vApp ferry-test-<VM>, connected to the plan's isolated
org VDC network (test_migration.network: no uplink, so the copy keeps the
source's MAC and address without clashing with it), powered on and watched
until VMware Tools run in it (test_migration.boot_timeout, default 3m). The
plan's probes run inside that network, in the copies (VMware Tools guest
operations; this host has no path into it): a guest ping in its from: VM's
copy; a TCP or ICMP probe whose VMs all have a copy there from a peer copy
(another VM's), or, for TCP without a peer, from the watched VM's own copy
to its own address; what cannot run there is listed as not run, with why.
Then each copy's guest OS is shut down through VMware Tools, as a cutover
shuts its source down (timed: the first cutover's projected shutdown; a guest
slower than cutover.shutdown_timeout is reported), and the copies are
deleted through Cloud Director (their child disks only) and the snapshot
removed (its writes consolidated into the replicas). The source is never
touched. A report in the downtime report's format (test-migration-*.md and
.json beside the state file) says what booted, when, and which probes
answered; its path is printed. The run fails (exit 1) if a copy did not boot
or a probe did not answer; the cleanup happens anyway. A test is refused before
it changes anything (exit 1) when ferry's provider vCenter account lacks a
privilege it needs (each is named: the README's "vCenter privileges"). A VM
it cannot test in the state it is in (cut over, its cutover unfinished, no
completed pass yet, a replica a verify found to differ) is refused as bad
input (exit 2, nothing written), naming the VM, what it is, and the plan's
VMs a test takes now; so is --verify of a VM cut over or with no replica yet.

--test-cleanup removes what a test migration left (a killed run): the copies in
Cloud Director and at the provider, and the appliance's snapshot. Running it
again changes nothing. ferry status lists a test left running; another test
waits until it is cleaned up, and --confirm-cutover is refused before anything
runs (exit 2, nothing recorded; a run without it is not held).

A structured log of every event goes to --log-file (default: ferry.log next
to the state file). A run refused before its first change (bad input, a
preflight that fails) leaves no file behind: no log, no state lock file.

Exit codes: 0 ok (or stopped before an unconfirmed cutover), 1 a step failed,
2 bad usage or plan file, 130 interrupted (ctrl-c, SIGTERM, SIGHUP: the step
it was in is not failed, ferry status shows it interrupted, and the next run
goes on with it; a replication pass resumes where it got to. The cutover is
the exception: it rolls back what it began, writes its report, and is shown
failed with the interruption as its error; confirm it again to cut over).

While a ferry serve engine runs for the state file, the steps run in it: this
command sends the request over the engine's socket and prints the events it
streams back. Interrupting it (or losing its terminal) stops the printing,
not the steps; ferry status --follow shows how they end. Without an engine
the replication passes run in this process: they stop when it ends (at the
cutover awaiting confirmation too), and nothing keeps the RPO until the next
run, the wizard or ferry serve (ferry status says "stopped").

` + stateHelp,
		Args: func(c *cobra.Command, args []string) error {
			if err := cobra.NoArgs(c, args); err != nil {
				// `--rollback WebApp2`: the switch took no value, the
				// name is left over; say where VM names go.
				return fmt.Errorf("%w: ferry run takes no arguments; VMs are named in flags: --confirm-cutover=NAMES (with --rollback or --finish to decide an interrupted cutover), --test-migrate=NAMES, --verify=NAMES", err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if asJSON {
				// A run refused or failed ends with a failed line of no
				// step: a JSON reader learns why without parsing stderr.
				defer func() {
					if err != nil {
						jsonPrinter(cmd.OutOrStdout())(steps.Event{Time: time.Now(), Kind: steps.EventFailed, Error: err.Error()})
					}
				}()
			}
			if err := emptyNames(cmd, f.plan); err != nil {
				return err
			}
			var redoSteps []string
			if cmd.Flags().Changed("redo") {
				if redoSteps, err = steps.RedoSteps(steps.NewItinerary(), redo); err != nil {
					return usageError{err}
				}
			}
			if cl, err := dialEngine(&f); err != nil {
				return err
			} else if cl != nil {
				return runViaEngine(cmd, cl, &f, engine.RunRequest{Confirm: confirm, Finish: finish, Rollback: rollbk, Verify: verify, Redo: redo, TestMigrate: testMig, TestCleanup: testCln}, asJSON)
			}
			if (testMig != "" || testCln) && (confirm != "" || verify != "" || redo != "" || finish || rollbk || (testMig != "" && testCln)) {
				return usageError{fmt.Errorf("--test-migrate and --test-cleanup run alone: without each other, --confirm-cutover, --finish, --rollback, --verify or --redo")}
			}
			env, it, lock, err := f.session(g, true)
			if err != nil {
				return err
			}
			// A run refused before its first change leaves the disk as it
			// found it: no lock file, no log (begin marks the first change).
			logf := newRunLog(logPath(g, env.State.Path()))
			started := false
			begin := func() error {
				if err := logf.begin(); err != nil {
					return err
				}
				started = true
				return nil
			}
			defer func() {
				if started {
					lock.Release()
				} else {
					lock.Discard()
				}
			}()
			defer logf.Close()
			defer env.Close(cmd.Context())
			// The plan's one replication store may belong to another state
			// file: checked read-only now, taken after the preflight, both
			// before the first change (a refused run creates nothing).
			if err := env.CheckReplicationStore(); err != nil {
				if errors.Is(err, session.ErrStoreOwned) {
					return usageError{err}
				}
				return err
			}
			env.Log = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			if confirm != "" {
				vms, err := steps.ConfirmedVMs(env.Plan(), confirm)
				if err != nil {
					return usageError{err}
				}
				env.CutoverVMs = vms
			}
			switch {
			case finish && rollbk:
				return usageError{fmt.Errorf("--finish and --rollback exclude each other")}
			case (finish || rollbk) && confirm == "":
				return usageError{fmt.Errorf("--finish and --rollback decide for the VMs named by --confirm-cutover")}
			case finish:
				env.CutoverDecision = steps.CutoverFinish
			case rollbk:
				env.CutoverDecision = steps.CutoverRollback
			}
			// --rollback run again (QA: after a dropped session killed the
			// first while the source came back) finds the VMs it names
			// rolled back already: nothing to do for them, not a refusal.
			var settled, settledLines []string
			env.CutoverVMs, settled, settledLines = env.SettledRollbacks(env.CutoverVMs, env.CutoverDecision)
			if err := env.RefuseIgnoredBySettled(settled, env.CutoverVMs, runFlags(verify, redo)); err != nil {
				return usageError{err}
			}
			if len(settled) > 0 && len(env.CutoverVMs) == 0 {
				// Nothing at all: no step runs, nothing changes (an empty
				// list would confirm every VM), but for the cutover step a
				// killed --rollback left running: it ended (QA: ferry
				// status read it interrupted after "nothing to do").
				if env.State.Status("cutover") == steps.StatusRunning {
					if err := begin(); err != nil {
						return err
					}
					env.SettleEndedCutoverStep()
				}
				emit, flush := eventPrinter(cmd.OutOrStdout(), len(it), asJSON)
				for _, ev := range it.SettledEvents(settledLines) {
					emit(ev)
				}
				flush()
				res := steps.Outcome{AlreadyRolledBack: settled}
				if asJSON {
					emit(closingEvent(res))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s; state: %s\n", runSummary(res), env.State.Path())
				}
				return nil
			}
			if err := env.CheckDecision(env.CutoverVMs, env.CutoverDecision); err != nil {
				return usageError{err}
			}
			// A test left running holds the confirmed cutover only (not
			// steps 1 to 7): refused here, nothing recorded.
			if err := env.CheckTestLeft(env.CutoverVMs, env.CutoverDecision); err != nil {
				return usageError{err}
			}
			if testMig != "" || testCln {
				return runTest(cmd, env, testMig, asJSON, begin)
			}
			var verifyVMs []string
			if verify != "" {
				if verifyVMs, err = steps.VerifyNames(env.Plan(), verify); err != nil {
					return usageError{err}
				}
				// A VM cut over, or with no replica yet: refused before
				// the preflight and the first change, as bad input.
				if err := env.CheckVerifyNames(verifyVMs); err != nil {
					return namesRefused(err)
				}
			}
			out := cmd.OutOrStdout()
			emit, flush := eventPrinter(out, len(it), asJSON)
			defer flush() // before the error, which goes after the lines
			for _, ev := range it.SettledEvents(settledLines) {
				emit(ev)
			}
			r := &steps.Runner{Itinerary: it, Env: env, Emit: emit, Confirmed: confirm != "", Redo: redoSteps}
			// Bad input (unknown names, conflicts, logins) stops the run
			// before the first change, not halfway through.
			if err := r.Preflight(cmd.Context()); err != nil {
				return err
			}
			if err := begin(); err != nil {
				return err
			}
			if err := env.OpenReplicationStore(); err != nil {
				if errors.Is(err, session.ErrStoreOwned) {
					return usageError{err}
				}
				return err
			}
			// A cutover a killed ferry left with the source shut down and
			// no power-on requested is rolled back first (not one this run
			// confirms again: its retry cleans up by itself); one that
			// fails is this run's failure, after its steps.
			recovery := env.RecoverInterruptedCutovers(cmd.Context(), emit)
			if len(verifyVMs) > 0 {
				// Full compares first, while the VMs still run.
				if err := env.VerifyReplicas(cmd.Context(), verifyVMs, emit); err != nil {
					return fmt.Errorf("%w (state: %s)", err, env.State.Path())
				}
			}
			res, err := r.Run(cmd.Context())
			flush()
			if err = errors.Join(err, recovery); err != nil {
				return fmt.Errorf("%w (state: %s)", err, env.State.Path())
			}
			res.AlreadyRolledBack = settled
			if asJSON {
				emit(closingEvent(res))
			} else {
				fmt.Fprintf(out, "%s; state: %s\n", runSummary(res), env.State.Path())
				if res.StoppedBefore != "" {
					// Its passes ran in this process: none run now.
					fmt.Fprintf(out, "ferry: replication stopped with this run, and the RPO is not kept until the cutover: `ferry serve --plan %s` replicates every RPO in the background (ferry run and ferry status then use it)\n", f.plan)
				}
			}
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress as JSON lines")
	cmd.Flags().StringVar(&confirm, "confirm-cutover", "", "confirm the cutover of these VMs of the plan (comma-separated names)")
	cmd.Flags().BoolVar(&finish, "finish", false, "for a cutover stopped after power-on was requested: keep the target in Cloud Director (power it on if needed) and finish")
	cmd.Flags().StringVar(&redo, "redo", "", "run these steps again though they are done (comma-separated step ids, e.g. vm-selection to capture the VMs' configurations anew); not the cutover")
	cmd.Flags().StringVar(&verify, "verify", "", "first compare these VMs' replicas (comma-separated names) block by block with their running sources, repairing what differs")
	cmd.Flags().BoolVar(&rollbk, "rollback", false, "for an interrupted cutover (stopped before or after power-on was requested): remove the target (replica disks kept), power the source on again and let replication resume; no retry")
	cmd.Flags().StringVar(&testMig, "test-migrate", "", "run only a test migration of these VMs (comma-separated): a copy from the replica in the plan's isolated network, checked and deleted; a report")
	cmd.Flags().BoolVar(&testCln, "test-cleanup", false, "remove what a test migration left (its copies and the receiver appliance's snapshot)")
	return cmd
}

// emptyNames refuses a VM-name flag given no name (QA:
// `--test-migrate=$VMS` with VMS unset ran the whole itinerary, and
// `--confirm-cutover=$VM` stopped before the cutover with exit 0, as if
// the flag were absent). The plan's VMs are named when it can be read.
func emptyNames(cmd *cobra.Command, planFile string) error {
	for _, fl := range []struct{ name, what string }{
		{"confirm-cutover", "the VMs whose cutover you confirm"},
		{"test-migrate", "the VMs to test"},
		{"verify", "the VMs whose replicas to compare"},
	} {
		flag := cmd.Flags().Lookup(fl.name)
		if flag == nil || !flag.Changed || strings.Trim(flag.Value.String(), " ,") != "" {
			continue
		}
		valid := ""
		if pf, err := steps.LoadPlanFile(planFile); err == nil {
			var names []string
			for _, vm := range pf.VMs {
				names = append(names, vm.Name)
			}
			valid = fmt.Sprintf(" (VMs of the plan: %s)", strings.Join(names, ","))
		}
		return usagef("--%s=%q names no VM: it takes %s, comma-separated%s; an empty value (a shell variable not set?) is refused, not read as the flag left out; nothing was run",
			fl.name, flag.Value.String(), fl.what, valid)
	}
	return nil
}

// runTest is ferry run --test-migrate / --test-cleanup without an engine;
// begin is called before the first change.
func runTest(cmd *cobra.Command, env *steps.Env, names string, asJSON bool, begin func() error) error {
	out := cmd.OutOrStdout()
	show, flush := eventPrinter(out, len(steps.NewItinerary()), asJSON)
	defer flush()
	step := "test-migration"
	if names == "" {
		step = "test-cleanup"
	}
	emit := func(ev steps.Event) {
		if ev.Step == "" {
			ev.Step = step
		}
		show(ev)
	}
	if names == "" {
		if err := begin(); err != nil {
			return err
		}
		if err := env.TestCleanup(cmd.Context(), emit); err != nil {
			return fmt.Errorf("%w (state: %s)", err, env.State.Path())
		}
		flush()
		if !asJSON {
			fmt.Fprintf(out, "ferry: no test migration left; state: %s\n", env.State.Path())
		}
		return nil
	}
	vms, err := steps.TestNames(env.Plan(), names)
	if err != nil {
		return usageError{err}
	}
	// A plan whose test_migration no test can run with (no network named,
	// one not ISOLATED): bad input, refused before the log is begun.
	if err := env.CheckTestPlan(cmd.Context()); err != nil {
		return fieldRefused(err)
	}
	// A VM no test takes in its state (QA: a VM cut over was refused
	// with exit 1, after the log and the replication store were made).
	if err := env.CheckTestNames(vms); err != nil {
		return namesRefused(err)
	}
	if err := begin(); err != nil {
		return err
	}
	if err := env.OpenReplicationStore(); err != nil {
		if errors.Is(err, session.ErrStoreOwned) {
			return usageError{err}
		}
		return err
	}
	report, err := env.TestMigrate(cmd.Context(), vms, emit)
	flush()
	var fe *steps.FieldError
	if errors.As(err, &fe) && report == "" {
		return usageError{err}
	}
	if _, ok := errors.AsType[*steps.NamesRefused](err); ok && report == "" {
		return usageError{err}
	}
	if report != "" && !asJSON {
		fmt.Fprintf(out, "ferry: test migration report: %s\n", report)
	}
	if err != nil {
		return fmt.Errorf("%w (state: %s)", err, env.State.Path())
	}
	return nil
}

// namesRefused is err as ferry run returns it: a *steps.NamesRefused (a
// VM named in a state the flag does not take) is bad input (exit 2).
func namesRefused(err error) error {
	if _, ok := errors.AsType[*steps.NamesRefused](err); ok {
		return usageError{err}
	}
	return err
}

// fieldRefused is err as ferry run returns it: a *steps.FieldError (a
// plan answer that is missing or not valid) is bad input (exit 2).
func fieldRefused(err error) error {
	if _, ok := errors.AsType[*steps.FieldError](err); ok {
		return usageError{err}
	}
	return err
}

// logPath is --log-file, or ferry.log next to the state file.
func logPath(g *globalFlags, statePath string) string {
	if g.logFile != "" {
		return g.logFile
	}
	return filepath.Join(filepath.Dir(statePath), "ferry.log")
}

// runLog is a command's log (logPath; 0600: it names the infrastructure,
// it never holds secrets), kept in memory until the command begins to
// change something (begin), so that a command refused before that leaves
// no log behind, nor a line in an existing one.
type runLog struct {
	path string
	mu   sync.Mutex
	buf  bytes.Buffer
	f    *os.File
}

func newRunLog(path string) *runLog { return &runLog{path: path} }

// Write appends p to the log, or to what it will begin with.
func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return l.f.Write(p)
	}
	return l.buf.Write(p)
}

// begin opens the log file and writes what was logged so far to it.
func (l *runLog) begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	if _, err := l.buf.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write log file: %w", err)
	}
	l.f = f
	return nil
}

// Close closes the log file (what was never begun is dropped).
func (l *runLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// dialEngine returns a client of the ferry serve engine that runs for the
// command's state file, or nil when none runs (the command then works
// standalone).
func dialEngine(f *planFlags) (*engine.Client, error) {
	cl, err := engine.Dial(f.statePath())
	if errors.Is(err, engine.ErrNotRunning) {
		return nil, nil
	}
	return cl, err
}

// runViaEngine is ferry run as a client of a running engine.
func runViaEngine(cmd *cobra.Command, cl *engine.Client, f *planFlags, req engine.RunRequest, asJSON bool) error {
	if f.applianceOVF != "" {
		return usagef("--appliance-ovf: a ferry serve engine runs this plan (%s) with the plan's appliance.ovf; set it in the plan file and restart the engine", cl.Socket)
	}
	req.Client = fmt.Sprintf("ferry run (pid %d)", os.Getpid())
	out := cmd.OutOrStdout()
	printer, flush := eventPrinter(out, len(steps.NewItinerary()), asJSON)
	defer flush()
	// Where the steps run, said once the engine has taken the run (its
	// first event), not before: a run it refuses as bad usage ran nothing
	// there, and prints the refusal alone (QA).
	var once sync.Once
	where := func() {
		once.Do(func() {
			if !asJSON {
				fmt.Fprintf(out, "ferry: the steps run in the ferry serve engine (%s)\n", cl.Socket)
			}
		})
	}
	emit := func(ev steps.Event) {
		where()
		printer(ev)
	}
	res, err := cl.Run(cmd.Context(), req, emit)
	flush()
	var re *engine.RemoteError
	if errors.As(err, &re) && re.Usage {
		return usageError{err}
	}
	where()
	if errors.Is(err, engine.ErrEngineGone) {
		// QA: a kill -9 of the engine mid-cutover left the client saying
		// only "engine socket: the engine closed the connection before
		// answering: EOF", with the source shut down.
		return fmt.Errorf("the ferry serve engine (%s) stopped before the run ended (%w): the steps stopped with it; `ferry status` shows what it left and what to do, and `ferry serve`, started again, goes on from there (an interrupted cutover whose source it finds shut down is rolled back) (state: %s)", cl.Socket, err, f.statePath())
	}
	if err != nil {
		return fmt.Errorf("%w (state: %s)", err, f.statePath())
	}
	if !asJSON && (req.TestMigrate != "" || req.TestCleanup) {
		if res.Report != "" {
			fmt.Fprintf(out, "ferry: test migration report: %s\n", res.Report)
		}
		return nil
	}
	if asJSON {
		emit(closingEvent(res))
	} else {
		fmt.Fprintf(out, "%s; state: %s\n", runSummary(res), f.statePath())
	}
	return nil
}

// runFlags are --verify and --redo as given, for a message that names them.
func runFlags(verify, redo string) []string {
	var flags []string
	if verify != "" {
		flags = append(flags, "--verify="+verify)
	}
	if redo != "" {
		flags = append(flags, "--redo="+redo)
	}
	return flags
}

// closingEvent is the run's closing line as --json's last object (QA: a
// run that stopped at the cutover, rolled back as decided, ended its JSON
// with the step's started event: only the exit code told the outcome).
func closingEvent(res steps.Outcome) steps.Event {
	return steps.Event{Time: time.Now().UTC(), Kind: steps.EventProgress, Message: runSummary(res), Fraction: -1}
}

// runSummary is a headless run's closing line, before the state's path.
func runSummary(res steps.Outcome) string {
	already := strings.Join(res.AlreadyRolledBack, ", ")
	if already != "" && res.Done+res.AlreadyDone+res.Skipped == 0 && res.StoppedBefore == "" {
		// --rollback of VMs rolled back already: no step ran.
		return "ferry: nothing to do: the cutover of " + already + " was rolled back already (left as it is; a new cutover needs --confirm-cutover)"
	}
	msg := fmt.Sprintf("ferry: %d done, %d already done, %d skipped", res.Done, res.AlreadyDone, res.Skipped)
	switch {
	case res.RolledBack:
		msg += "; stopped at " + res.StoppedBefore + " (rolled back as decided, nothing failed; a new cutover needs --confirm-cutover)"
	case res.StoppedBefore != "":
		msg += "; stopped at " + res.StoppedBefore + " (waiting for --confirm-cutover)"
	}
	if already != "" {
		msg += "; " + already + ": rolled back already, left as is"
	}
	return msg
}
