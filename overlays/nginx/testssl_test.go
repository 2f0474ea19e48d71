package nginx

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/auditroot"
)

// TestSSLAudit has testssl.sh 3.2 (Debian 13; Debian 12's 3.0 gives no
// grade) grade the edge served by Debian 13's nginx 1.26 on OpenSSL 3.5,
// the versions nearest the pinned image, with the hybrid ML-KEM group on.
// The grade must be A+ with the test CA trusted, and no line may say
// "NOT ok".
//
// Adapted for the test only: loopback ports, a certificate from a test CA
// that testssl is told to trust (--add-ca), no OCSP responder (stapling
// is skipped, as for Let's Encrypt certificates), and workers running as
// root inside the throwaway root.
func TestSSLAudit(t *testing.T) {
	root := auditroot.Root(t)
	dir, inside := auditroot.TempDir(t, root)
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		// A page long enough to be worth compressing: BREACH's check
		// must still find no compression.
		fmt.Fprint(w, "<!doctype html><title>kiln</title>"+strings.Repeat("<p>kiln</p>", 200))
	}))
	t.Cleanup(stub.Close)
	addr := stub.Listener.Addr().String()
	e := newEdgeAt(t, dir, inside, addr, addr, func(c *Config) {
		c.ListenHTTP2Flag = false // nginx 1.26 has `http2 on`
		c.HybridKEM = true        // OpenSSL 3.5
		c.User = "root"
		c.MimeTypes = "/etc/nginx/mime.types"
	})

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", e.cfg.HTTPSPort)
	startNginx(t, auditroot.Command(ctx, root, "/usr/sbin/nginx", "-c", e.conf, "-e", e.errLog), httpsAddr, filepath.Join(dir, "error.log"))

	out, _ := auditroot.Command(ctx, root, "testssl", "--quiet", "--color", "0", "--warnings", "off",
		"--add-ca", filepath.Join(inside, "ca.pem"), "--ip", "127.0.0.1",
		fmt.Sprintf("https://%s:%d/", testHost, e.cfg.HTTPSPort)).CombinedOutput()
	report := string(out)
	grade := regexp.MustCompile(`(?m)^\s*Overall Grade\s+(\S+)`).FindStringSubmatch(report)
	if grade == nil {
		t.Fatalf("testssl printed no grade:\n%s", report)
	}
	var notOK []string
	for _, line := range strings.Split(report, "\n") {
		if strings.Contains(line, "NOT ok") {
			notOK = append(notOK, strings.TrimSpace(line))
		}
	}
	for _, line := range strings.Split(report, "\n") {
		if strings.Contains(line, "BREACH") || strings.Contains(line, "Elliptic curves offered") || strings.Contains(line, "TLS 1.3 sig") {
			t.Log(strings.TrimSpace(line))
		}
	}
	t.Logf("testssl: grade %s, %d NOT ok", grade[1], len(notOK))
	if grade[1] != "A+" || len(notOK) > 0 {
		t.Errorf("testssl: grade %s, want A+; NOT ok lines:\n%s\n\nreport:\n%s", grade[1], strings.Join(notOK, "\n"), report)
	}
}
