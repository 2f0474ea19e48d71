package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-dev/kiln/internal/bootcheck"
	"github.com/kiln-dev/kiln/internal/fixture"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// testBootSpec writes testdata/testboot/appliance.yaml into dir with the
// example key replaced by a new one, and returns the spec's path and the
// private key's.
func testBootSpec(t *testing.T, dir string) (specPath, keyPath string) {
	t.Helper()
	key, err := vm.NewKey("kiln-test-boot")
	if err != nil {
		t.Fatal(err)
	}
	keyPath = filepath.Join(dir, "deploy.key")
	if err := key.WritePrivate(keyPath); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "testboot", "appliance.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	example := regexp.MustCompile(`ssh-ed25519 \S+ deploy@example`)
	if !example.Match(data) {
		t.Fatal("testdata/testboot/appliance.yaml has no example key to replace")
	}
	data = example.ReplaceAll(data, []byte(key.Authorized))
	// Not ./appliance.yaml, which kiln would take without -f.
	specPath = filepath.Join(dir, "bootcheck.yaml")
	if err := os.WriteFile(specPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return specPath, keyPath
}

// TestTestBootHelp: --help says what is checked, what it needs and how to
// call it.
func TestTestBootHelp(t *testing.T) {
	stdout, _, code := kiln(t, t.TempDir(), "test-boot", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"qemu-system-x86_64", "qemu-img", "healthy", "failed systemd unit", "public ports", "release.json", "kiln test-boot -f appliance.yaml --key", "--json", "Exit codes: 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

// TestTestBootRefusesBadInput: every mistake is refused before a machine
// starts, with the exit code of its kind (2 usage, 1 input), the file it
// concerns and the fix.
func TestTestBootRefusesBadInput(t *testing.T) {
	testutil.Tool(t, "qemu-img")
	dir := t.TempDir()
	specPath, keyPath := testBootSpec(t, dir)
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	if _, stderr, code := kilnEnv(t, dir, []string{"SOURCE_DATE_EPOCH=1700000000"}, "build", "-q", "-f", specPath, "-o", "out",
		"--platform", "metal", "--format", "raw", "--base-image", disk, "--insecure-base"); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, stderr)
	}
	artifact := filepath.Join("out", "bootcheck-0.1.0-metal.raw")

	// Inputs that are wrong in one way each.
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notImage := write("notes.raw", "not a disk image\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "elsewhere"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The artifact without its manifest beside it.
	alone := filepath.Join("elsewhere", "bootcheck-0.1.0-metal.raw")
	if err := os.Symlink(filepath.Join(dir, artifact), filepath.Join(dir, alone)); err != nil {
		t.Fatal(err)
	}
	otherManifest := write("other.json", `{"appliance": "other", "version": "1", "artifacts": [{"name": "other-1-metal.raw"}]}`, 0o644)
	other, err := vm.NewKey("other")
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other.key")
	if err := other.WritePrivate(otherKey); err != nil {
		t.Fatal(err)
	}
	pubKey := write("deploy.key.pub", other.Authorized+"\n", 0o644)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	locked := write("locked.key", string(pem.EncodeToMemory(block)), 0o600)
	emptyPath := t.TempDir()
	// No case may boot a machine: a stand-in QEMU that fails at once
	// comes first on PATH (a real boot takes minutes and the VM lock).
	fakeBin := t.TempDir()
	if err := os.WriteFile(filepath.Join(fakeBin, "qemu-system-x86_64"), []byte("#!/bin/sh\necho 'fake qemu: this test must not boot a machine' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	fakePath := []string{"PATH=" + fakeBin + string(os.PathListSeparator) + os.Getenv("PATH"), "TMPDIR=" + tmp}

	ok := []string{"test-boot", "-f", specPath, "--key", keyPath}
	for name, tc := range map[string]struct {
		args []string
		env  []string
		code int
		want []string
	}{
		"no artifact":         {[]string{"test-boot", "--key", keyPath}, nil, 2, []string{"accepts 1 arg"}},
		"no key":              {[]string{"test-boot", "-f", specPath, artifact}, nil, 2, []string{"--key FILE is required"}},
		"bad accel":           {append(ok, "--accel", "hvf", artifact), nil, 2, []string{`--accel "hvf": want auto, kvm or tcg`}},
		"bad disk size":       {append(ok, "--disk-size", "12 parsecs", artifact), nil, 2, []string{"--disk-size", "16G"}},
		"bad timeout":         {append(ok, "--timeout", "0s", artifact), nil, 2, []string{"--timeout 0s"}},
		"artifact missing":    {append(ok, "out/nothing.raw"), nil, 1, []string{"out/nothing.raw", "no such file", "kiln build wrote"}},
		"not an image":        {append(ok, notImage), nil, 1, []string{notImage, "not a kiln disk image", "xz -dk"}},
		"no manifest":         {append(ok, alone), nil, 1, []string{"no manifest.json beside the artifact", "--manifest FILE"}},
		"manifest of another": {append(ok, "--manifest", otherManifest, artifact), nil, 1, []string{otherManifest, "does not list bootcheck-0.1.0-metal.raw"}},
		"another spec":        {[]string{"test-boot", "--key", keyPath, artifact}, nil, 1, []string{"is not the spec", "was built from", "-f FILE"}},
		"unknown user":        {append(ok, "--user", "core", artifact), nil, 1, []string{`user "core" is not in users (deploy)`, "--user"}},
		"key unreadable":      {[]string{"test-boot", "-f", specPath, "--key", filepath.Join(dir, "nokey"), artifact}, nil, 1, []string{"--key " + filepath.Join(dir, "nokey"), "no such file"}},
		"public key given":    {[]string{"test-boot", "-f", specPath, "--key", pubKey, artifact}, nil, 1, []string{pubKey, "not a private key", "not the .pub"}},
		"key with passphrase": {[]string{"test-boot", "-f", specPath, "--key", locked, artifact}, nil, 1, []string{locked, "passphrase", "ssh-keygen"}},
		"key of nobody":       {[]string{"test-boot", "-f", specPath, "--key", otherKey, artifact}, nil, 1, []string{otherKey, "is not among deploy's ssh_keys in " + specPath}},
		"qemu missing":        {append(ok, artifact), []string{"PATH=" + emptyPath}, 1, []string{"qemu-system-x86_64 is not on PATH", "apt-get install qemu-system-x86"}},
		"disk too small":      {append(ok, "--disk-size", "100M", artifact), nil, 1, []string{"--disk-size 100 MiB is smaller than the image", "min_disk_mib (11264 MiB)"}},
	} {
		t.Run(name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = fakePath
			}
			stdout, stderr, code := kilnEnv(t, dir, env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("a refused test boot printed a report:\n%s", stdout)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
		t.Errorf("scratch directories left behind: %v", left)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"16G": 16 << 30, "16GiB": 16 << 30, "11264M": 11264 << 20, "4096": 4096, "1t": 1 << 40} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "1.5G", "12 parsecs", "0"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestPrintReport: the report for people marks each failed check and lists
// every problem after the verdict.
func TestPrintReport(t *testing.T) {
	r := &bootcheck.Report{
		Artifact: "out/a.raw", Accel: "tcg", SerialLog: "/tmp/s.log",
		Times:    bootcheck.Times{SSHLogin: 158, Settled: 213},
		Services: []bootcheck.Service{{Name: "redis", Active: "active", Status: "Up 1 minute (unhealthy)", HealthCheck: true, Health: "unhealthy"}},
		Ports:    []bootcheck.PortResult{{Port: 22, Owner: "sshd", Public: true, Answers: true, OK: true}},
		Problems: []string{"service redis is not healthy"},
	}
	var b strings.Builder
	printReport(&b, r)
	for _, want := range []string{"SSH login:   2m38s after power-on", "FAIL  redis", "ok    22", "result: FAILED, 1 problems:\n  - service redis is not healthy\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, b.String())
		}
	}
}
