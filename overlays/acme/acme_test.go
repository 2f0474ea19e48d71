package acme

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/overlays/nginx"
)

func TestRenderGolden(t *testing.T) {
	c := DefaultConfig("ops@clipper.example.com", "clipper.example.com", "www.clipper.example.com")
	files, us, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Mode != 0o755 {
			t.Errorf("%s: mode %o, want 755", f.Path, f.Mode)
		}
		testutil.Golden(t, filepath.Join("testdata", filepath.Base(f.Path)), f.Contents)
	}
	var names []string
	for _, u := range us {
		names = append(names, u.Name)
		if !u.Enabled {
			t.Errorf("%s not enabled", u.Name)
		}
		testutil.Golden(t, filepath.Join("testdata", u.Name), []byte(u.Contents))
	}
	if want := []string{SelfSignedUnit, RenewUnit, RenewTimer}; !slices.Equal(names, want) {
		t.Errorf("units %v, want %v", names, want)
	}
	timer := us[2].Contents
	for _, want := range []string{"OnCalendar=*-*-* 00,12:00:00\n", "RandomizedDelaySec=1h\n", "Persistent=true\n"} {
		if !strings.Contains(timer, want) {
			t.Errorf("timer lacks %q", want)
		}
	}
	if !strings.Contains(us[1].Contents, "--server "+LetsEncryptProduction+" ") {
		t.Error("renewal does not default to Let's Encrypt production")
	}
	c.Directory = LetsEncryptStaging
	_, us, err = Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(us[1].Contents, "--server "+LetsEncryptStaging+" ") {
		t.Error("staging directory not used")
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		mut   func(*Config)
		err   error
		field string
	}{
		"no domains":   {func(c *Config) { c.Domains = nil }, ErrNoDomains, "domains"},
		"wildcard":     {func(c *Config) { c.Domains = []string{"a.example.com", "*.example.com"} }, ErrDomain, "domains[1]"},
		"single label": {func(c *Config) { c.Domains = []string{"localhost"} }, ErrDomain, "domains[0]"},
		"ip":           {func(c *Config) { c.Domains = []string{"192.0.2.1"} }, ErrDomain, "domains[0]"},
		"no email":     {func(c *Config) { c.Email = "" }, ErrEmail, "email"},
		"named email":  {func(c *Config) { c.Email = "Ops <ops@example.com>" }, ErrEmail, "email"},
		"email pct":    {func(c *Config) { c.Email = "ops%n@example.com" }, ErrEmail, "email"},
		"http dir":     {func(c *Config) { c.Directory = "http://acme.example.com/dir" }, ErrDirectory, "directory"},
		"dir inject":   {func(c *Config) { c.Directory = "https://x.example/d --agree-tos;reboot" }, ErrDirectory, "directory"},
		"key type":     {func(c *Config) { c.KeyType = "ed25519" }, ErrKeyType, "key_type"},
		"days":         {func(c *Config) { c.SelfSignedDays = 0 }, ErrDays, "self_signed_days"},
		"tls dir":      {func(c *Config) { c.TLSDir = "tls" }, ErrPath, "tls_dir"},
		"webroot":      {func(c *Config) { c.Webroot = "/var/www acme" }, ErrPath, "webroot"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig("ops@example.com", "example.com")
			tc.mut(&c)
			_, _, err := Render(c)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Errorf("error %q does not name field %q", err, tc.field)
			}
		})
	}
}

// TestUnits has Quadlet and systemd-analyze judge the units together with
// the nginx container they are ordered against.
func TestUnits(t *testing.T) {
	_, us, err := Render(DefaultConfig("ops@example.com", "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	_, nu, err := nginx.Render(nginx.DefaultConfig("example.com"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, u := range append(us, nu...) {
		set[u.Name] = u.Contents
	}
	generated := judge.VerifyUnitSet(t, set)
	if _, ok := generated[nginx.ServiceName]; !ok {
		t.Errorf("Quadlet generated no %s", nginx.ServiceName)
	}
}

// script writes one rendered script to dir and returns its path.
func script(t *testing.T, dir, name string) string {
	t.Helper()
	files, _, err := Render(DefaultConfig("ops@example.com", "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f.Path) == name {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, f.Contents, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatalf("no script %s", name)
	return ""
}

func run(t *testing.T, env []string, prog string) string {
	t.Helper()
	cmd := exec.Command("sh", prog)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(prog), err, out)
	}
	return string(out)
}

// TestSelfSigned runs the first-boot script on this host and has nginx
// accept what it made.
func TestSelfSigned(t *testing.T) {
	openssl := testutil.Tool(t, "openssl")
	nginxBin := testutil.Tool(t, "nginx")
	work := t.TempDir()
	prog := script(t, work, filepath.Base(SelfSignedScript))
	tlsDir := filepath.Join(work, "tls")
	env := []string{"KILN_TLS_DIR=" + tlsDir, "KILN_TLS_NAMES=example.test www.example.test", "KILN_TLS_DAYS=30", "OPENSSL=" + openssl}
	run(t, env, prog)

	for name, mode := range map[string]os.FileMode{"fullchain.pem": 0o644, "chain.pem": 0o644, "privkey.pem": 0o600} {
		st, err := os.Stat(filepath.Join(tlsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", name, st.Mode().Perm(), mode)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(tlsDir, ".selfsigned.*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	first, err := os.ReadFile(filepath.Join(tlsDir, "fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(first)
	if blk == nil {
		t.Fatal("fullchain.pem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "example.test" || !slices.Equal(cert.DNSNames, []string{"example.test", "www.example.test"}) {
		t.Errorf("subject %q names %v", cert.Subject.CommonName, cert.DNSNames)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("lifetime %s, want 30 days", d)
	}
	if err := cert.VerifyHostname("www.example.test"); err != nil {
		t.Error(err)
	}

	// A second run (every boot) must leave the certificate alone.
	if out := run(t, env, prog); !strings.Contains(out, "nothing to do") {
		t.Errorf("second run: %s", out)
	}
	again, _ := os.ReadFile(filepath.Join(tlsDir, "fullchain.pem"))
	if string(again) != string(first) {
		t.Error("second run replaced the certificate")
	}

	// nginx must accept the pair with kiln's own configuration.
	c := nginx.DefaultConfig("example.test")
	c.HTTPPort, c.HTTPSPort = 18080, 18443
	c.ListenAddresses = []string{"127.0.0.1"}
	c.CertPath, c.KeyPath, c.ChainPath = filepath.Join(tlsDir, "fullchain.pem"), filepath.Join(tlsDir, "privkey.pem"), filepath.Join(tlsDir, "chain.pem")
	c.ConfigDir, c.ACMEWebroot, c.TempDir = work, filepath.Join(work, "webroot"), work
	c.PIDPath, c.ErrorLog, c.AccessLog = filepath.Join(work, "nginx.pid"), filepath.Join(work, "error.log"), filepath.Join(work, "access.log")
	c.User, c.ListenHTTP2Flag = "", true
	files, _, err := nginx.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(f.Path, f.Contents, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(nginxBin, "-t", "-c", filepath.Join(work, "nginx.conf"), "-e", c.ErrorLog).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t with the self-signed certificate: %v\n%s", err, out)
	}
}

// TestDeployHook plays certbot: a lineage of symlinks into an archive, as
// certbot keeps it, is copied as plain files.
func TestDeployHook(t *testing.T) {
	work := t.TempDir()
	prog := script(t, work, "deploy-hook.sh")
	archive, live, dst := filepath.Join(work, "archive"), filepath.Join(work, "live"), filepath.Join(work, "tls")
	for _, d := range []string{archive, live, dst} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"privkey", "chain", "fullchain"} {
		if err := os.WriteFile(filepath.Join(archive, f+"1.pem"), []byte(f+" v1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(archive, f+"1.pem"), filepath.Join(live, f+".pem")); err != nil {
			t.Fatal(err)
		}
	}
	run(t, []string{"RENEWED_LINEAGE=" + live, "KILN_TLS_DIR=" + dst}, prog)
	for f, mode := range map[string]os.FileMode{"privkey": 0o600, "chain": 0o644, "fullchain": 0o644} {
		p := filepath.Join(dst, f+".pem")
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != mode {
			t.Errorf("%s: %s, want a regular file of mode %o", p, st.Mode(), mode)
		}
		if b, _ := os.ReadFile(p); string(b) != f+" v1\n" {
			t.Errorf("%s holds %q", p, b)
		}
	}
}

// TestReloadOnlyOnChange counts reloads across unchanged and changed
// certificates, and retries after a failed reload.
func TestReloadOnlyOnChange(t *testing.T) {
	work := t.TempDir()
	prog := script(t, work, filepath.Base(ReloadScript))
	cert := filepath.Join(work, "fullchain.pem")
	count := filepath.Join(work, "reloads")
	fail := filepath.Join(work, "fail")
	reloader := filepath.Join(work, "reload")
	if err := os.WriteFile(reloader, []byte("#!/bin/sh\n[ -e "+fail+" ] && exit 1\necho x >> "+count+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"KILN_TLS_DIR=" + work, "KILN_TLS_STATE=" + filepath.Join(work, "state"), "KILN_RELOAD=" + reloader}
	reloads := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "x")
	}
	write := func(s string) {
		if err := os.WriteFile(cert, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cert A")
	run(t, env, prog)
	run(t, env, prog)
	if n := reloads(); n != 1 {
		t.Fatalf("after two runs on one certificate: %d reloads, want 1", n)
	}
	write("cert B")
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", prog)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err == nil {
		t.Fatal("a failed reload was reported as success")
	}
	os.Remove(fail)
	run(t, env, prog)
	run(t, env, prog)
	if n := reloads(); n != 2 {
		t.Fatalf("after a renewal: %d reloads, want 2", n)
	}
}
