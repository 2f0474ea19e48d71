package services

import (
	"errors"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Errors about a configuration's values.
var (
	// ErrInvalidPort is returned for a port outside 1–65535.
	ErrInvalidPort = valid.ErrPort
	// ErrEmptyField is returned when a required field is empty.
	ErrEmptyField = errors.New("required field is empty")
	// ErrInvalidValue is returned when a field holds a value the service
	// would reject or that would break the generated file's syntax.
	ErrInvalidValue = errors.New("invalid value")
)

// Errors about PostgreSQL extra settings.
var (
	// ErrInvalidSettingName is returned for an Extra key that is not a
	// PostgreSQL parameter name.
	ErrInvalidSettingName = errors.New("invalid PostgreSQL setting name")
	// ErrDuplicateSetting is returned when an Extra key repeats a setting the
	// generated file already holds: PostgreSQL silently keeps the last one,
	// so an override would be invisible in review.
	ErrDuplicateSetting = errors.New("setting already set by kiln")
)

// ErrTemplate is returned when an embedded template fails to render; it
// points at a bug in kiln, not in the user's spec.
var ErrTemplate = errors.New("rendering embedded template")
