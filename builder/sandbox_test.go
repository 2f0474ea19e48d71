package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
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
	"kiln-ssh-hostkey.service":    2.0, // ssh-keygen, before sshd
	"kiln-base-check.service":     2.0, // curl of the stream metadata
	"kiln-host-metrics.service":   2.0, // systemctl, openssl, textfiles
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

// TestNftNeedsOnlyNetAdmin loads Clipper's ruleset with CAP_NET_ADMIN as
// the only capability (setpriv empties the rest of the bounding set), in a
// scratch network namespace: what kiln-firewall.service keeps is enough;
// with no capability at all nft is refused.
func TestNftNeedsOnlyNetAdmin(t *testing.T) {
	res := renderCase(t, "clipper")
	rules, _, ok := ignFile(t, res.Ignition, "/etc/kiln/nftables.nft")
	if !ok {
		t.Fatal("Clipper has no /etc/kiln/nftables.nft")
	}
	p := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(p, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	script := "nft -f " + p
	setpriv := testutil.Tool(t, "setpriv")
	testutil.Tool(t, "nft")
	run := func(bounding string) (string, error) {
		out, err := judge.Exec(t, judge.Command{Name: "unshare", Args: []string{"-n", setpriv, "--bounding-set", bounding, "--", "sh", "-c", script}})
		return out.Combined(), err
	}
	if out, err := run("-all,+net_admin"); err != nil {
		t.Errorf("nft with CAP_NET_ADMIN alone: %v\n%s", err, out)
	}
	if out, err := run("-all"); err == nil {
		t.Errorf("nft loaded the ruleset with no capability at all; the check proves nothing:\n%s", out)
	}
}

// TestPodmanInitialisesOutsideSandboxes: the first podman command of a
// boot initialises podman's storage, and a sandboxed one failed its overlay
// probe for good (systemd 257, Podman 5.4). kiln-secrets, which every
// container follows, runs `podman info` unconfined first, and the backup
// jobs, which run podman without waiting for any container, follow it.
func TestPodmanInitialisesOutsideSandboxes(t *testing.T) {
	byName := map[string]string{}
	for _, u := range renderCase(t, "clipper").Units {
		byName[u.Name] = u.Contents
	}
	secrets := byName["kiln-secrets.service"]
	init := strings.Index(secrets, "\nExecStartPre=+/usr/bin/podman info")
	start := strings.Index(secrets, "\nExecStart=")
	if init < 0 || start < 0 {
		t.Fatalf("kiln-secrets.service does not initialise podman outside its sandbox:\n%s", secrets)
	}
	backup := byName["kiln-backup-init.service"]
	if !strings.Contains(backup, "\nAfter=network-online.target kiln-secrets.service\n") {
		t.Errorf("kiln-backup-init.service may run podman before kiln-secrets initialised it:\n%s", backup)
	}
}
