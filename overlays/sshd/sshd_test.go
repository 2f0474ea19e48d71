package sshd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestRenderGolden(t *testing.T) {
	cases := map[string]Config{
		"default": DefaultConfig("core", "ops"),
		"openssh-10.0": func() Config {
			c := DefaultConfig("core")
			c.OpenSSH = OpenSSH{10, 0}
			return c
		}(),
		"forwarding": func() Config {
			c := DefaultConfig("deploy")
			c.Port, c.AgentForwarding, c.TCPForwarding, c.X11Forwarding = 2222, true, true, true
			return c
		}(),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			files, us, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0].Path != DropInPath || len(us) != 1 || us[0].Name != HostKeyUnit {
				t.Fatalf("unexpected output %+v %+v", files, us)
			}
			testutil.Golden(t, filepath.Join("testdata", name+".conf"), files[0].Contents)
			testutil.Golden(t, filepath.Join("testdata", HostKeyUnit), []byte(us[0].Contents))
		})
	}
}

// TestForFCOS pins the release table at the edges that change the lists:
// ML-KEM must never reach a release whose sshd would refuse the name.
func TestForFCOS(t *testing.T) {
	for _, tc := range []struct {
		fedora int
		want   OpenSSH
		ok     bool
	}{{38, OpenSSH{}, false}, {39, OpenSSH{9, 3}, true}, {41, OpenSSH{9, 8}, true}, {42, OpenSSH{9, 9}, true}, {43, OpenSSH{10, 0}, true}, {50, OpenSSH{10, 0}, true}} {
		got, ok := ForFCOS(tc.fedora)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ForFCOS(%d) = %v, %v; want %v, %v", tc.fedora, got, ok, tc.want, tc.ok)
		}
	}
	for _, v := range []OpenSSH{{9, 3}, {9, 8}} {
		if slices.Contains(AlgorithmsFor(v).Kex, "mlkem768x25519-sha256") {
			t.Errorf("OpenSSH %s gets ML-KEM, which it does not know", v)
		}
	}
	if !slices.Contains(AlgorithmsFor(OpenSSH{9, 9}).Kex, "mlkem768x25519-sha256") {
		t.Error("OpenSSH 9.9 lacks ML-KEM")
	}
}

// TestDropInOrder guards the file name: sshd keeps the first value it
// reads, and the distribution's defaults live in 50-redhat.conf.
func TestDropInOrder(t *testing.T) {
	if base := filepath.Base(DropInPath); !(base < "50-redhat.conf") || filepath.Ext(base) != ".conf" {
		t.Errorf("%s must be a .conf sorting before 50-redhat.conf", base)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[Config]{
		"no users":     {func(c *Config) { c.AllowUsers = nil }, ErrNoUsers, "allow_users"},
		"root":         {func(c *Config) { c.AllowUsers = []string{"core", "root"} }, ErrRoot, "allow_users[1]"},
		"bad user":     {func(c *Config) { c.AllowUsers = []string{"core ops"} }, ErrUser, "allow_users[0]"},
		"pattern user": {func(c *Config) { c.AllowUsers = []string{"*"} }, ErrUser, "allow_users[0]"},
		"port":         {func(c *Config) { c.Port = 0 }, ErrPort, "port"},
		"tries":        {func(c *Config) { c.MaxAuthTries = 0 }, ErrRange, "max_auth_tries"},
		"grace":        {func(c *Config) { c.LoginGraceTime = 0 }, ErrRange, "login_grace_time"},
		"alive":        {func(c *Config) { c.ClientAliveInterval = 0 }, ErrRange, "client_alive_interval"},
		"alive max":    {func(c *Config) { c.ClientAliveCountMax = 0 }, ErrRange, "client_alive_count_max"},
		"sessions":     {func(c *Config) { c.MaxSessions = 100 }, ErrRange, "max_sessions"},
	}
	testutil.OverlayFieldErrors(t, func() Config { return DefaultConfig("core") }, func(c Config) error { _, _, err := Render(c); return err }, cases)
}

// TestSshd has OpenSSH check the drop-in and report the effective values.
// The main config includes the drop-in first and then contradicts it, as
// Fedora's 50-redhat.conf does, to prove the drop-in's values win.
func TestSshd(t *testing.T) {
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && !testutil.InCI() {
		t.Skipf("cannot create sshd's privilege separation directory: %v", err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	judge.RunJudge(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
	// Debian 12's sshd is OpenSSH 9.2: the lists for versions before 9.9.
	c := DefaultConfig("core", "ops")
	c.OpenSSH = OpenSSH{9, 2}
	algs := AlgorithmsFor(c.OpenSSH)
	dropIn, err := DropIn(c)
	if err != nil {
		t.Fatal(err)
	}
	dropInPath := filepath.Join(dir, "40-kiln.conf")
	if err := os.WriteFile(dropInPath, dropIn, 0o600); err != nil {
		t.Fatal(err)
	}
	mainCfg := "Include " + dropInPath + "\n" +
		"HostKey " + key + "\n" +
		"PidFile " + filepath.Join(dir, "sshd.pid") + "\n" +
		// What a distribution default may say after kiln's drop-in.
		"PasswordAuthentication yes\nPermitRootLogin yes\nX11Forwarding yes\nCiphers aes128-cbc,aes256-ctr\nMaxAuthTries 6\n"
	mainPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(mainPath, []byte(mainCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := judge.RunJudge(t, "sshd", "-t", "-f", mainPath); len(out) > 0 {
		t.Fatalf("sshd -t:\n%s", out)
	}
	out := judge.RunJudge(t, "sshd", "-T", "-f", mainPath)
	eff := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		eff[k] = v
	}
	want := map[string]string{
		"port":                         "22",
		"passwordauthentication":       "no",
		"kbdinteractiveauthentication": "no",
		"pubkeyauthentication":         "yes",
		"permitrootlogin":              "no",
		"permitemptypasswords":         "no",
		"hostbasedauthentication":      "no",
		"authenticationmethods":        "publickey",
		"maxauthtries":                 "3",
		"logingracetime":               "30",
		"clientaliveinterval":          "300",
		"clientalivecountmax":          "2",
		"maxsessions":                  "4",
		"allowagentforwarding":         "no",
		"allowtcpforwarding":           "no",
		"allowstreamlocalforwarding":   "no",
		"x11forwarding":                "no",
		"permittunnel":                 "no",
		"compression":                  "no",
		"kexalgorithms":                join(algs.Kex),
		"ciphers":                      join(algs.Ciphers),
		"macs":                         join(algs.MACs),
		"hostkeyalgorithms":            join(algs.HostKey),
		"pubkeyacceptedalgorithms":     join(algs.PubkeyAccepted),
	}
	for k, v := range want {
		if eff[k] != v {
			t.Errorf("effective %s = %q, want %q", k, eff[k], v)
		}
	}
	// sshd -T prints one allowusers line per user.
	for _, u := range []string{"core", "ops"} {
		if !strings.Contains(string(out), "\nallowusers "+u+"\n") {
			t.Errorf("allowusers %s missing from:\n%s", u, out)
		}
	}
	for _, weak := range []string{"cbc", "sha1", "diffie-hellman-group1-", "diffie-hellman-group14-", "ssh-rsa,", "hmac-md5"} {
		for _, k := range []string{"ciphers", "macs", "kexalgorithms", "hostkeyalgorithms", "pubkeyacceptedalgorithms"} {
			if strings.Contains(eff[k]+",", weak) {
				t.Errorf("%s offers weak %q: %s", k, weak, eff[k])
			}
		}
	}
}
