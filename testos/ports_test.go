//go:build vmtest

package testos_test

// The port checks of the VM test: the spec's port table, probed from the
// host over IPv4 and from a network namespace in the guest over IPv6.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/vm"
)

// port is one row of the port table: a TCP port of the appliance, who
// listens on it and whether the spec makes it public.
type port struct {
	port    int
	service string // "" for the host's sshd
	public  bool
}

func (p port) owner() string {
	if p.service == "" {
		return "sshd"
	}
	return p.service
}

// wanted says whether the port must answer from outside and, when the
// answer cannot be checked here, why: a public port answers once its
// service runs; a private one never does.
func (p port) wanted(blocked map[string]string) (bool, string) {
	if !p.public {
		return false, ""
	}
	if why, ok := blocked[p.service]; ok && p.service != "" {
		return true, why
	}
	return true, ""
}

// portTable lists the ports of the spec: sshd's (public) and every port a
// service publishes on the host (public or loopback-only).
func portTable(app *spec.Appliance) []port {
	ports := []port{{port: app.SSH.Port, public: true}}
	for _, s := range app.Services {
		for _, p := range s.Ports {
			ports = append(ports, port{port: p.Port, service: s.Name, public: p.Public})
		}
	}
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].port < ports[j].port })
	return ports
}

// ipv6Setup runs in the guest as root. QEMU 7.2's user networking
// forwards host ports to the guest over IPv4 only, so the IPv6 check comes
// from inside: a network namespace joined to the host by a veth pair plays
// the outside world and dials the guest's own address on its default
// route's interface (the one the user network's router advertisement gave
// it), which crosses the same input hook as a packet from the internet. It
// prints "v6 ADDRESS" ("v6 -" when there is none); ipv6Teardown removes the
// namespace.
const ipv6Setup = `set -eu
ns=kilnprobe
ip netns del $ns 2>/dev/null || true
ip link del kprobe0 2>/dev/null || true
ip netns add $ns
ip link add kprobe0 type veth peer name kprobe1 netns $ns
ip addr add fd6b:696c:6e::1/64 dev kprobe0 nodad
ip link set kprobe0 up
ip -n $ns addr add fd6b:696c:6e::2/64 dev kprobe1 nodad
ip -n $ns link set lo up
ip -n $ns link set kprobe1 up
ip -n $ns -6 route add default via fd6b:696c:6e::1
dev=$(ip -6 route show default | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)
addr=""
# QEMU's user network advertises fec0::/64, which the kernel files under
# scope site (the deprecated site-local prefix), not global.
[ -n "$dev" ] && addr=$(ip -6 -o addr show dev "$dev" | awk '$0 !~ / scope (link|host) / { sub("/.*", "", $4); print $4; exit }')
echo "v6 ${addr:--}"
`

const ipv6Teardown = "sudo ip netns del kilnprobe; sudo ip link del kprobe0 2>/dev/null || true"

// ipv6Attempt is one connection attempt from the namespace to ADDRESS and
// PORT within SECONDS; it prints "open" or "closed", so that an SSH failure
// is an error, not a closed port.
const ipv6Attempt = `sudo ip netns exec kilnprobe timeout %d bash -c 'exec 3<>/dev/tcp/%s/%d' 2>/dev/null && echo open || echo closed`

// checkIPv6Ports probes every port of the table from ipv6Setup's namespace
// and compares with the table.
func checkIPv6Ports(t *testing.T, c *vm.Client, ports []port, blocked map[string]string) {
	out, err := c.RunInput("sudo bash -s", ipv6Setup)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Run(ipv6Teardown)
	addr := ""
	for _, line := range strings.Split(out, "\n") {
		if a, ok := strings.CutPrefix(line, "v6 "); ok {
			addr = strings.TrimSpace(a)
		}
	}
	if addr == "-" || addr == "" {
		t.Fatalf("the guest has no IPv6 address beyond link-local on its default route's interface (QEMU's user network advertises one):\n%s\n%s",
			out, mustRun(t, c, "ip -6 addr; ip -6 route"))
	}
	t.Logf("probing %s from a network namespace in the guest", addr)
	byPort := map[int]port{}
	var nums []int
	for _, p := range ports {
		byPort[p.port] = p
		nums = append(nums, p.port)
	}
	// Every attempt is a process started in the guest: two at a time, not
	// all at once (all at once, a public port missed its 5 s per run).
	open, err := probePorts(nums, 2, func(n int) (bool, error) {
		wait := 3
		if want, _ := byPort[n].wanted(blocked); want {
			wait = 15
		}
		return portAnswers(probeTries, func() (bool, error) {
			out, err := c.Run(fmt.Sprintf(ipv6Attempt, wait, addr, n))
			switch strings.TrimSpace(out) {
			case "open":
				return true, nil
			case "closed":
				return false, nil
			}
			return false, fmt.Errorf("probe from the namespace said %q: %v", out, err)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	comparePorts(t, ports, blocked, open, " over IPv6")
}

// comparePorts reports every port of the table whose answer (open, by port)
// is not what the spec wants: public ports answer, private ones do not.
func comparePorts(t *testing.T, ports []port, blocked map[string]string, open map[int]bool, how string) {
	t.Helper()
	var answered []string
	for _, p := range ports {
		want, why := p.wanted(blocked)
		got := open[p.port]
		if got {
			answered = append(answered, strconv.Itoa(p.port))
		}
		switch {
		case got == want:
		case why != "":
			t.Logf("SKIP port %d (%s)%s: %s", p.port, p.owner(), how, why)
		case want:
			t.Errorf("port %d (%s) does not answer%s after %d attempts", p.port, p.owner(), how, probeTries)
		default:
			t.Errorf("port %d (%s) answers%s; only the spec's public ports should", p.port, p.owner(), how)
		}
	}
	t.Logf("answering%s: %s (of %d ports probed, %d attempts each before a port counts as closed)", how, strings.Join(answered, " "), len(ports), probeTries)
}
