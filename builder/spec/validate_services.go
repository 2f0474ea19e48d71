package spec

import (
	"fmt"
	"path"
	"strings"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Checks of the services: ports and who may see them, references to
// secrets and volumes, dependencies and images.

func (v *validator) services(a *Appliance, secrets, volumes map[string]bool) {
	if len(a.Services) == 0 {
		v.errorf("services", "add at least one service", "the appliance runs no services")
	}
	names := v.names("services", len(a.Services), func(i int) string { return a.Services[i].Name })
	ports := map[int]string{}
	for i := range a.Services {
		s := &a.Services[i]
		p := fmt.Sprintf("services[%d]", i)
		role, ok := KindRole(s.Kind)
		if !ok {
			v.errorf(p+".kind", "use one of: "+strings.Join(Kinds(), ", "), "unknown kind %q", s.Kind)
		}
		v.image(p+".image", s.Image)
		for j, port := range s.Ports {
			pp := fmt.Sprintf("%s.ports[%d]", p, j)
			if err := valid.Port(port.Port); err != nil {
				v.check(pp+".port", err)
				continue
			}
			v.check(pp+".target", valid.Port(port.Target))
			if other, dup := ports[port.Port]; dup {
				v.errorf(pp+".port", "give each service its own host port", "port %d is already used by service %q", port.Port, other)
			} else {
				ports[port.Port] = s.Name
			}
			if port.Port == a.SSH.Port {
				v.errorf(pp+".port", "choose another port", "port %d is sshd's", port.Port)
			}
			if port.Public && (role == RoleDatabase || role == RoleCache || role == RoleMonitoring) {
				if port.Force {
					v.warnf(pp+".public", "reach it over an SSH tunnel or a firewall allow-list instead", "the %s port %d of %q is open to the internet", role, port.Port, s.Name)
				} else {
					v.errorf(pp+".public", "remove `public: true` and reach it over SSH or `firewall.allow`; `force: true` overrides", "a %s port (%q, %d) must not be public", role, s.Name, port.Port)
				}
			}
			if port.Public && role != RoleEdge && !port.Force {
				if role == RoleApp {
					v.warnf(pp+".public", "put the service behind the edge instead", "port %d of %q bypasses the TLS edge", port.Port, s.Name)
				}
			}
		}
		for k := range s.Env {
			if !envRE.MatchString(k) {
				v.errorf(p+".env."+k, "use letters, digits and _ , not starting with a digit", "%q is not an environment variable name", k)
			}
		}
		for j, sec := range s.Secrets {
			if !secrets[sec] {
				v.errorf(fmt.Sprintf("%s.secrets[%d]", p, j), "declare it under the top-level `secrets:` list", "undefined secret %q", sec)
			}
		}
		for j, m := range s.Volumes {
			mp := fmt.Sprintf("%s.volumes[%d]", p, j)
			if !volumes[m.Volume] {
				v.errorf(mp+".volume", "declare it under the top-level `volumes:` list", "undefined volume %q", m.Volume)
			}
			if !path.IsAbs(m.Path) {
				v.errorf(mp+".path", "give an absolute path inside the container", "%q is not an absolute path", m.Path)
			}
		}
		for j, d := range s.DependsOn {
			dp := fmt.Sprintf("%s.depends_on[%d]", p, j)
			switch {
			case d == s.Name:
				v.errorf(dp, "remove it", "service %q depends on itself", d)
			case !names[d]:
				v.errorf(dp, "name a service defined under `services:`", "unknown service %q", d)
			}
		}
		if s.Memory != "" && !sizeRE.MatchString(s.Memory) {
			v.errorf(p+".memory", "write a size such as 512M or 2G", "%q is not a memory size", s.Memory)
		}
		if s.CPUs < 0 || s.CPUs > 256 {
			v.errorf(p+".cpus", "write a number of CPUs such as 0.5 or 2", "%v CPUs is out of range", s.CPUs)
		}
		for _, d := range []struct{ field, val string }{{"interval", s.Health.Interval}, {"timeout", s.Health.Timeout}, {"start_period", s.Health.StartPeriod}} {
			if d.val == "" {
				continue
			}
			_, err := valid.Duration(d.val)
			v.check(p+".health."+d.field, err)
		}
	}
	v.dependencyCycles(a)
}

// dependencyCycles refuses depends_on loops, which systemd would break at
// random at boot.
func (v *validator) dependencyCycles(a *Appliance) {
	idx := map[string]int{}
	for i, s := range a.Services {
		idx[s.Name] = i
	}
	state := make([]int, len(a.Services)) // 0 new, 1 visiting, 2 done
	var visit func(i int, chain []string) bool
	visit = func(i int, chain []string) bool {
		if state[i] == 1 {
			v.errorf(fmt.Sprintf("services[%d].depends_on", i), "remove one dependency of the loop", "dependency loop: %s", strings.Join(append(chain, a.Services[i].Name), " → "))
			return true
		}
		if state[i] == 2 {
			return false
		}
		state[i] = 1
		for _, d := range a.Services[i].DependsOn {
			if j, ok := idx[d]; ok && j != i && visit(j, append(chain, a.Services[i].Name)) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range a.Services {
		if visit(i, nil) {
			return
		}
	}
}

func (v *validator) image(p, ref string) {
	if ref == "" {
		v.errorf(p, "give an image reference such as docker.io/library/redis:8.2-alpine", "missing image")
		return
	}
	if strings.ContainsAny(ref, " \t\n") {
		v.errorf(p, "remove the spaces", "%q is not an image reference", ref)
		return
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	hasDigest := digestRE.MatchString(ref)
	if !hasDigest && strings.Contains(ref, "@") {
		v.errorf(p, "write the digest as @sha256: and 64 hex digits", "malformed digest in %q", ref)
		return
	}
	hasTag := strings.Contains(strings.Split(last, "@")[0], ":")
	if !hasTag && !hasDigest {
		v.errorf(p, "add a tag (:1.2.3) or better a digest (@sha256:…)", "image %q has no tag or digest, so every build could run different code", ref)
		return
	}
	if strings.HasSuffix(strings.Split(last, "@")[0], ":latest") && !hasDigest {
		v.warnf(p, "use a version tag, and a digest to pin it", "image %q uses the moving tag latest", ref)
	}
	if !hasDigest {
		v.warnf(p, "append @sha256:<digest> (`podman image inspect --format '{{.Digest}}'`); --strict requires it", "image %q is not pinned by digest", ref)
	}
}
