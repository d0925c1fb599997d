package main

import (
	"errors"
	"fmt"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

// controlWhere is what ferry pause's and ferry resume's help say of where
// the change is made.
const controlWhere = `While a ferry serve engine runs for the state file, the engine does it, as
a wizard session's p and u on the replication dashboard do: the dashboards
attached to it show it at once. Without one, ferry changes the jobs'
records in the plan's replication store, holding the state file's lock
for that moment (a ferry serve started in that moment is refused, as
while any ferry holds the plan: start it again), and the next
ferry serve, wizard or ferry run takes them up as they are. While a wizard
or a ferry run (not ferry serve) holds the plan, it is refused (exit 1),
naming the process: that process replicates, and a wizard's dashboard
pauses and resumes (p, u).`

const controlRefusals = `Refused as a whole, with nothing changed (exit 2): a name that is not a VM of
the plan (its VMs are listed), a VM whose replication ferry holds for its
own work (its cutover, a test migration: ferry resumes it when that work
ends), a cold migration (no pass every RPO), a VM with no replication job
yet (the replication step, 6, starts it), a VM whose cutover awaits a
decision (ferry run --confirm-cutover=VM --finish or --rollback).`

func newPauseCmd(g *globalFlags) *cobra.Command {
	return newControlCmd(g, true, `Pause the replication of the named VMs (the plan's VM names, separated by
spaces or commas): no pass runs for them until they are resumed (ferry
resume, or u on the wizard's replication dashboard), to free the link for a
maintenance window, say. A pass that was running stops; resumed, it goes on
from what the receiver holds durably. ferry status shows each job paused
and who paused it ("paused: paused by request of alice (ferry pause)").

`+controlWhere+`

`+controlRefusals+` A VM already paused
(by whoever, or after a failed pass) or cut over (its replication ended)
is said so and left as it is: exit 0, since every VM named ends without
passes (the command may be run twice).`)
}

func newResumeCmd(g *globalFlags) *cobra.Command {
	return newControlCmd(g, false, `Resume the replication of the named VMs (the plan's VM names, separated by
spaces or commas), whoever paused them (ferry pause, a dashboard's p): their
next pass runs now. A job paused after a failed pass is retried (the pass
goes on from what the receiver holds durably). A job paused because a verify
found its replica differs from its source resumes with a full compare of
the replica against the source, which repairs what differs; its cutover
waits for that compare (as after ferry run --verify=VM).

`+controlWhere+`

`+controlRefusals+` A VM cut over is
refused too (its replication ended). A job ferry holds is never released by
ferry resume: ferry status says why it is held and when it ends. A VM not
paused is said so and left as it is (exit 0: every VM named ends
replicating).`)
}

// newControlCmd is ferry pause (pause) or ferry resume.
func newControlCmd(g *globalFlags, pause bool, long string) *cobra.Command {
	var f planFlags
	verb, short := "resume", "Resume the replication of VMs: their next pass runs now"
	if pause {
		verb, short = "pause", "Pause the replication of VMs (no passes until ferry resume)"
	}
	cmd := &cobra.Command{
		Use:   verb + " --plan FILE [--state FILE] VM...",
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			cl, err := dialEngine(&f)
			if err != nil {
				return err
			}
			if cl == nil {
				env, _, lock, err := f.session(g, true)
				if errors.Is(err, steps.ErrStateLocked) {
					// An engine may have started since: it holds the
					// lock, and answers.
					if cl, _ = dialEngine(&f); cl == nil {
						// The dashboard's keys: p pauses, u resumes (not
						// the verb's initial: QA read "resumes ... (r)").
						key := "u"
						if pause {
							key = "p"
						}
						return fmt.Errorf("%w; that ferry replicates this plan itself: a wizard %ss on its replication dashboard (%s); after a ferry run has ended, or once a ferry serve starting now says engine ready, run ferry %s again", err, verb, key, verb)
					}
				} else if err != nil {
					return err
				} else {
					return controlStandalone(cmd, env, lock, pause, args)
				}
			}
			lines, err := cl.Control(cmd.Context(), pause, args)
			var re *engine.RemoteError
			if errors.As(err, &re) && re.Usage {
				return usageError{err}
			}
			if err != nil {
				return fmt.Errorf("the ferry serve engine (%s): %w", cl.Socket, err)
			}
			fmt.Fprintf(out, "ferry: the ferry serve engine (%s) runs this plan's replication:\n", cl.Socket)
			for _, l := range lines {
				fmt.Fprintln(out, l)
			}
			return nil
		},
	}
	f.register(cmd, false)
	keepsNoLog(cmd, "what it did goes to stdout, a refusal or failure to stderr")
	return cmd
}

// controlStandalone pauses (or resumes) the named VMs' jobs in the plan's
// replication store, no engine running, the state file's lock held
// (released when done).
func controlStandalone(cmd *cobra.Command, env *steps.Env, lock *steps.StateLock, pause bool, args []string) error {
	changed := false
	defer func() {
		env.Close(cmd.Context())
		if changed {
			lock.Release()
		} else {
			lock.Discard()
		}
	}()
	verb := "resume"
	if pause {
		verb = "pause"
	}
	names, err := steps.ControlNames(env.Plan(), verb, args)
	if err != nil {
		return usageError{err}
	}
	var lines []string
	if pause {
		lines, err = env.PauseReplication(names, osUser()+" (ferry pause)")
	} else {
		lines, err = env.ResumeReplication(names)
	}
	if _, ok := errors.AsType[*steps.ControlRefused](err); ok || errors.Is(err, session.ErrStoreOwned) {
		return usageError{err}
	}
	changed = err == nil || len(lines) > 0
	for _, l := range lines {
		fmt.Fprintln(cmd.OutOrStdout(), l)
	}
	return err
}

// osUser is this process's user's name.
func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "an unknown user"
}
