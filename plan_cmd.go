package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

// defaultPlan is where the wizard saves the operator's answers and where
// ferry plan, run and status look for them.
const defaultPlan = "ferry-plan.yaml"

// planFlags are the flags `ferry plan` and `ferry run` share.
type planFlags struct {
	plan         string
	state        string
	applianceOVF string
}

const stateHelp = `State: ferry records each step's progress and what it created in a state file
(JSON, mode 0600, rewritten atomically after every change), so a second run
resumes where the first one stopped. By default it lives next to the plan file:
plan.yaml -> plan.state.json. Use --state to put it elsewhere. If it is ever
corrupt, ferry says so and changes nothing: move it aside and run again (steps
find what already exists and do not create it twice).

Replication history: one per plan, in a store beside the plan file
(plan.yaml -> plan.replication.db) that belongs to the plan's state file;
another --state for the same plan is refused before anything changes.

Secrets never go in the plan file (ferry rejects one that has a password-like
key): vCenter and Cloud Director passwords come from GOVC_PASSWORD,
VCD_PASSWORD, FERRY_TENANT_PASSWORD (or the config file the lab writes), Cloud
Director API tokens from VCD_API_TOKEN, FERRY_TENANT_API_TOKEN, the L2VPN
pre-shared key from FERRY_L2VPN_PSK.`

// register adds --plan and --state; withOVF adds --appliance-ovf too (for
// the commands that deploy the appliance).
func (f *planFlags) register(cmd *cobra.Command, withOVF bool) {
	cmd.Flags().StringVar(&f.plan, "plan", defaultPlan, "plan file (YAML) with the operator's answers; the wizard saves them there")
	cmd.Flags().StringVar(&f.state, "state", "", "state file (default: next to the plan file, PLAN.state.json)")
	if withOVF {
		cmd.Flags().StringVar(&f.applianceOVF, "appliance-ovf", "", "the vendor's L2VPN client appliance (NSX autonomous edge) .ova/.ovf (overrides the plan's appliance.ovf)")
	}
}

// statePath is --state, or the plan file's name with .state.json.
func (f *planFlags) statePath() string {
	if f.state != "" {
		return f.state
	}
	base := strings.TrimSuffix(f.plan, filepath.Ext(f.plan))
	return base + ".state.json"
}

// session loads the config, the plan (validated: bad answers are usage
// errors) and the state, and returns the env the steps run in. With lock,
// the state file's lock is taken before the state is read (the commands
// that change things: a run that loses the race must not act on a state
// the winner is changing); the caller releases it (StateLock.Release), or
// discards it when it refuses before changing anything (StateLock.Discard:
// no lock file left behind). Without lock, the StateLock is nil.
func (f *planFlags) session(g *globalFlags, lock bool) (env *steps.Env, it steps.Itinerary, sl *steps.StateLock, err error) {
	if f.plan == "" {
		return nil, nil, nil, usagef("--plan FILE: the plan file is empty (the operator's answers, YAML; default %s)", defaultPlan)
	}
	pf, err := steps.LoadPlanFile(f.plan)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, usagef("plan file %s does not exist: answer the wizard (ferry, or ferry lab for the embedded lab) to write it, or pass --plan FILE", f.plan)
	}
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	if f.applianceOVF != "" {
		pf.Appliance.OVF = f.applianceOVF
	}
	it = steps.NewItinerary()
	if err := pf.Locate(pf.Validate(it)); err != nil {
		var ve *steps.ValidationError
		if errors.As(err, &ve) && f.applianceOVF != "" {
			// The value came from the flag, not the file: say so.
			for i, e := range ve.Errs {
				if fe, ok := errors.AsType[*steps.FieldError](e); ok && fe.Key == "appliance.ovf" {
					ve.Errs[i] = fmt.Errorf("--appliance-ovf (in place of the plan's appliance.ovf): %w", fe.Err)
				}
			}
		}
		return nil, nil, nil, usageError{err}
	}
	pf.ApplyDefaults(it)

	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	if lock {
		if sl, err = steps.LockStateFile(f.statePath()); err != nil {
			return nil, nil, nil, err
		}
	}
	st, err := steps.LoadState(f.statePath())
	if err == nil {
		err = st.BindPlan(f.plan)
		if err != nil {
			err = usageError{err}
		}
	}
	if err != nil {
		sl.Discard()
		return nil, nil, nil, err
	}
	env = steps.NewEnv(cfg, pf, st)
	if lock {
		// ferry status shows it; what would act on the plan refuses it.
		if err := env.CheckDroppedCutovers(); err != nil {
			sl.Discard()
			return nil, nil, nil, usageError{err}
		}
	}
	return env, it, sl, nil
}

// planReference lists every plan file key the itinerary's steps read,
// generated from their fields so it cannot drift from the validators.
func planReference() string {
	var b strings.Builder
	seen := map[string]bool{}
	// Defaults derived from another answer show it as a placeholder.
	empty := &steps.PlanFile{Org: "<org>"}
	for i, st := range steps.NewItinerary() {
		var lines []string
		for _, f := range st.Step.Fields() {
			if seen[f.Key] {
				continue
			}
			seen[f.Key] = true
			line := fmt.Sprintf("  %-32s %s", f.Key, f.Description)
			if f.Default != nil {
				if d := f.Default(empty); d != "" {
					line += " [default " + d + "]"
				}
			}
			if f.Required {
				line += " (required)"
			}
			lines = append(lines, line)
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "step %d, %s (%s):\n%s\n", i+1, st.Step.Title(), st.Step.ID(), strings.Join(lines, "\n"))
		}
	}
	var other []string
	covered := func(k string) bool { // a key, or a group whose keys a step lists
		for f := range seen {
			if f == k || strings.HasPrefix(f, k+".") {
				return true
			}
		}
		return false
	}
	for _, k := range steps.PlanKeys() {
		if covered(k) {
			continue
		}
		d, ok := otherKeys[k]
		if !ok {
			d = "(undocumented: add it to otherKeys in plan_cmd.go)"
		}
		other = append(other, fmt.Sprintf("  %-32s %s", k, d))
	}
	if len(other) > 0 {
		fmt.Fprintf(&b, "more keys (migration, acknowledgements):\n%s\n", strings.Join(other, "\n"))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// otherKeys describes the plan file keys no step declares as a field (the
// VM list, provider placement, probes, cutover tuning); TestPlanHelpListsEveryKey
// fails when a key of steps.PlanFile is missing here.
var otherKeys = map[string]string{
	"appliance.ovf_networks":      "the appliance OVF's networks -> uplink or sink, over ferry's table of the NSX autonomous edge OVA (for other versions; \"\" removes an entry)",
	"appliance.ovf_properties":    "the appliance OVF's properties -> ip, netmask, prefix, gateway, egress_gateway, hostname, edge_password or =text, over ferry's table",
	"job":                         "a name for the migration job, for people (default: <first VM>-Migration)",
	"skip":                        "a list of step IDs not to run (e.g. [rights] when a provider administrator publishes them)",
	"vms":                         "the VMs to migrate, a list of:",
	"vms[].name":                  "  the on-prem VM (required)",
	"vms[].target_vapp":           "  the vApp it lands in (default: the VM's name; an existing vApp gets the VM added)",
	"vms[].target_network":        "  the org VDC network its NIC joins (default: network.name)",
	"vms[].storage_profile":       "  the VDC storage policy of its disks (default: the VDC's default policy)",
	"vms[].rpo":                   "  its RPO (default: rpo)",
	"vms[].power_on":              "  true/false: power it on after the cutover (default true)",
	"vms[].keep_bios_uuid":        "  true: the target keeps the source's BIOS UUID (software licensed to it); default false, a new one",
	"vms[].mode":                  "  warm (replicate while it runs, short cutover window) or cold (one pass with the VM off, no snapshot; a running VM is shut down at the start of its cutover window); default: warm if it runs, cold if it is off",
	"bandwidth_mbit":              "cap on all replication traffic together, megabits per second (default 0: no cap); final passes (downtime) first",
	"concurrent_passes":           "how many VMs' replication passes run at once, each with a snapshot at the source (default 4, 1 to 32)",
	"provider":                    "where the provider vCenter keeps the migrated VMs:",
	"provider.datacenter":         "  its datacenter (default: the only one)",
	"provider.resource_pool":      "  the resource pool backing the org VDC",
	"provider.datastore":          "  the datastore on which the provider vCenter creates the replica disks (ferry-replicas/<org>/<vm>/)",
	"provider.receiver_kind":      "  how the receiver writes them: appliance (default: disks hot-added to the receiver appliance) or nfs",
	"provider.receiver_vm":        "  the receiver appliance: the provider VM that runs `ferry receiver` (kind appliance)",
	"provider.network":            "  the port group backing the stretched org VDC network",
	"networks":                    "source port group -> org VDC network, for every NIC of the migrated VMs (the stretched port group defaults to the VM's target network)",
	"probes":                      "connectivity probes watched before, during and after the cutover, a list of:",
	"probes[].name":               "  the probe's name (default: probe N)",
	"probes[].vm":                 "  the migrated VM it watches: its outage is that VM's measured downtime",
	"probes[].vms":                "  further VMs it depends on (a web tier and its database): cut over in one wave, it is judged once all of them are up",
	"probes[].tcp":                "  host:port to connect to",
	"probes[].icmp":               "  host to ping",
	"probes[].from":               "  ping from inside this guest (VMware Tools; login from FERRY_GUEST_USER/PASSWORD) ...",
	"probes[].to":                 "  ... to this address",
	"cutover":                     "cutover tuning:",
	"cutover.shutdown_timeout":    "  how long a guest shutdown may take (default 2m)",
	"cutover.hard_power_off":      "  power the source off hard after that timeout (default true)",
	"cutover.probe_interval":      "  how often probes run during the cutover (default 250ms)",
	"cutover.green_timeout":       "  how long the probes may take to answer after power-on before rolling back (default 3m)",
	"cutover.parallel":            "  how many VMs confirmed together (a wave) are cut over at once, 1 to 32 (default 4); each keeps its own rollback",
	"cutover.full_verify":         "  true: hash whole disks on both sides inside the downtime window instead of the final pass's blocks and the digest-map roots (default false; its time is in the report)",
	"test_migration":              "test migrations (ferry run --test-migrate NAMES):",
	"test_migration.network":      "  the ISOLATED org VDC network (no uplink) the test copies run on, with the sources' MACs and addresses (the wizard asks it when t is pressed on the replication dashboard while none is named)",
	"test_migration.boot_timeout": "  how long VMware Tools may take to run in a copy after power-on (default 3m)",
	"snapshot_reserve":            "free space a replication pass needs on the datastore of the source VM's snapshot deltas (its working directory) before it takes its snapshot; below half of it a pass stops and removes its snapshot (default 4GiB, 1GiB to 1TiB)",
	"verify_every":                "interval between full compares of each replica with its source while the VM runs, after the first one right after the initial sync (default 24h, 1h to 720h)",
}

func newPlanCmd(g *globalFlags) *cobra.Command {
	var (
		f      planFlags
		asJSON bool
		redo   string
	)
	cmd := &cobra.Command{
		Use:   "plan --plan FILE [--state FILE] [--redo STEPS]",
		Short: "Print what the itinerary's steps would change; change nothing",
		Long: `Print, step by step, what ferry run would create or change (+ create,
~ update, = exists, ? check (a probe), ! conflict), in 80 columns: a longer
line goes on below, indented, a quoted name (a right's) kept whole on one
line; for scripts, --json. Nothing is changed, not even the state file.
Exit 1 when a step cannot be planned, or when a step a run would run shows a
conflict (ferry run refuses to start for it).
Steps the plan skips, or that do not apply, say why. With --json the plans
are one JSON array (index, step, title, status, skipped, redo, answers_changed,
items, changes, error), the plan lines as items; items' fields: ` + itemFieldsHelp + `.

--redo=STEPS plans what ferry run --redo=STEPS would do: those steps, done
already, are marked to run again, and the steps after them plan as if they
had not run (the recovery a drift warning names, such as
--redo=trunk-network,dc-extension after the tunnel was deleted).

While a ferry serve engine runs for the state file, the engine plans (it
holds the plan's replication store) with its endpoints and the plan it
loaded; a plan file edited since is refused, naming the keys that changed.

` + stateHelp + `

Plan file keys:
` + planReference(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var redoSteps []string
			if cmd.Flags().Changed("redo") {
				var err error
				if redoSteps, err = steps.RedoSteps(steps.NewItinerary(), redo); err != nil {
					return usageError{err}
				}
			}
			env, it, _, err := f.session(g, false)
			if err == nil {
				// A run of this plan would refuse it.
				if derr := env.CheckDroppedCutovers(); derr != nil {
					env.Close(cmd.Context())
					err = usageError{derr}
				}
			}
			if err != nil {
				return err
			}
			defer env.Close(cmd.Context())
			var (
				plans   []steps.StagePlan
				origins []config.Origin
			)
			if cl, err := dialEngine(&f); err != nil {
				return err
			} else if cl != nil {
				// The engine holds the plan's replication store: it plans,
				// with its endpoints and the plan it runs.
				if f.applianceOVF != "" {
					return usagef("--appliance-ovf: a ferry serve engine runs this plan (%s) with the plan's appliance.ovf; set it in the plan file and restart the engine", cl.Socket)
				}
				plans, origins, err = cl.Plan(cmd.Context(), it, redo)
				var re *engine.RemoteError
				if errors.As(err, &re) && re.Usage {
					return usageError{err}
				}
				if plans == nil && err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "ferry: planned by the ferry serve engine (%s)\n", cl.Socket)
				return printPlans(cmd, plans, origins, asJSON, planRefusal(cmd.Context(), it, plans, err))
			}
			if err := env.CheckReplicationStore(); err != nil {
				if errors.Is(err, session.ErrStoreOwned) {
					return usageError{err}
				}
				return err
			}
			r := &steps.Runner{Itinerary: it, Env: env, Redo: redoSteps}
			plans, err = r.PlanAll(cmd.Context())
			return printPlans(cmd, plans, env.Config.Origins(), asJSON, planRefusal(cmd.Context(), it, plans, err))
		},
	}
	f.register(cmd, true)
	keepsNoLog(cmd, "the plans go to stdout, a refusal to stderr")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plans as JSON")
	cmd.Flags().StringVar(&redo, "redo", "", "plan as ferry run --redo would: these steps (comma-separated step ids) run again though they are done, and the steps after them plan accordingly")
	return cmd
}

// planRefusal is err (the plans' errors) with the conflicts ferry run
// would refuse to start for, so that ferry plan exits 1 for them too; or,
// when ferry plan was stopped (a signal), what that left.
func planRefusal(ctx context.Context, it steps.Itinerary, plans []steps.StagePlan, err error) error {
	if ctx.Err() != nil {
		return planInterrupted(ctx, it, plans)
	}
	if cerr := steps.PlanConflicts(it, plans); cerr != nil {
		return errors.Join(err, fmt.Errorf("a run would be refused: %w", cerr))
	}
	return err
}

// planInterrupted says what a ferry plan stopped by the operator left:
// nothing (a plan changes nothing, not even the state file), and which
// steps it did not plan. QA h3: SIGTERM printed only "context canceled".
func planInterrupted(ctx context.Context, it steps.Itinerary, plans []steps.StagePlan) error {
	cause := context.Cause(ctx)
	if len(plans) == 0 {
		return &interruptedPlan{fmt.Sprintf("interrupted (%v) before any step was planned: nothing was changed (ferry plan changes nothing, not even the state file)", cause), ctx.Err()}
	}
	last := plans[len(plans)-1]
	var left string
	switch n := len(it) - last.Index; {
	case n == 1:
		left = fmt.Sprintf("; step %d was not planned", last.Index+1)
	case n > 1:
		left = fmt.Sprintf("; steps %d to %d were not planned", last.Index+1, len(it))
	}
	return &interruptedPlan{fmt.Sprintf("interrupted (%v) while planning step %d of %d (%s)%s: nothing was changed (ferry plan changes nothing, not even the state file); run it again for the whole plan", cause, last.Index, len(it), last.Step.Title(), left), ctx.Err()}
}

// interruptedPlan is planInterrupted's error: its message, and the
// context's error (errors.Is context.Canceled) without repeating it.
type interruptedPlan struct {
	msg string
	err error
}

func (e *interruptedPlan) Error() string { return e.msg }
func (e *interruptedPlan) Unwrap() error { return e.err }

// printPlans prints plans (as JSON with asJSON) after the endpoints they
// were made with, and returns err (the plans' error).
func printPlans(cmd *cobra.Command, plans []steps.StagePlan, origins []config.Origin, asJSON bool, err error) error {
	if asJSON {
		// stdout stays one JSON document; the endpoints go beside it.
		writeOrigins(cmd.ErrOrStderr(), origins)
		if jerr := writePlansJSON(cmd.OutOrStdout(), plans); jerr != nil {
			return jerr
		}
	} else {
		writeOrigins(cmd.OutOrStdout(), origins)
		writePlansText(cmd.OutOrStdout(), plans)
	}
	return err
}

// writePlansText writes steps.WritePlans's lines in textWidth (QA: step
// lines of 120 columns and more): each line word-wrapped, its next lines
// two columns deeper than it (a plan line's after its mark, "+ "). A
// quoted name (a right, "Organization vDC Gateway: Configure L2 VPN") is
// not broken, so that grep finds it whole.
func writePlansText(w io.Writer, plans []steps.StagePlan) {
	var b strings.Builder
	steps.WritePlans(&b, plans)
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))] + "  "
		for _, l := range wrapIndented(unbreakQuoted(line, textWidth-len(indent)), textWidth, indent) {
			fmt.Fprintln(w, strings.ReplaceAll(l, unbrokenSpace, " "))
		}
	}
}

// unbrokenSpace stands for a space wrapIndented must not break a line at
// (not a space to strings.Fields, one column wide); it is made a space
// again once the line is wrapped.
const unbrokenSpace = "\ue000"

// unbreakQuoted is s with the spaces inside each double-quoted string (as
// %q quotes a plan item's name) up to room columns wide made
// unbrokenSpace; a longer one, or a quote left open, is left as it is.
func unbreakQuoted(s string, room int) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		end := i + 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) {
			break // not closed
		}
		q := s[i : end+1]
		if ansi.StringWidth(q) <= room {
			q = strings.ReplaceAll(q, " ", unbrokenSpace)
		}
		b.WriteString(s[:i] + q)
		s = s[end+1:]
	}
	return b.String() + s
}

// writeOrigins lists the endpoints a command talks to, how each Cloud
// Director login authenticates (never its secret) and where each came from
// (--config or the environment), so an admin with several environments
// sees which one this is before anything happens.
func writeOrigins(w io.Writer, o []config.Origin) {
	if len(o) == 0 {
		fmt.Fprintln(w, "Endpoints: none configured (--config FILE, or GOVC_URL, VCD_URL, ...)")
		return
	}
	logins := slices.ContainsFunc(o, func(e config.Origin) bool { return e.Login != "" })
	row := func(e config.Origin, login string) []string {
		if !logins {
			return []string{e.Endpoint, e.URL, e.From}
		}
		return []string{e.Endpoint, e.URL, login, e.From}
	}
	t := table{row(config.Origin{Endpoint: "ENDPOINT", URL: "URL", From: "FROM"}, "LOGIN")}
	for _, e := range o {
		t = append(t, row(e, e.Login))
	}
	if t.lastColumn() >= longestFrom(o) {
		t.write(w)
		fmt.Fprintln(w)
		return
	}
	// Wider than textWidth (a --config file deep in a directory): where
	// they came from below the table, once per origin.
	for i := range t {
		t[i] = t[i][:len(t[i])-1]
	}
	// A token file's path too (a path is never broken in the table).
	var files []string
	if logins && t.lastColumn() < longestLogin(o) {
		for i, e := range o {
			if path, ok := strings.CutPrefix(e.Login, "token file "); ok {
				t[i+1][2] = "token file (below)"
				files = append(files, e.Endpoint+"'s token file: "+path)
			}
		}
	}
	t.write(w)
	for _, f := range files {
		printWrapped(w, f, "  ")
	}
	var froms []string
	by := map[string][]string{}
	for _, e := range o {
		if _, ok := by[e.From]; !ok {
			froms = append(froms, e.From)
		}
		by[e.From] = append(by[e.From], e.Endpoint)
	}
	// An origin ("--config FILE") is never broken: the path is one to copy.
	for _, f := range froms {
		which := strings.Join(by[f], ", ")
		switch {
		case len(froms) == 1 && ansi.StringWidth("all from "+f) <= textWidth:
			fmt.Fprintln(w, "all from "+f)
		case len(froms) == 1:
			fmt.Fprintf(w, "all from:\n  %s\n", f)
		case ansi.StringWidth("from "+f+": "+which) <= textWidth:
			fmt.Fprintln(w, "from "+f+": "+which)
		default:
			fmt.Fprintf(w, "from %s:\n", f)
			printWrapped(w, "  "+which, "  ")
		}
	}
	fmt.Fprintln(w)
}

// longestLogin is the width of the longest login of o.
func longestLogin(o []config.Origin) int {
	n := 0
	for _, e := range o {
		n = max(n, ansi.StringWidth(e.Login))
	}
	return n
}

// longestFrom is the width of the longest origin of o.
func longestFrom(o []config.Origin) int {
	n := 0
	for _, e := range o {
		n = max(n, ansi.StringWidth(e.From))
	}
	return n
}

func writePlansJSON(w io.Writer, plans []steps.StagePlan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(steps.PlanDocs(plans))
}
