package acme

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/overlays/nginx"
)

func TestRenderGolden(t *testing.T) {
	c := testConfig("ops@clipper.example.com", "clipper.example.com", "www.clipper.example.com")
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
	for _, want := range []string{"OnCalendar=*:0/5\n", "Persistent=true\n"} {
		if !strings.Contains(timer, want) {
			t.Errorf("timer lacks %q", want)
		}
	}
	for _, want := range []string{"After=network-online.target time-sync.target ", "Wants=network-online.target time-sync.target ",
		"ExecStart=" + AttemptScript + " /usr/bin/podman run --replace --rm --name kiln-certbot "} {
		if !strings.Contains(us[1].Contents, want) {
			t.Errorf("renewal unit lacks %q", want)
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
	cases := map[string]testutil.FieldCase[Config]{
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
	testutil.OverlayFieldErrors(t, func() Config { return testConfig("ops@example.com", "example.com") }, func(c Config) error { _, _, err := Render(c); return err }, cases)
}

// TestUnits has Quadlet and systemd-analyze judge the units together with
// the nginx container they are ordered against.
func TestUnits(t *testing.T) {
	_, us, err := Render(testConfig("ops@example.com", "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	// The edge's container as the builder writes it: the nginx
	// component's part, and the name and image the spec gives.
	ec := nginx.DefaultConfig("example.com")
	ec.Backend, ec.Frontend = "127.0.0.1:8080", "127.0.0.1:8081"
	ec.CertPath, ec.KeyPath, ec.ChainPath = testTLSDir+"/fullchain.pem", testTLSDir+"/privkey.pem", testTLSDir+"/chain.pem"
	ec.ACMEWebroot = testWebroot
	edge, err := nginx.Edge(ec, testEdge)
	if err != nil {
		t.Fatal(err)
	}
	edge.Container.Name, edge.Container.Image = testEdge, "docker.io/library/nginx:1.28.0-alpine"
	edge.Container.After = []string{SelfSignedUnit}
	set := map[string]string{}
	for _, u := range append(us, edge.Container.Unit()) {
		set[u.Name] = u.Contents
	}
	generated := judge.VerifyUnitSet(t, set)
	if _, ok := generated[testEdge+".service"]; !ok {
		t.Errorf("Quadlet generated no %s.service", testEdge)
	}
}

// script writes one rendered script to dir and returns its path.
func script(t *testing.T, dir, name string) string {
	t.Helper()
	files, _, err := Render(testConfig("ops@example.com", "example.com"))
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
	c.Backend, c.Frontend = "127.0.0.1:8080", "127.0.0.1:8081"
	files, err := nginx.Render(c)
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

// TestAttemptRetries plays kiln-acme through a first boot whose ACME
// attempts cannot succeed yet: every failed attempt exits 0 (no failed
// unit), counts in the metrics and puts the next attempt off with a
// doubling delay; runs before it is due do not attempt; a success resets
// the count and schedules the twice-daily renewal check; a new domain
// list is attempted at once.
func TestAttemptRetries(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "kiln-acme")
	calls := filepath.Join(dir, "calls")
	exitFile := filepath.Join(dir, "exit")
	// The stand-in for podman run certbot: logs its call, exits as told.
	fake := filepath.Join(dir, "certbot")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$*\" >>"+calls+"\nexit $(cat "+exitFile+")\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	state, metrics := filepath.Join(dir, "state", "kiln-acme.state"), filepath.Join(dir, "textfile", "kiln_acme.prom")
	env := []string{"KILN_ACME_STATE=" + state, "KILN_ACME_METRICS=" + metrics, "KILN_ACME_KEY=example.com"}
	attempt := func(exit string, extraEnv ...string) string {
		t.Helper()
		if err := os.WriteFile(exitFile, []byte(exit), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", prog, fake, "certonly", "-d", "example.com")
		cmd.Env = append(append(os.Environ(), env...), extraEnv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kiln-acme exited non-zero (a failed unit): %v\n%s", err, out)
		}
		return string(out)
	}
	nCalls := func() int {
		b, _ := os.ReadFile(calls)
		return strings.Count(string(b), "\n")
	}
	metric := func(name string) int64 {
		t.Helper()
		b, err := os.ReadFile(metrics)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: %q", name, v)
				}
				return n
			}
		}
		t.Fatalf("no metric %s in:\n%s", name, b)
		return 0
	}
	// The metrics are what Prometheus will read: promtool must accept them.
	if p, err := exec.LookPath("promtool"); err == nil {
		defer func() {
			out, err := exec.Command("sh", "-c", p+" check metrics <"+metrics).CombinedOutput()
			if err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		}()
	}

	start := time.Now().Unix()
	var lastDelay int64
	for i := 1; i <= 3; i++ {
		out := attempt("1")
		if !strings.Contains(out, "retrying in") {
			t.Errorf("attempt %d: no retry message:\n%s", i, out)
		}
		if got := metric("kiln_acme_consecutive_failures"); got != int64(i) {
			t.Errorf("after %d failures the metric says %d", i, got)
		}
		delay := metric("kiln_acme_next_attempt_timestamp_seconds") - start
		if want := int64(300) << (i - 1); delay < want || delay > want+5 {
			t.Errorf("failure %d: next attempt in %ds, want %ds", i, delay, want)
		}
		if delay <= lastDelay {
			t.Errorf("failure %d: delay %ds did not grow from %ds", i, delay, lastDelay)
		}
		lastDelay = delay
		// Not due yet: the timer's next tick does not attempt.
		before := nCalls()
		attempt("1")
		if nCalls() != before {
			t.Errorf("failure %d: attempted again before the retry was due", i)
		}
		// Make the retry due.
		if err := os.WriteFile(state, []byte(strings.Replace(mustRead(t, state), "next=", "next=1\nold_next=", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if metric("kiln_acme_last_success_timestamp_seconds") != 0 {
		t.Error("a success recorded before any attempt succeeded")
	}
	attempt("0")
	if got := metric("kiln_acme_consecutive_failures"); got != 0 {
		t.Errorf("success left %d failures", got)
	}
	if metric("kiln_acme_last_success_timestamp_seconds") < start {
		t.Error("success not recorded")
	}
	if d := metric("kiln_acme_next_attempt_timestamp_seconds") - start; d < 43200 || d > 43205 {
		t.Errorf("renewal check in %ds, want twice a day", d)
	}
	before := nCalls()
	attempt("0")
	if nCalls() != before {
		t.Error("renewal attempted long before it was due")
	}
	attempt("0", "KILN_ACME_KEY=example.com www.example.com")
	if nCalls() != before+1 {
		t.Error("a new domain list waited for the renewal check")
	}
	if nCalls() != 5 || !strings.Contains(mustRead(t, calls), "certonly -d example.com") {
		t.Errorf("certbot stand-in called %d times (want 5), with:\n%s", nCalls(), mustRead(t, calls))
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScriptsShellcheck has shellcheck judge every script as installed.
func TestScriptsShellcheck(t *testing.T) {
	files, _, err := Render(testConfig("ops@example.com", "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"-s", "sh"}
	for _, f := range files {
		p := filepath.Join(dir, filepath.Base(f.Path))
		if err := os.WriteFile(p, f.Contents, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := judge.TryJudge(t, "shellcheck", args...); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// TestSelfSignedNeedsNoEmail: an edge no CA certifies gets its first-boot
// certificate without a contact address, and nothing that would contact a
// CA.
func TestSelfSignedNeedsNoEmail(t *testing.T) {
	c := testConfig("", "localhost")
	files, us, err := SelfSigned(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != SelfSignedScript || len(us) != 1 || us[0].Name != SelfSignedUnit {
		t.Errorf("got files %v and units %v, want only the self-signed script and unit", files, us)
	}
	if _, _, err := Render(c); err == nil {
		t.Error("Render issued for localhost with no email")
	}
	c.Domains = []string{"bad name"}
	if _, _, err := SelfSigned(c); !errors.Is(err, ErrDomain) {
		t.Errorf("SelfSigned(bad name) = %v, want ErrDomain", err)
	}
}

// The edge as Clipper names it, and its certificate and webroot paths.
const (
	testEdge    = "edge"
	testTLSDir  = "/var/lib/kiln/tls"
	testWebroot = "/var/lib/kiln/acme-webroot"
)

// testConfig is Clipper's ACME configuration for the edge above.
func testConfig(email string, domains ...string) Config {
	return DefaultConfig(testEdge+".service", testTLSDir, testWebroot, email, domains...)
}
