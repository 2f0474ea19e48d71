package sysctl

import (
	"bufio"
	"bytes"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestRenderGolden(t *testing.T) {
	c := DefaultConfig()
	c.Extra = map[string]string{"vm.swappiness": "10", "net.core.somaxconn": "4096"}
	c.NTPServers = []string{"time.cloudflare.com", "192.0.2.123"}
	files, us, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 0 {
		t.Errorf("unexpected units %+v", us)
	}
	want := []string{SysctlPath, JournaldPath, CoredumpPath, SystemPath, ChronydDropInPath, ChronyConfPath}
	if len(files) != len(want) {
		t.Fatalf("got %d files, want %d", len(files), len(want))
	}
	for i, f := range files {
		if f.Path != want[i] || f.Mode != 0o644 {
			t.Errorf("file %d: %s %o, want %s 644", i, f.Path, f.Mode, want[i])
		}
		name := strings.ReplaceAll(strings.TrimPrefix(f.Path, "/etc/"), "/", "_")
		testutil.Golden(t, filepath.Join("testdata", name), f.Contents)
	}
	// Without NTP servers FCOS's platform time sources stay in charge.
	files, _, err = Render(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == ChronyConfPath {
			t.Error("chrony.conf written without NTP servers")
		}
	}
}

// absentHere lists hardened keys a kernel may lack, with the reason; every
// other key must exist, so a typo fails the test.
var absentHere = map[string]string{
	"kernel.yama.ptrace_scope": "needs the Yama LSM (built into Fedora kernels, not every test kernel)",
}

// TestKeysExist checks each key against /proc/sys. net.* keys belong to
// the network namespace and exist in every one; the others are global.
func TestKeysExist(t *testing.T) {
	c := DefaultConfig()
	c.Extra = map[string]string{"vm.swappiness": "10"}
	for _, s := range c.Settings() {
		p := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
		matches, err := filepath.Glob(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) == 0 {
			if why, ok := absentHere[s.Key]; ok {
				t.Logf("%s absent on this kernel: %s", s.Key, why)
				continue
			}
			t.Errorf("%s: no %s on this kernel (typo?)", s.Key, p)
		}
	}
	for k := range absentHere {
		found := false
		for _, s := range Hardened {
			found = found || s.Key == k
		}
		if !found {
			t.Errorf("absentHere names %s, which kiln does not set", k)
		}
	}
}

// TestFileShape parses the rendered files the way their readers do:
// sysctl.d as key = value lines, unit-style files as sections of known keys.
func TestFileShape(t *testing.T) {
	files, _, err := Render(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]map[string]bool{
		"Journal":  {"Storage": true, "Compress": true, "SystemMaxUse": true, "SystemKeepFree": true, "SystemMaxFileSize": true, "MaxRetentionSec": true, "RateLimitIntervalSec": true, "RateLimitBurst": true},
		"Coredump": {"Storage": true, "ProcessSizeMax": true},
		"Manager":  {"DefaultLimitCORE": true},
		"Service":  {"Restart": true, "RestartSec": true},
	}
	seen := map[string]string{}
	for _, f := range files {
		sc := bufio.NewScanner(bytes.NewReader(f.Contents))
		section := ""
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			if f.Path == SysctlPath {
				k, v, ok := strings.Cut(line, " = ")
				if !ok || !keyRe.MatchString(k) || v == "" {
					t.Errorf("%s:%d: malformed %q", f.Path, n, line)
				}
				if prev, dup := seen[k]; dup {
					t.Errorf("%s:%d: %s repeated (first = %s)", f.Path, n, k, prev)
				}
				seen[k] = v
				continue
			}
			if strings.HasPrefix(line, "[") {
				section = strings.Trim(line, "[]")
				if known[section] == nil {
					t.Errorf("%s:%d: unexpected section %s", f.Path, n, line)
				}
				continue
			}
			k, _, ok := strings.Cut(line, "=")
			if !ok || !known[section][k] {
				t.Errorf("%s:%d: unknown key %q in [%s]", f.Path, n, line, section)
			}
		}
		if path.Ext(f.Path) != ".conf" {
			t.Errorf("%s: systemd only reads *.conf drop-ins", f.Path)
		}
	}
	for k, v := range map[string]string{"kernel.kptr_restrict": "2", "kernel.dmesg_restrict": "1", "fs.suid_dumpable": "0",
		"kernel.unprivileged_bpf_disabled": "1", "net.core.bpf_jit_harden": "2", "kernel.yama.ptrace_scope": "1",
		"net.ipv4.tcp_syncookies": "1", "fs.protected_regular": "2", "net.ipv6.conf.all.accept_redirects": "0"} {
		if seen[k] != v {
			t.Errorf("%s = %q, want %q", k, seen[k], v)
		}
	}
	if _, ok := seen["net.ipv4.ip_forward"]; ok {
		t.Error("ip_forward must be left to netavark")
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[Config]{
		"bad key":      {func(c *Config) { c.Extra = map[string]string{"Vm Swappiness": "1"} }, ErrKey, "extra[Vm Swappiness]"},
		"slash key":    {func(c *Config) { c.Extra = map[string]string{"vm/swappiness": "1"} }, ErrKey, "extra[vm/swappiness]"},
		"override":     {func(c *Config) { c.Extra = map[string]string{"kernel.kptr_restrict": "0"} }, ErrOverride, "extra[kernel.kptr_restrict]"},
		"bad value":    {func(c *Config) { c.Extra = map[string]string{"vm.swappiness": "1\nkernel.kptr_restrict = 0"} }, ErrValue, "extra[vm.swappiness]"},
		"empty value":  {func(c *Config) { c.Extra = map[string]string{"vm.swappiness": ""} }, ErrValue, "extra[vm.swappiness]"},
		"size":         {func(c *Config) { c.Journal.SystemMaxUse = "1 GB" }, ErrSize, "journal.system_max_use"},
		"keep free":    {func(c *Config) { c.Journal.SystemKeepFree = "" }, ErrSize, "journal.system_keep_free"},
		"file size":    {func(c *Config) { c.Journal.SystemMaxFileSize = "-1" }, ErrSize, "journal.system_max_file_size"},
		"retention":    {func(c *Config) { c.Journal.MaxRetentionSec = "forever" }, ErrSize, "journal.max_retention_sec"},
		"ntp server":   {func(c *Config) { c.NTPServers = []string{"pool.ntp.org", "bad server"} }, ErrServer, "ntp_servers[1]"},
		"ntp injected": {func(c *Config) { c.NTPServers = []string{"a.example\nallow all"} }, ErrServer, "ntp_servers[0]"},
	}
	testutil.FieldErrors(t, DefaultConfig, func(c Config) error { _, _, err := Render(c); return err }, cases)
}
