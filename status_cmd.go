package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

func newStatusCmd(g *globalFlags) *cobra.Command {
	var (
		f      planFlags
		asJSON bool
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "status --plan FILE [--state FILE] [--json]",
		Short: "Replication jobs and their health",
		Long: `Show the itinerary's progress and, for every VM of the plan, its replication
job: the last complete pass, its age against the RPO, and whether the job is
paused and why (who paused it: "paused by request of alice (ferry pause)";
a failed pass; ferry's own hold). ferry pause and ferry resume pause and
resume jobs. It reads the state only; it changes nothing and contacts no
endpoint, but lists the endpoints the plan's commands talk to, how each Cloud
Director login (the provider administrator's, the tenant's) authenticates
(password, API token, or token file and its path; never the secret) and where
each came from (--config or the environment). While a wizard or a run holds the
replication data, it shows the steps, names the process that holds it, and
exits 1 (it does not wait).

JSON (--json): {"steps": [{"step", "status", "summary", "error"}], "jobs":
[{"vm", "rpo", "phase", "rpo_health", "last_pass", "age_ns", "passes", "health",
"running" and "pass_age_ns" (a pass runs, for so long), "next_pass" (when the
scheduler has the next one due), "queued" (it is due and waits for a free pass
slot: "pass_slots" passes, concurrent_passes, run at once), "paused", "held", "reason", "waiting" (why no
pass runs though the job is not paused), "compare_due", "replica_differs", "last_compare": {"time", "duration_ns",
"blocks", "differing", "repaired", "unreported", "resumed", "resumed_blocks",
"started_over", "earlier_differing", "earlier_repaired", "earlier_unreported"},
"in_flight": {"kind", "durable_bytes", "size_bytes"}, "compare_in_flight":
{"blocks", "total_blocks", "differing", "repaired", "unreported"}}],
"endpoints": [{"endpoint", "url", "login", "from"}] ("login": how a Cloud
Director login authenticates: password, API token, token file PATH),
"jobs_error", "tests_left_running"
(VMs whose test migration was not cleaned up: ferry run --test-cleanup),
"dropped_cutovers" (cutovers left unfinished of VMs the plan no longer lists:
what is wrong and what to do),
"engine": {"pid", "socket", "since", "busy", "attached": [{"user",
"fingerprint", "role", "remote", "via", "since"}]}}. A step's status is pending,
running (a ferry run, the wizard or the engine runs it now), done, failed,
skipped or interrupted (the state says it was running, but no ferry runs it:
its process was killed or stopped; the next ferry run, or the wizard, runs
it again; a cutover step stopped once its VMs' cutovers had ended says how
each ended instead: a rolled back VM is not cut over, rolled back when, and
--confirm-cutover=VM cuts it over again); the text output says the same. A job's in_flight is a pass
started and not committed: the one running, or one interrupted (a stop, a
crash) that the next pass resumes in its snapshot; durable_bytes is what of it
the receiver acknowledged durable (not sent again when it resumes), of
size_bytes, all that it covers of the disks: the bytes its run counts as
acknowledged of its total. A job's compare_in_flight is a
full compare in flight: with no ferry running the job, one interrupted (a
stop, a crash) after blocks of total_blocks were compared, having found
differing blocks (repaired of them checked); the next pass goes on with it
(compare_due), from there in the same snapshot, or from block 0 keeping
what it found if the snapshot is gone. A job's phase is replicating, paused,
held (ferry holds it for its own work, which held names: its cutover or a test
migration; health says why, and, for a hold a stopped ferry left, whether the
next wizard or ferry serve resumes it or it waits for the cutover to run
again), failed (a failed pass, or a cutover verify that found the replica
differs from its source, paused it), cutting over, cut over, or stopped (it
would replicate, but no ferry serve, wizard or ferry run runs for the plan:
nothing does; its rpo_health still says how old its replica is); compare_due says its next
pass is a full compare (by its schedule, verify_every, or after such a verify:
ferry run --verify=VM runs it, repairs the replica and resumes the job);
replica_differs says a verify found the replica differs from its source and
that compare has not repaired it yet; its rpo_health is
unknown (no complete pass yet), ok, lagging (a pass longer than RPO/2) or
missed (the last complete pass is older than the RPO), or none (no RPO to
keep: a cold migration, no pass every RPO; or a VM cut over, its replication
ended); health says the status in words.

While a ferry serve engine runs for the state file, the status comes from it
(the "engine" key says which; the text output's first line too): live, with
the sessions attached to it.

--follow prints the last events of the engine's event log (plan.events.jsonl
beside the state file) and then every new one as it is written, until
interrupted; it follows the log across rotations and waits for it if no
engine has written one yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if follow {
				return followEvents(cmd.Context(), out, engine.EventLogPath(f.statePath()), asJSON)
			}
			cl, err := dialEngine(&f)
			if err != nil {
				return err
			}
			if cl != nil {
				st, err := cl.Status(cmd.Context())
				if st.Engine == nil {
					return err // no document: the engine did not answer
				}
				return printStatus(out, st, asJSON, st.Engine.Busy == "")
			}
			env, it, _, err := f.session(g, false)
			if err != nil {
				return err
			}
			defer env.Close(cmd.Context())
			// The steps come from the state file and are shown even when
			// the replication data cannot be read (a running ferry holds
			// it); then the command says so and exits 1.
			st, jobsErr := engine.StatusOf(env, it, time.Now())
			if errors.Is(jobsErr, session.ErrStoreOwned) {
				return usageError{jobsErr}
			}
			// Without an engine, a step runs while a ferry process holds
			// the state file's lock, and that process is the one that
			// began it (QA: a wizard restarted after a kill -9 during
			// step 6 had the step called running, though it ran no step).
			holder := steps.StateHolder(f.statePath())
			idle := holder == 0
			runs := func(id string) bool {
				pid := env.State.Get(id).PID
				return !idle && (pid == 0 || pid == holder)
			}
			engine.EndedCutover(env, &st, !runs("cutover"))
			if !idle {
				st.Steps = slices.Clone(st.Steps)
				for i, s := range st.Steps {
					if s.Status == string(steps.StatusRunning) && !runs(s.Step) {
						interrupt(&st.Steps[i], fmt.Sprintf(heldInterruptedSummary, holder))
					}
				}
			}
			return printStatus(out, st, asJSON, idle)
		},
	}
	f.register(cmd, false)
	keepsNoLog(cmd, "the status goes to stdout, a failure to stderr")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the event log (passes, steps, sessions) until interrupted; with --json, its JSON lines as they are")
	return cmd
}

// statusInterrupted is the status ferry status gives a step the state
// records as running while nobody runs it (interruptedSummary says so).
const (
	statusInterrupted  = "interrupted"
	interruptedSummary = "its run stopped midway (the process was killed or stopped); the next ferry run, or the wizard, runs it again"
	// interruptedEndedSummary begins the summary of a cutover step whose
	// run stopped once its VMs' cutovers had ended (the rest says how).
	interruptedEndedSummary = "its run stopped (the process was killed or stopped) once its VMs' cutovers had ended: "
	// heldInterruptedSummary is interruptedSummary while another ferry
	// process (%d) holds the plan without running the step.
	heldInterruptedSummary = "its run stopped midway (the process was killed or stopped); ferry process %d, which holds the plan now (a wizard or a ferry run), has not run it again: the wizard does when told to (enter on the step), a ferry run when it gets to it"
)

// interrupt makes s, recorded running while nobody runs it, interrupted,
// its summary saying so (a cutover step's says how its VMs' cutovers
// ended, engine.EndedCutover).
func interrupt(s *engine.StepStatus, summary string) {
	ended := s.Summary
	s.Status, s.Summary = statusInterrupted, summary
	if s.Step == "cutover" && ended != "" {
		// Its VMs' cutovers ended (engine.EndedCutover): no run runs
		// it again.
		s.Summary = interruptedEndedSummary + ended
	}
}

// stoppedSummary begins the health of a job nothing replicates now.
const stoppedSummary = "not replicating: no ferry serve, wizard or ferry run is running for this plan (ferry serve replicates every RPO in the background)"

// printStatus prints a status document as text or JSON; its jobs error
// (the replication data held by another ferry) is the command's error.
// idle says that nobody runs steps now: a step the state records as
// running was then interrupted (its process was killed or stopped), and
// the text says so rather than "running".
func printStatus(out io.Writer, st engine.Status, asJSON, idle bool) error {
	var jobsErr error
	if st.JobsError != "" {
		jobsErr = errors.New(st.JobsError)
	}
	if idle {
		// The JSON tells the same truth as the text: a step the state
		// records as running, with nobody running it, is interrupted.
		st.Steps = slices.Clone(st.Steps)
		for i, s := range st.Steps {
			if s.Status == string(steps.StatusRunning) {
				interrupt(&st.Steps[i], interruptedSummary)
			}
		}
		if st.Engine == nil {
			// Nothing replicates: a job the record calls replicating
			// is stopped, whatever its last pass's age says.
			st.Jobs = slices.Clone(st.Jobs)
			for i, j := range st.Jobs {
				if j.Phase == replication.JobReplicating && j.Health != replication.HealthNone {
					st.Jobs[i].JobStatus = j.WithPhase(replication.JobStopped)
					st.Jobs[i].Summary = stoppedSummary + "; " + j.Summary
					// The record's "ok" is of a job that replicates (QA:
					// "...; ok; its cutover, interrupted ...").
					if rest, ok := strings.CutPrefix(j.Summary, "ok"); ok && (rest == "" || strings.HasPrefix(rest, "; ")) {
						st.Jobs[i].Summary = stoppedSummary + "; its last pass is still within the RPO" + rest
					}
				}
			}
		}
	}
	if asJSON {
		if err := json.NewEncoder(out).Encode(st); err != nil {
			return err
		}
		return jobsErr
	}
	if e := st.Engine; e != nil {
		// The socket on a line of its own: a plan's directory may be deep.
		fmt.Fprintf(out, "Engine: ferry serve, pid %d, running since %s\n", e.PID, e.Since.Local().Format("2006-01-02 15:04:05"))
		printWrapped(out, "  socket: "+e.Socket, "    ")
		if e.Busy != "" {
			printWrapped(out, "  running steps for "+e.Busy, "    ")
		}
		for _, a := range e.Attached {
			if a.Fingerprint == "" {
				printWrapped(out, fmt.Sprintf("  attached: %s (%s) from a %s terminal, %s", a.User, a.Role, a.Via, a.Remote), "    ")
				continue
			}
			printWrapped(out, fmt.Sprintf("  attached: %s (%s) from %s, key %s", a.User, a.Role, a.Remote, a.Fingerprint), "    ")
		}
		fmt.Fprintln(out)
	}
	writeOrigins(out, st.Endpoints)
	printSteps(out, st.Steps)
	for _, d := range st.Dropped {
		fmt.Fprintln(out)
		printWrapped(out, "UNFINISHED CUTOVER OUTSIDE THE PLAN: "+d, "  ")
	}
	if len(st.Tests) > 0 {
		whose := "its copy"
		if len(st.Tests) > 1 {
			whose = "their copies" // QA: "WebApp1, WebApp6 (its copy ...)"
		}
		fmt.Fprintln(out)
		printWrapped(out, fmt.Sprintf("TEST MIGRATION LEFT RUNNING: %s (%s and the receiver appliance's snapshot may be at the provider; the cutover waits): ferry run --test-cleanup", strings.Join(st.Tests, ", "), whose), "  ")
	}
	if jobsErr != nil {
		return jobsErr
	}
	printJobs(out, st.Jobs, time.Now())
	return nil
}

// printSteps prints the steps table, in textWidth as the jobs table is: a
// summary (or error) longer than the room left has its first words there,
// "(below)", and the whole of it under the table.
func printSteps(out io.Writer, ss []engine.StepStatus) {
	titles := map[string]string{}
	for _, s := range steps.NewItinerary() {
		titles[s.Step.ID()] = s.Step.Title()
	}
	t := table{{"STEP", "STATUS", "SUMMARY"}}
	for i, s := range ss {
		t = append(t, []string{fmt.Sprintf("%d %s", i+1, titles[s.Step]), s.Status, ""})
	}
	room := t.lastColumn()
	var details []string
	for i, s := range ss {
		summary := s.Summary
		if s.Error != "" {
			summary = s.Error
		}
		short := shortProse(summary, room)
		if short != summary {
			details = append(details, t[i+1][0]+": "+summary)
			short += belowMark
		}
		t[i+1][2] = short
	}
	t.write(out)
	if len(details) > 0 {
		fmt.Fprintln(out)
	}
	for _, d := range details {
		printWrapped(out, d, "  ")
	}
}

// printJobs prints the jobs table, in textWidth (kubectl's way: the
// columns one reads down, the rest below): VM, RPO, LAST PASS, NEXT PASS,
// HEALTH; a health longer than the room left has its first words there,
// "(below)", and the whole of it under the table; a VM's name too long
// to leave the health its room is on a line of its own, its row below it
// (table.wrapFirst). Then the last full compare of each VM: when, blocks
// compared, differing and repaired, and under that table whatever else it
// says (blocks unreported, resumed, started over). now decides how a time
// is shown (passTime).
func printJobs(out io.Writer, jobs []steps.VMStatus, now time.Time) {
	t := table{{"VM", "RPO", "LAST PASS", "NEXT PASS", "HEALTH"}}
	for _, j := range jobs {
		last := "-"
		if !j.LastPass.IsZero() {
			last = passTime(j.LastPass, now)
		}
		t = append(t, []string{j.VM, fmt.Sprint(j.RPO), last, nextPass(j, now), ""})
	}
	room := t.wrapFirst(minHealth).lastColumn()
	var below []healthDetail
	for i, j := range jobs {
		h := j.HealthLine()
		short := shortProse(h, room)
		if short != h {
			below = append(below, healthDetail{vm: j.VM, health: h})
			short += belowMark
		}
		t[i+1][4] = short
	}
	t.wrapFirst(minHealth).writeWithDetails(out, sayHealthsOnce(below))
	if len(jobs) == 0 {
		return
	}
	c := table{{"VM", "LAST FULL COMPARE", "BLOCKS", "DIFFERING", "REPAIRED"}}
	var details []string
	for _, j := range jobs {
		lc := j.LastCompare
		if lc == nil {
			c = append(c, []string{j.VM, "never", "-", "-", "-"})
			continue
		}
		c = append(c, []string{j.VM, lc.Time.Local().Format("2006-01-02 15:04:05"), fmt.Sprint(lc.Blocks), fmt.Sprint(lc.Differing), fmt.Sprint(lc.Repaired)})
		// What else it says (blocks CBT did not report, a resumed or
		// restarted scan), whole below.
		sum := lc.Summary()
		basic := fmt.Sprintf("%s: %d blocks compared, %d differing, %d repaired", lc.Time.Local().Format("2006-01-02 15:04:05"), lc.Blocks, lc.Differing, lc.Repaired)
		if sum != basic {
			details = append(details, j.VM+": last full compare "+sum)
		}
	}
	c.wrapFirst(len("REPAIRED")).writeWithDetails(out, details)
}

// healthDetail is a job's health said whole below the jobs table.
type healthDetail struct {
	vm, health string
}

// sayHealthsOnce is the jobs table's details, "VM: health": the healths
// that are the same but for their own VM's name and the times in them are
// said once for them all, where the first was, naming them (QA: with a
// wave's cutover interrupted, ferry status repeated the ten lines of "held
// by its cutover, ..." once per VM; so it did "not replicating: no ferry
// serve, ..." for every VM while nothing replicates). Healths that differ
// otherwise ("still within the RPO", "RPO missed") are said apart. A time
// that differs between them is given for each ("09:30:00 (WebApp1) and
// 09:30:02 (WebApp2)"), a VM's name is "VM" ("--confirm-cutover=VM").
func sayHealthsOnce(ds []healthDetail) []string {
	type group struct {
		tmpl  string
		vms   []string
		times [][]string
	}
	var groups []*group
	var out []string
	at := map[*group]int{} // the group's line in out
	for _, d := range ds {
		tmpl, times := healthTemplate(d.health, d.vm)
		i := slices.IndexFunc(groups, func(g *group) bool { return g.tmpl == tmpl })
		if i < 0 {
			groups = append(groups, &group{tmpl: tmpl})
			i = len(groups) - 1
			at[groups[i]] = len(out)
			out = append(out, d.vm+": "+d.health)
		}
		g := groups[i]
		g.vms, g.times = append(g.vms, d.vm), append(g.times, times)
	}
	for _, g := range groups {
		if len(g.vms) < 2 {
			continue
		}
		parts := strings.Split(g.tmpl, "\x00")
		var b strings.Builder
		b.WriteString(parts[0])
		slot := 0
		for _, p := range parts[1:] {
			// Each begins with its mark: n (the VM's name) or t (a time).
			if p[0] == 'n' {
				b.WriteString("VM")
			} else {
				b.WriteString(joinTimes(g.vms, g.times, slot))
				slot++
			}
			b.WriteString(p[1:])
		}
		out[at[g]] = steps.AndList(g.vms) + ", each: " + b.String()
	}
	return out
}

// clockRE matches the times a health gives (a date and time, or a time
// of day).
var clockRE = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d\d:\d\d:\d\d`)

// healthTemplate is h with its times and vm's name (whole, not inside
// another name) marked: "\x00t" and "\x00n" in place of them, each
// ending where a NUL follows; times are the times in order.
func healthTemplate(h, vm string) (tmpl string, times []string) {
	h = clockRE.ReplaceAllStringFunc(h, func(t string) string {
		times = append(times, t)
		return "\x00t"
	})
	nameChar := func(r byte) bool {
		return r == '-' || r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	var b strings.Builder
	for {
		i := strings.Index(h, vm)
		if i < 0 || vm == "" {
			b.WriteString(h)
			break
		}
		end := i + len(vm)
		if (i > 0 && nameChar(h[i-1])) || (end < len(h) && nameChar(h[end])) {
			b.WriteString(h[:end])
			h = h[end:]
			continue
		}
		b.WriteString(h[:i] + "\x00n")
		h = h[end:]
	}
	return b.String(), times
}

// joinTimes is the slot-th time of a group's healths: the one they
// share, or each VM's ("09:30:00 (WebApp1) and 09:30:02 (WebApp2)").
func joinTimes(vms []string, times [][]string, slot int) string {
	same := true
	for _, ts := range times {
		same = same && ts[slot] == times[0][slot]
	}
	if same {
		return times[0][slot]
	}
	each := make([]string, len(vms))
	for i, vm := range vms {
		each[i] = times[i][slot] + " (" + vm + ")"
	}
	return steps.AndList(each)
}

// writeWithDetails prints a blank line, the table, then details (what
// did not fit its rows), wrapped, after a blank line.
func (t table) writeWithDetails(out io.Writer, details []string) {
	fmt.Fprintln(out)
	t.write(out)
	if len(details) > 0 {
		fmt.Fprintln(out)
	}
	for _, d := range details {
		printWrapped(out, d, "  ")
	}
}

// belowMark follows a health the jobs table cuts: the whole is below.
const belowMark = " (below)"

// passTime is a time of the jobs table: its time of day when it is of
// now's day, else its date and minute (the JSON has it whole).
func passTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// nextPass is the jobs table's NEXT PASS: running, queued (due, and
// waiting for a free pass slot), or when the engine's scheduler has the
// next pass due; "-" when no engine says it (the stored record alone does
// not know).
func nextPass(j steps.VMStatus, now time.Time) string {
	switch {
	case j.Running:
		return "running"
	case j.Queued:
		return "queued"
	case j.NextPass.IsZero():
		return "-"
	}
	return passTime(j.NextPass, now)
}

// minHealth is the least room the jobs table gives the health: a VM's
// name that would leave less is on a line of its own (table.wrapFirst).
const minHealth = 20

// shortProse is a health line (or a step's summary) as its table shows it
// in room columns: whole when it fits, else its first words (up to the
// first ": ", "; ", ", " or " ("), with room for belowMark.
func shortProse(h string, room int) string {
	room = max(room, minHealth)
	if len([]rune(h)) <= room {
		return h
	}
	cut := len(h)
	for _, sep := range []string{": ", "; ", ", ", " ("} {
		if i := strings.Index(h, sep); i > 0 && i < cut {
			cut = i
		}
	}
	if n := room - len(belowMark); len([]rune(h[:cut])) > n {
		return string([]rune(h[:cut])[:n-1]) + "…"
	}
	return h[:cut]
}

// followEvents tails the event log: text lines, or its JSON lines as they are.
func followEvents(ctx context.Context, out io.Writer, path string, asJSON bool) error {
	if !asJSON {
		fmt.Fprintf(out, "following %s (ctrl+c to stop)\n", path)
	}
	err := engine.Follow(ctx, path, 20, 250*time.Millisecond, func(line []byte) error {
		if asJSON {
			_, err := fmt.Fprintf(out, "%s\n", line)
			return err
		}
		var r engine.Record
		if err := json.Unmarshal(line, &r); err != nil {
			_, err := fmt.Fprintf(out, "%s\n", line)
			return err
		}
		_, err := fmt.Fprintln(out, r.Text())
		return err
	})
	if err == nil && ctx.Err() != nil {
		return nil // interrupted: the normal end of following
	}
	return err
}
