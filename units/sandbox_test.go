package units_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/units"
)

func service(directives string) string {
	return "[Unit]\nDescription=probe\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/true\n" + directives
}

// TestSandboxScores holds the variants of the two profiles to their
// ceilings, as systemd-analyze security scores them: 2.0 for Confined, 5.0
// for PodmanRunner.
func TestSandboxScores(t *testing.T) {
	testutil.Tool(t, "systemd-analyze")
	svcs := map[string]string{}
	limits := map[string]float64{}
	for _, c := range []units.Confined{
		{},
		{Writable: []string{"/var/lib/kiln/tls"}},
		{Capabilities: []string{"CAP_NET_ADMIN"}, HostNetwork: true},
		{Writable: []string{"/var/lib/kiln/secrets"}, Podman: true},
	} {
		name := fmt.Sprintf("confined-%d.service", len(svcs))
		svcs[name], limits[name] = service(c.Directives()), 2.0
	}
	for _, bridge := range []bool{false, true} {
		for _, exec := range []bool{false, true} {
			for _, host := range []bool{false, true} {
				if exec && (bridge || host) {
					// podman exec costs CAP_SYS_PTRACE and every namespace
					// (5.0); a bridge or a private hostname on top scores
					// 5.1. No kiln unit enters other containers and runs
					// one with a network or hostname of its own.
					continue
				}
				p := units.PodmanRunner{Writable: []string{"/var/lib/kiln"}, Bridge: bridge, Exec: exec, PrivateHostname: host}
				name := fmt.Sprintf("podman-%d.service", len(svcs))
				svcs[name], limits[name] = service(p.Directives()), 5.0
				t.Logf("%s: %+v", name, p)
			}
		}
	}
	for name, score := range judge.SystemdSecurity(t, svcs) {
		if score > limits[name] {
			t.Errorf("%s: exposure %.1f, want <= %.1f:\n%s", name, score, limits[name], svcs[name])
		}
	}
}

// TestSandboxDirectives checks what each option opens, line by line.
func TestSandboxDirectives(t *testing.T) {
	has := func(d, line string) bool { return strings.Contains("\n"+d, "\n"+line+"\n") }
	fw := units.Confined{Capabilities: []string{"CAP_NET_ADMIN"}, HostNetwork: true}.Directives()
	for _, want := range []string{"CapabilityBoundingSet=CAP_NET_ADMIN", "RestrictAddressFamilies=AF_UNIX AF_NETLINK", "NoNewPrivileges=yes"} {
		if !has(fw, want) {
			t.Errorf("firewall sandbox lacks %q:\n%s", want, fw)
		}
	}
	for _, not := range []string{"PrivateNetwork=yes", "PrivateUsers=yes"} {
		if has(fw, not) {
			t.Errorf("firewall sandbox has %q, which would hide the host's network from nft:\n%s", not, fw)
		}
	}
	plain := units.Confined{Writable: []string{"/a", "/b"}}.Directives()
	for _, want := range []string{"CapabilityBoundingSet=", "PrivateNetwork=yes", "PrivateUsers=yes", "ReadWritePaths=-/a -/b"} {
		if !has(plain, want) {
			t.Errorf("confined sandbox lacks %q:\n%s", want, plain)
		}
	}
	backup := units.PodmanRunner{Writable: []string{"/var/lib/kiln"}, Exec: true}.Directives()
	acme := units.PodmanRunner{Writable: []string{"/var/lib/kiln/acme"}, Bridge: true}.Directives()
	for _, c := range []struct {
		d, cap  string
		dropped bool
	}{
		{backup, "CAP_SYS_PTRACE", false}, {backup, "CAP_NET_ADMIN", true},
		{acme, "CAP_SYS_PTRACE", true}, {acme, "CAP_NET_ADMIN", false},
	} {
		var bounding string
		for _, l := range strings.Split(c.d, "\n") {
			if v, ok := strings.CutPrefix(l, "CapabilityBoundingSet=~"); ok {
				bounding = v
			}
		}
		if got := strings.Contains(" "+bounding+" ", " "+c.cap+" "); got != c.dropped {
			t.Errorf("%s dropped = %v, want %v:\n%s", c.cap, got, c.dropped, c.d)
		}
	}
	if has(backup, "RestrictNamespaces=~user") {
		t.Error("podman exec joins namespaces with setns(fd, 0), which RestrictNamespaces= refuses")
	}
	if !has(acme, "RestrictNamespaces=~user") {
		t.Errorf("a runner that enters no container keeps user namespaces open:\n%s", acme)
	}
	secrets := units.Confined{Podman: true}.Directives()
	if !has(secrets, "CapabilityBoundingSet=CAP_SYS_ADMIN") {
		t.Errorf("podman without CAP_SYS_ADMIN takes itself for rootless:\n%s", secrets)
	}
	if has(acme, "ProtectKernelTunables=yes") {
		t.Error("a bridge network needs /proc/sys writable for netavark, but the sandbox protects it")
	}
	if !has(backup, "ProtectKernelTunables=yes") || !has(backup, "ProtectHostname=yes") {
		t.Errorf("a runner on the host's network and UTS namespace keeps kernel tunables or the hostname open:\n%s", backup)
	}
	if has(units.PodmanRunner{PrivateHostname: true}.Directives(), "ProtectHostname=yes") {
		t.Error("a container with its own UTS namespace needs sethostname, but the sandbox forbids it")
	}
}
