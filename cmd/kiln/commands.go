package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/builder/spec"
)

func newInitCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the default appliance spec (Clipper), commented, ready to edit",
		Example: `  kiln init                   # writes ./appliance.yaml
  kiln init -o web.yaml       # another name
  kiln init -o - | less       # print it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "-" {
				_, err := cmd.OutOrStdout().Write(builder.DefaultSpec)
				return err
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s already exists; edit it, or pass --force to overwrite it", out)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := renameio.WriteFile(out, builder.DefaultSpec, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s — replace the example SSH key, then run: kiln validate %s\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", builder.LocalSpec, "where to write the spec (- for standard output)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

func newValidateCmd() *cobra.Command {
	var f specFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check an appliance spec; exit 1 with one line per problem",
		Long: `validate loads the spec strictly, applies defaults and runs every check, then
renders and validates the Ignition config without writing anything.
Each problem is one line:

  FILE:LINE:COL: field.path: what is wrong — how to fix it

FILE is the spec (or -f FILE; - reads standard input, named <stdin>).
Warnings (e.g. images not pinned by digest) do not fail unless --strict;
validate lists each one, where other commands fold alike warnings into one
line. --json prints the diagnostics as JSON on standard output instead.`,
		Example: `  kiln validate
  kiln validate appliance.yaml --strict
  generate-spec | kiln validate -
  kiln validate --json appliance.yaml | jq '.diagnostics[] | select(.severity == "error")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := f.source(cmd, args)
			var usage *usageError
			if err != nil && asJSON && !errors.As(err, &usage) {
				// A script reading the JSON learns of an unreadable spec
				// there too.
				if jerr := writeJSON(cmd.OutOrStdout(), validateJSON{File: f.given(args), Diagnostics: []diagnosticJSON{}, Error: err.Error()}); jerr != nil {
					return jerr
				}
			}
			if err != nil {
				return err
			}
			res, err := builder.Render(builder.Request{File: src.File, Spec: src.Data, Strict: f.strict})
			if !asJSON {
				f.report(cmd.ErrOrStderr(), res, args, true)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%s %s, %d warnings)\n", res.App.Name, res.App.Name, res.App.Version, len(res.Diagnostics))
				return nil
			}
			out := validateJSON{File: src.File, Valid: err == nil, Diagnostics: []diagnosticJSON{}}
			if res != nil {
				out.Diagnostics = diagnosticsJSON(res.Diagnostics)
				if res.App != nil {
					out.Appliance, out.Version = res.App.Name, res.App.Version
				}
			}
			var inv *spec.InvalidError
			if err != nil && !errors.As(err, &inv) {
				out.Error = err.Error()
			}
			if jerr := writeJSON(cmd.OutOrStdout(), out); jerr != nil {
				return jerr
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result and every diagnostic as JSON on standard output")
	return cmd
}

func newRenderCmd() *cobra.Command {
	var f specFlags
	var dir string
	cmd := &cobra.Command{
		Use:   "render [FILE]",
		Short: "Write the generated Butane and the validated Ignition config",
		Long: `render writes DIR/<name>-<version>.bu (the generated Butane, for review) and
DIR/<name>-<version>.ign (the Ignition config, validated). Nothing is written
when the spec has errors. FILE is the spec (or -f FILE; - reads standard
input).`,
		Example: `  kiln render                       # out/clipper-1.0.0.bu and .ign
  kiln render appliance.yaml -o build
  kiln render - < appliance.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := f.render(cmd, args)
			if err != nil {
				return err
			}
			paths, err := builder.WriteOutputs(dir, res)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&dir, "output", "o", "out", "output directory")
	return cmd
}

// writeJSON prints v indented, for people reading it and jq alike.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kiln's version and the versions of the specs it writes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "kiln %s\n", version)
			fmt.Fprintf(w, "butane spec %s %s\n", builder.ButaneVariant, builder.ButaneVersion)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(w, "go %s\n", bi.GoVersion)
				for _, d := range bi.Deps {
					switch d.Path {
					case "github.com/coreos/butane", "github.com/coreos/ignition/v2", "github.com/diskfs/go-diskfs":
						fmt.Fprintf(w, "%s %s\n", d.Path, d.Version)
					}
				}
			}
			return nil
		},
	}
}

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the appliance spec, for editors",
		Long: `schema prints the JSON Schema of the appliance spec, derived from kiln's
own types, so editors can complete and check appliance.yaml. With the YAML
language server, start the spec with:

  # yaml-language-server: $schema=appliance.schema.json`,
		Example: "  kiln schema > appliance.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := spec.Schema()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(s)
			return err
		},
	}
}
