// Package nginx renders the TLS edge: an nginx configuration (TLS 1.2/1.3,
// HSTS, OCSP stapling, security headers, rate limits, the ACME webroot) and
// the edge's part of the container that runs it with host networking.
package nginx

import (
	"embed"
	_ "embed"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/valid"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// ConfigDir holds nginx.conf and its includes on the host; it is mounted
// read-only at the same path in the container.
const ConfigDir = "/etc/kiln/nginx"

//go:embed *.tmpl
var templatesFS embed.FS

var templates = overlays.Templates(templatesFS)

// Rate is a request rate per client address with a burst allowance.
type Rate struct {
	// PerMinute requests are allowed on average.
	PerMinute int
	// Burst requests may exceed the rate before nginx answers 429.
	Burst int
}

// Config is the edge the builder derives from the appliance spec. The
// fields after Image only exist so tests can run the same configuration
// unprivileged in a temporary directory.
type Config struct {
	// ServerNames are the host names served (the certificate's names).
	ServerNames []string
	// HTTPPort and HTTPSPort are the listening ports (80 and 443).
	HTTPPort, HTTPSPort int
	// StatusPort serves nginx's stub_status at /stub_status on 127.0.0.1
	// only, for the metrics exporter; 0 leaves the status page out.
	StatusPort int
	// ListenAddresses to bind; "*" is every IPv4 address, "::" every IPv6.
	ListenAddresses []string
	// Backend is the API's host:port; /api is proxied there.
	Backend string
	// Frontend is the SPA server's host:port; everything else goes there.
	Frontend string
	// CertPath, KeyPath and ChainPath are the served certificate (full
	// chain), its key and the issuer chain OCSP responses are verified with.
	CertPath, KeyPath, ChainPath string
	// ACMEWebroot serves /.well-known/acme-challenge/ over plain HTTP.
	ACMEWebroot string
	// Resolvers are the DNS servers nginx asks for the OCSP responder.
	Resolvers []string
	// General limits every request per client address.
	General Rate
	// Auth is the stricter limit on AuthPaths (login, token endpoints).
	Auth Rate
	// AuthPaths are URL prefixes under the Auth limit.
	AuthPaths []string
	// ContentSecurityPolicy is sent on every response.
	ContentSecurityPolicy string
	// ClientMaxBodySize bounds uploads, in nginx size syntax ("10m").
	ClientMaxBodySize string

	// ConfigDir is where the includes are read from (default ConfigDir).
	ConfigDir string
	// User the workers run as; empty leaves the directive out.
	User string
	// PIDPath, ErrorLog and AccessLog locate nginx's own files; the
	// container logs to its standard streams, which go to the journal.
	PIDPath, ErrorLog, AccessLog string
	// TempDir, when set, holds nginx's request and proxy buffers.
	TempDir string
	// MimeTypes is the path of the mime.types table.
	MimeTypes string
	// HybridKEM offers the X25519MLKEM768 group, which needs OpenSSL 3.5;
	// nginx refuses to start on a group its OpenSSL does not know.
	HybridKEM bool
	// ListenHTTP2Flag selects the pre-1.25 `listen … http2` syntax instead
	// of the `http2 on` directive (Debian 12 ships nginx 1.22).
	ListenHTTP2Flag bool
}

// DefaultConfig is kiln's edge for the given server names; the plan sets
// the upstreams and the certificate's paths.
func DefaultConfig(serverNames ...string) Config {
	return Config{
		ServerNames:           serverNames,
		HTTPPort:              80,
		HTTPSPort:             443,
		ListenAddresses:       []string{"*", "::"},
		Resolvers:             []string{"1.1.1.1", "9.9.9.9"},
		General:               Rate{PerMinute: 600, Burst: 50},
		Auth:                  Rate{PerMinute: 10, Burst: 5},
		AuthPaths:             []string{"/api/auth", "/api/login"},
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
		ClientMaxBodySize:     "10m",
		ConfigDir:             ConfigDir,
		User:                  "nginx",
		PIDPath:               "/run/nginx.pid",
		ErrorLog:              "/dev/stderr",
		AccessLog:             "/dev/stdout",
		MimeTypes:             "/etc/nginx/mime.types",
	}
}

var (
	plainPath = regexp.MustCompile(`^/[A-Za-z0-9._/@+-]*$`)
	sizeRe    = regexp.MustCompile(`^[0-9]+[kKmMgG]?$`)
	userRe    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

func checkPath(field, p string) error {
	if !plainPath.MatchString(p) || path.Clean(p) != p {
		return overlays.Bad(field, p, ErrPath)
	}
	return nil
}

// checkServerName applies kiln's domain rule (valid.Domain, the spec's
// rule for tls.domains) to a name the edge serves. Two more names are
// nginx's to serve: localhost, the edge of an appliance without a domain,
// and a wildcard, whose certificate only a DNS-01 challenge could prove
// but which nginx matches.
func checkServerName(field, n string) error {
	if n == "localhost" {
		return nil
	}
	if err := valid.Domain(strings.TrimPrefix(n, "*.")); err != nil {
		return &overlays.FieldError{Field: field, Err: err}
	}
	return nil
}

// hostPort checks an upstream address; upstreams must be literal
// addresses so nginx starts without DNS.
func hostPort(field, s string) error {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return overlays.Bad(field, s, fmt.Errorf("want ip:port: %w", ErrAddress))
	}
	return nil
}

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	_, err := c.view()
	return err
}

type view struct {
	Config
	Listen         []string
	Names          string
	Resolver       string
	RedirectPort   string
	GeneralRate    int
	AuthRate       int
	HeadersInclude string
	ProxyInclude   string
	CSP            string
	Curves         string
	// RedirectHost is where plain HTTP for an unknown Host is sent;
	// RedirectMap keeps each configured name (a wildcard keeps the
	// matching host, which is one of this server's by construction).
	RedirectHost string
	RedirectMap  []redirect
}

type redirect struct{ Name, To string }

// Key exchange groups, by OpenSSL's names (prime256v1 is P-256).
const (
	classicCurves = "X25519:prime256v1:secp384r1"
	hybridCurve   = "X25519MLKEM768"
)

func (c Config) view() (view, error) {
	v := view{Config: c}
	if len(c.ServerNames) == 0 {
		return v, overlays.Bad("server_names", nil, ErrNoServerNames)
	}
	for i, n := range c.ServerNames {
		if err := checkServerName(fmt.Sprintf("server_names[%d]", i), n); err != nil {
			return v, err
		}
	}
	v.Names = strings.Join(c.ServerNames, " ")
	v.RedirectHost = c.ServerNames[0]
	for _, n := range c.ServerNames {
		to := n
		if strings.HasPrefix(n, "*.") {
			to = "$host"
			if v.RedirectHost == n {
				// A wildcard is no host name to send anyone to.
				v.RedirectHost = strings.TrimPrefix(n, "*.")
			}
		}
		v.RedirectMap = append(v.RedirectMap, redirect{n, to})
	}
	v.Curves = classicCurves
	if c.HybridKEM {
		v.Curves = hybridCurve + ":" + classicCurves
	}
	for _, p := range []struct {
		field string
		port  int
	}{{"http_port", c.HTTPPort}, {"https_port", c.HTTPSPort}} {
		if err := overlays.CheckPort(p.field, p.port); err != nil {
			return v, err
		}
	}
	if c.HTTPPort == c.HTTPSPort {
		return v, overlays.Bad("https_port", c.HTTPSPort, fmt.Errorf("equals http_port: %w", ErrPort))
	}
	if c.StatusPort != 0 {
		if err := overlays.CheckPort("status_port", c.StatusPort); err != nil {
			return v, err
		}
		if c.StatusPort == c.HTTPPort || c.StatusPort == c.HTTPSPort {
			return v, overlays.Bad("status_port", c.StatusPort, fmt.Errorf("equals http_port or https_port: %w", ErrPort))
		}
	}
	if c.HTTPSPort != 443 {
		v.RedirectPort = ":" + strconv.Itoa(c.HTTPSPort)
	}
	if len(c.ListenAddresses) == 0 {
		return v, overlays.Bad("listen_addresses", nil, fmt.Errorf("none: %w", ErrAddress))
	}
	for i, a := range c.ListenAddresses {
		switch a {
		case "*":
			v.Listen = append(v.Listen, "*")
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return v, overlays.Bad(fmt.Sprintf("listen_addresses[%d]", i), a, ErrAddress)
		}
		if ip.Is6() {
			v.Listen = append(v.Listen, "["+ip.String()+"]")
		} else {
			v.Listen = append(v.Listen, ip.String())
		}
	}
	if err := hostPort("backend", c.Backend); err != nil {
		return v, err
	}
	if err := hostPort("frontend", c.Frontend); err != nil {
		return v, err
	}
	for _, p := range []struct{ field, path string }{
		{"cert_path", c.CertPath}, {"key_path", c.KeyPath}, {"chain_path", c.ChainPath},
		{"acme_webroot", c.ACMEWebroot}, {"config_dir", c.ConfigDir}, {"pid_path", c.PIDPath},
		{"error_log", c.ErrorLog}, {"access_log", c.AccessLog}, {"mime_types", c.MimeTypes},
	} {
		if err := checkPath(p.field, p.path); err != nil {
			return v, err
		}
	}
	if c.TempDir != "" {
		if err := checkPath("temp_dir", c.TempDir); err != nil {
			return v, err
		}
	}
	if c.User != "" && !userRe.MatchString(c.User) {
		return v, overlays.Bad("user", c.User, ErrValue)
	}
	if len(c.Resolvers) == 0 {
		return v, overlays.Bad("resolvers", nil, fmt.Errorf("none (OCSP stapling needs one): %w", ErrAddress))
	}
	var rs []string
	for i, r := range c.Resolvers {
		ip, err := netip.ParseAddr(r)
		if err != nil || ip.Zone() != "" {
			return v, overlays.Bad(fmt.Sprintf("resolvers[%d]", i), r, ErrAddress)
		}
		if ip.Is6() {
			rs = append(rs, "["+ip.String()+"]")
		} else {
			rs = append(rs, ip.String())
		}
	}
	v.Resolver = strings.Join(rs, " ")
	for _, r := range []struct {
		field string
		rate  Rate
	}{{"general", c.General}, {"auth", c.Auth}} {
		if r.rate.PerMinute <= 0 || r.rate.Burst <= 0 {
			return v, overlays.Bad(r.field, fmt.Sprintf("%d/minute burst %d", r.rate.PerMinute, r.rate.Burst), ErrRate)
		}
	}
	v.GeneralRate, v.AuthRate = c.General.PerMinute, c.Auth.PerMinute
	for i, p := range c.AuthPaths {
		if err := checkPath(fmt.Sprintf("auth_paths[%d]", i), p); err != nil {
			return v, err
		}
		if !strings.HasPrefix(p, "/api/") {
			return v, overlays.Bad(fmt.Sprintf("auth_paths[%d]", i), p, fmt.Errorf("must be under /api/: %w", ErrPath))
		}
	}
	if c.ContentSecurityPolicy == "" || !cspOK(c.ContentSecurityPolicy) {
		return v, overlays.Bad("content_security_policy", c.ContentSecurityPolicy, ErrValue)
	}
	if !sizeRe.MatchString(c.ClientMaxBodySize) {
		return v, overlays.Bad("client_max_body_size", c.ClientMaxBodySize, ErrValue)
	}
	v.HeadersInclude = c.ConfigDir + "/security-headers.conf"
	v.ProxyInclude = c.ConfigDir + "/proxy.conf"
	return v, nil
}

// cspOK allows the semicolons a policy is made of, inside the quoted
// header value, and nothing else that could end the directive.
func cspOK(s string) bool {
	return !strings.ContainsAny(s, "\"\\{}\n\r$")
}

// Render returns nginx.conf with its includes.
func Render(c Config) ([]overlays.File, error) {
	v, err := c.view()
	if err != nil {
		return nil, err
	}
	var files []overlays.File
	for _, name := range []string{"nginx.conf", "proxy.conf", "security-headers.conf"} {
		b, err := overlays.Execute(templates, name+".tmpl", v)
		if err != nil {
			return nil, err
		}
		files = append(files, overlays.File{Path: c.ConfigDir + "/" + name, Mode: 0o644, Contents: b})
	}
	return files, nil
}

// Edge is the edge component: the configuration files and the part of
// the container named name that runs nginx on the host's network, so 80
// and 443 are plain input-chain ports for the firewall.
func Edge(c Config, name string) (overlays.Component, error) {
	files, err := Render(c)
	if err != nil {
		return overlays.Component{}, err
	}
	tls := path.Dir(c.CertPath)
	return overlays.Component{Files: files, Container: units.Container{
		Exec: []string{"nginx", "-c", c.ConfigDir + "/nginx.conf"},
		Mounts: []units.Mount{
			{Source: c.ConfigDir, Target: c.ConfigDir, ReadOnly: true},
			{Source: tls, Target: tls, ReadOnly: true},
			{Source: c.ACMEWebroot, Target: c.ACMEWebroot, ReadOnly: true},
		},
		Network:        "host",
		ReadOnly:       true,
		Tmpfs:          []string{"/var/cache/nginx"},
		DropCapability: []string{"ALL"},
		AddCapability:  []string{"CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE", "DAC_OVERRIDE"},
		// Podman refuses to mount a missing source; first boot has no
		// certificate directory yet.
		ExecStartPre: []string{"/usr/bin/mkdir -p " + tls + " " + c.ACMEWebroot},
		// nginx is PID 1 in the container; HUP re-reads config and
		// certificates.
		ExecReload: "/usr/bin/podman kill --signal HUP " + name,
		Health:     units.Health{Command: fmt.Sprintf("curl -fsk -o /dev/null https://127.0.0.1:%d/health", c.HTTPSPort)},
	}}, nil
}
