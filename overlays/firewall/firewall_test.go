package firewall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// testConfig is Clipper's firewall plus an allow-list, so every template
// branch is exercised.
func testConfig() Config {
	c := DefaultConfig()
	c.Allow = []Allow{
		{Port: 6432, From: []string{"10.199.0.3/32", "fd00:199::3/128"}},
		{Port: 9090, From: []string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7"}},
	}
	c.ContainerHostTCPPorts = []int{9101, 9100, 9101}
	return c
}

func TestRenderGolden(t *testing.T) {
	for name, cfg := range map[string]Config{"default": DefaultConfig(), "allowlist": testConfig()} {
		t.Run(name, func(t *testing.T) {
			files, us, err := Render(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0].Path != RulesetPath || files[0].Mode != 0o600 {
				t.Fatalf("unexpected files %+v", files)
			}
			if len(us) != 1 || us[0].Name != UnitName || !us[0].Enabled {
				t.Fatalf("unexpected units %+v", us)
			}
			testutil.Golden(t, filepath.Join("testdata", name+".nft"), files[0].Contents)
			testutil.Golden(t, filepath.Join("testdata", UnitName), []byte(us[0].Contents))
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	a := testConfig()
	b := testConfig()
	b.PublicTCPPorts = []int{443, 80, 22}
	b.Allow = []Allow{{Port: 9090, From: []string{"198.51.100.7/32", "2001:db8::/32", "192.0.2.9/24"}}, b.Allow[0]}
	ra, err := Ruleset(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Ruleset(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ra) != string(rb) {
		t.Errorf("equivalent configs render differently:\n%s\n---\n%s", ra, rb)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[Config]{
		"no public":       {func(c *Config) { c.PublicTCPPorts = nil }, ErrNoPublicPorts, "public_tcp_ports"},
		"port zero":       {func(c *Config) { c.PublicTCPPorts = []int{0} }, ErrPort, "public_tcp_ports[0]"},
		"port too big":    {func(c *Config) { c.PublicTCPPorts = []int{22, 70000} }, ErrPort, "public_tcp_ports[1]"},
		"dup public":      {func(c *Config) { c.PublicTCPPorts = []int{22, 80, 22} }, ErrDuplicatePort, "public_tcp_ports[2]"},
		"allow public":    {func(c *Config) { c.Allow = []Allow{{Port: 443, From: []string{"10.0.0.0/8"}}} }, ErrDuplicatePort, "allow[0].port"},
		"allow no source": {func(c *Config) { c.Allow = []Allow{{Port: 5436}} }, ErrNoSources, "allow[0].from"},
		"allow bad cidr":  {func(c *Config) { c.Allow = []Allow{{Port: 5436, From: []string{"10.0.0.0/33"}}} }, ErrCIDR, "allow[0].from[0]"},
		"allow mapped":    {func(c *Config) { c.Allow = []Allow{{Port: 5436, From: []string{"::ffff:10.0.0.1"}}} }, ErrCIDR, "allow[0].from[0]"},
		"allow bad port":  {func(c *Config) { c.Allow = []Allow{{Port: -1, From: []string{"10.0.0.1"}}} }, ErrPort, "allow[0].port"},
		"ssh not public":  {func(c *Config) { c.SSHPort = 2222 }, ErrSSHPort, "ssh_port"},
		"ssh rate zero":   {func(c *Config) { c.SSHRate.Count = 0 }, ErrRate, "ssh_rate"},
		"ssh rate unit":   {func(c *Config) { c.SSHRate.Per = "day" }, ErrRate, "ssh_rate.per"},
		"echo burst":      {func(c *Config) { c.EchoRate.Burst = 0 }, ErrRate, "echo_rate"},
		"bad interface":   {func(c *Config) { c.ContainerInterfaces = []string{`pod"man*`} }, ErrInterface, "container_interfaces[0]"},
		"host port":       {func(c *Config) { c.ContainerHostTCPPorts = []int{0} }, ErrPort, "container_host_tcp_ports[0]"},
		"host port no if": {func(c *Config) { c.ContainerHostTCPPorts = []int{9100}; c.ContainerInterfaces = nil }, ErrNoInterfaces, "container_host_tcp_ports"},
		"long interface":  {func(c *Config) { c.ContainerInterfaces = []string{"abcdefghijklmnop"} }, ErrInterface, "container_interfaces[0]"},
	}
	testutil.OverlayFieldErrors(t, DefaultConfig, func(c Config) error { _, _, err := Render(c); return err }, cases)
	// The SSH limit may be switched off without a rate.
	c := DefaultConfig()
	c.SSHPort, c.SSHRate = 0, Rate{}
	if err := c.Validate(); err != nil {
		t.Errorf("ssh limit off: %v", err)
	}
}

// TestNftCheck has nft itself parse and check every rendered ruleset,
// twice in a row, as a reload does.
func TestNftCheck(t *testing.T) {
	nft := testutil.Tool(t, "nft")
	noSSH := DefaultConfig()
	noSSH.SSHPort = 0
	noSSH.ContainerInterfaces = nil
	for name, cfg := range map[string]Config{"default": DefaultConfig(), "allowlist": testConfig(), "minimal": noSSH} {
		t.Run(name, func(t *testing.T) {
			rs, err := Ruleset(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "ruleset.nft")
			if err := os.WriteFile(p, rs, 0o600); err != nil {
				t.Fatal(err)
			}
			if out := judge.RunJudge(t, "unshare", "-rn", nft, "-c", "-f", p); len(out) > 0 {
				t.Fatalf("nft -c:\n%s", out)
			}
			// Loading, then loading again, proves the flush makes a reload valid.
			out := judge.RunJudge(t, "unshare", "-rn", "sh", "-c", `"$0" -f "$1" && "$0" -f "$1" && "$0" list table inet kiln`, nft, p)
			if n := strings.Count(out, "policy drop"); n != 2 {
				t.Errorf("listing has %d drop policies, want 2 (input, forward):\n%s", n, out)
			}
		})
	}
}

// TestUnitVerify has systemd-analyze judge the loader unit.
func TestUnitVerify(t *testing.T) {
	_, us, err := Render(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	judge.SystemdVerify(t, map[string]string{us[0].Name: us[0].Contents})
	for _, want := range []string{"Before=network-pre.target", "Wants=network-pre.target", "ExecStart=/usr/sbin/nft -f " + RulesetPath, "Type=oneshot"} {
		if !strings.Contains(us[0].Contents, want+"\n") && !strings.Contains(us[0].Contents, want+" ") {
			t.Errorf("unit lacks %q", want)
		}
	}
}
