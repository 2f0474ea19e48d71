package acme

import (
	"errors"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Validation errors; each is wrapped with the offending field and value.
var (
	// ErrNoDomains is returned when no domain is declared.
	ErrNoDomains = errors.New("at least one domain is required")
	// ErrDomain is returned for a name a public CA would not certify; it
	// is the one domain rule kiln has, internal/valid's.
	ErrDomain = valid.ErrDomain
	// ErrEmail is returned for a missing or malformed contact address.
	ErrEmail = valid.ErrEmail
	// ErrDirectory is returned for a directory URL that is not https.
	ErrDirectory = errors.New("ACME directory must be an https URL")
	// ErrDays is returned for a self-signed lifetime out of range.
	ErrDays = errors.New("self-signed lifetime must be 1..825 days")
	// ErrPath is returned for a directory that is not a plain absolute path.
	ErrPath = errors.New("path must be absolute and plain")
	// ErrKeyType is returned for a key type other than ecdsa or rsa.
	ErrKeyType = errors.New("key type must be ecdsa or rsa")
)
