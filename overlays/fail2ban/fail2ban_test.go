package fail2ban

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestRenderGolden(t *testing.T) {
	c := DefaultConfig()
	c.IgnoreIP = []string{"192.0.2.0/24", "2001:db8::1"}
	files, us, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != JailPath || files[1].Path != FilterPath {
		t.Fatalf("unexpected files %+v", files)
	}
	for _, f := range files {
		testutil.Golden(t, filepath.Join("testdata", filepath.Base(f.Path)), f.Contents)
	}
	if len(us) != 1 || us[0].Name != QuadletName || !us[0].Enabled || !us[0].IsQuadlet() {
		t.Fatalf("unexpected units %+v", us)
	}
	testutil.Golden(t, filepath.Join("testdata", QuadletName), []byte(us[0].Contents))
}

func TestValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[Config]{
		"bantime":   {func(c *Config) { c.BanTime = 0 }, ErrRange, "bantime"},
		"findtime":  {func(c *Config) { c.FindTime = -5 }, ErrRange, "findtime"},
		"maxretry":  {func(c *Config) { c.MaxRetry = 0 }, ErrRange, "maxretry"},
		"mode":      {func(c *Config) { c.Mode = "paranoid" }, ErrMode, "mode"},
		"banaction": {func(c *Config) { c.BanAction = "iptables-multiport" }, ErrBanAction, "banaction"},
		"no ports":  {func(c *Config) { c.Ports = nil }, ErrPort, "ports"},
		"port":      {func(c *Config) { c.Ports = []int{22, 0} }, ErrPort, "ports[1]"},
		"ignoreip":  {func(c *Config) { c.IgnoreIP = []string{"10.0.0.0/8", "example.com"} }, ErrCIDR, "ignoreip[1]"},
	}
	testutil.FieldErrors(t, DefaultConfig, func(c Config) error { _, _, err := Render(c); return err }, cases)
}

// confDir lays the rendered files over a copy of the distribution's stock
// configuration, as the container's entrypoint does over the image's.
func confDir(t *testing.T, c Config) string {
	t.Helper()
	stock := "/etc/fail2ban"
	if _, err := os.Stat(filepath.Join(stock, "jail.conf")); err != nil {
		t.Fatalf("stock fail2ban configuration missing (package fail2ban): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if out, err := exec.Command("cp", "-r", stock, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy stock config: %v\n%s", err, out)
	}
	files, _, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, strings.TrimPrefix(f.Path, ConfigDir))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Contents, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestClientCheck has fail2ban parse the jail and dump the settings it
// would send to the server.
func TestClientCheck(t *testing.T) {
	client := testutil.Tool(t, "fail2ban-client")
	c := DefaultConfig()
	c.IgnoreIP = []string{"192.0.2.0/24"}
	dir := confDir(t, c)
	out, err := exec.Command(client, "-c", dir, "-t").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: configuration test is successful") {
		t.Fatalf("fail2ban-client -t: %v\n%s", err, out)
	}
	out, err = exec.Command(client, "-c", dir, "-d").CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-client -d: %v\n%s", err, out)
	}
	dump := string(out)
	for _, want := range []string{
		"['add', 'sshd', 'systemd']",
		"['set', 'sshd', 'bantime', '3600']",
		"['set', 'sshd', 'findtime', '600']",
		"['set', 'sshd', 'maxretry', 5]",
		"['set', 'sshd', 'addjournalmatch', '_SYSTEMD_UNIT=sshd.service', '+', '_COMM=sshd', '+', '_COMM=sshd-session']",
		"['set', 'sshd', 'addaction', 'nftables-multiport']",
		"['set', 'sshd', 'addignoreip', '127.0.0.1/8', '::1', '192.0.2.0/24']",
		"['port', '22']",
		"['start', 'sshd']",
		`sshd(?:-session)?`,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("effective configuration lacks %s", want)
		}
	}
}

// Sample lines in the syslog format fail2ban-regex reads from a file; the
// journal backend hands the filter the same "ident[pid]: message" text.
var (
	attacks = []string{
		"sshd[1234]: Failed password for root from 203.0.113.5 port 52144 ssh2",
		"sshd[1234]: Failed password for invalid user admin from 203.0.113.6 port 40022 ssh2",
		"sshd[1234]: Invalid user oracle from 203.0.113.7 port 51234",
		"sshd[1234]: Connection closed by authenticating user root 203.0.113.8 port 40404 [preauth]",
		"sshd[1234]: Disconnected from invalid user test 203.0.113.9 port 33333 [preauth]",
		"sshd[1234]: error: maximum authentication attempts exceeded for root from 203.0.113.10 port 2222 ssh2 [preauth]",
		"sshd[1234]: Unable to negotiate with 203.0.113.11 port 4455: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
		"sshd[1234]: User deploy from 203.0.113.12 not allowed because not listed in AllowUsers",
		"sshd-session[4321]: Invalid user guest from 203.0.113.13 port 1234",
		"sshd-session[4321]: Connection closed by invalid user guest 203.0.113.14 port 1235 [preauth]",
	}
	benign = []string{
		"sshd[2000]: Accepted publickey for core from 198.51.100.20 port 50000 ssh2: ED25519 SHA256:Zm9vYmFy",
		"sshd[2000]: pam_unix(sshd:session): session opened for user core(uid=1000) by core(uid=0)",
		"sshd[2000]: Received disconnect from 198.51.100.20 port 50000:11: disconnected by user",
		"sshd[2000]: Disconnected from user core 198.51.100.20 port 50000",
		"sshd[2000]: pam_unix(sshd:session): session closed for user core",
		"sshd[900]: Server listening on 0.0.0.0 port 22.",
		"sshd[900]: Server listening on :: port 22.",
		"sshd-session[2001]: Accepted publickey for ops from 2001:db8::20 port 50001 ssh2: ED25519 SHA256:YmFyYmF6",
	}
)

var linesRe = regexp.MustCompile(`Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// regex runs fail2ban-regex over lines with the jail's filter and mode and
// returns how many matched.
func regex(t *testing.T, tool, dir, mode string, lines []string) (matched int, out string) {
	t.Helper()
	var b strings.Builder
	for i, l := range lines {
		b.WriteString("Nov 25 10:00:" + strconv.Itoa(10+i) + " clipper " + l + "\n")
	}
	log := filepath.Join(t.TempDir(), "sample.log")
	if err := os.WriteFile(log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := exec.Command(tool, "-c", dir, "--print-all-missed", "--print-all-matched", log, "sshd[mode="+mode+"]").CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, o)
	}
	m := linesRe.FindStringSubmatch(string(o))
	if m == nil {
		t.Fatalf("no summary in fail2ban-regex output:\n%s", o)
	}
	if total, _ := strconv.Atoi(m[1]); total != len(lines) {
		t.Fatalf("fail2ban-regex read %d lines, want %d", total, len(lines))
	}
	matched, _ = strconv.Atoi(m[3])
	return matched, string(o)
}

// TestFilter runs the stock sshd filter, with kiln's override and the
// jail's mode, over attack and benign lines.
func TestFilter(t *testing.T) {
	tool := testutil.Tool(t, "fail2ban-regex")
	c := DefaultConfig()
	dir := confDir(t, c)
	if n, out := regex(t, tool, dir, c.Mode, attacks); n != len(attacks) {
		t.Errorf("%d of %d attack lines matched:\n%s", n, len(attacks), out)
	}
	if n, out := regex(t, tool, dir, c.Mode, benign); n != 0 {
		t.Errorf("%d benign lines matched:\n%s", n, out)
	}
}

// TestQuadlet has Quadlet translate the container unit and systemd-analyze
// verify the service it generates.
func TestQuadlet(t *testing.T) {
	_, us, err := Render(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	generated := judge.VerifyUnitSet(t, map[string]string{us[0].Name: us[0].Contents})
	s, ok := generated["kiln-fail2ban.service"]
	if !ok {
		t.Fatalf("Quadlet generated no service: %v", generated)
	}
	for _, want := range []string{"--network host", "--cap-drop all", "--cap-add net_admin",
		"-v /var/log/journal:/var/log/journal:ro", "-v /etc/machine-id:/etc/machine-id:ro", "label=disable", Image} {
		if !strings.Contains(s, want) {
			t.Errorf("generated service lacks %q:\n%s", want, s)
		}
	}
	// nftables bans need CAP_NET_ADMIN alone; raw sockets are not needed.
	if strings.Contains(s, "net_raw") {
		t.Errorf("fail2ban keeps NET_RAW:\n%s", s)
	}
}
