package firewall

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/netns"
)

// TestForwardPodman reproduces the Podman trap: a container namespace
// behind a bridge-like interface named podman1 on the firewalled host. The
// container must reach the outside (forwarded egress and its replies) while
// nothing from outside reaches the container; and without the
// container-interface rule the same egress must fail, which shows the rule
// is what keeps containers online. The second load also exercises a reload.
func TestForwardPodman(t *testing.T) {
	h := newPodmanHost(t)
	netns.Listen(t, h.cli, "10.199.0.2:7000")
	netns.Listen(t, h.ctr, "10.88.0.2:7001")

	h.load(t, DefaultConfig(), "")
	if !probe(t, h.ctr, "10.88.0.2", "10.199.0.2", 7000) {
		t.Error("container egress blocked by the forward chain")
	}
	if probe(t, h.cli, "10.199.0.2", "10.88.0.2", 7001) {
		t.Error("outside reached the container through the forward chain")
	}

	without := DefaultConfig()
	without.ContainerInterfaces = nil
	h.load(t, without, "")
	if probe(t, h.ctr, "10.88.0.2", "10.199.0.2", 7000) {
		t.Error("container egress passed without the container-interface rule: the test proves nothing")
	}
}
