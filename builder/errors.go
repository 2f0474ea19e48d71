package builder

import "errors"

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
