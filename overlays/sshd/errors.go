package sshd

import (
	"errors"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Validation errors; each is wrapped with the offending field and value.
var (
	// ErrNoUsers is returned when no login user is declared: with keys only
	// and AllowUsers empty nobody could log in.
	ErrNoUsers = errors.New("at least one allowed user is required")
	// ErrUser is returned for a user name sshd or useradd would not accept.
	ErrUser = errors.New("invalid user name")
	// ErrRoot is returned when root is listed: root logins are refused.
	ErrRoot = errors.New("root may not log in; use a user with sudo")
	// ErrPort is returned for a port outside 1..65535.
	ErrPort = valid.ErrPort
	// ErrRange is returned for a limit outside its sensible range.
	ErrRange = errors.New("value out of range")
	// ErrNoPenalties is returned when a brute-force guard is asked of an
	// sshd older than PenaltiesSince, which would refuse to start on it.
	ErrNoPenalties = errors.New("this OpenSSH has no PerSourcePenalties (OpenSSH 9.8 and later)")
)
