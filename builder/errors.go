package builder

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/overlays"
)

// Errors of the render pipeline, grouped by topic.
var (
	// ErrDuplicateFile: two parts of the plan write the same path.
	ErrDuplicateFile = errors.New("two parts of the appliance write the same file")
	// ErrDuplicateUnit: two parts of the plan write the same unit.
	ErrDuplicateUnit = errors.New("two parts of the appliance write the same unit")
	// ErrButane: the generated or a user's Butane does not translate.
	ErrButane = errors.New("butane translation failed")
	// ErrIgnition: the resulting Ignition config is invalid.
	ErrIgnition = errors.New("invalid ignition config")
	// ErrSnippet: a user's Butane snippet cannot be read or merged.
	ErrSnippet = errors.New("butane snippet")
	// ErrMissingService: a service kind needs another that the spec lacks
	// (an exporter without the server it exports).
	ErrMissingService = errors.New("a service it needs is missing")
)

// specError is a problem an overlay found in a value the plan took from
// the spec, carried up to Render with the spec path it came from so that
// the user sees the file, line and field they wrote.
type specError struct {
	path string
	err  error
}

func (e *specError) Error() string { return e.path + ": " + e.err.Error() }

func (e *specError) Unwrap() error { return e.err }

// fromSpec maps err, when it is an *overlays.FieldError, to the spec path
// its field was filled from. fields maps an overlay field (with any index
// or sub-field after it) to a spec path: {"domains": "tls.domains"} turns
// domains[1] into tls.domains[1]. Other errors come back unchanged.
func fromSpec(err error, fields map[string]string) error {
	var fe *overlays.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	for from, to := range fields {
		if rest, ok := strings.CutPrefix(fe.Field, from); ok && (rest == "" || rest[0] == '[' || rest[0] == '.') {
			e := fe.Err
			if fe.Value != nil {
				e = fmt.Errorf("%q: %w", fmt.Sprint(fe.Value), fe.Err)
			}
			return &specError{path: to + rest, err: e}
		}
	}
	return err
}
