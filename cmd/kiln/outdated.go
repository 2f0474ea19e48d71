package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// rebuildGrace is how long a newer release may be out before a rebuild is
// due; the server's KilnBaseRebuildDue alert uses the same number.
const rebuildGrace = 7 * 24 * time.Hour

func newBaseOutdatedCmd() *cobra.Command {
	var bf baseFlags
	var stream string
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "outdated RELEASE|manifest.json",
		Short: "Say whether a build's Fedora CoreOS release is behind its stream",
		Long: `Compares an FCOS release (or the base_release of a build's manifest.json)
with the current release of its stream. An immutable server gets kernel and
OpenSSH fixes only through a rebuild; a rebuild is due once a newer release
has been out for more than 7 days (the server's own alert says the same).`,
		Example: `  kiln base outdated out/manifest.json
  kiln base outdated 42.20250901.3.0 --exit-code   # exit 1 when a rebuild is due`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release := args[0]
			if data, err := os.ReadFile(args[0]); err == nil {
				var m struct {
					BaseRelease string `json:"base_release"`
				}
				if err := json.Unmarshal(data, &m); err != nil || m.BaseRelease == "" {
					return fmt.Errorf("%s: no base_release in the manifest (%v)", args[0], err)
				}
				release = m.BaseRelease
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			f, err := bf.client().Outdated(ctx, stream, release)
			if err != nil {
				return err
			}
			now := time.Now()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "release %s (%s), built %s, %d days old\n", f.Release, f.Stream, f.Built.Format(time.DateOnly), int(f.Age(now).Hours()/24))
			switch {
			case !f.Newer:
				fmt.Fprintf(w, "current: stream %s has no newer release\n", f.Stream)
			case f.RebuildDue(now, rebuildGrace):
				fmt.Fprintf(w, "rebuild due: stream %s has %s (built %s)\n", f.Stream, f.Latest, f.LatestBuilt.Format(time.DateOnly))
			default:
				fmt.Fprintf(w, "newer release %s (built %s) on stream %s; a rebuild is due after %s\n", f.Latest, f.LatestBuilt.Format(time.DateOnly), f.Stream, f.LatestBuilt.Add(rebuildGrace).Format(time.DateOnly))
			}
			if exitCode && f.RebuildDue(now, rebuildGrace) {
				return errDifferent
			}
			return nil
		},
	}
	bf.register(cmd)
	cmd.Flags().StringVar(&stream, "stream", "", "stream to compare with (default: the one the release was built for)")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when a rebuild is due")
	return cmd
}
