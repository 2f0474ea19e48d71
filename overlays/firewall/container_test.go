package firewall

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// podmanHost is the server namespace of netnsPair with a "container"
// namespace behind an interface named podman1, as netavark names its
// bridges: the host side is the bridge gateway 10.88.0.1 (where
// aardvark-dns answers), the container is 10.88.0.2.
type podmanHost struct {
	ip, nft       string
	srv, cli, ctr string
}

func newPodmanHost(t *testing.T) *podmanHost {
	t.Helper()
	h := &podmanHost{nft: testutil.Tool(t, "nft"), ip: testutil.Tool(t, "ip")}
	h.srv, h.cli = netnsPair(t, h.ip)
	h.ctr = h.srv[:len(h.srv)-1] + "k"
	h.sh(t, "netns", "add", h.ctr)
	t.Cleanup(func() { _ = exec.Command(h.ip, "netns", "del", h.ctr).Run() })
	h.sh(t, "-n", h.ctr, "link", "set", "lo", "up")
	h.sh(t, "-n", h.srv, "link", "add", "podman1", "type", "veth", "peer", "name", "eth0", "netns", h.ctr)
	h.sh(t, "-n", h.srv, "addr", "add", "10.88.0.1/24", "dev", "podman1")
	h.sh(t, "-n", h.ctr, "addr", "add", "10.88.0.2/24", "dev", "eth0")
	h.sh(t, "-n", h.srv, "link", "set", "podman1", "up")
	h.sh(t, "-n", h.ctr, "link", "set", "eth0", "up")
	h.sh(t, "-n", h.ctr, "route", "add", "default", "via", "10.88.0.1")
	h.sh(t, "-n", h.cli, "route", "add", "10.88.0.0/24", "via", "10.199.0.1")
	h.sh(t, "netns", "exec", h.srv, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	return h
}

func (h *podmanHost) sh(t *testing.T, args ...string) { t.Helper(); ipRun(t, h.ip, args...) }

// load replaces the server's ruleset with kiln's for cfg, plus extra.
func (h *podmanHost) load(t *testing.T, cfg Config, extra string) {
	t.Helper()
	loadRuleset(t, h.ip, h.nft, h.srv, cfg, extra)
}

// netavarkTable is what netavark adds beside kiln's table for a bridge
// network with published ports: its own accept for DNS to the gateway
// and for the network's traffic, and a DNAT per published port (here
// host 8081 → container 8080, and host 9090 → container 9090). Its
// accepts cannot override a drop in kiln's chains on the same hooks.
const netavarkTable = `table inet netavark {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		iifname "podman1" meta l4proto { udp, tcp } th dport 53 accept
	}
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
		ip daddr 10.88.0.0/24 ct state related,established accept
		ip saddr 10.88.0.0/24 accept
	}
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local tcp dport 8081 dnat ip to 10.88.0.2:8080
		fib daddr type local tcp dport 9090 dnat ip to 10.88.0.2:9090
	}
}`

// dnsServe answers A queries for any name with 10.88.0.7 (and other
// types with an empty answer) over UDP and TCP on addr inside ns, as
// aardvark-dns does for container names on the gateway address.
func dnsServe(t *testing.T, ns, addr string) {
	t.Helper()
	netns.Run(t, ns, func() error {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { pc.Close() })
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			buf := make([]byte, 512)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				if r := dnsAnswer(buf[:n]); r != nil {
					_, _ = pc.WriteTo(r, from)
				}
			}
		}()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(3 * time.Second))
					var n uint16
					if binary.Read(c, binary.BigEndian, &n) != nil {
						return
					}
					q := make([]byte, n)
					if _, err := c.Read(q); err != nil {
						return
					}
					if r := dnsAnswer(q); r != nil {
						_ = binary.Write(c, binary.BigEndian, uint16(len(r)))
						_, _ = c.Write(r)
					}
				}()
			}
		}()
		return nil
	})
}

// dnsAnswer builds the response to a one-question query (RFC 1035 4.1).
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	r := append([]byte{}, q[:i+5]...)
	r[2], r[3] = 0x81, 0x80 // response, recursion desired and available, no error
	binary.BigEndian.PutUint16(r[6:], 0)
	binary.BigEndian.PutUint16(r[8:], 0)
	binary.BigEndian.PutUint16(r[10:], 0)
	if qtype == 1 {
		binary.BigEndian.PutUint16(r[6:], 1)
		r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 88, 0, 7)
	}
	return r
}

// lookup asks the server at dns, from inside ns, over "udp" or "tcp",
// for the A record of name and returns the address it answered.
func lookup(t *testing.T, ns, dns, network, name string) (string, error) {
	t.Helper()
	q := []byte{0x6b, 0x6e, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range strings.Split(name, ".") {
		q = append(append(q, byte(len(label))), label...)
	}
	q = append(q, 0, 0, 1, 0, 1)
	var answer string
	var qerr error
	// The socket is made on the namespace's thread, so the whole exchange
	// runs inside fn (a resolver would dial from other goroutines).
	netns.Run(t, ns, func() error {
		qerr = func() error {
			c, err := net.DialTimeout(network, dns, 800*time.Millisecond)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(800 * time.Millisecond))
			msg := q
			if network == "tcp" {
				msg = binary.BigEndian.AppendUint16(nil, uint16(len(q)))
				msg = append(msg, q...)
			}
			if _, err := c.Write(msg); err != nil {
				return err
			}
			r := make([]byte, 512)
			n, err := c.Read(r)
			if err != nil {
				return err
			}
			r = r[:n]
			if network == "tcp" && len(r) >= 2 {
				r = r[2:]
			}
			if len(r) < len(q)+16 || r[0] != q[0] || r[1] != q[1] || r[2]&0x80 == 0 || binary.BigEndian.Uint16(r[6:]) != 1 {
				return fmt.Errorf("not an answer to the query: %x", r)
			}
			answer = net.IP(r[len(r)-4:]).String()
			return nil
		}()
		return nil
	})
	return answer, qerr
}

// TestContainerDNS: a container resolves names through aardvark-dns on
// its bridge's gateway, over UDP and TCP, with kiln's ruleset and
// netavark's table loaded together; and without kiln's DNS rule (no
// container interfaces) the same query goes unanswered, so the rule is
// what lets it through.
func TestContainerDNS(t *testing.T) {
	h := newPodmanHost(t)
	dnsServe(t, h.srv, "10.88.0.1:53")

	h.load(t, DefaultConfig(), netavarkTable)
	for _, network := range []string{"udp", "tcp"} {
		addr, err := lookup(t, h.ctr, "10.88.0.1:53", network, "postgres.dns.podman")
		if err != nil || addr != "10.88.0.7" {
			t.Errorf("container DNS over %s: %q %v, want 10.88.0.7", network, addr, err)
		}
	}
	// From outside, port 53 stays closed: the rule is for the bridges only.
	if _, err := lookup(t, h.cli, "10.199.0.1:53", "tcp", "postgres.dns.podman"); err == nil {
		t.Error("DNS on the host answered a query from outside")
	}

	without := DefaultConfig()
	without.ContainerInterfaces = nil
	h.load(t, without, netavarkTable)
	if _, err := lookup(t, h.ctr, "10.88.0.1:53", "udp", "postgres.dns.podman"); err == nil {
		t.Error("container DNS answered without the container-interface rule: the test proves nothing")
	}
}

// TestPublishedPorts: container ports published beyond loopback are DNAT
// (netavark's prerouting), so they cross the forward hook. A public one
// answers from outside; an allow-listed one answers only its sources; a
// DNATed port that the spec neither makes public nor allow-lists stays
// closed, as does the container's own address.
func TestPublishedPorts(t *testing.T) {
	h := newPodmanHost(t)
	for _, port := range []string{"8080", "9090", "7001"} {
		netns.Listen(t, h.ctr, "10.88.0.2:"+port)
	}
	cfg := DefaultConfig()
	cfg.PublicTCPPorts = append(cfg.PublicTCPPorts, 8081)
	cfg.Allow = []Allow{{Port: 9090, From: []string{"10.199.0.3/32"}}}
	h.load(t, cfg, netavarkTable)

	if !probe(t, h.cli, "10.199.0.2", "10.199.0.1", 8081) {
		t.Error("public container port 8081 (DNAT to 8080) dropped")
	}
	if !probe(t, h.cli, "10.199.0.3", "10.199.0.1", 9090) {
		t.Error("allow-listed container port 9090 dropped for its source 10.199.0.3")
	}
	if probe(t, h.cli, "10.199.0.2", "10.199.0.1", 9090) {
		t.Error("allow-listed container port 9090 answered 10.199.0.2, which is not in its list")
	}
	if probe(t, h.cli, "10.199.0.2", "10.88.0.2", 7001) {
		t.Error("outside reached the container's own address")
	}

	// A DNAT the spec did not ask for (8081 no longer public) is dropped.
	h.load(t, DefaultConfig(), netavarkTable)
	if probe(t, h.cli, "10.199.0.2", "10.199.0.1", 8081) {
		t.Error("a DNATed port that is not public answered")
	}
}

// TestContainerHostPort: a service on the host's network that containers
// use (the node exporter) answers a container on the bridge gateway, and
// nobody outside; without the rule the container is refused too.
func TestContainerHostPort(t *testing.T) {
	h := newPodmanHost(t)
	netns.Listen(t, h.srv, ":9100")
	cfg := DefaultConfig()
	cfg.ContainerHostTCPPorts = []int{9100}
	h.load(t, cfg, netavarkTable)
	if !probe(t, h.ctr, "10.88.0.2", "10.88.0.1", 9100) {
		t.Error("container cannot reach the host's port 9100 on the gateway")
	}
	if probe(t, h.cli, "10.199.0.2", "10.199.0.1", 9100) {
		t.Error("the host's port 9100 answered from outside")
	}
	h.load(t, DefaultConfig(), netavarkTable)
	if probe(t, h.ctr, "10.88.0.2", "10.88.0.1", 9100) {
		t.Error("container reached port 9100 without the rule: the test proves nothing")
	}
}

// TestMLD: multicast listener reports from a link-local source reach the
// host; the same message from a global address is dropped.
func TestMLD(t *testing.T) {
	ipb := testutil.Tool(t, "ip")
	nft := testutil.Tool(t, "nft")
	srv, cli := netnsPair(t, ipb)
	for _, a := range [][]string{{srv, "fe80::1/64", "veth0"}, {cli, "fe80::99/64", "veth1"}} {
		ipRun(t, ipb, "-n", a[0], "addr", "add", a[1], "dev", a[2], "nodad")
	}
	loadRuleset(t, ipb, nft, srv, DefaultConfig(), "")

	// A raw socket sees ICMPv6 only after the input hook has accepted it.
	var rc net.PacketConn
	netns.Run(t, srv, func() error {
		var err error
		rc, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	})
	defer rc.Close()

	for _, tc := range []struct {
		src, dst string
		want     bool
	}{
		{"fe80::99%veth1", "fe80::1%veth1", true},
		{"fd00:199::2", "fd00:199::1", false},
	} {
		for _, typ := range []byte{130, 131, 132, 143} {
			got := mldDelivered(t, cli, rc, tc.src, tc.dst, typ)
			if got != tc.want {
				t.Errorf("MLD type %d from %s delivered=%v, want %v", typ, tc.src, got, tc.want)
			}
		}
	}
}

// mldDelivered sends one MLD message of type typ from src inside ns and
// reports whether rc, on the firewalled host, received it.
func mldDelivered(t *testing.T, ns string, rc net.PacketConn, src, dst string, typ byte) bool {
	t.Helper()
	var sc net.PacketConn
	netns.Run(t, ns, func() error {
		var err error
		sc, err = net.ListenPacket("ip6:ipv6-icmp", src)
		return err
	})
	defer sc.Close()
	// Type, code, checksum (the kernel fills it in), then the body: an
	// MLDv1 message carries a multicast address, an MLDv2 report one
	// empty record list.
	msg := make([]byte, 24)
	msg[0] = typ
	copy(msg[8:], net.ParseIP("ff02::1:ff00:99"))
	if typ == 143 {
		msg = msg[:8]
	}
	addr, zone, _ := strings.Cut(dst, "%")
	if _, err := sc.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(addr), Zone: zone}); err != nil {
		t.Fatalf("send MLD: %v", err)
	}
	buf := make([]byte, 1500)
	_ = rc.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	for {
		n, _, err := rc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && buf[0] == typ {
			return true
		}
	}
}
