package builder

import (
	"fmt"
	"net/netip"
	"path"
	"slices"

	version "github.com/hashicorp/go-version"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/valid"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/overlays/acme"
	"github.com/kiln-dev/kiln/overlays/firewall"
	"github.com/kiln-dev/kiln/overlays/nginx"
	"github.com/kiln-dev/kiln/overlays/sshd"
	"github.com/kiln-dev/kiln/overlays/sysctl"
	"github.com/kiln-dev/kiln/units"
)

// add appends a renderer's files and units to the plan.
func (p *plan) add(files []overlays.File, us []units.Unit, err error) error {
	if err != nil {
		return err
	}
	p.Files = append(p.Files, files...)
	p.Units = append(p.Units, us...)
	return nil
}

// PublicPorts returns the TCP ports open to everyone: sshd's and each
// service port marked public, sorted and without repeats.
func PublicPorts(a *spec.Appliance) []int {
	seen := map[int]bool{a.SSH.Port: true}
	ports := []int{a.SSH.Port}
	for _, s := range a.Services {
		for _, pt := range s.Ports {
			if pt.Public && !seen[pt.Port] {
				seen[pt.Port] = true
				ports = append(ports, pt.Port)
			}
		}
	}
	slices.Sort(ports)
	return ports
}

// containerPort reports whether port is published by a container on the
// appliance network (not one on the host's network).
func containerPort(a *spec.Appliance, port int) bool {
	for _, s := range a.Services {
		if hostNetworkKinds[s.Kind] {
			continue
		}
		for _, pt := range s.Ports {
			if pt.Port == port {
				return true
			}
		}
	}
	return false
}

// allowListed reports whether firewall.allow opens port to some sources.
func allowListed(a *spec.Appliance, port int) bool {
	for _, r := range a.Firewall.Allow {
		if r.Port == port {
			return true
		}
	}
	return false
}

// 8. The host: default-deny firewall, keys-only SSH, brute-force bans and
// kernel hardening, all derived from the spec.
func (p *plan) host() error {
	a := p.App
	fw := firewall.DefaultConfig()
	fw.PublicTCPPorts = PublicPorts(a)
	fw.SSHPort = a.SSH.Port
	fw.SSHRate = firewall.Rate{Count: a.SSH.RateLimit, Per: "minute", Burst: max(1, a.SSH.RateLimit/2)}
	for i, r := range a.Firewall.Allow {
		fw.Allow = append(fw.Allow, firewall.Allow{Port: r.Port, From: r.From})
		if !containerPort(a, r.Port) {
			continue
		}
		// The appliance network has IPv4 only, so netavark forwards a
		// published port over IPv4 alone: an IPv6 source would reach the
		// host, where nothing listens on that port.
		for j, src := range r.From {
			if pfx, err := netip.ParsePrefix(src); err == nil && pfx.Addr().Is6() && !pfx.Addr().Is4In6() {
				p.Warnings = append(p.Warnings, planWarning{Path: fmt.Sprintf("firewall.allow[%d].from[%d]", i, j),
					Msg: fmt.Sprintf("port %d is a container's, published over IPv4 only: %s cannot reach it", r.Port, src),
					Fix: "reach it over IPv4, or over an SSH tunnel"})
			}
		}
	}
	// Services on the host's network that are not public (the node
	// exporter) are reached by containers on the bridge gateway.
	for _, s := range a.Services {
		if !hostNetworkKinds[s.Kind] {
			continue
		}
		for _, pt := range s.Ports {
			if !pt.Public {
				fw.ContainerHostTCPPorts = append(fw.ContainerHostTCPPorts, pt.Target)
			}
		}
	}
	if err := p.add(firewall.Render(fw)); err != nil {
		return fmt.Errorf("firewall: %w", fromSpec(err, map[string]string{"allow": "firewall.allow", "ssh_rate": "ssh.rate_limit"}))
	}

	var users []string
	for _, u := range a.Users {
		users = append(users, u.Name)
	}
	sc := sshd.DefaultConfig(users...)
	sc.Port = a.SSH.Port
	sc.TCPForwarding = a.SSH.AllowTCPForwarding
	sc.AgentForwarding = a.SSH.AllowAgentForwarding
	sc.OpenSSH = baseOpenSSH(baseRelease(a))
	// ssh.fail2ban is sshd's own per-source penalties: no container, no
	// capability, no image. An sshd older than 9.8 would refuse to start
	// on the directive, so the spec must rule such bases out.
	if f := a.SSH.Fail2ban; !f.Disabled {
		if !sc.OpenSSH.AtLeast(sshd.PenaltiesSince) {
			return &specError{path: "base.release", err: &valid.Problem{
				Msg: fmt.Sprintf("ssh.fail2ban is enforced by sshd's PerSourcePenalties (OpenSSH %s and later); base.release %q admits an FCOS release with OpenSSH %s, whose sshd would refuse to start", sshd.PenaltiesSince, a.Base.Release, sc.OpenSSH),
				Fix: fmt.Sprintf("set base.release to \">= %d\" or later, or ssh.fail2ban.disabled: true", minFCOSWith(sshd.PenaltiesSince))}}
		}
		sc.BruteForce = &sshd.BruteForce{BanTime: f.Bantime, FindTime: f.Findtime, MaxRetry: f.Maxretry, Exempt: f.Ignoreip}
	}
	if err := p.add(sshd.Render(sc)); err != nil {
		// allow_users[i] is users[i].name.
		return fmt.Errorf("sshd: %w", fromSpec(err, map[string]string{"port": "ssh.port", "allow_users": "users", "brute_force": "ssh.fail2ban"}))
	}

	if err := p.add(sysctl.Render(sysctl.DefaultConfig())); err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	return nil
}

// baseOpenSSH is the OpenSSH of the oldest FCOS major release the spec's
// constraint admits: the rendered config must suit whichever admitted
// release the build resolves, and OpenSSH only ever adds algorithm names.
func baseOpenSSH(constraint string) sshd.OpenSSH {
	cons, err := version.NewConstraint(constraint)
	if constraint == "" || err != nil {
		return sshd.Oldest
	}
	for major := 1; major < 1000; major++ {
		// A major is admitted when its first or its last release is.
		lo, _ := version.NewVersion(fmt.Sprintf("%d", major))
		hi, _ := version.NewVersion(fmt.Sprintf("%d.99999999.99", major))
		if cons.Check(lo) || cons.Check(hi) {
			if v, ok := sshd.ForFCOS(major); ok {
				return v
			}
			return sshd.Oldest
		}
	}
	return sshd.Oldest
}

// baseRelease is the release constraint the build holds bases to: the
// spec's, or, when it sets none and ssh.fail2ban is on, the first FCOS
// release whose sshd has per-source penalties. Without a constraint the
// build takes the stream's newest release, which has long been newer; the
// floor keeps an old local or cached base from being built with a drop-in
// its sshd would refuse.
func baseRelease(a *spec.Appliance) string {
	if a.Base.Release != "" || a.SSH.Fail2ban.Disabled {
		return a.Base.Release
	}
	return fmt.Sprintf(">= %d", minFCOSWith(sshd.PenaltiesSince))
}

// minFCOSWith is the first FCOS major release whose OpenSSH is v or newer.
func minFCOSWith(v sshd.OpenSSH) int {
	for major := 1; major < 1000; major++ {
		if got, ok := sshd.ForFCOS(major); ok && got.AtLeast(v) {
			return major
		}
	}
	return 0
}

// firstPort returns the host port of the first service of a kind.
func firstPort(a *spec.Appliance, kind string) (int, bool) {
	for _, s := range a.Services {
		if s.Kind == kind && len(s.Ports) > 0 {
			return s.Ports[0].Port, true
		}
	}
	return 0, false
}

// edgeConfig derives the TLS edge from the spec: its names, the API and
// SPA it fronts, and certificates on the data filesystem so a rebuilt
// server keeps them.
func (p *plan) edgeConfig() nginx.Config {
	a := p.App
	names := a.TLS.Domains
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	c := nginx.DefaultConfig(names...)
	if _, ok := serviceByKind(a, spec.KindNginxExporter); ok {
		c.StatusPort = spec.NginxStatusPort
	}
	if port, ok := firstPort(a, spec.KindApp); ok {
		c.Backend = fmt.Sprintf("127.0.0.1:%d", port)
	}
	if port, ok := firstPort(a, spec.KindStatic); ok {
		c.Frontend = fmt.Sprintf("127.0.0.1:%d", port)
	} else {
		c.Frontend = c.Backend
	}
	tls := p.DataDir("tls")
	c.CertPath, c.KeyPath, c.ChainPath = path.Join(tls, "fullchain.pem"), path.Join(tls, "privkey.pem"), path.Join(tls, "chain.pem")
	c.ACMEWebroot = p.DataDir("acme-webroot")
	return c
}

func applyEdge(p *plan, s *spec.Service) (overlays.Component, error) {
	cfg := p.edgeConfig()
	k, err := nginx.Edge(cfg, s.Name)
	if err != nil {
		fields := map[string]string{}
		if len(p.App.TLS.Domains) > 0 {
			fields["server_names"] = "tls.domains"
		}
		return k, fmt.Errorf("nginx: %w", fromSpec(err, fields))
	}
	if err := p.certificates(s, cfg); err != nil {
		return k, err
	}
	// The self-signed certificate exists before nginx first starts.
	k.Container.After = append(k.Container.After, acme.SelfSignedUnit)
	return k, nil
}

// acmeDirectories maps the spec's names to ACME directory URLs.
var acmeDirectories = map[string]string{
	"letsencrypt":         acme.LetsEncryptProduction,
	"letsencrypt-staging": acme.LetsEncryptStaging,
}

// certificates: a self-signed certificate at first boot so the edge
// starts, then ACME issuance and renewal unless the spec says none.
func (p *plan) certificates(edge *spec.Service, cfg nginx.Config) error {
	a := p.App
	c := acme.DefaultConfig(edge.Name+".service", path.Dir(cfg.CertPath), cfg.ACMEWebroot, a.TLS.Email, cfg.ServerNames...)
	if dir, ok := acmeDirectories[a.TLS.ACME]; ok {
		c.Directory = dir
	} else if a.TLS.ACME != "none" {
		c.Directory = a.TLS.ACME
	}
	c.TextfileDir = p.DataDir("node-exporter", "textfile")
	render := acme.Render
	if a.TLS.ACME == "none" || len(a.TLS.Domains) == 0 {
		render = acme.SelfSigned
	}
	files, us, err := render(c)
	if err != nil {
		fields := map[string]string{"email": "tls.email", "directory": "tls.acme"}
		if len(a.TLS.Domains) > 0 {
			fields["domains"] = "tls.domains"
		}
		return fmt.Errorf("acme: %w", fromSpec(err, fields))
	}
	return p.add(files, us, nil)
}
