package nginx

import (
	"errors"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Validation errors; each is wrapped with the offending field and value.
var (
	// ErrNoServerNames is returned when no server name is declared.
	ErrNoServerNames = errors.New("at least one server name is required")
	// ErrServerName is returned for a name that is not a domain (kiln's
	// one domain rule, internal/valid).
	ErrServerName = valid.ErrDomain
	// ErrPort is returned for a port outside 1..65535 or HTTP equal to HTTPS.
	ErrPort = valid.ErrPort
	// ErrAddress is returned for a listen or upstream address that does not parse.
	ErrAddress = errors.New("invalid address")
	// ErrPath is returned for a path that is not absolute or holds characters
	// that would break the configuration syntax.
	ErrPath = errors.New("path must be absolute and plain")
	// ErrRate is returned for a non-positive rate or burst.
	ErrRate = errors.New("rate and burst must be positive")
	// ErrValue is returned for a free-text value that would break the
	// configuration syntax (quotes, semicolons, braces, newlines).
	ErrValue = errors.New("value holds characters nginx would misread")
)
