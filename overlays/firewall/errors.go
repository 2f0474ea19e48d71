package firewall

import (
	"errors"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Validation errors; each is wrapped with the offending field and value.
var (
	// ErrNoPublicPorts is returned when no public port is declared: a host
	// nobody can reach cannot be administered either.
	ErrNoPublicPorts = errors.New("at least one public TCP port is required")
	// ErrPort is returned for a port outside 1..65535.
	ErrPort = valid.ErrPort
	// ErrDuplicatePort is returned when a port is listed twice, or is both
	// public and allow-listed (the allow-list would be meaningless).
	ErrDuplicatePort = errors.New("port declared more than once")
	// ErrCIDR is returned for an allow-list source that is not a CIDR.
	ErrCIDR = errors.New("invalid CIDR")
	// ErrNoSources is returned for an allow-list entry without sources.
	ErrNoSources = errors.New("allow-list entry needs at least one source CIDR")
	// ErrSSHPort is returned when the rate-limited SSH port is not public.
	ErrSSHPort = errors.New("ssh port must be one of the public ports")
	// ErrRate is returned for a non-positive rate or burst.
	ErrRate = errors.New("rate and burst must be positive")
	// ErrInterface is returned for an interface pattern nft would not accept.
	ErrInterface = errors.New("invalid interface name pattern")
	// ErrNoInterfaces is returned for host ports opened to containers
	// when no container interface is named to open them to.
	ErrNoInterfaces = errors.New("host ports for containers need container interfaces")
)
