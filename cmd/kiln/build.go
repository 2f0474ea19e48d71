package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/images/base"
)

// baseFlags select where base artifacts come from.
type baseFlags struct {
	mirror  string
	cache   string
	offline bool
}

func (f *baseFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.mirror, "mirror", "", "FCOS builds server or mirror (default "+base.DefaultBaseURL+")")
	cmd.Flags().StringVar(&f.cache, "cache-dir", "", "base artifact cache (default $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln)")
	cmd.Flags().BoolVar(&f.offline, "offline", false, "use only cached base artifacts; never touch the network")
}

func (f *baseFlags) client() *base.Client {
	c := &base.Client{BaseURL: f.mirror, Offline: f.offline}
	if f.cache != "" {
		c.Cache = &base.Cache{Dir: f.cache}
	}
	return c
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org); when
// unset, the build time is used and recorded in the manifest.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

func newBuildCmd() *cobra.Command {
	var (
		sf        specFlags
		bf        baseFlags
		req       builder.BuildRequest
		kargs     []string
		pxeURL    string
		outDir    string
		platforms []string
		formats   []string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Bake the appliance into FCOS images: raw, qcow2, vhd, ISO, PXE",
		Long: `build renders the appliance and embeds its Ignition config into Fedora CoreOS
artifacts for each target of the spec (or those chosen with --platform and
--format). Outputs are named <name>-<version>-<platform>.<format>, with
manifest.json and SHA256SUMS beside them.

Base artifacts come from the spec's stream and release constraint: from the
cache, or downloaded and verified: sha256, and Fedora's OpenPGP signature
checked against Fedora's keys from the distribution-gpg-keys package (or
$KILN_FEDORA_KEYS), trusted only with the fingerprints pinned in kiln.
--base-image/--base-iso/--base-pxe use local files instead and work offline;
each is verified with the FILE.sig beside it, or used unverified only with
--insecure-base. Bases are checked whole (a truncated download is refused)
and of the spec's base.release.
The base is never modified. Outputs appear only when every target is done;
an error or Ctrl-C leaves nothing behind. Existing artifacts are replaced
only with --force; manifest.json and SHA256SUMS list every artifact of the
same appliance, version and config built into the directory.

Set SOURCE_DATE_EPOCH for byte-identical rebuilds.`,
		Example: `  kiln build                                    # every target of the spec, into out/
  kiln build --platform digitalocean            # one platform, its formats
  kiln build --platform metal --format iso      # just the live ISO
  kiln build --base-image fedora-coreos-42.20251012.3.0-metal.x86_64.raw.xz
  SOURCE_DATE_EPOCH=1700000000 kiln build -o release`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := sf.source(cmd, nil)
			if err != nil {
				return err
			}
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			req.Render = builder.Request{File: src.File, Spec: src.Data, Strict: sf.strict}
			// Render first, so the spec's warnings show before a long build.
			rendered, err := builder.Render(req.Render)
			sf.report(cmd.ErrOrStderr(), rendered, nil, false)
			if err != nil {
				return err
			}
			req.Rendered = rendered
			pr := newProgress(cmd.ErrOrStderr())
			req.OutDir, req.Platforms, req.Formats = outDir, platforms, formats
			req.PXEBaseURL, req.KernelArgs = pxeURL, kargs
			req.Client = bf.client()
			req.SourceDateEpoch, req.KilnVersion = epoch, version
			req.Progress = func(ev images.ProgressEvent) { pr.update(ev.Artifact+" "+ev.Step, ev.Done, ev.Total) }
			req.Status = pr.update
			res, err := builder.Build(ctx, req)
			pr.wait()
			if err != nil {
				return interruptedErr(ctx, err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res.Manifest)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, a := range res.Manifest.Artifacts {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, humanBytes(a.Size), a.SHA256[:16])
			}
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d artifacts to %s (manifest.json, SHA256SUMS)\n", len(res.Manifest.Artifacts), outDir)
			return nil
		},
	}
	sf.register(cmd)
	bf.register(cmd)
	cmd.Flags().StringVarP(&outDir, "output", "o", "out", "output directory")
	cmd.Flags().StringArrayVar(&platforms, "platform", nil, "build only this platform (repeatable): "+strings.Join(images.PlatformNames(), ", "))
	cmd.Flags().StringArrayVar(&formats, "format", nil, "override the formats (repeatable): "+formatsHelp())
	cmd.Flags().StringVar(&req.BaseImage, "base-image", "", "local FCOS metal raw image (.raw, .raw.xz or .raw.gz)")
	cmd.Flags().StringVar(&req.BaseISO, "base-iso", "", "local FCOS live ISO")
	cmd.Flags().StringVar(&req.BasePXE, "base-pxe", "", "local directory with the FCOS live kernel, initramfs and rootfs")
	cmd.Flags().BoolVar(&req.InsecureBase, "insecure-base", false, "use --base-* files that have no .sig beside them, unverified")
	cmd.Flags().BoolVar(&req.Force, "force", false, "replace artifacts that already exist in the output directory")
	cmd.Flags().StringVar(&pxeURL, "pxe-url", "", "URL the PXE files will be served from (iPXE script and Matchbox profile)")
	cmd.Flags().StringArrayVar(&kargs, "karg", nil, "extra kernel argument for ISO and PXE boots (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest (manifest.json) on standard output instead of the table")
	return cmd
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newInspectCmd() *cobra.Command {
	var asJSON, showConfig bool
	cmd := &cobra.Command{
		Use:   "inspect ARTIFACT",
		Short: "Show the config and release embedded in an output (raw, qcow2, vhd, ISO, PXE initrd)",
		Long: `inspect reads an output back and prints the release it carries
(/etc/kiln/release.json) and two hashes: the config digest (the appliance's
configuration, as the release file and the SSH login banner show it) and the
sha256 of the embedded Ignition file (manifest.json's config_sha256).
Compressed disks (.xz, .gz, .zst) are decompressed into a temporary sparse
file first.`,
		Example: `  kiln inspect out/clipper-1.0.0-digitalocean.qcow2.gz
  kiln inspect out/clipper-1.0.0-live.iso --json
  kiln inspect out/clipper-1.0.0-pxe.ign.img --config | jq .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := images.Inspect(args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case showConfig:
				_, err = w.Write(r.Config)
				return err
			case asJSON:
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printInspect(w, args[0], r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, for scripts")
	cmd.Flags().BoolVar(&showConfig, "config", false, "print the embedded Ignition config itself")
	return cmd
}

// formatsHelp lists the output formats as --format takes them: "raw,
// qcow2, vhd (each with .gz, .xz or .zst), iso, pxe".
func formatsHelp() string {
	var comp, plain, sufs []string
	for _, f := range images.Formats() {
		if f.Compressible {
			comp = append(comp, string(f.Name))
		} else {
			plain = append(plain, string(f.Name))
		}
	}
	for _, c := range images.Compressions() {
		sufs = append(sufs, "."+string(c))
	}
	each := strings.Join(sufs[:len(sufs)-1], ", ") + " or " + sufs[len(sufs)-1]
	return strings.Join(comp, ", ") + " (each with " + each + "), " + strings.Join(plain, ", ")
}
