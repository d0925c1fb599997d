// Command ferry warm-migrates running VMs from an on-premises vSphere into a
// VMware Cloud Director tenant over a stretched L2 network.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/tui"
)

// Exit codes (docs/architecture.md, "Commands"): 0 ok, 1 failed, 2 usage, 130 aborted.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitAborted = 130
)

// usageError marks bad command-line input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

type globalFlags struct {
	config   string
	insecure bool
	logFile  string
	// helpRefused: --help given with an unknown command or an extra
	// argument (`ferry statsu --help`): refused as without --help, exit 2,
	// not the root's help and exit 0.
	helpRefused error
}

// loadConfig loads --config and the environment (the file wins; a warning
// line on stderr says which variable it overrode); with --insecure, the last
// word, it turns certificate verification off for every endpoint, loudly.
func (g *globalFlags) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, usageError{err}
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(os.Stderr, "ferry: WARNING:", w)
	}
	if err := cfg.Check(); err != nil {
		return nil, usageError{err}
	}
	if g.insecure {
		cfg.SetInsecure("--insecure")
	}
	if w := cfg.InsecureWarning(); w != "" {
		fmt.Fprintln(os.Stderr, "ferry: WARNING:", w)
	}
	return cfg, nil
}

const precedenceHelp = `Precedence, highest first: command-line flags (--insecure), the file named
by --config, the environment, defaults. It is decided per endpoint: when the
file names an endpoint's URL and the environment names another (GOVC_URL for
the on-prem vCenter, VCD_URL for Cloud Director, FERRY_PROVIDER_URL,
FERRY_EDGE_URL, FERRY_RECEIVER_ADDR), the file's endpoint is used, every
environment variable of that endpoint is ignored (a password meant for one
server is never sent to another), and ferry says so in a warning line (the
wizard: in its header). Variables of an endpoint the environment and the file
agree on, or that the file does not name, fill in what the file leaves out.
ferry plan and ferry status print the endpoints they use, how each Cloud
Director login (the provider's, the tenant's) authenticates (password, API
token, token file; never the secret) and where each came from.`

func newRootCmd(g *globalFlags) *cobra.Command {
	var wizardPlan, wizardState string
	var wizardView bool
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Warm-migrate running vSphere VMs into a VMware Cloud Director tenant over a stretched L2 network",
		Long: `ferry is a terminal wizard that takes you from "nothing set up" to "running VM
warm-migrated into a Cloud Director tenant": tenant rights, the trunk network and
L2VPN server, the on-prem L2 appliance, the DC extension, replication with a
short RPO, connectivity checks and a measured cutover.

Endpoints come from --config and from the environment (GOVC_URL, GOVC_USERNAME,
GOVC_PASSWORD, GOVC_TLS_CA_CERTS, GOVC_INSECURE for the on-prem vCenter; VCD_URL,
VCD_USER, VCD_PASSWORD, VCD_ORG for Cloud Director; FERRY_* for the rest).
Cloud Director logins may use an API token instead of a password (VCD_API_TOKEN,
FERRY_TENANT_API_TOKEN, or api_token under vcd: or tenant: in the config), or a
file holding it (..._API_TOKEN_FILE, api_token_file: a service account's
single-use token, which ferry keeps current there); a login's password and
token come from one source, the file's if it gives either.
` + precedenceHelp + `

` + attachHelp + `

Try it without any VMware installation: ferry lab`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tui.CheckTerminal(); err != nil {
				return err
			}
			f := planFlags{plan: wizardPlan, state: wizardState}
			if cl, err := dialEngine(&f); err != nil {
				return err
			} else if cl != nil {
				return attachWizard(cmd.Context(), cl, wizardView)
			}
			if wizardView {
				return usagef("--view watches a ferry serve engine's wizard, and none runs for %s", f.statePath())
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			return tui.Run(cmd.Context(), tui.Options{Config: cfg, PlanPath: wizardPlan, StatePath: wizardState, LogFile: g.logFile})
		},
	}
	root.Flags().StringVar(&wizardPlan, "plan", defaultPlan, "plan file: the wizard reads it if it exists and saves your answers to it (for ferry run)")
	root.Flags().StringVar(&wizardState, "state", "", "state file to resume from (default: next to the plan, PLAN.state.json)")
	root.Flags().BoolVar(&wizardView, "view", false, "with a ferry serve engine running for the state file: attach to its wizard watch-only")
	root.PersistentFlags().StringVar(&g.config, "config", "", "endpoints config file (YAML), e.g. the one ferry lab serve writes; wins over the environment")
	root.PersistentFlags().BoolVar(&g.insecure, "insecure", false, "skip TLS certificate verification (NOT recommended)")
	root.PersistentFlags().StringVar(&g.logFile, "log-file", "", "write logs to this file (default: ferry.log in the state directory)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{switchValueHint(c, err)} })

	root.AddCommand(newLabCmd(g), newPlanCmd(g), newRunCmd(g), newStatusCmd(g), newPauseCmd(g), newResumeCmd(g), newReceiverCmd(g), newBenchCmd(g), newServeCmd(g))
	argsAreUsage(root)
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, a []string) {
		// The arguments --help came with, as parsed: an unknown command
		// is one the command's Args refuses.
		if c.Args != nil && c.Flags().Parsed() {
			if err := c.Args(c, c.Flags().Args()); err != nil {
				g.helpRefused = err
				return
			}
		}
		help(c, a)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help for any command: ferry help run, ferry help bench replicate.",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err == nil && len(rest) > 0 {
				err = unknownCommand(target, rest[0])
			}
			if err != nil {
				return usageError{err}
			}
			return target.Help()
		},
	})
	return root
}

// unknownCommand is the refusal of name, not a command of cmd: with the
// commands it is probably meant to be.
func unknownCommand(cmd *cobra.Command, name string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return fmt.Errorf("unknown command %q for %q%s", name, cmd.CommandPath(), nearname.Hint(name, names))
}

// keepsNoLog gives cmd, a command that writes no log, a --log-file of its
// own in place of the global one, whose help promises ferry.log in the
// state directory: its help says where the command's output goes instead,
// and a --log-file given is refused (exit 2) rather than ignored.
func keepsNoLog(cmd *cobra.Command, output string) {
	var logFile string
	cmd.Flags().StringVar(&logFile, "log-file", "", "not for "+cmd.Name()+": it keeps no log; "+output)
	cmd.PreRunE = func(c *cobra.Command, _ []string) error {
		if logFile != "" {
			return usagef("--log-file %s: %s keeps no log (%s)", logFile, c.CommandPath(), output)
		}
		return nil
	}
}

// notForEndpoints gives cmd and the commands below it a --config and an
// --insecure of their own in place of the global ones, which they would
// take and ignore (they make their own endpoints, or talk to none): their
// help says why (config, insecure), and check refuses either (exit 2).
func notForEndpoints(cmd *cobra.Command, config, insecure string) (check func() error) {
	var cfgFile string
	var skip bool
	cmd.PersistentFlags().StringVar(&cfgFile, "config", "", "not for "+cmd.Name()+": "+config)
	cmd.PersistentFlags().BoolVar(&skip, "insecure", false, "not for "+cmd.Name()+": "+insecure)
	return func() error {
		switch {
		case cfgFile != "":
			return usagef("--config %s: ferry %s reads no endpoints config: %s", cfgFile, cmd.Name(), config)
		case skip:
			return usagef("--insecure: %s", insecure)
		}
		return nil
	}
}

// switchValueHint rewrites pflag's refusal of a value given to a switch (a
// boolean flag: `--rollback=WebApp2`, which pflag reports as a ParseBool
// failure) into what is wrong and what would be valid; for the cutover
// decisions, where the VM names go. Other flag errors are returned as they are.
func switchValueHint(c *cobra.Command, err error) error {
	var iv *pflag.InvalidValueError
	if !errors.As(err, &iv) || iv.GetFlag() == nil || iv.GetFlag().Value.Type() != "bool" {
		return err
	}
	name, val := iv.GetFlag().Name, iv.GetValue()
	msg := fmt.Sprintf("--%s takes no value, not %q: it is a switch (--%s alone, or --%s=false)", name, val, name, name)
	if (name == "rollback" || name == "finish") && c.Flags().Lookup("confirm-cutover") != nil {
		msg += fmt.Sprintf("; the VMs it decides for are named by --confirm-cutover, e.g. --confirm-cutover=%s --%s", val, name)
	}
	return errors.New(msg)
}

// argsAreUsage makes a wrong argument (an unknown command, an extra
// argument) a usage error, exit 2, on cmd and every command below it, as a
// wrong flag is.
func argsAreUsage(cmd *cobra.Command) {
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				if len(a) > 0 && c.HasAvailableSubCommands() {
					// With the commands it is probably meant to be
					// (`ferry statsu`: did you mean status?).
					err = unknownCommand(c, a[0])
				}
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		argsAreUsage(sub)
	}
}

func main() {
	// A dropped SSH session (SIGHUP) stops ferry as SIGTERM does: state
	// saved, a lab cleaned up, a cutover rolled back or finished by its own
	// rules; never killed halfway with the terminal left behind.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go stopOnSignals(cancel, sigs, os.Stderr, os.Exit)
	var g globalFlags
	root := newRootCmd(&g)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && g.helpRefused != nil {
		err = g.helpRefused
	}
	path := "ferry"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	os.Exit(exitCode(ctx, err, path))
}

// stopOnSignals stops ferry on the first SIGINT, SIGTERM or SIGHUP:
// cancel, with the signal as the cause (as signal.NotifyContext does:
// "terminated signal received"). Then it lets an operator cut short what a
// stopped ferry still waits for (a cutover's rollback waits, bounded by the
// plan's timeouts, for the source's guest to finish a shutdown, or for a
// create task to end): a second SIGINT or SIGTERM says what ferry waits
// for and that a third exits at once; the third exits (130), as a kill
// would, leaving what was under way recorded for ferry status and the next
// run, which finishes or rolls it back. Two are needed, so that an
// impatient double ctrl-c does not leave a source powered off. SIGHUP never
// counts as another: a dropped session stops ferry once.
//
// One channel takes every signal, in the order they came. With
// NotifyContext's channel and a second one for the later signals, the
// runtime delivered the first signal to each in turn: ctx could be
// cancelled before the second channel had it, which then counted it as a
// second interrupt (CI: "still stopping" after one SIGTERM, and the next
// interrupt exited at once).
func stopOnSignals(cancel context.CancelCauseFunc, sigs <-chan os.Signal, stderr io.Writer, exit func(int)) {
	first := <-sigs
	cancel(errors.New(first.String() + " signal received"))
	again := 0
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			continue
		}
		if again++; again == 1 {
			fmt.Fprintln(stderr, "ferry: still stopping: what was under way ends by its own rules first (a cutover rolls back, or finishes once the target was powered on), within the plan's timeouts. Interrupt once more to exit at once: what was under way stays recorded, `ferry status` shows it, and the next `ferry run` finishes it or rolls it back.")
			continue
		}
		fmt.Fprintln(stderr, "ferry: exiting now, without waiting: run `ferry status`, then `ferry run` to finish or roll back what was under way.")
		exit(exitAborted)
		return
	}
}

// exitCode prints err and returns the exit code for it; a usage error
// points to the help of the command that refused it (path: "ferry run").
func exitCode(ctx context.Context, err error, path string) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "ferry:", err)
	var ue usageError
	switch {
	// Aborted means the operator stopped ferry (a signal, or ctrl+c in the
	// wizard); a context.Canceled from below (a receiver lost during a
	// pass) is a failure with its cause, not an abort.
	case errors.Is(err, tui.ErrInterrupted) || ctx.Err() != nil:
		return exitAborted
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", path)
		return exitUsage
	default:
		return exitFailed
	}
}
