package sysctl

import "errors"

// Validation errors; each is wrapped with the offending field and value.
var (
	// ErrKey is returned for a sysctl name that is not dotted lower-case words.
	ErrKey = errors.New("invalid sysctl key")
	// ErrOverride is returned when an extra sysctl would weaken or repeat a
	// hardened key kiln already sets.
	ErrOverride = errors.New("key is already set by kiln's hardening")
	// ErrValue is returned for a value holding characters the file format
	// cannot carry.
	ErrValue = errors.New("invalid value")
	// ErrSize is returned for a journald size or time span that does not parse.
	ErrSize = errors.New("invalid size or time span")
	// ErrServer is returned for an NTP server that is not a host name or address.
	ErrServer = errors.New("invalid NTP server")
)
