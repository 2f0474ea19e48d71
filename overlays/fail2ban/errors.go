package fail2ban

import "errors"

// Validation errors; each is wrapped with the offending field and value.
var (
	// ErrRange is returned for a time or count outside its sensible range.
	ErrRange = errors.New("value out of range")
	// ErrMode is returned for an sshd filter mode fail2ban does not know.
	ErrMode = errors.New("mode must be normal, ddos, extra or aggressive")
	// ErrBanAction is returned for a ban action other than the nftables ones.
	ErrBanAction = errors.New("ban action must be nftables-multiport or nftables-allports")
	// ErrCIDR is returned for an ignored source that is not an address or CIDR.
	ErrCIDR = errors.New("invalid address or CIDR")
	// ErrPort is returned for a port outside 1..65535.
	ErrPort = errors.New("port must be between 1 and 65535")
)
