// Package valid holds kiln's one check for each kind of value that both the
// spec loader and the overlays read: domain names, email addresses, ports,
// durations and networks. The loader reports a failure at the user's line; an
// overlay reports it against its own field, which the builder maps back
// to the spec. Both see the same rule, so a value the spec accepts is
// never refused further down.
package valid

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Sentinels, one per kind of value; every Problem wraps one of them.
var (
	// ErrDomain: not a host name a public CA certifies.
	ErrDomain = errors.New("invalid domain")
	// ErrWildcard: a wildcard name, which only a DNS-01 challenge can
	// prove; kiln answers HTTP-01 from the edge's webroot. It wraps
	// ErrDomain.
	ErrWildcard = fmt.Errorf("%w: wildcard", ErrDomain)
	// ErrEmail: not a bare email address.
	ErrEmail = errors.New("invalid email address")
	// ErrPort: outside 1–65535.
	ErrPort = errors.New("port must be between 1 and 65535")
	// ErrDuration: not a positive Go duration.
	ErrDuration = errors.New("invalid duration")
	// ErrNetwork: not an IP address or a network in CIDR notation.
	ErrNetwork = errors.New("invalid network")
)

// Problem is a value that fails its check: what is wrong, said about the
// value, and how to fix it. It unwraps to the kind's sentinel.
type Problem struct {
	Msg, Fix string
	Err      error
}

// Error returns what is wrong.
func (p *Problem) Error() string { return p.Msg }

// Unwrap returns the kind's sentinel.
func (p *Problem) Unwrap() error { return p.Err }

// domainRe: lower-case labels of letters, digits and inner hyphens, at
// least two of them, the last starting with a letter (so that an IP
// address is not a name).
var domainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Domain checks a host name kiln serves and certifies.
func Domain(d string) error {
	if strings.HasPrefix(d, "*.") {
		return &Problem{Msg: fmt.Sprintf("%q is a wildcard, which only a DNS-01 challenge can prove", d),
			Fix: "list each host name (kiln answers HTTP-01 challenges)", Err: ErrWildcard}
	}
	if len(d) > 253 || !domainRe.MatchString(d) {
		return &Problem{Msg: fmt.Sprintf("%q is not a domain name", d),
			Fix: "write a lower-case host name such as clipper.example.com", Err: ErrDomain}
	}
	return nil
}

// unsafe are characters that a unit file line ("%" starts a specifier) or
// the shell would read, should an address reach either.
const unsafe = " '\"\\$`%;"

// Email checks a bare address such as ops@example.com: no display name,
// nothing a unit file or shell would interpret.
func Email(a string) error {
	m, err := mail.ParseAddress(a)
	if err != nil || m.Address != a || m.Name != "" || strings.ContainsAny(a, unsafe) {
		return &Problem{Msg: fmt.Sprintf("%q is not an email address", a),
			Fix: "write a bare address such as ops@example.com", Err: ErrEmail}
	}
	return nil
}

// Port checks a TCP or UDP port number.
func Port(p int) error {
	if p < 1 || p > 65535 {
		return &Problem{Msg: fmt.Sprintf("port %d is out of range", p),
			Fix: "use a port between 1 and 65535", Err: ErrPort}
	}
	return nil
}

// Duration parses a positive Go duration such as 30s or 1m.
func Duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, &Problem{Msg: fmt.Sprintf("%q is not a duration", s),
			Fix: "write a duration such as 30s or 1m", Err: ErrDuration}
	}
	return d, nil
}

// Network checks an IP address or a network in CIDR notation whose host
// bits are zero. sshd refuses 192.0.2.5/24 in its address lists ("invalid
// address argument") and would not start, so the spec refuses it first and
// names the network meant.
func Network(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return &Problem{Msg: fmt.Sprintf("%q is neither an IP address nor a network", s),
			Fix: "write an address such as 203.0.113.7 or a network such as 203.0.113.0/24 or 2001:db8::/32", Err: ErrNetwork}
	}
	if m := p.Masked(); m != p {
		return &Problem{Msg: fmt.Sprintf("%q has host bits set", s),
			Fix: fmt.Sprintf("write the network %s, or the address %s alone", m, p.Addr()), Err: ErrNetwork}
	}
	return nil
}
