package overlays

import (
	"fmt"

	"github.com/kiln-dev/kiln/internal/valid"
)

// FieldError is a problem with one field of an overlay's Config. Field is
// the path inside that Config (domains[1]); the builder, which filled the
// Config from the spec, maps it back to the spec's path and line.
type FieldError struct {
	// Field is the path of the value inside the Config.
	Field string
	// Value is the offending value, quoted in the message.
	Value any
	// Err says what is wrong; it wraps the overlay's sentinel.
	Err error
}

// Error names the field, the value and the problem.
func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %q: %v", e.Field, fmt.Sprint(e.Value), e.Err)
}

// Unwrap returns Err, so errors.Is finds the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// Bad is the FieldError of value at field; err says what is wrong and
// wraps the overlay's sentinel.
func Bad(field string, value any, err error) error {
	return &FieldError{Field: field, Value: value, Err: err}
}

// CheckPort applies kiln's one port rule (valid.Port) to an overlay's
// field. The message names the value, so the error carries none.
func CheckPort(field string, p int) error {
	if err := valid.Port(p); err != nil {
		return &FieldError{Field: field, Err: err}
	}
	return nil
}
