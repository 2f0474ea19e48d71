package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/images/base"
)

func newBaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "base",
		Short: "Manage the cache of verified Fedora CoreOS base artifacts",
		Long: `Base artifacts are downloaded once per release, verified by sha256 and by
Fedora's OpenPGP signature, and cached. Fedora's public keys come from the
system (the distribution-gpg-keys package, or /etc/pki/rpm-gpg on Fedora) or
from $KILN_FEDORA_KEYS (a file or directory); kiln trusts only the key
fingerprints Fedora publishes, which it pins.`,
	}
	cmd.AddCommand(newBaseListCmd(), newBaseFetchCmd(), newBasePruneCmd(), newBaseOutdatedCmd(), newBaseImportCmd())
	return cmd
}

func cacheOf(f *baseFlags) (*base.Cache, error) {
	if f.cache != "" {
		return &base.Cache{Dir: f.cache}, nil
	}
	dir, err := base.DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	return &base.Cache{Dir: dir}, nil
}

func newBaseListCmd() *cobra.Command {
	var bf baseFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List cached base releases and their sizes",
		Example: "  kiln base list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cacheOf(&bf)
			if err != nil {
				return err
			}
			entries, err := c.List()
			if err != nil {
				return err
			}
			if asJSON {
				if entries == nil {
					entries = []base.Entry{}
				}
				return writeJSON(cmd.OutOrStdout(), entries)
			}
			if len(entries) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no cached base artifacts in %s\n", c.Dir)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STREAM\tRELEASE\tPLATFORM\tFORMATS\tSIZE")
			for _, e := range entries {
				formats := ""
				for f := range e.Formats {
					if formats != "" {
						formats += ","
					}
					formats += f
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Stream, e.Release, e.Platform, formats, humanBytes(e.Size))
			}
			return tw.Flush()
		},
	}
	bf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the cache's records as JSON")
	return cmd
}

func newBaseFetchCmd() *cobra.Command {
	var bf baseFlags
	var sf specFlags
	var formats []string
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Download and verify the base artifacts the spec's targets need",
		Example: `  kiln base fetch                       # for ./appliance.yaml or the default appliance
  kiln base fetch --format iso --format pxe`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := sf.render(cmd, nil)
			if err != nil {
				return err
			}
			if len(formats) == 0 {
				// The disk image, the base of every platform's disk formats.
				formats = []string{images.Bases()[0].FCOSFormat}
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			pr := newProgress(cmd.ErrOrStderr())
			c := bf.client()
			c.Progress = func(name string, done, total int64) { pr.update(name, done, total) }
			for _, f := range formats {
				got, err := c.Get(ctx, res.App.Base.Stream, res.App.Base.Release, "metal", f)
				if err != nil {
					pr.wait()
					return interruptedErr(ctx, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s metal %s: %s (verified)\n", got.Stream, got.Release, f, got.Dir)
			}
			pr.wait()
			return nil
		},
	}
	bf.register(cmd)
	sf.register(cmd)
	cmd.Flags().StringArrayVar(&formats, "format", nil, "FCOS format to fetch (repeatable): "+baseFormatsHelp())
	return cmd
}

func newBasePruneCmd() *cobra.Command {
	var bf baseFlags
	var keep int
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove cached base releases, keeping the newest",
		Example: `  kiln base prune             # keep the 2 newest releases per stream
  kiln base prune --keep 0    # remove everything`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cacheOf(&bf)
			if err != nil {
				return err
			}
			removed, err := c.Prune(keep)
			for _, e := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s %s %s (%s)\n", e.Stream, e.Release, e.Platform, humanBytes(e.Size))
			}
			return err
		},
	}
	bf.register(cmd)
	cmd.Flags().IntVar(&keep, "keep", 2, "releases to keep per stream")
	return cmd
}

func newBaseImportCmd() *cobra.Command {
	var bf baseFlags
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Add downloaded FCOS artifacts (with their .sig) to the cache, for offline builds",
		Example: `  kiln base import fedora-coreos-42.20251012.3.0-metal.x86_64.raw.xz
  kiln build --offline`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cacheOf(&bf)
			if err != nil {
				return err
			}
			for _, p := range args {
				e, err := c.Import(cmd.Context(), p, nil)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s: %s (verified)\n", e.Stream, e.Release, e.Platform, e.Dir)
			}
			return nil
		},
	}
	bf.register(cmd)
	return cmd
}

// baseFormatsHelp lists the FCOS formats of the base artifacts, the first
// being the default: "raw.xz (default), iso, pxe".
func baseFormatsHelp() string {
	var names []string
	for i, b := range images.Bases() {
		if i == 0 {
			names = append(names, b.FCOSFormat+" (default)")
		} else {
			names = append(names, b.FCOSFormat)
		}
	}
	return strings.Join(names, ", ")
}
