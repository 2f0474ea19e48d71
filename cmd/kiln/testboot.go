package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/internal/bootcheck"
	"github.com/kiln-dev/kiln/internal/vm"
)

// errChecksFailed ends a test boot whose report was printed and found
// problems: exit 1, with a one-line summary.
var errChecksFailed = errors.New("test-boot: the appliance did not pass")

func newTestBootCmd() *cobra.Command {
	var (
		sf       specFlags
		req      bootcheck.Request
		diskSize string
		accel    string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "test-boot ARTIFACT",
		Short: "Boot a built disk image in QEMU and check the appliance before a rollout",
		Long: `test-boot boots a raw or qcow2 image that kiln build wrote, in QEMU, as a
server would boot it, and checks the appliance from outside:

  - first boot: the time from power-on to the first SSH login;
  - every Quadlet service active and, when it has a health check, healthy;
  - no failed systemd unit;
  - from the host, the spec's public ports answer and no other port of the
    spec does (each forwarded to a free port on 127.0.0.1);
  - /etc/kiln/release.json names the build: name and version of
    manifest.json, the config digest built into the image.

The image is never written: the machine boots a qcow2 overlay backed by it,
grown to --disk-size (default: the manifest's min_disk_mib, which leaves room
for the data partition), in a scratch directory under $TMPDIR that is removed
afterwards but for the serial console's log (--serial-log; its path is
printed). It logs in as --user (default: the spec's first user with sudo,
needed to read podman's state) with --key, the private half of one of that
user's ssh_keys. The spec (-f, default ./appliance.yaml, else the embedded
example) must be the one the image was built from: its public ports are the
ones checked.

Needs qemu-system-x86_64 and qemu-img (Debian: qemu-system-x86,
qemu-utils). KVM is used when /dev/kvm opens (--accel auto), else TCG, which
is much slower: a first boot can take ten minutes or more. Where /dev/kvm
opens but KVM cannot run the guest (nested virtualisation), auto notices it
within seconds and boots again with TCG, saying so; --accel kvm then fails.
Progress goes to standard error while it waits; the report to standard output.

Exit codes: 0 every check passed, 1 a check failed (or the machine never let
the user in, or the input is wrong), 2 a usage error.

--json prints the report as one JSON object: artifact, ok, accel,
serial_log, times {ssh_login_seconds, settled_seconds}, services [{name,
active, status, health_check, health, restarts, ok}], failed_units [unit],
ports [{port, owner, public, answers, ok}], release {fields [{field, want,
got, from, ok}], ok}, problems [line]. Fields are only ever added.`,
		Example: `  kiln build -f appliance.yaml --platform qemu --format qcow2 -o out
  kiln test-boot -f appliance.yaml --key ~/.ssh/id_ed25519 out/clipper-1.0.0-qemu.qcow2
  kiln test-boot --key deploy.key --json out/clipper-1.0.0-metal.raw | jq '.problems[]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.KeyFile == "" {
				return usagef("--key FILE is required: the private key of a user the spec lists (the server accepts no password)")
			}
			switch accel {
			case "auto":
				req.Accel = "" // resolved by the boot, which falls back to TCG
			case vm.AccelKVM, vm.AccelTCG:
				req.Accel = accel
			default:
				return usagef("--accel %q: want auto, kvm or tcg", accel)
			}
			if req.Timeout <= 0 {
				return usagef("--timeout %s: want a positive duration such as 30m", req.Timeout)
			}
			if diskSize != "" {
				n, err := parseSize(diskSize)
				if err != nil {
					return usagef("--disk-size %q: %v", diskSize, err)
				}
				req.DiskSize = n
			}
			req.Artifact = args[0]
			if _, err := os.Stat(req.Artifact); err != nil {
				return fmt.Errorf("%w — give the .raw or .qcow2 that kiln build wrote", err)
			}

			// The spec, rendered (no network) for its config digest,
			// which must be the one built into the artifact.
			res, err := sf.render(cmd, nil)
			if err != nil {
				return err
			}
			req.App, req.SpecFile, req.ConfigDigest = res.App, sourceName(sf.file), res.ConfigDigest
			opts, err := bootcheck.Prepare(req)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			opts.Log = func(line string) { fmt.Fprintln(stderr, "kiln: test-boot:", line) }

			ctx, cancel := interruptible(cmd.Context())
			defer cancel()
			report, err := bootcheck.Boot(ctx, opts)
			if report == nil {
				return interruptedErr(ctx, err)
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), report); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), report)
			}
			if !report.OK {
				return fmt.Errorf("%w: %d problems (serial console in %s)", errChecksFailed, len(report.Problems), report.SerialLog)
			}
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.KeyFile, "key", "", "private SSH key of the user to log in as (required; no passphrase)")
	f.StringVar(&req.User, "user", "", "user to log in as (default: the spec's first user with sudo)")
	f.StringVar(&req.Manifest, "manifest", "", "the build's manifest.json (default: the one beside ARTIFACT)")
	f.StringVar(&diskSize, "disk-size", "", "size of the machine's disk, e.g. 16G (default: the manifest's min_disk_mib)")
	f.StringVar(&accel, "accel", "auto", "QEMU accelerator: auto (kvm when /dev/kvm works, else tcg), kvm or tcg")
	f.IntVar(&req.MemoryMiB, "memory", 3072, "the machine's memory in MiB")
	f.IntVar(&req.CPUs, "cpus", 2, "the machine's virtual CPUs")
	f.DurationVar(&req.Timeout, "timeout", 30*time.Minute, "bound of the whole check: first boot, services settling, probes")
	f.StringVar(&req.SerialLog, "serial-log", "", "file for the serial console (default: serial.log in the scratch directory)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON on standard output")
	return cmd
}

// sourceName names the spec in messages as specFlags.source does.
func sourceName(file string) string {
	switch file {
	case "":
		src, err := builder.ResolveSpec("")
		if err != nil {
			return builder.LocalSpec
		}
		return src.File
	case "-":
		return stdinName
	}
	return file
}

// sizePattern is a size as qemu-img takes it: a number and an optional
// binary unit.
var sizePattern = regexp.MustCompile(`^([0-9]+)\s*([KMGT]?)(?:I?B)?$`)

// parseSize reads "16G", "16GiB", "11264M" or a number of bytes.
func parseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil {
		return 0, errors.New("want a size such as 16G, 16GiB or 11264M")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
	if n <= 0 || n > (1<<62)>>shift {
		return 0, errors.New("out of range")
	}
	return n << shift, nil
}

// printReport prints a report for people: one line per check, then the
// problems.
func printReport(w io.Writer, r *bootcheck.Report) {
	mark := func(ok bool) string {
		// One width for every section: tabwriter aligns each alone.
		if ok {
			return "ok  "
		}
		return "FAIL"
	}
	secs := func(s float64) string {
		if s == 0 {
			return "-"
		}
		return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
	}
	fmt.Fprintf(w, "artifact:    %s (%s)\n", r.Artifact, r.Accel)
	fmt.Fprintf(w, "serial log:  %s\n", r.SerialLog)
	fmt.Fprintf(w, "SSH login:   %s after power-on\n", secs(r.Times.SSHLogin))
	fmt.Fprintf(w, "settled:     %s after power-on\n", secs(r.Times.Settled))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nservices:")
	for _, s := range r.Services {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", mark(s.OK), s.Name, s.Active, s.Status)
	}
	fmt.Fprintln(tw, "\nports from outside:")
	for _, p := range r.Ports {
		want := "private"
		if p.Public {
			want = "public"
		}
		got := "does not answer"
		if p.Answers {
			got = "answers"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", mark(p.OK), p.Port, p.Owner, want, got)
	}
	fmt.Fprintln(tw, "\n/etc/kiln/release.json:")
	for _, f := range r.Release.Fields {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t(%s)\n", mark(f.OK), f.Field, f.Got, f.From)
	}
	tw.Flush()
	if len(r.FailedUnits) == 0 {
		fmt.Fprintln(w, "\nfailed units: none")
	} else {
		fmt.Fprintf(w, "\nfailed units: %s\n", strings.Join(r.FailedUnits, " "))
	}
	if r.OK {
		fmt.Fprintln(w, "\nresult: ok")
		return
	}
	fmt.Fprintf(w, "\nresult: FAILED, %d problems:\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}
