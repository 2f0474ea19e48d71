package firewall

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/netns"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// clipperPorts are every port a Clipper service listens on; only the
// public ones may answer from outside.
var clipperPorts = []int{22, 80, 443, 5436, 6379, 6432, 9090, 3000, 3100, 8080}

var nsSeq atomic.Int32

// netnsPair builds two namespaces joined by a veth pair and returns their
// names; the server side gets 10.199.0.1 and fd00:199::1, the client side
// .2-.5 and ::2-::3. Both are deleted when the test ends.
func netnsPair(t *testing.T, ip string) (srv, cli string) {
	t.Helper()
	if os.Geteuid() != 0 && !testutil.InCI() {
		t.Skip("network namespaces need root")
	}
	base := fmt.Sprintf("kfw%d-%d", os.Getpid(), nsSeq.Add(1))
	srv, cli = base+"s", base+"c"
	run := func(args ...string) { t.Helper(); ipRun(t, ip, args...) }
	for _, ns := range []string{srv, cli} {
		run("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", srv, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", cli)
	run("-n", srv, "addr", "add", "10.199.0.1/24", "dev", "veth0")
	run("-n", srv, "addr", "add", "fd00:199::1/64", "dev", "veth0", "nodad")
	for _, a := range []string{"10.199.0.2/24", "10.199.0.3/24", "10.199.0.4/24", "10.199.0.5/24"} {
		run("-n", cli, "addr", "add", a, "dev", "veth1")
	}
	for _, a := range []string{"fd00:199::2/64", "fd00:199::3/64"} {
		run("-n", cli, "addr", "add", a, "dev", "veth1", "nodad")
	}
	run("-n", srv, "link", "set", "veth0", "up")
	run("-n", cli, "link", "set", "veth1", "up")
	return srv, cli
}

// ipRun runs ip with args, failing the test with its output.
func ipRun(t *testing.T, ip string, args ...string) {
	t.Helper()
	if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// loadRuleset replaces the ruleset of namespace ns with kiln's for cfg,
// plus extra (another table, such as netavark's) when given.
func loadRuleset(t *testing.T, ip, nft, ns string, cfg Config, extra string) {
	t.Helper()
	rs, err := Ruleset(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ruleset.nft")
	if err := os.WriteFile(p, append([]byte("flush ruleset\n"+extra+"\n"), rs...), 0o600); err != nil {
		t.Fatal(err)
	}
	ipRun(t, ip, "netns", "exec", ns, nft, "-f", p)
}

// probe dials addr from src inside ns and reports whether the handshake
// completed; dropped SYNs show as a timeout.
func probe(t *testing.T, ns, src, dst string, port int) bool {
	t.Helper()
	var ok bool
	netns.Run(t, ns, func() error {
		d := net.Dialer{Timeout: 700 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", net.JoinHostPort(dst, fmt.Sprint(port)))
		if err == nil {
			ok = true
			c.Close()
		}
		return nil
	})
	return ok
}

// probeAll dials every Clipper port concurrently and returns the ports
// that answered.
func probeAll(t *testing.T, ns, src, dst string) map[int]bool {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := map[int]bool{}
	for _, p := range clipperPorts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if probe(t, ns, src, dst, p) {
				mu.Lock()
				got[p] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return got
}

// TestReachability loads the ruleset in a namespace with a listener on
// every Clipper port and probes it from a second namespace over IPv4 and
// IPv6: only the public ports answer, an allow-listed port answers only
// its sources, and new SSH connections past the per-source rate are dropped.
func TestReachability(t *testing.T) {
	nft := testutil.Tool(t, "nft")
	ip := testutil.Tool(t, "ip")
	srv, cli := netnsPair(t, ip)

	cfg := testConfig()
	cfg.SSHRate = Rate{Count: 3, Per: "minute", Burst: 3}
	cfg.EchoRate = Rate{Count: 1, Per: "second", Burst: 2}
	loadRuleset(t, ip, nft, srv, cfg, "")
	for _, port := range clipperPorts {
		netns.Listen(t, srv, fmt.Sprintf(":%d", port))
	}

	// Sanity: inside the server namespace loopback reaches everything, so a
	// closed port below means the firewall, not a missing listener.
	if got := probeAll(t, srv, "127.0.0.1", "127.0.0.1"); len(got) != len(clipperPorts) {
		t.Fatalf("listeners not all reachable on loopback: %v", got)
	}

	public := map[int]bool{22: true, 80: true, 443: true}
	check := func(name, src, dst string, want map[int]bool) {
		t.Helper()
		got := probeAll(t, cli, src, dst)
		for _, port := range clipperPorts {
			if got[port] != want[port] {
				t.Errorf("%s: %s -> [%s]:%d answered=%v, want %v", name, src, dst, port, got[port], want[port])
			}
		}
	}
	check("ipv4 public", "10.199.0.2", "10.199.0.1", public)
	check("ipv6 public", "fd00:199::2", "fd00:199::1", public)
	allowed := map[int]bool{22: true, 80: true, 443: true, 6432: true}
	check("ipv4 allow-listed", "10.199.0.3", "10.199.0.1", allowed)
	check("ipv6 allow-listed", "fd00:199::3", "fd00:199::1", allowed)

	// Echo requests are answered over both families, within the rate.
	if n := echoes(t, cli, "10.199.0.2", "10.199.0.1", 1); n != 1 {
		t.Errorf("ipv4 echo: %d replies, want 1", n)
	}
	if n := echoes(t, cli, "fd00:199::2", "fd00:199::1", 1); n != 1 {
		t.Errorf("ipv6 echo: %d replies, want 1", n)
	}
	// Two sources flood at once: each gets its own 1/second burst 2, so
	// one flooding source cannot starve the other (a shared limit would
	// answer at most 3 of the 20 together).
	var wg sync.WaitGroup
	flood := map[string]int{"10.199.0.2": 0, "10.199.0.3": 0}
	var fmu sync.Mutex
	for src := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := echoes(t, cli, src, "10.199.0.1", 10)
			fmu.Lock()
			flood[src] = n
			fmu.Unlock()
		}()
	}
	wg.Wait()
	for src, n := range flood {
		if n < 1 || n > 3 {
			t.Errorf("ipv4 echo flood from %s: %d of 10 answered, want 1..3 (rate 1/second burst 2 per source)", src, n)
		}
	}

	// SSH: the burst passes, then new connections from this source are
	// dropped while another source still gets in.
	var answered, dropped int
	for i := 0; i < 8; i++ {
		if probe(t, cli, "10.199.0.4", "10.199.0.1", 22) {
			if dropped > 0 {
				t.Errorf("attempt %d answered after a drop", i)
			}
			answered++
		} else {
			dropped++
		}
	}
	if answered == 0 || answered > 4 || dropped == 0 {
		t.Errorf("ssh rate limit: %d answered, %d dropped of 8 (rate 3/minute burst 3)", answered, dropped)
	}
	if !probe(t, cli, "10.199.0.4", "10.199.0.1", 80) {
		t.Error("rate-limited source lost port 80 too; the limit must apply to SSH only")
	}
	if !probe(t, cli, "10.199.0.5", "10.199.0.1", 22) {
		t.Error("another source was rate-limited; the limit must be per source")
	}
}
