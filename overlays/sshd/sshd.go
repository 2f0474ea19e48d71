// Package sshd renders the OpenSSH server hardening drop-in: keys only,
// named users only, modern algorithms only.
package sshd

import (
	"embed"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// DropInPath is the drop-in's place on the server. sshd keeps the first
// value it reads for most keywords and Fedora's sshd_config includes
// sshd_config.d/*.conf in lexical order at its top, so the name must sort
// before the distribution's 50-redhat.conf for kiln's values to win.
const DropInPath = "/etc/ssh/sshd_config.d/40-kiln.conf"

// The RSA host key kiln makes at first boot, before FCOS's sshd-keygen.
const (
	// HostKeyUnit makes the key once.
	HostKeyUnit = "kiln-ssh-hostkey.service"
	// RSAHostKeyPath is where sshd looks for its RSA key by default.
	RSAHostKeyPath = "/etc/ssh/ssh_host_rsa_key"
	// RSAHostKeyBits is the size ssh-audit's hardening policies demand.
	RSAHostKeyBits = 4096
)

//go:embed *.tmpl
var templatesFS embed.FS

var templates = overlays.Templates(templatesFS)

// Config is the SSH server policy the builder derives from the spec.
type Config struct {
	// Port sshd listens on. Another port than 22 also needs the SELinux
	// ssh_port_t label on the server.
	Port int
	// AllowUsers may log in, by public key only.
	AllowUsers []string
	// MaxAuthTries per connection.
	MaxAuthTries int
	// LoginGraceTime in seconds to finish authenticating.
	LoginGraceTime int
	// ClientAliveInterval in seconds between keepalives; after
	// ClientAliveCountMax unanswered ones the session is dropped.
	ClientAliveInterval int
	// ClientAliveCountMax is the number of unanswered keepalives tolerated.
	ClientAliveCountMax int
	// MaxSessions per connection.
	MaxSessions int
	// AgentForwarding, TCPForwarding and X11Forwarding are off unless asked.
	AgentForwarding, TCPForwarding, X11Forwarding bool
	// OpenSSH is the server's version; it selects the algorithm lists
	// (AlgorithmsFor). Zero means Oldest, which every release accepts.
	OpenSSH OpenSSH
	// BruteForce, when set, shuts out sources that keep failing to log
	// in, with sshd's PerSourcePenalties; it needs OpenSSH 9.8 or later.
	BruteForce *BruteForce
}

// DefaultConfig is Clipper's policy for the given users.
func DefaultConfig(users ...string) Config {
	return Config{
		Port:                22,
		AllowUsers:          users,
		MaxAuthTries:        3,
		LoginGraceTime:      30,
		ClientAliveInterval: 300,
		ClientAliveCountMax: 2,
		MaxSessions:         4,
		OpenSSH:             Oldest,
	}
}

// userName is what shadow-utils accepts by default.
var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func inRange(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return overlays.Bad(field, v, fmt.Errorf("not in %d..%d: %w", lo, hi, ErrRange))
	}
	return nil
}

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	if err := overlays.CheckPort("port", c.Port); err != nil {
		return err
	}
	if len(c.AllowUsers) == 0 {
		return overlays.Bad("allow_users", nil, ErrNoUsers)
	}
	for i, u := range c.AllowUsers {
		if u == "root" {
			return overlays.Bad(fmt.Sprintf("allow_users[%d]", i), nil, ErrRoot)
		}
		if !userName.MatchString(u) {
			return overlays.Bad(fmt.Sprintf("allow_users[%d]", i), u, ErrUser)
		}
	}
	for _, r := range []struct {
		field     string
		v, lo, hi int
	}{
		{"max_auth_tries", c.MaxAuthTries, 1, 10},
		{"login_grace_time", c.LoginGraceTime, 5, 600},
		{"client_alive_interval", c.ClientAliveInterval, 10, 3600},
		{"client_alive_count_max", c.ClientAliveCountMax, 1, 10},
		{"max_sessions", c.MaxSessions, 1, 64},
	} {
		if err := inRange(r.field, r.v, r.lo, r.hi); err != nil {
			return err
		}
	}
	if c.BruteForce != nil {
		if err := c.BruteForce.Validate(); err != nil {
			return err
		}
		// sshd refuses to start on a keyword it does not know, which would
		// lock everyone out of an immutable server.
		if v := c.version(); !v.AtLeast(PenaltiesSince) {
			return &overlays.FieldError{Field: "brute_force", Value: "OpenSSH " + v.String(), Err: ErrNoPenalties}
		}
	}
	return nil
}

// version is the OpenSSH the drop-in is written for.
func (c Config) version() OpenSSH {
	if c.OpenSSH == (OpenSSH{}) {
		return Oldest
	}
	return c.OpenSSH
}

// DropIn renders the drop-in's text.
func DropIn(c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	users := slices.Clone(c.AllowUsers)
	slices.Sort(users)
	users = slices.Compact(users)
	ver := c.version()
	algs := AlgorithmsFor(ver)
	v := struct {
		Config
		Users                                       []string
		Kex, Ciphers, MACs, HostKeyAlgs, PubkeyAlgs string
		Agent, TCP, X11, Forwarding                 string
		Version                                     OpenSSH
		Penalties, Exempt                           string
	}{
		Config: c, Users: users,
		Kex: join(algs.Kex), Ciphers: join(algs.Ciphers), MACs: join(algs.MACs), HostKeyAlgs: join(algs.HostKey), PubkeyAlgs: join(algs.PubkeyAccepted),
		Version: ver,
		Agent:   yesNo(c.AgentForwarding), TCP: yesNo(c.TCPForwarding), X11: yesNo(c.X11Forwarding),
	}
	if c.BruteForce != nil {
		v.Penalties = c.BruteForce.Penalties().directive(ver)
		v.Exempt = strings.Join(c.BruteForce.Exempt, ",")
	}
	return overlays.Execute(templates, "40-kiln.conf.tmpl", v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Render returns the drop-in and the unit that makes the RSA host key;
// sshd itself comes with the base OS.
func Render(c Config) ([]overlays.File, []units.Unit, error) {
	b, err := DropIn(c)
	if err != nil {
		return nil, nil, err
	}
	u, err := overlays.Execute(templates, HostKeyUnit+".tmpl", struct {
		Bits int
		Path string
	}{RSAHostKeyBits, RSAHostKeyPath})
	if err != nil {
		return nil, nil, err
	}
	return []overlays.File{{Path: DropInPath, Mode: 0o600, Contents: b}},
		[]units.Unit{{Name: HostKeyUnit, Contents: string(u), Enabled: true}}, nil
}
