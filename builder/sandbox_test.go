package builder

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
)

// hostUnitLimits is the reviewed exposure ceiling of every host service
// the Clipper appliance renders, as `systemd-analyze security` scores it:
// 2.0 for a program that starts no container, 5.0 for one that runs
// `podman run` or `podman exec` (podman needs root, mounts, namespaces and
// cgroups, and its containers inherit the unit's seccomp filters). A new
// host unit fails the test until it is sandboxed and listed here.
var hostUnitLimits = map[string]float64{
	"kiln-firewall.service":       2.0,
	"kiln-secrets.service":        2.0, // podman secret create: no container
	"kiln-tls-selfsigned.service": 2.0,
	"kiln-acme.service":           5.0, // podman run certbot
	"kiln-backup-init.service":    5.0, // podman run restic
	"kiln-wal-ship.service":       5.0,
	"kiln-backup-daily.service":   5.0, // and podman exec pg_dump, redis-cli
	"kiln-backup-weekly.service":  5.0,
	"kiln-restore-drill.service":  5.0,
}

// TestHostUnitsSandboxed scores every non-Quadlet service of Clipper with
// systemd-analyze security and holds each to its ceiling; the units stay
// valid for systemd-analyze verify (TestUnitsVerify).
func TestHostUnitsSandboxed(t *testing.T) {
	res := renderCase(t, "clipper")
	services := map[string]string{}
	for _, u := range res.Units {
		if !u.IsQuadlet() && strings.HasSuffix(u.Name, ".service") {
			services[u.Name] = u.Contents
		}
	}
	for name := range hostUnitLimits {
		if _, ok := services[name]; !ok {
			t.Errorf("Clipper no longer renders %s: remove it from hostUnitLimits", name)
		}
	}
	scores := judge.SystemdSecurity(t, services)
	for name, score := range scores {
		limit, ok := hostUnitLimits[name]
		if !ok {
			t.Errorf("%s (exposure %.1f) has no reviewed ceiling: sandbox it and add it to hostUnitLimits", name, score)
			continue
		}
		if score > limit {
			t.Errorf("%s: systemd-analyze security exposure %.1f, want <= %.1f (see the log for the settings that cost points)", name, score, limit)
		}
	}
}

// TestFirewallKeepsOnlyNetAdmin: nft needs CAP_NET_ADMIN and nothing else.
func TestFirewallKeepsOnlyNetAdmin(t *testing.T) {
	res := renderCase(t, "clipper")
	for _, u := range res.Units {
		if u.Name != "kiln-firewall.service" {
			continue
		}
		var caps []string
		for _, l := range strings.Split(u.Contents, "\n") {
			if v, ok := strings.CutPrefix(l, "CapabilityBoundingSet="); ok {
				caps = append(caps, v)
			}
		}
		if len(caps) != 1 || caps[0] != "CAP_NET_ADMIN" {
			t.Errorf("kiln-firewall.service bounding set %q, want exactly CAP_NET_ADMIN", caps)
		}
		return
	}
	t.Fatal("Clipper renders no kiln-firewall.service")
}
