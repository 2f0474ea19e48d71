package firewall

import (
	"github.com/kiln-dev/kiln/internal/netns"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// TestForwardPodman reproduces the Podman trap: a container namespace
// behind a bridge-like interface named podman1 on the firewalled host. The
// container must reach the outside (forwarded egress and its replies) while
// nothing from outside reaches the container; and without the
// container-interface rule the same egress must fail, which shows the rule
// is what keeps containers online. The second load also exercises a reload.
func TestForwardPodman(t *testing.T) {
	nft := testutil.Tool(t, "nft")
	ip := testutil.Tool(t, "ip")
	srv, cli := netnsPair(t, ip)
	ctr := srv[:len(srv)-1] + "k"
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", ctr)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ctr).Run() })
	sh("-n", ctr, "link", "set", "lo", "up")
	sh("-n", srv, "link", "add", "podman1", "type", "veth", "peer", "name", "eth0", "netns", ctr)
	sh("-n", srv, "addr", "add", "10.88.0.1/24", "dev", "podman1")
	sh("-n", ctr, "addr", "add", "10.88.0.2/24", "dev", "eth0")
	sh("-n", srv, "link", "set", "podman1", "up")
	sh("-n", ctr, "link", "set", "eth0", "up")
	sh("-n", ctr, "route", "add", "default", "via", "10.88.0.1")
	sh("-n", cli, "route", "add", "10.88.0.0/24", "via", "10.199.0.1")
	sh("netns", "exec", srv, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")

	netns.Listen(t, cli, "10.199.0.2:7000")
	netns.Listen(t, ctr, "10.88.0.2:7001")

	load := func(cfg Config) {
		t.Helper()
		rs, err := Ruleset(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "ruleset.nft")
		if err := os.WriteFile(p, rs, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ip, "netns", "exec", srv, nft, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("load ruleset: %v\n%s", err, out)
		}
	}

	load(DefaultConfig())
	if !probe(t, ctr, "10.88.0.2", "10.199.0.2", 7000) {
		t.Error("container egress blocked by the forward chain")
	}
	if probe(t, cli, "10.199.0.2", "10.88.0.2", 7001) {
		t.Error("outside reached the container through the forward chain")
	}

	without := DefaultConfig()
	without.ContainerInterfaces = nil
	load(without)
	if probe(t, ctr, "10.88.0.2", "10.199.0.2", 7000) {
		t.Error("container egress passed without the container-interface rule: the test proves nothing")
	}
}
