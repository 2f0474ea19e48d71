package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "kiln",
		Short: "Bake immutable, fully configured Fedora CoreOS server images",
		Long: `kiln turns one appliance spec (YAML) into an Ignition config for Fedora CoreOS —
Podman Quadlet units for every service, a default-deny firewall, hardened SSH,
TLS, monitoring and backups — and bakes it into disk images, ISOs and PXE
bundles. Servers boot fully configured; upgrades are rebuilds.

Without a spec file, kiln reads ./appliance.yaml when present, else the
embedded example appliance (Clipper), and says which it used.

Exit codes: 0 success, 1 a problem with the spec or the build, 2 a usage
error (unknown flag or command, wrong arguments), 130 interrupted (SIGINT),
143 terminated (SIGTERM).`,
		Example: `  kiln init                     # write appliance.yaml (the Clipper example) to edit
  kiln validate                 # check it: errors are FILE:LINE:COL: field: problem — fix
  kiln render -o out            # write out/<name>-<version>.bu and .ign
  kiln build                    # bake the images the spec's targets list
  kiln inspect out/clipper-1.0.0-live.iso`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// The same first line as `kiln version`.
	root.SetVersionTemplate("kiln {{.Version}}\n")
	root.AddCommand(newInitCmd(), newValidateCmd(), newRenderCmd(), newBuildCmd(), newInspectCmd(), newDiffCmd(), newTestBootCmd(), newBaseCmd(), newSchemaCmd(), newVersionCmd())
	markUsageErrors(root)
	return root
}

// stdinName names standard input in diagnostics, as compilers do.
const stdinName = "<stdin>"

// specFlags are the flags every command that reads a spec shares.
type specFlags struct {
	file   string
	strict bool
	quiet  bool
}

func (f *specFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "appliance spec, - for standard input (default ./appliance.yaml, else the embedded Clipper example)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "treat warnings (e.g. images not pinned by digest, the example SSH key) as errors")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "do not print warnings (--strict still refuses them)")
}

// source picks the spec: -f, or the one positional argument of the
// commands that take one, or the default; "-" is standard input. It says
// on stderr which spec it uses when the user named none.
func (f *specFlags) source(cmd *cobra.Command, args []string) (builder.SpecSource, error) {
	name := f.file
	if len(args) > 0 {
		if name != "" {
			return builder.SpecSource{}, usagef("give the spec once: as an argument (%s) or with -f (%s), not both", args[0], name)
		}
		name = args[0]
	}
	if name == "-" {
		data, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return builder.SpecSource{}, fmt.Errorf("reading the appliance spec from standard input: %w", err)
		}
		return builder.SpecSource{File: stdinName, Data: data}, nil
	}
	src, err := builder.ResolveSpec(name)
	if err != nil {
		return src, err
	}
	switch {
	case src.Embedded:
		fmt.Fprintf(cmd.ErrOrStderr(), "kiln: no ./%s here, so using the embedded example appliance (Clipper); start your own with: kiln init\n", builder.LocalSpec)
	case name == "":
		fmt.Fprintf(cmd.ErrOrStderr(), "kiln: using %s\n", src.File)
	}
	return src, nil
}

// given is the spec the user named: a path, "-" or "" for the default.
func (f *specFlags) given(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return f.file
}

// render resolves the spec, renders it and prints its diagnostics.
func (f *specFlags) render(cmd *cobra.Command, args []string) (*builder.Result, error) {
	src, err := f.source(cmd, args)
	if err != nil {
		return nil, err
	}
	res, err := builder.Render(builder.Request{File: src.File, Spec: src.Data, Strict: f.strict})
	f.report(cmd.ErrOrStderr(), res, args, false)
	return res, err
}

// report prints a render's diagnostics: every error, and the warnings
// unless -q, alike warnings folded into one line unless listEach.
func (f *specFlags) report(w io.Writer, res *builder.Result, args []string, listEach bool) {
	if res == nil {
		return
	}
	printDiagnostics(w, res.Diagnostics, diagOptions{
		quiet:    f.quiet,
		listEach: listEach,
		lister:   validateCommand(f.given(args)),
	})
}
