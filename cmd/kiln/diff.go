package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder"
)

// diffJSON is the output of `kiln diff --json`.
type diffJSON struct {
	Old     releaseJSON  `json:"old"`
	New     releaseJSON  `json:"new"`
	Changes []changeJSON `json:"changes"`
}

// releaseJSON names one side of a diff.
type releaseJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// changeJSON is one builder.Change.
type changeJSON struct {
	// Op is added, removed or changed; Kind is file, unit, user or
	// storage; Name is the path or name.
	Op   string `json:"op"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Diff is a unified diff of the contents; empty with --stat.
	Diff string `json:"diff,omitempty"`
}

// errDifferent makes `kiln diff --exit-code` exit 1 without a message.
var errDifferent = errors.New("")

func newDiffCmd() *cobra.Command {
	var stat, exitCode, asJSON bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what a rebuild changes on the server: files, units, users, storage",
		Long: `diff renders two appliance specs and compares what each puts on the server:
every file (with its mode), systemd unit, user and the storage layout. Use it
before replacing a server with a rebuild, to know exactly what changes.`,
		Example: `  git show v1.0.0:appliance.yaml > old.yaml && kiln diff old.yaml appliance.yaml
  kiln diff --stat old.yaml appliance.yaml
  kiln diff --exit-code old.yaml appliance.yaml   # exit 1 when they differ`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var results [2]*builder.Result
			for i, p := range args {
				src, err := builder.ResolveSpec(p)
				if err != nil {
					return err
				}
				res, err := builder.Render(builder.Request{File: src.File, Spec: src.Data})
				if err != nil {
					if res != nil {
						printDiagnostics(cmd.ErrOrStderr(), res.Diagnostics, diagOptions{listEach: true})
					}
					return err
				}
				results[i] = res
			}
			changes, err := builder.Diff(results[0], results[1])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			old, new := results[0].App, results[1].App
			if asJSON {
				out := diffJSON{Old: releaseJSON{old.Name, old.Version}, New: releaseJSON{new.Name, new.Version}, Changes: []changeJSON{}}
				for _, c := range changes {
					cj := changeJSON{Op: c.Op, Kind: c.Kind, Name: c.Name, Diff: c.Diff}
					if stat {
						cj.Diff = ""
					}
					out.Changes = append(out.Changes, cj)
				}
				if err := writeJSON(w, out); err != nil {
					return err
				}
				if exitCode && len(changes) > 0 {
					return errDifferent
				}
				return nil
			}
			fmt.Fprintf(w, "%s %s → %s %s: %d changes\n", old.Name, old.Version, new.Name, new.Version, len(changes))
			for _, c := range changes {
				if stat {
					fmt.Fprintf(w, "  %-8s %-5s %s\n", c.Op, c.Kind, c.Name)
					continue
				}
				fmt.Fprintf(w, "\n## %s %s %s\n%s", c.Op, c.Kind, c.Name, c.Diff)
			}
			if exitCode && len(changes) > 0 {
				return errDifferent
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&stat, "stat", false, "list the changed items without their diffs")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when the two differ, like diff(1)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the changes as JSON (without the diffs when --stat)")
	return cmd
}
