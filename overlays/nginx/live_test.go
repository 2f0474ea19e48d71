package nginx

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

const testHost = "example.test"

// edge is one rendered configuration laid out in a temporary directory,
// with a self-signed certificate made by openssl.
type edge struct {
	dir, conf, errLog string
	cfg               Config
	pool              *x509.CertPool
}

func newEdge(t *testing.T, backend, frontend string) *edge {
	t.Helper()
	dir := t.TempDir()
	return newEdgeAt(t, dir, dir, backend, frontend)
}

// newEdgeAt lays the edge out in dir, which nginx sees as inside (another
// root's view of the same directory). The certificate is issued by a test
// CA, so a client that trusts the CA sees a complete, trusted chain.
func newEdgeAt(t *testing.T, dir, inside, backend, frontend string, mut ...func(*Config)) *edge {
	t.Helper()
	openssl := testutil.Tool(t, "openssl")
	e := &edge{dir: dir, conf: filepath.Join(inside, "nginx.conf"), errLog: filepath.Join(inside, "error.log")}
	sh := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	sh("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
		"-days", "2", "-subj", "/CN=kiln test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	sh("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "privkey.pem", "-out", "leaf.csr", "-subj", "/CN="+testHost)
	if err := os.WriteFile(filepath.Join(dir, "leaf.ext"), []byte("subjectAltName=DNS:"+testHost+"\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\ncrlDistributionPoints=URI:http://ca.example.test/crl\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", "cert.pem")
	leaf, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fullchain.pem"), append(leaf, ca...), 0o644); err != nil {
		t.Fatal(err)
	}
	e.pool = x509.NewCertPool()
	e.pool.AppendCertsFromPEM(ca)
	cert, key := filepath.Join(inside, "fullchain.pem"), filepath.Join(inside, "privkey.pem")

	c := clipperEdge(testHost)
	c.HTTPPort, c.HTTPSPort = testutil.FreePort(t), testutil.FreePort(t)
	c.StatusPort = testutil.FreePort(t)
	c.ListenAddresses = []string{"127.0.0.1"}
	c.Backend, c.Frontend = backend, frontend
	c.CertPath, c.KeyPath, c.ChainPath = cert, key, filepath.Join(inside, "ca.pem")
	c.ACMEWebroot = filepath.Join(inside, "webroot")
	c.ConfigDir = inside
	c.PIDPath = filepath.Join(inside, "nginx.pid")
	c.ErrorLog = e.errLog
	c.AccessLog = filepath.Join(inside, "access.log")
	c.TempDir = inside
	c.Auth = Rate{PerMinute: 10, Burst: 3}
	// Workers would drop to "nobody" and lose access to the 0700 temp dir.
	c.User = ""
	if os.Geteuid() == 0 {
		c.User = "root"
	}
	c.ListenHTTP2Flag = true // Debian 12's nginx 1.22 predates `http2 on`
	for _, m := range mut {
		m(&c)
	}
	e.cfg = c
	files, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Path)), f.Contents, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.cfg.ACMEWebroot = filepath.Join(dir, "webroot")
	if err := os.MkdirAll(filepath.Join(e.cfg.ACMEWebroot, ".well-known", "acme-challenge"), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestNginxCheck is nginx's own verdict on the rendered configuration.
func TestNginxCheck(t *testing.T) {
	nginx := testutil.Tool(t, "nginx")
	e := newEdge(t, "127.0.0.1:8080", "127.0.0.1:8081")
	out, err := exec.Command(nginx, "-t", "-c", e.conf, "-e", e.errLog).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t did not succeed:\n%s", out)
	}
	// A self-signed certificate has no OCSP responder; anything else is a defect.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[warn]") && !strings.Contains(line, "ssl_stapling") || strings.Contains(line, "[emerg]") {
			t.Errorf("nginx -t: %s", line)
		}
	}
}

// TestNginxLive runs nginx for real on loopback high ports in front of two
// stub upstreams and checks what a browser would see.
func TestNginxLive(t *testing.T) {
	nginx := testutil.Tool(t, "nginx")
	stub := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/big.txt", "/api/big.json", "/assets/big.css":
				w.Header().Set("Content-Type", map[string]string{".txt": "text/plain", "json": "application/json", ".css": "text/css"}[r.URL.Path[len(r.URL.Path)-4:]])
				fmt.Fprint(w, strings.Repeat("kiln compresses text responses. ", 100))
				return
			case "/api/xff":
				fmt.Fprint(w, r.Header.Values("X-Forwarded-For"))
				return
			}
			fmt.Fprintf(w, "%s %s proto=%s", name, r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	backend, frontend := stub("backend"), stub("frontend")
	e := newEdge(t, backend.Listener.Addr().String(), frontend.Listener.Addr().String())
	token := "kiln-token-123"
	if err := os.WriteFile(filepath.Join(e.cfg.ACMEWebroot, ".well-known", "acme-challenge", token), []byte("challenge-ok"), 0o644); err != nil {
		t.Fatal(err)
	}

	httpsAddr := fmt.Sprintf("127.0.0.1:%d", e.cfg.HTTPSPort)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", e.cfg.HTTPPort)
	startNginx(t, exec.Command(nginx, "-c", e.conf, "-e", e.errLog), httpsAddr, e.errLog)

	tlsConf := func(minV, maxV uint16) *tls.Config {
		return &tls.Config{RootCAs: e.pool, ServerName: testHost, MinVersion: minV, MaxVersion: maxV}
	}
	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig:   tlsConf(tls.VersionTLS12, tls.VersionTLS13),
			ForceAttemptHTTP2: true,
		},
	}
	get := func(url string, header ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = testHost
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}

	// The exporter's status page answers on loopback, and nothing else
	// does on its port.
	t.Run("status page", func(t *testing.T) {
		status := fmt.Sprintf("http://127.0.0.1:%d", e.cfg.StatusPort)
		resp, body := get(status + "/stub_status")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "Active connections:") {
			t.Errorf("stub_status: %d %q", resp.StatusCode, body)
		}
		if resp, _ := get(status + "/"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("status port serves / with %d, want 404", resp.StatusCode)
		}
		conf, err := os.ReadFile(e.conf)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("listen 127.0.0.1:%d;", e.cfg.StatusPort); !strings.Contains(string(conf), want) {
			t.Errorf("the status page does not listen on loopback only (%q)", want)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		resp, _ := get("http://" + httpAddr + "/some/page?x=1")
		want := fmt.Sprintf("https://%s:%d/some/page?x=1", testHost, e.cfg.HTTPSPort)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("got %d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})
	t.Run("redirect ignores a foreign Host", func(t *testing.T) {
		resp, _ := get("http://"+httpAddr+"/x", "Host", "evil.example")
		want := fmt.Sprintf("https://%s:%d/x", testHost, e.cfg.HTTPSPort)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("Host: evil.example: got %d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})
	t.Run("acme challenge over http", func(t *testing.T) {
		resp, body := get("http://" + httpAddr + "/.well-known/acme-challenge/" + token)
		if resp.StatusCode != http.StatusOK || body != "challenge-ok" {
			t.Errorf("got %d %q, want 200 challenge-ok", resp.StatusCode, body)
		}
		resp, _ = get("http://" + httpAddr + "/.well-known/acme-challenge/missing")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("missing token: got %d, want 404 (not a redirect)", resp.StatusCode)
		}
	})
	t.Run("tls versions", func(t *testing.T) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", httpsAddr, tlsConf(v, v))
			if err != nil {
				t.Errorf("%s refused: %v", tls.VersionName(v), err)
				continue
			}
			if got := c.ConnectionState().Version; got != v {
				t.Errorf("negotiated %s, want %s", tls.VersionName(got), tls.VersionName(v))
			}
			c.Close()
		}
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", httpsAddr, tlsConf(v, v))
			if err == nil {
				c.Close()
				t.Errorf("%s accepted", tls.VersionName(v))
				continue
			}
			// The refusal must come from nginx, not from the Go client.
			if !strings.Contains(err.Error(), "remote error") {
				t.Errorf("%s: expected a server alert, got %v", tls.VersionName(v), err)
			}
		}
	})
	t.Run("key exchange groups", func(t *testing.T) {
		for _, tc := range []struct {
			curve tls.CurveID
			ok    bool
		}{{tls.X25519, true}, {tls.CurveP256, true}, {tls.CurveP384, true}, {tls.CurveP521, false}} {
			// TLS 1.3 only: in 1.2 the client's groups also bound which
			// ECDSA certificate curves it accepts (the test's is P-256).
			for _, v := range []uint16{tls.VersionTLS13} {
				conf := tlsConf(v, v)
				conf.CurvePreferences = []tls.CurveID{tc.curve}
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", httpsAddr, conf)
				if err == nil {
					c.Close()
				}
				if (err == nil) != tc.ok {
					t.Errorf("%s over %s: accepted=%v, want %v (%v)", tc.curve, tls.VersionName(v), err == nil, tc.ok, err)
				}
			}
		}
	})
	headers := map[string]string{
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
		"Content-Security-Policy":   e.cfg.ContentSecurityPolicy,
		"X-Frame-Options":           "DENY",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Permissions-Policy":        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
	}
	https := "https://" + httpsAddr
	for _, tc := range []struct {
		path, body, cache string
	}{
		{"/", "frontend / proto=https", "no-cache"},
		{"/assets/app.3f9a.js", "frontend /assets/app.3f9a.js proto=https", "public, max-age=31536000, immutable"},
		{"/api/x", "backend /api/x proto=https", ""},
		{"/health", "ok\n", ""},
	} {
		t.Run("https "+tc.path, func(t *testing.T) {
			resp, body := get(https + tc.path)
			if resp.StatusCode != http.StatusOK || body != tc.body {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, tc.body)
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
			for k, v := range headers {
				if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want exactly %q", k, got, v)
				}
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.cache)
			}
			if resp.Header.Get("Server") != "nginx" {
				t.Errorf("Server header %q reveals more than the product name", resp.Header.Get("Server"))
			}
		})
	}
	t.Run("gzip for static assets only", func(t *testing.T) {
		// Go's transport asks for gzip and reports a transparent inflate.
		for path, gz := range map[string]bool{"/assets/big.css": true, "/big.txt": false, "/api/big.json": false} {
			resp, body := get(https + path)
			if resp.StatusCode != http.StatusOK || resp.Uncompressed != gz || len(body) != 3200 {
				t.Errorf("%s: got %d, gzip=%v, %d bytes; want 200, gzip=%v, 3200 bytes", path, resp.StatusCode, resp.Uncompressed, len(body), gz)
			}
		}
	})
	t.Run("X-Forwarded-For is the client address", func(t *testing.T) {
		_, body := get(https+"/api/xff", "X-Forwarded-For", "203.0.113.7")
		if body != "[127.0.0.1]" {
			t.Errorf("backend saw X-Forwarded-For %s, want [127.0.0.1]", body)
		}
	})
	t.Run("auth rate limit", func(t *testing.T) {
		// 10/minute with burst 3: the first four pass, the rest get 429.
		var codes []int
		for i := 0; i < 8; i++ {
			resp, _ := get(https + "/api/auth/login")
			codes = append(codes, resp.StatusCode)
		}
		for i, c := range codes {
			want := http.StatusOK
			if i >= 4 {
				want = http.StatusTooManyRequests
			}
			if c != want {
				t.Errorf("request %d: %d, want %d (all: %v)", i, c, want, codes)
			}
		}
		// The general zone is separate: other API paths still answer.
		if resp, _ := get(https + "/api/other"); resp.StatusCode != http.StatusOK {
			t.Errorf("/api/other: %d after the auth limit tripped", resp.StatusCode)
		}
	})
}

// startNginx starts cmd, waits until it listens on addr and stops it
// (SIGQUIT, then SIGKILL) when the test ends. If nginx exits first, the
// test fails with its output and the error log at errLog (a host path).
func startNginx(t *testing.T, cmd *exec.Cmd, addr, errLog string) {
	t.Helper()
	d := testutil.StartDaemon(t, cmd, syscall.SIGQUIT)
	d.WaitListening(t, addr, 10*time.Second, func() string {
		log, _ := os.ReadFile(errLog)
		return string(log)
	})
}
