package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/builder/spec"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "kiln",
		Short: "Bake immutable, fully configured Fedora CoreOS server images",
		Long: `kiln turns one appliance spec (YAML) into an Ignition config for Fedora CoreOS —
Podman Quadlet units for every service, a default-deny firewall, hardened SSH,
TLS, monitoring and backups — and bakes it into disk images, ISOs and PXE
bundles. Servers boot fully configured; upgrades are rebuilds.

Without -f, kiln reads ./appliance.yaml when present, else the embedded
default appliance (Clipper), and says which it used.`,
		Example: `  kiln init                     # write appliance.yaml (the Clipper example) to edit
  kiln validate                 # check it: errors are FILE:LINE:COL: field: problem — fix
  kiln render -o out            # write out/<name>-<version>.bu and .ign
  kiln build                    # bake the images the spec's targets list
  kiln inspect out/clipper-1.0.0-live.iso`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInitCmd(), newValidateCmd(), newRenderCmd(), newBuildCmd(), newInspectCmd(), newDiffCmd(), newBaseCmd(), newSchemaCmd(), newVersionCmd())
	return root
}

// specFlags are the flags every command that reads a spec shares.
type specFlags struct {
	file   string
	strict bool
}

func (f *specFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "appliance spec (default ./appliance.yaml, else the embedded Clipper appliance)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "treat warnings (e.g. images not pinned by digest) as errors")
}

// render resolves the spec, says which one it uses, renders it and prints
// its diagnostics.
func (f *specFlags) render(stderr io.Writer) (*builder.Result, error) {
	src, err := builder.ResolveSpec(f.file)
	if err != nil {
		return nil, err
	}
	if f.file == "" {
		fmt.Fprintf(stderr, "kiln: using %s\n", src.File)
	}
	res, err := builder.Render(builder.Request{File: src.File, Spec: src.Data, Strict: f.strict})
	printDiagnostics(stderr, res)
	return res, err
}

func printDiagnostics(w io.Writer, res *builder.Result) {
	if res == nil {
		return
	}
	ds := append(spec.Diagnostics{}, res.Diagnostics...)
	ds.Sort()
	for _, d := range ds {
		fmt.Fprintln(w, d.String())
	}
}
