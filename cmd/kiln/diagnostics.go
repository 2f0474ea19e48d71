package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/kiln-dev/kiln/builder/spec"
)

// diagOptions say how printDiagnostics shows warnings. Errors are always
// printed, each on its own line.
type diagOptions struct {
	// quiet drops warnings (-q).
	quiet bool
	// listEach prints every warning, as `kiln validate` does; otherwise
	// warnings that differ only in which item they name (ten images not
	// pinned by digest) are folded into one line with a count.
	listEach bool
	// lister is the command that lists each folded warning.
	lister string
}

// indexRE matches list indexes in a field path: services[3] and
// services[7] are the same field of different items.
var indexRE = regexp.MustCompile(`\[\d+\]`)

// warningKey groups warnings that are the same advice for different
// items: same file, same field (indexes aside), same fix. Without a fix
// only identical messages group.
func warningKey(d spec.Diagnostic) string {
	key := d.File + "\x00" + indexRE.ReplaceAllString(d.Path, "[*]") + "\x00" + d.Fix
	if d.Fix == "" {
		key += "\x00" + d.Msg
	}
	return key
}

// printDiagnostics prints diagnostics sorted by position, one per line in
// the FILE:LINE:COL form editors recognise.
func printDiagnostics(w io.Writer, diags spec.Diagnostics, o diagOptions) {
	ds := append(spec.Diagnostics{}, diags...)
	ds.Sort()
	count := map[string]int{}
	for _, d := range ds {
		if d.Severity == spec.Warning {
			count[warningKey(d)]++
		}
	}
	printed := map[string]bool{}
	for _, d := range ds {
		if d.Severity != spec.Warning {
			fmt.Fprintln(w, d.String())
			continue
		}
		if o.quiet {
			continue
		}
		key := warningKey(d)
		n := count[key]
		if o.listEach || n < 2 {
			fmt.Fprintln(w, d.String())
			continue
		}
		if printed[key] {
			continue
		}
		printed[key] = true
		// The first one stands for all, at its position, so an editor
		// still jumps to a real line.
		folded := d
		folded.Path = indexRE.ReplaceAllString(d.Path, "[*]")
		folded.Msg = fmt.Sprintf("%d alike, e.g. %s", n, d.Msg)
		suffix := fmt.Sprintf("`%s` lists all %d", o.lister, n)
		if folded.Fix != "" {
			folded.Fix += "; " + suffix
		} else {
			folded.Fix = suffix
		}
		fmt.Fprintln(w, folded.String())
	}
}

// validateCommand is the command that lists each diagnostic of the spec
// the user named (a path, "-" or "" for the default).
func validateCommand(given string) string {
	switch given {
	case "":
		return "kiln validate"
	case "-":
		return "kiln validate - < SPEC"
	}
	if strings.ContainsAny(given, " \t'\"$`\\") {
		given = "'" + strings.ReplaceAll(given, "'", `'\''`) + "'"
	}
	return "kiln validate " + given
}

// diagnosticJSON is one diagnostic in `kiln validate --json`.
type diagnosticJSON struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
	Severity string `json:"severity"`
}

// validateJSON is the output of `kiln validate --json`.
type validateJSON struct {
	// File names the spec as the diagnostics do.
	File string `json:"file"`
	// Valid is true when the spec builds (warnings allowed unless
	// --strict).
	Valid bool `json:"valid"`
	// Appliance and Version are known once the spec loaded.
	Appliance string `json:"appliance,omitempty"`
	Version   string `json:"version,omitempty"`
	// Diagnostics lists every error and warning, sorted by position.
	Diagnostics []diagnosticJSON `json:"diagnostics"`
	// Error is a failure not tied to a line of the spec (an unreadable
	// snippet, say); the diagnostics hold the others.
	Error string `json:"error,omitempty"`
}

func diagnosticsJSON(diags spec.Diagnostics) []diagnosticJSON {
	ds := append(spec.Diagnostics{}, diags...)
	ds.Sort()
	out := make([]diagnosticJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, diagnosticJSON{File: d.File, Line: d.Pos.Line, Column: d.Pos.Col, Path: d.Path,
			Message: d.Msg, Fix: d.Fix, Severity: d.Severity.String()})
	}
	return out
}
