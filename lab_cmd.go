package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/tui"
	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/spf13/cobra"
	"github.com/vmware/govmomi/ovf"
)

func newLabCmd(g *globalFlags) *cobra.Command {
	var opts lab.Options
	var diskMiB int64
	var guestTimes, limits func(*lab.Options) error
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Start the embedded lab and open the wizard against it",
		Long: `Start the embedded lab (two vCenters, Cloud Director, the on-prem L2VPN edge,
all simulated in-process on loopback with TLS from a lab CA) and open the wizard
against it. Nothing outside this process is touched. The lab's plan is filled in
with sensible answers, so a demo goes from step 1 to the downtime report by
mostly pressing enter. Logs go to ferry.log in the lab directory.

The lab lives as long as this process. To leave the wizard and come back
(as after a dropped SSH session), run the lab on its own with
"ferry lab serve --dir DIR" and the wizard against it with
"ferry --config DIR/ferry-lab.yaml --plan DIR/plan.yaml".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if diskMiB < 16 {
				return usagef("--disk-mib %d: must be at least 16", diskMiB)
			}
			if err := lab.ValidateVMs(opts.VMs); err != nil {
				return usagef("--vms %d: want 1 to %d (web VMs WebApp1..WebAppN)", opts.VMs, lab.MaxVMs)
			}
			if err := guestTimes(&opts); err != nil {
				return err
			}
			if err := limits(&opts); err != nil {
				return err
			}
			// Refused before its log is written there (QA: exit 1, and a
			// ferry.log left in the directory refused).
			if err := lab.CheckDir(opts.Dir); err != nil {
				return usageError{fmt.Errorf("--dir: %w", err)}
			}
			if err := tui.CheckTerminal(); err != nil {
				return fmt.Errorf("%w\n(for the lab alone, without the wizard: ferry lab serve)", err)
			}
			opts.DiskSize = diskMiB << 20
			ctx := cmd.Context()
			// The lab's simulators log through the standard logger: from
			// the start, logs go to a file, never to the screen.
			dir, temporary := opts.Dir, opts.Dir == ""
			keep := func() {} // the wizard's quit question may keep a temporary directory
			if dir == "" {
				d, err := os.MkdirTemp("", "ferry-lab-")
				if err != nil {
					return err
				}
				kept := false
				keep = func() { kept = true }
				defer func() {
					if !kept {
						os.RemoveAll(d)
					}
				}()
				dir = d
			}
			opts.Dir = dir
			logFile := g.logFile
			if logFile == "" {
				logFile = filepath.Join(dir, "ferry.log")
			}
			_, restore, err := tui.RedirectLogs(logFile)
			if err != nil {
				return err
			}
			defer restore()
			l, err := lab.Start(ctx, opts)
			if errors.Is(err, lab.ErrDirNotFresh) {
				return usageError{fmt.Errorf("--dir: %w", err)}
			} else if err != nil {
				return fmt.Errorf("start lab: %w", err)
			}
			defer func() {
				// Its guests shut down and its servers stop: seconds with
				// replication running, after the wizard's screen is gone.
				fmt.Fprintln(os.Stderr, "ferry: stopping the lab (its vCenters, Cloud Director, guests and receiver) ...")
				l.Close()
			}()
			wopts := tui.Options{Config: l.Config(), PlanPath: l.PlanPath(), LogFile: logFile, RunsLab: true}
			if temporary {
				wopts.LabDir, wopts.KeepLabDir = dir, keep
			}
			return tui.Run(ctx, wopts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", labDirHelp)
	// The global --log-file's help speaks of a state directory: here the
	// log goes beside the lab's plan and state, in the lab's directory.
	cmd.Flags().StringVar(&g.logFile, "log-file", "", "write the wizard's and the lab's logs to this file (default: ferry.log in the lab's directory)")
	cmd.Flags().Int64Var(&diskMiB, "disk-mib", lab.DefaultDiskSize>>20, "size of each source VM's disk in MiB (sparse)")
	cmd.Flags().IntVar(&opts.VMs, "vms", lab.DefaultVMs, vmsFlagHelp)
	guestTimes = guestTimeFlags(cmd)
	limits = limitFlags(cmd)
	endpointFlags := notForEndpoints(cmd, "the lab makes its own endpoints and writes their config file for ferry --config (ferry-lab.yaml in the lab's directory)",
		"the lab's endpoints are verified with the lab's own CA")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error { return endpointFlags() }
	cmd.AddCommand(newLabServeCmd(g))
	return cmd
}

func newLabServeCmd(g *globalFlags) *cobra.Command {
	var opts lab.Options
	var diskMiB, workloadKiB int64
	var sshAddr, logFile string
	var guestTimes, limits func(*lab.Options) error
	cmd := &cobra.Command{
		Use:   "serve [--dir DIR]",
		Short: "Start the lab only; print export lines for every endpoint; run until interrupted",
		Long: `Start the embedded lab and print, on standard output, one "export NAME=value"
line per endpoint variable (GOVC_* for the on-prem vCenter, FERRY_PROVIDER_* for the
provider vCenter, VCD_* and FERRY_TENANT_* for Cloud Director, FERRY_EDGE_USERNAME
and FERRY_EDGE_PASSWORD for the on-prem edge (no URL: the edge runs in the L2VPN
client appliance ferry deploys, and ferry finds it there), FERRY_RECEIVER_ADDR,
FERRY_RECEIVER_CERT and FERRY_RECEIVER_KEY for the replication receiver,
FERRY_GUEST_USER and FERRY_GUEST_PASSWORD for the guests' login, FERRY_CA_FILE
for the lab CA), write a config file that
"ferry --config FILE" accepts, print "lab ready", and run until interrupted
(Ctrl-C, SIGTERM, or SIGHUP when its terminal goes away). Without --dir the
lab's files live in a temporary directory that is removed on exit; with --dir
they are kept, to read: the lab's vCenters, Cloud Director and edge live in
memory, so a stopped lab cannot be started again, and a DIR that holds a lab
already, or anything else, is refused (use a new directory each time).

The lab also writes the export lines to lab.env in its directory:

  ferry lab serve --dir ~/ferry-lab          # terminal 1: runs until Ctrl-C
  . ~/ferry-lab/lab.env                      # terminal 2, once terminal 1 says "lab ready"

With --ssh ADDR the lab runs with an engine (ferry serve) for its plan, and
the engine serves the wizard over SSH on ADDR: the lab generates a key that
may attach (DIR/ssh/id_ed25519, 0600) and a known_hosts file for the
engine's host key, and prints the ssh command before "lab ready". The first
session drives, the others watch (ssh ... -t view); replication goes on
every RPO whoever is attached. With --dir, the directory (plan, state,
downtime reports, event log) stays after the lab stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if diskMiB < 16 {
				return usagef("--disk-mib %d: must be at least 16", diskMiB)
			}
			if err := lab.ValidateVMs(opts.VMs); err != nil {
				return usagef("--vms %d: want 1 to %d (web VMs WebApp1..WebAppN)", opts.VMs, lab.MaxVMs)
			}
			if err := guestTimes(&opts); err != nil {
				return err
			}
			if err := limits(&opts); err != nil {
				return err
			}
			if workloadKiB < 0 || workloadKiB > 1<<20 {
				return usagef("--workload-kib %d: want 0 (no workload) to %d KiB per second", workloadKiB, 1<<20)
			}
			if logFile != "" && sshAddr == "" {
				return usagef("--log-file: without --ssh the lab keeps no log (its messages go to stderr: redirect it, 2>%s); with --ssh it is the engine's log", logFile)
			}
			g.logFile = logFile
			opts.DiskSize = diskMiB << 20
			opts.WorkloadRate = workloadKiB << 10
			if workloadKiB == 0 {
				opts.WorkloadRate = -1
			}
			ctx := cmd.Context()
			l, err := lab.Start(ctx, opts)
			if errors.Is(err, lab.ErrDirNotFresh) {
				return usageError{fmt.Errorf("--dir: %w", err)}
			} else if err != nil {
				return fmt.Errorf("start lab: %w", err)
			}
			defer l.Close()
			if sshAddr != "" {
				// The engine runs until ctx ends: SIGHUP too, as for the lab.
				if err := serveLabEngine(ctx, g, l, sshAddr, cmd.OutOrStdout()); err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "lab stopping")
				return nil
			}
			printLabInfo(cmd.OutOrStdout(), l)
			fmt.Fprintln(cmd.OutOrStdout(), "lab ready")
			<-ctx.Done()
			fmt.Fprintln(cmd.ErrOrStderr(), "lab stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", labDirHelp)
	cmd.Flags().StringVar(&logFile, "log-file", "", "with --ssh: write the engine's log to this file (default: ferry.log in the lab's directory); without --ssh the lab keeps no log (stderr)")
	cmd.Flags().Int64Var(&diskMiB, "disk-mib", lab.DefaultDiskSize>>20, "size of each source VM's disk in MiB (sparse)")
	cmd.Flags().StringVar(&sshAddr, "ssh", "", "run an engine for the lab's plan and serve the wizard over SSH on this address (host:port), with a key the lab generates")
	cmd.Flags().Int64Var(&workloadKiB, "workload-kib", lab.DefaultWorkloadRate>>10, "KiB per second the guest workload writes into each running source VM (0: none)")
	cmd.Flags().IntVar(&opts.VMs, "vms", lab.DefaultVMs, vmsFlagHelp)
	guestTimes = guestTimeFlags(cmd)
	limits = limitFlags(cmd)
	return cmd
}

// guestTimeFlags adds --guest-shutdown and --guest-boot (how long the lab's
// guests take to shut down and to boot) to cmd; the returned func checks
// them and sets them in opts.
func guestTimeFlags(cmd *cobra.Command) func(opts *lab.Options) error {
	var shutdown, boot time.Duration
	cmd.Flags().DurationVar(&shutdown, "guest-shutdown", lab.DefaultGuestShutdown, "how long a lab guest OS takes to shut down (ShutdownGuest to powered off); 0: at once")
	cmd.Flags().DurationVar(&boot, "guest-boot", lab.DefaultGuestBoot, "how long a lab guest takes from power-on until its services answer and VMware Tools run; 0: at once")
	return func(opts *lab.Options) error {
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"--guest-shutdown", shutdown}, {"--guest-boot", boot}} {
			if f.d < 0 || f.d > lab.MaxGuestTime {
				return usagef("%s %v: want 0 (at once) to %v", f.name, f.d, lab.MaxGuestTime)
			}
		}
		// lab.Options: 0 is the default, negative is at once.
		opts.GuestShutdown, opts.GuestBoot = cmp.Or(shutdown, -1), cmp.Or(boot, -1)
		return nil
	}
}

// labDirHelp is --dir of ferry lab and ferry lab serve: what the lab keeps.
const labDirHelp = "keep the lab's files (CA, config, lab.env, plan, datastores, and the state, logs and reports of the runs of its plan) in DIR instead of a temporary directory removed on exit; DIR must be empty or new"

// limitFlags adds --session-idle, --provider-datastore-mib,
// --onprem-datastore-mib, --vdc-memory-mib and the withheld privileges
// (limits of the real systems the lab plays) to cmd; the returned func
// checks them and sets them in opts.
func limitFlags(cmd *cobra.Command) func(opts *lab.Options) error {
	var dsMiB, onpremMiB, vdcMiB int64
	var idle time.Duration
	var onpremWithheld, providerWithheld []string
	cmd.Flags().StringSliceVar(&onpremWithheld, "onprem-withhold", nil, "privileges (comma-separated vCenter ids, e.g. VirtualMachine.Interact.PowerOn) that the role of ferry's account on the on-prem vCenter lacks: its calls that need one are refused, as by a vCenter whose admin left them out of ferry's role")
	cmd.Flags().StringSliceVar(&providerWithheld, "provider-withhold", nil, "privileges the role of ferry's account on the provider vCenter lacks (as --onprem-withhold), e.g. Datastore.FileManagement")
	cmd.Flags().DurationVar(&idle, "session-idle", lab.DefaultSessionIdle, "how long the lab's vCenters and Cloud Director keep an API session nobody uses (vCenter's and Cloud Director's default: 30m); a shorter one shows ferry logging in again after a long wait, as ferry serve does for days")
	cmd.Flags().Int64Var(&dsMiB, "provider-datastore-mib", lab.DefaultDatastoreCapacity>>20, "capacity of each provider datastore in MiB (free: what its files leave); a small one shows VM selection refusing replicas that would not fit")
	cmd.Flags().Int64Var(&onpremMiB, "onprem-datastore-mib", lab.DefaultDatastoreCapacity>>20, fmt.Sprintf("capacity of each on-prem datastore in MiB (free: what its files leave); one with less free than the plan's snapshot_reserve (default %dGiB) shows replication refusing to snapshot the source VMs", replication.DefaultSnapshotReserve>>30))
	cmd.Flags().Int64Var(&vdcMiB, "vdc-memory-mib", vcdsim.DefaultVDCMemMB, "memory limit of the org VDC in MiB: Cloud Director powers a VM on there only while its running VMs use no more; a small one (e.g. 512) shows VM selection warning and the cutover refusing before any shutdown")
	return func(opts *lab.Options) error {
		if vdcMiB < 1 || vdcMiB > 1<<30 {
			return usagef("--vdc-memory-mib %d: want 1 to %d", vdcMiB, 1<<30)
		}
		opts.VDCMemoryMB = vdcMiB
		if idle < time.Second || idle > 24*time.Hour {
			return usagef("--session-idle %v: want 1s to 24h", idle)
		}
		if dsMiB < 1 || dsMiB > lab.DefaultDatastoreCapacity>>20 {
			return usagef("--provider-datastore-mib %d: want 1 to %d (2 TiB)", dsMiB, lab.DefaultDatastoreCapacity>>20)
		}
		if onpremMiB < 1 || onpremMiB > lab.DefaultDatastoreCapacity>>20 {
			return usagef("--onprem-datastore-mib %d: want 1 to %d (2 TiB)", onpremMiB, lab.DefaultDatastoreCapacity>>20)
		}
		opts.SessionIdle, opts.ProviderDatastoreCapacity, opts.OnPremDatastoreCapacity = idle, dsMiB<<20, onpremMiB<<20
		for _, f := range []struct {
			name string
			ids  []string
		}{{"--onprem-withhold", onpremWithheld}, {"--provider-withhold", providerWithheld}} {
			if err := lab.CheckPrivileges(f.ids); err != nil {
				return usagef("%s: %v", f.name, err)
			}
		}
		opts.OnPremWithheld, opts.ProviderWithheld = onpremWithheld, providerWithheld
		return nil
	}
}

const vmsFlagHelp = "web VMs WebApp1..WebAppN shaped like the walkthrough's, all with the guest workload (1 to 100; WebApp4 and up at 172.16.10.104-200)"

// printLabInfo prints the export lines and what the lab offers (the caller
// prints "lab ready" when it is).
func printLabInfo(w io.Writer, l *lab.Lab) {
	fmt.Fprint(w, l.Config().Exports())
	fmt.Fprintf(w, "# guests take %v to shut down and %v from power-on to answering (--guest-shutdown, --guest-boot)\n", l.GuestShutdown, l.GuestBoot)
	fmt.Fprintf(w, "# API sessions end after %v unused, in both vCenters and in Cloud Director (--session-idle)\n", l.SessionIdle)
	fmt.Fprintf(w, "# provider datastores hold %s each (--provider-datastore-mib); VM selection refuses replicas that would not fit\n", steps.Bytes(l.ProviderDatastoreCapacity))
	fmt.Fprintf(w, "# on-prem datastores hold %s each (--onprem-datastore-mib); a pass snapshots its source only with the plan's snapshot_reserve free there\n", steps.Bytes(l.OnPremDatastoreCapacity))
	if free, swap, ok := l.OnPrem.DatastoreUse(l.OnPrem.Spec.Datastore); ok {
		line := fmt.Sprintf("#   %s has %s free now: the swap files of the VMs running there take %s", l.OnPrem.Spec.Datastore, steps.Bytes(free), steps.Bytes(swap))
		if e, err := ovf.Unmarshal(strings.NewReader(lab.EdgeOVF())); err == nil {
			need := vsphere.OVFNeeds(e)
			line += fmt.Sprintf(", and the L2 appliance will take %s (its thin disks as deployed and its swap file)", steps.Bytes(need.Populated+need.Swap))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "# the org VDC runs VMs up to %d vCPU (at %d MHz) and %s of memory (--vdc-memory-mib); Cloud Director refuses a power-on past them, and the cutover checks first\n", vcdsim.DefaultVDCCPUMHz/vcdsim.DefaultVCPUSpeedM, vcdsim.DefaultVCPUSpeedM, steps.Bytes(l.VDCMemoryMB<<20))
	fmt.Fprintf(w, "# ferry's account on both vCenters is %s (the lab's own clients log in as the administrator); its role lacks on-prem: %s (--onprem-withhold), provider: %s (--provider-withhold)\n",
		lab.FerryUser, l.OnPrem.Privileges.WithheldText(), l.Provider.Privileges.WithheldText())
	fmt.Fprintln(w, "# address plan: each VM answers TCP probes on its own loopback address while reachable")
	for _, t := range l.Reach.Plan() {
		fmt.Fprintf(w, "#   %-9s guest %-13s probe %s\n", t.Name, t.GuestIP, t.Addr)
	}
	fmt.Fprintln(w, "# VMs that VM selection must refuse (one per disk kind ferry cannot read):")
	for _, vm := range lab.RefusedVMs {
		fmt.Fprintf(w, "#   %-20s %s\n", vm.Name, vm.Disk)
	}
	fmt.Fprintln(w, "# VMs that are powered off (a cold migration takes them; a warm one refuses them):")
	for _, vm := range lab.ColdVMs {
		fmt.Fprintf(w, "#   %-20s %s\n", vm.Name, vm.IP)
	}
	fmt.Fprintf(w, "# the L2 appliance (step 3): its OVA %s (appliance.ovf); management address %s/%s via %s on uplink-network (appliance.ip, appliance.prefix, appliance.gateway); its edge API answers on port %d there (extension.edge_port, step 4)\n",
		l.EdgeOVA(), lab.EdgeApplianceIP, lab.EdgeAppliancePrefix, lab.EdgeApplianceGW, l.EdgeAPIPort())
	fmt.Fprintf(w, "# guest operations login: %s / %s\n", lab.GuestUser, lab.GuestPassword)
	if l.VCD != nil {
		org, user := l.VCD.OtherOrg()
		fmt.Fprintf(w, "# Cloud Director: a second tenant org %s (administrator %s) gets the Default Rights Bundle and the global roles too; step 1 leaves it untouched\n", org, user)
	}
	fmt.Fprintf(w, "# config file: %s (ferry --config)\n", l.ConfigFile)
	if l.TokenConfigFile != "" {
		fmt.Fprintf(w, "#   the same with the tenant logging in to Cloud Director with an API token, no password: %s\n", l.TokenConfigFile)
	}
	fmt.Fprintf(w, "# a plan with every answer filled in: ferry run --config %s --plan %s\n", l.ConfigFile, l.PlanPath())
	fmt.Fprintf(w, "# the same export lines: . %s\n", l.EnvFile)
}
