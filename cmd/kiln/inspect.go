package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/images"
)

// printInspect prints what `kiln inspect` found. The two hashes differ by
// design, so each has its own label and a line saying what it covers: a
// reader comparing with the login banner wants the config digest, one
// comparing with manifest.json wants the Ignition file's sha256.
func printInspect(w io.Writer, artifact string, r *images.InspectResult) {
	fmt.Fprintf(w, "artifact:        %s (%s)\n", artifact, r.Kind)
	var rel builder.Release
	if len(r.Release) > 0 && json.Unmarshal(r.Release, &rel) == nil {
		fmt.Fprintf(w, "appliance:       %s %s\n", rel.Name, rel.Version)
	}
	if r.Platform != "" {
		fmt.Fprintf(w, "platform:        %s\n", r.Platform)
	}
	if r.ConfigDigest != "" {
		fmt.Fprintf(w, "config digest:   %s\n", r.ConfigDigest)
	}
	fmt.Fprintf(w, "ignition sha256: %s (%d bytes)\n", r.ConfigSHA256, r.ConfigSize)
	fmt.Fprintln(w)
	if r.ConfigDigest != "" {
		fmt.Fprintf(w, "The config digest identifies the appliance's configuration (kiln's generated\n"+
			"Butane and your snippets), as %s and the SSH login banner show it.\n", builder.ReleasePath)
	}
	fmt.Fprintln(w, "The ignition sha256 is that of the embedded Ignition file, byte for byte and\n"+
		"release file included: manifest.json's config_sha256.")
}
