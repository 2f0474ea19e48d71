// Package fail2ban renders the SSH brute-force guard: a fail2ban jail that
// reads sshd's messages from the systemd journal and bans through
// nftables, run as a Podman Quadlet container.
package fail2ban

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// Paths and names on the server.
const (
	// ConfigDir holds kiln's jail and filter overrides on the host.
	ConfigDir = "/etc/kiln/fail2ban"
	// JailPath is kiln's jail; .local files override the stock .conf ones.
	JailPath = ConfigDir + "/jail.d/kiln-sshd.local"
	// FilterPath extends the stock sshd filter.
	FilterPath = ConfigDir + "/filter.d/sshd.local"
	// StateDir keeps the ban database across restarts.
	StateDir = "/var/lib/kiln/fail2ban"
	// QuadletName is the container unit.
	QuadletName = "kiln-fail2ban.container"
)

// Image is the fail2ban image, pinned in kiln's image table.
var Image = overlays.Fail2banImage.Pinned()

//go:embed kiln-sshd.local.tmpl
var jailTmpl string

//go:embed sshd.local.tmpl
var filterTmpl string

//go:embed kiln-fail2ban.container.tmpl
var containerTmpl string

var (
	jailT      = template.Must(template.New("kiln-sshd.local").Parse(jailTmpl))
	filterT    = template.Must(template.New("sshd.local").Parse(filterTmpl))
	containerT = template.Must(template.New(QuadletName).Parse(containerTmpl))
)

// Config is the SSH jail the builder derives from the spec.
type Config struct {
	// BanTime is how long a source stays banned, in seconds.
	BanTime int
	// FindTime is the window failures are counted in, in seconds.
	FindTime int
	// MaxRetry failures within FindTime ban the source.
	MaxRetry int
	// Mode of the stock sshd filter; aggressive adds pre-authentication
	// probes and scanners to the failed logins.
	Mode string
	// Ports are the SSH ports to close for a banned source.
	Ports []int
	// BanAction is nftables-multiport (ban Ports) or nftables-allports.
	BanAction string
	// IgnoreIP are sources never banned (loopback always is).
	IgnoreIP []string
}

// DefaultConfig is Clipper's jail: ban for an hour after 5 failures in 10
// minutes.
func DefaultConfig() Config {
	return Config{BanTime: 3600, FindTime: 600, MaxRetry: 5, Mode: "aggressive", Ports: []int{22}, BanAction: "nftables-multiport"}
}

type view struct {
	Config
	PortList string
	Ignore   string
}

func (c Config) view() (view, error) {
	v := view{Config: c}
	for _, r := range []struct {
		field     string
		v, lo, hi int
	}{
		{"bantime", c.BanTime, 60, 365 * 86400},
		{"findtime", c.FindTime, 10, 7 * 86400},
		{"maxretry", c.MaxRetry, 1, 100},
	} {
		if r.v < r.lo || r.v > r.hi {
			return v, fmt.Errorf("%s: %d not in %d..%d: %w", r.field, r.v, r.lo, r.hi, ErrRange)
		}
	}
	switch c.Mode {
	case "normal", "ddos", "extra", "aggressive":
	default:
		return v, fmt.Errorf("mode: %q: %w", c.Mode, ErrMode)
	}
	switch c.BanAction {
	case "nftables-multiport", "nftables-allports":
	default:
		return v, fmt.Errorf("banaction: %q: %w", c.BanAction, ErrBanAction)
	}
	if len(c.Ports) == 0 {
		return v, fmt.Errorf("ports: none: %w", ErrPort)
	}
	ports := slices.Clone(c.Ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	var ps []string
	for i, p := range c.Ports {
		if p < 1 || p > 65535 {
			return v, fmt.Errorf("ports[%d]: %d: %w", i, p, ErrPort)
		}
	}
	for _, p := range ports {
		ps = append(ps, strconv.Itoa(p))
	}
	v.PortList = strings.Join(ps, ",")
	ignore := []string{"127.0.0.1/8", "::1"}
	for i, s := range c.IgnoreIP {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			ignore = append(ignore, a.String())
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return v, fmt.Errorf("ignoreip[%d]: %q: %w", i, s, ErrCIDR)
		}
		ignore = append(ignore, p.Masked().String())
	}
	v.Ignore = strings.Join(ignore, " ")
	return v, nil
}

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	_, err := c.view()
	return err
}

// Render returns the jail and filter overrides and the container unit.
func Render(c Config) ([]overlays.File, []units.Unit, error) {
	v, err := c.view()
	if err != nil {
		return nil, nil, err
	}
	var files []overlays.File
	for _, f := range []struct {
		path string
		t    *template.Template
	}{{JailPath, jailT}, {FilterPath, filterT}} {
		var b bytes.Buffer
		if err := f.t.Execute(&b, v); err != nil {
			return nil, nil, err
		}
		files = append(files, overlays.File{Path: f.path, Mode: 0o644, Contents: b.Bytes()})
	}
	var u bytes.Buffer
	if err := containerT.Execute(&u, struct{ Image, ConfigDir, StateDir string }{Image, ConfigDir, StateDir}); err != nil {
		return nil, nil, err
	}
	return files, []units.Unit{{Name: QuadletName, Contents: u.String(), Enabled: true}}, nil
}
