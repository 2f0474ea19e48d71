package nginx

import (
	"path/filepath"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestRenderGolden(t *testing.T) {
	files, err := Render(clipperEdge("clipper.example.com", "www.clipper.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ConfigDir + "/nginx.conf", ConfigDir + "/proxy.conf", ConfigDir + "/security-headers.conf"}
	if len(files) != len(want) {
		t.Fatalf("got %d files, want %d", len(files), len(want))
	}
	for i, f := range files {
		if f.Path != want[i] || f.Mode != 0o644 {
			t.Errorf("file %d: %s %o, want %s 644", i, f.Path, f.Mode, want[i])
		}
		testutil.Golden(t, filepath.Join("testdata", filepath.Base(f.Path)), f.Contents)
	}
}

// TestRenderVariants records the legacy http2 syntax, a non-standard HTTPS
// port in the redirect, and IPv6 listen and resolver addresses.
func TestRenderVariants(t *testing.T) {
	c := clipperEdge("example.test")
	c.ListenHTTP2Flag = true
	c.HTTPPort, c.HTTPSPort = 8080, 8443
	c.ListenAddresses = []string{"127.0.0.1", "::1"}
	c.Resolvers = []string{"2606:4700:4700::1111"}
	c.AuthPaths = nil
	files, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "variant-nginx.conf"), files[0].Contents)
}

func TestValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[Config]{
		"no names":       {func(c *Config) { c.ServerNames = nil }, ErrNoServerNames, "server_names"},
		"bad name":       {func(c *Config) { c.ServerNames = []string{"a.example", "x;y"} }, ErrServerName, "server_names[1]"},
		"upper name":     {func(c *Config) { c.ServerNames = []string{"Example.com"} }, ErrServerName, "server_names[0]"},
		"port":           {func(c *Config) { c.HTTPSPort = 70000 }, ErrPort, "https_port"},
		"same ports":     {func(c *Config) { c.HTTPPort = 443 }, ErrPort, "https_port"},
		"listen":         {func(c *Config) { c.ListenAddresses = []string{"localhost"} }, ErrAddress, "listen_addresses[0]"},
		"no listen":      {func(c *Config) { c.ListenAddresses = nil }, ErrAddress, "listen_addresses"},
		"backend":        {func(c *Config) { c.Backend = "api:8080" }, ErrAddress, "backend"},
		"frontend":       {func(c *Config) { c.Frontend = "127.0.0.1" }, ErrAddress, "frontend"},
		"cert relative":  {func(c *Config) { c.CertPath = "tls/cert.pem" }, ErrPath, "cert_path"},
		"key injection":  {func(c *Config) { c.KeyPath = "/k.pem; include /etc/shadow" }, ErrPath, "key_path"},
		"webroot dotdot": {func(c *Config) { c.ACMEWebroot = "/var/../etc" }, ErrPath, "acme_webroot"},
		"resolver":       {func(c *Config) { c.Resolvers = []string{"dns.example"} }, ErrAddress, "resolvers[0]"},
		"no resolver":    {func(c *Config) { c.Resolvers = nil }, ErrAddress, "resolvers"},
		"general rate":   {func(c *Config) { c.General.PerMinute = 0 }, ErrRate, "general"},
		"auth burst":     {func(c *Config) { c.Auth.Burst = -1 }, ErrRate, "auth"},
		"auth path":      {func(c *Config) { c.AuthPaths = []string{"/login"} }, ErrPath, "auth_paths[0]"},
		"csp quote":      {func(c *Config) { c.ContentSecurityPolicy = `default-src "self"` }, ErrValue, "content_security_policy"},
		"csp empty":      {func(c *Config) { c.ContentSecurityPolicy = "" }, ErrValue, "content_security_policy"},
		"body size":      {func(c *Config) { c.ClientMaxBodySize = "10 MB" }, ErrValue, "client_max_body_size"},
		"user":           {func(c *Config) { c.User = "www data" }, ErrValue, "user"},
	}
	testutil.OverlayFieldErrors(t, func() Config { return clipperEdge("example.com") }, func(c Config) error { _, err := Render(c); return err }, cases)
}
