package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a diagnostic stops the build.
type Severity int

// Severities, from worst.
const (
	Error Severity = iota
	Warning
)

// String returns the severity's name.
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Pos is a 1-based line and column in the spec file.
type Pos struct {
	Line, Col int
}

// Diagnostic is one problem found in a spec, located at the user's line.
type Diagnostic struct {
	Severity Severity
	File     string
	Pos      Pos
	// Path is the field path, e.g. services[2].ports[0].port.
	Path string
	// Msg says what is wrong; Fix says how to fix it.
	Msg, Fix string
}

// String formats the diagnostic as FILE:LINE:COL: path: what — fix, the
// form editors and CI log parsers recognise. Warnings carry "warning:".
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", d.File, d.Pos.Line, d.Pos.Col)
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	if d.Fix != "" {
		b.WriteString(" — ")
		b.WriteString(d.Fix)
	}
	return b.String()
}

// Diagnostics is the list of problems found in one spec.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Sort orders diagnostics by position, then path, so output is stable.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Path < b.Path
	})
}

// Strict returns a copy in which warnings are errors (`--strict`).
func (ds Diagnostics) Strict() Diagnostics {
	out := make(Diagnostics, len(ds))
	for i, d := range ds {
		d.Severity = Error
		out[i] = d
	}
	return out
}

// Err returns an error listing every error diagnostic, or nil. The error
// wraps ErrInvalid.
func (ds Diagnostics) Err() error {
	var lines []string
	for _, d := range ds {
		if d.Severity == Error {
			lines = append(lines, d.String())
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return &InvalidError{Diagnostics: ds}
}

// ErrInvalid is wrapped by every error about an invalid spec.
var ErrInvalid = errors.New("invalid appliance spec")

// InvalidError carries the diagnostics of an invalid spec.
type InvalidError struct {
	Diagnostics Diagnostics
}

// Error lists the error diagnostics, one per line.
func (e *InvalidError) Error() string {
	var lines []string
	for _, d := range e.Diagnostics {
		if d.Severity == Error {
			lines = append(lines, d.String())
		}
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }
