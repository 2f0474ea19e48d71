// Package firewall renders the host firewall: one nftables table (family
// inet, so IPv4 and IPv6 share the rules) loaded by a kiln-owned oneshot
// unit before the network comes up.
package firewall

import (
	"embed"
	_ "embed"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// RulesetPath is where the ruleset is placed on the server.
const RulesetPath = "/etc/kiln/nftables.nft"

// UnitName is the oneshot unit that loads the ruleset.
const UnitName = "kiln-firewall.service"

// TableName is the nftables table kiln owns; nothing else writes to it.
const TableName = "kiln"

//go:embed *.tmpl
var templatesFS embed.FS

var templates = overlays.Templates(templatesFS)

// Rate is a token-bucket limit as nft expresses it.
type Rate struct {
	// Count is how many events are allowed per Unit.
	Count int
	// Per is "second", "minute" or "hour".
	Per string
	// Burst is how many events may exceed the rate at once.
	Burst int
}

// Allow opens one TCP port to a set of source networks only.
type Allow struct {
	// Port is the TCP port.
	Port int
	// From lists source CIDRs, IPv4 and IPv6 mixed; bare addresses are
	// read as host prefixes.
	From []string
}

// Config is the firewall the builder derives from the appliance spec.
type Config struct {
	// PublicTCPPorts are open to everyone (Clipper: 22, 80, 443).
	PublicTCPPorts []int
	// SSHPort is the public port whose new connections are rate-limited
	// per source address; 0 disables the limit.
	SSHPort int
	// SSHRate is the per-source rate of new SSH connections above which
	// they are dropped.
	SSHRate Rate
	// EchoRate limits ICMP and ICMPv6 echo requests (per source address).
	EchoRate Rate
	// Allow lists ports open to given sources only.
	Allow []Allow
	// ContainerInterfaces are interface name patterns of the container
	// bridges whose traffic the forward chain accepts (netavark names its
	// bridges podman0, podman1, …). Without them a forward policy of drop
	// cuts every container off the network.
	ContainerInterfaces []string
	// ContainerHostTCPPorts are host ports that containers (traffic from
	// ContainerInterfaces) may reach: services on the host's network that
	// other containers use, such as the node exporter Prometheus scrapes.
	ContainerHostTCPPorts []int
}

// DefaultConfig is Clipper's firewall: SSH, HTTP and HTTPS public, SSH
// limited to 10 new connections a minute per source (burst 5).
func DefaultConfig() Config {
	return Config{
		PublicTCPPorts:      []int{22, 80, 443},
		SSHPort:             22,
		SSHRate:             Rate{Count: 10, Per: "minute", Burst: 5},
		EchoRate:            Rate{Count: 10, Per: "second", Burst: 20},
		ContainerInterfaces: []string{"podman*"},
	}
}

// allowSet is one allow-listed port with its sources split by family, as
// nft sets are typed by address family.
type allowSet struct {
	Port   int
	V4, V6 []string
}

// view is what the ruleset template reads.
type view struct {
	Table      string
	Public     string
	SSHPort    int
	SSHRate    Rate
	EchoRate   Rate
	Allow      []allowSet
	Interfaces []string
	// HostPorts are ContainerHostTCPPorts, sorted, as an nft set body.
	HostPorts string
}

var ifacePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}\*?$`)

// Validate reports the first problem in cfg, naming the field.
func (c Config) Validate() error {
	_, err := c.view()
	return err
}

func checkRate(field string, r Rate) error {
	if r.Count <= 0 || r.Burst <= 0 {
		return overlays.Bad(field, fmt.Sprintf("%d/%s burst %d", r.Count, r.Per, r.Burst), ErrRate)
	}
	switch r.Per {
	case "second", "minute", "hour":
		return nil
	}
	return overlays.Bad(field+".per", r.Per, fmt.Errorf("must be second, minute or hour: %w", ErrRate))
}

// view validates and normalises: ports sorted, CIDRs masked, deduplicated
// and sorted, so equal configs render byte-identical rulesets.
func (c Config) view() (view, error) {
	v := view{Table: TableName, SSHPort: c.SSHPort, SSHRate: c.SSHRate, EchoRate: c.EchoRate}
	if len(c.PublicTCPPorts) == 0 {
		return v, overlays.Bad("public_tcp_ports", nil, ErrNoPublicPorts)
	}
	seen := map[int]string{}
	public := make([]int, 0, len(c.PublicTCPPorts))
	for i, p := range c.PublicTCPPorts {
		field := fmt.Sprintf("public_tcp_ports[%d]", i)
		if err := overlays.CheckPort(field, p); err != nil {
			return v, err
		}
		if prev, ok := seen[p]; ok {
			return v, overlays.Bad(field, p, fmt.Errorf("already in %s: %w", prev, ErrDuplicatePort))
		}
		seen[p] = field
		public = append(public, p)
	}
	slices.Sort(public)
	for i, p := range public {
		if i > 0 {
			v.Public += ", "
		}
		v.Public += strconv.Itoa(p)
	}
	if c.SSHPort != 0 {
		if !slices.Contains(public, c.SSHPort) {
			return v, overlays.Bad("ssh_port", c.SSHPort, ErrSSHPort)
		}
		if err := checkRate("ssh_rate", c.SSHRate); err != nil {
			return v, err
		}
	}
	if err := checkRate("echo_rate", c.EchoRate); err != nil {
		return v, err
	}
	byPort := map[int]*allowSet{}
	for i, a := range c.Allow {
		field := fmt.Sprintf("allow[%d]", i)
		if err := overlays.CheckPort(field+".port", a.Port); err != nil {
			return v, err
		}
		// Several entries may share a port (their sources merge), but a
		// public port needs no allow-list.
		if prev, ok := seen[a.Port]; ok {
			return v, overlays.Bad(field+".port", a.Port, fmt.Errorf("is public (%s): %w", prev, ErrDuplicatePort))
		}
		if len(a.From) == 0 {
			return v, overlays.Bad(field+".from", nil, ErrNoSources)
		}
		s := byPort[a.Port]
		if s == nil {
			s = &allowSet{Port: a.Port}
			byPort[a.Port] = s
		}
		for j, src := range a.From {
			pfx, err := parsePrefix(src)
			if err != nil {
				return v, overlays.Bad(fmt.Sprintf("%s.from[%d]", field, j), src, ErrCIDR)
			}
			if pfx.Addr().Is4() {
				s.V4 = append(s.V4, pfx.String())
			} else {
				s.V6 = append(s.V6, pfx.String())
			}
		}
	}
	for _, s := range byPort {
		s.V4 = sortPrefixes(s.V4)
		s.V6 = sortPrefixes(s.V6)
		v.Allow = append(v.Allow, *s)
	}
	slices.SortFunc(v.Allow, func(a, b allowSet) int { return a.Port - b.Port })
	for i, name := range c.ContainerInterfaces {
		if !ifacePattern.MatchString(name) {
			return v, overlays.Bad(fmt.Sprintf("container_interfaces[%d]", i), name, ErrInterface)
		}
	}
	hostPorts := slices.Clone(c.ContainerHostTCPPorts)
	for i, p := range hostPorts {
		if err := overlays.CheckPort(fmt.Sprintf("container_host_tcp_ports[%d]", i), p); err != nil {
			return v, err
		}
	}
	if len(hostPorts) > 0 && len(c.ContainerInterfaces) == 0 {
		return v, overlays.Bad("container_host_tcp_ports", nil, ErrNoInterfaces)
	}
	slices.Sort(hostPorts)
	for i, p := range slices.Compact(hostPorts) {
		if i > 0 {
			v.HostPorts += ", "
		}
		v.HostPorts += strconv.Itoa(p)
	}
	v.Interfaces = slices.Clone(c.ContainerInterfaces)
	slices.Sort(v.Interfaces)
	v.Interfaces = slices.Compact(v.Interfaces)
	return v, nil
}

// parsePrefix accepts a CIDR or a bare address and returns the masked
// prefix; IPv4-mapped IPv6 is refused because it would land in the wrong set.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Is4In6() || a.Zone() != "" {
			return netip.Prefix{}, ErrCIDR
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return netip.Prefix{}, ErrCIDR
	}
	return p.Masked(), nil
}

func sortPrefixes(in []string) []string {
	ps := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	ps = slices.Compact(ps)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// Ruleset renders only the nftables ruleset text.
func Ruleset(cfg Config) ([]byte, error) {
	v, err := cfg.view()
	if err != nil {
		return nil, err
	}
	return overlays.Execute(templates, "nftables.nft.tmpl", v)
}

// Render returns the ruleset file and the enabled unit that loads it.
func Render(cfg Config) ([]overlays.File, []units.Unit, error) {
	rs, err := Ruleset(cfg)
	if err != nil {
		return nil, nil, err
	}
	// nft needs the host's network namespace and CAP_NET_ADMIN, nothing else.
	sandbox := units.Confined{Capabilities: []string{"CAP_NET_ADMIN"}, HostNetwork: true}.Directives()
	u, err := overlays.Execute(templates, UnitName+".tmpl", struct{ Path, Table, Sandbox string }{RulesetPath, TableName, sandbox})
	if err != nil {
		return nil, nil, err
	}
	files := []overlays.File{{Path: RulesetPath, Mode: 0o600, Contents: rs}}
	return files, []units.Unit{{Name: UnitName, Contents: string(u), Enabled: true}}, nil
}
