package fail2ban

import (
	"fmt"
	"github.com/kiln-dev/kiln/internal/netns"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/overlays/firewall"
)

// TestBanLive runs fail2ban for real inside a fresh network namespace with
// kiln's jail. Only the log source differs from the server (a file instead
// of the journal, which a test cannot write to); the filter, the limits
// and the nftables ban action are kiln's. Five failures from one address
// must put it into fail2ban's nftables set and cut that address off SSH
// through kiln's firewall; a single failure from another must not.
func TestBanLive(t *testing.T) {
	server := testutil.Tool(t, "fail2ban-server")
	client := testutil.Tool(t, "fail2ban-client")
	ip := testutil.Tool(t, "ip")
	nft := testutil.Tool(t, "nft")
	if os.Geteuid() != 0 && !testutil.InCI() {
		t.Skip("network namespaces need root")
	}
	c := DefaultConfig()
	dir := confDir(t, c)
	run := t.TempDir()
	authLog := filepath.Join(run, "auth.log")
	if err := os.WriteFile(authLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	overrides := map[string]string{
		"jail.d/zz-test.local": "[sshd]\nbackend = polling\nlogpath = " + authLog + "\n",
		"fail2ban.local": fmt.Sprintf("[Definition]\nsocket = %s\npidfile = %s\ndbfile = :memory:\nlogtarget = %s\nloglevel = INFO\n",
			filepath.Join(run, "f2b.sock"), filepath.Join(run, "f2b.pid"), filepath.Join(run, "f2b.log")),
	}
	for name, body := range overrides {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ns := fmt.Sprintf("kf2b%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	cli := ns + "c"
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", cli)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", cli).Run() })
	sh("-n", ns, "link", "set", "lo", "up")
	sh("-n", ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", cli)
	sh("-n", ns, "addr", "add", "203.0.113.1/24", "dev", "veth0")
	for _, a := range []string{"203.0.113.50/24", "203.0.113.60/24"} {
		sh("-n", cli, "addr", "add", a, "dev", "veth1")
	}
	sh("-n", ns, "link", "set", "veth0", "up")
	sh("-n", cli, "link", "set", "veth1", "up")

	// kiln's own firewall sits beside fail2ban's table, as on the server.
	rs, err := firewall.Ruleset(firewall.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rsPath := filepath.Join(run, "kiln.nft")
	if err := os.WriteFile(rsPath, rs, 0o600); err != nil {
		t.Fatal(err)
	}
	sh("netns", "exec", ns, nft, "-f", rsPath)
	netns.Listen(t, ns, "203.0.113.1:22")
	sshFrom := func(src string) bool {
		var ok bool
		netns.Run(t, cli, func() error {
			d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := d.Dial("tcp", "203.0.113.1:22")
			if err == nil {
				ok = true
				c.Close()
			}
			return nil
		})
		return ok
	}
	if !sshFrom("203.0.113.50") {
		t.Fatal("SSH unreachable before any ban")
	}

	cmd := exec.Command(ip, "netns", "exec", ns, server, "-f", "-x", "-c", dir, "start")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = exec.Command(client, "-c", dir, "stop").Run()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	})
	f2bLog := func() string {
		b, _ := os.ReadFile(filepath.Join(run, "f2b.log"))
		return out.String() + string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			select {
			case <-done:
				t.Fatalf("fail2ban exited while waiting for %s:\n%s", what, f2bLog())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, f2bLog())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the sshd jail", func() bool {
		o, err := exec.Command(client, "-c", dir, "status", "sshd").CombinedOutput()
		return err == nil && strings.Contains(string(o), "Currently banned")
	})

	// fail2ban ignores lines older than findtime, so they carry the time now.
	now := time.Now().Format("Jan _2 15:04:05")
	var lines strings.Builder
	for i := 0; i < c.MaxRetry; i++ {
		fmt.Fprintf(&lines, "%s clipper sshd-session[%d]: Invalid user admin%d from 203.0.113.50 port %d\n", now, 300+i, i, 40000+i)
	}
	fmt.Fprintf(&lines, "%s clipper sshd[400]: Failed password for root from 203.0.113.60 port 41000 ssh2\n", now)
	fmt.Fprintf(&lines, "%s clipper sshd[401]: Accepted publickey for core from 203.0.113.70 port 41001 ssh2: ED25519 SHA256:Zm9v\n", now)
	f, err := os.OpenFile(authLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(lines.String()); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var set string
	waitFor("the ban in nftables", func() bool {
		o, _ := exec.Command(ip, "netns", "exec", ns, nft, "list", "set", "inet", "f2b-table", "addr-set-sshd").CombinedOutput()
		set = string(o)
		return strings.Contains(set, "203.0.113.50")
	})
	if strings.Contains(set, "203.0.113.60") || strings.Contains(set, "203.0.113.70") {
		t.Errorf("addresses below maxretry were banned:\n%s", set)
	}
	o, _ := exec.Command(ip, "netns", "exec", ns, nft, "list", "chain", "inet", "f2b-table", "f2b-chain").CombinedOutput()
	if !strings.Contains(string(o), "tcp dport { 22 }") && !strings.Contains(string(o), "tcp dport 22 ") {
		t.Errorf("ban rule does not target the SSH port:\n%s", o)
	}
	if sshFrom("203.0.113.50") {
		t.Error("banned address still reaches SSH")
	}
	if !sshFrom("203.0.113.60") {
		t.Error("an address below maxretry lost SSH")
	}
	st, _ := exec.Command(client, "-c", dir, "get", "sshd", "bantime").CombinedOutput()
	if strings.TrimSpace(string(st)) != "3600" {
		t.Errorf("effective bantime %q, want 3600", strings.TrimSpace(string(st)))
	}
}
