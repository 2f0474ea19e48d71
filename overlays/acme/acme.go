// Package acme renders certificate management for the edge: a first-boot
// self-signed certificate so nginx can start at once, then issuance and
// twice-daily renewal from an ACME CA (Let's Encrypt by default) through
// nginx's webroot, reloading nginx only when the certificate changed.
package acme

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"text/template"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/overlays/nginx"
	"github.com/kiln-dev/kiln/units"
)

// ACME directories of Let's Encrypt.
const (
	// LetsEncryptProduction issues trusted certificates (rate-limited).
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	// LetsEncryptStaging issues untrusted certificates for trials.
	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// CertbotImage is the certbot release, pinned in kiln's image table.
var CertbotImage = overlays.CertbotImage.Pinned()

// Paths and names on the server.
const (
	// HookDir holds certbot's deploy hook; it is mounted into the certbot
	// container, never run on the host.
	HookDir = "/etc/kiln/acme"
	// SelfSignedScript and ReloadScript run on the host, from the place
	// whose SELinux label (bin_t) lets systemd execute them.
	SelfSignedScript = "/usr/local/bin/kiln-tls-selfsigned"
	// ReloadScript reloads nginx when the certificate changed.
	ReloadScript = "/usr/local/bin/kiln-tls-reload"
	// AttemptScript runs one ACME attempt when due and keeps the retry
	// state and metrics.
	AttemptScript = "/usr/local/bin/kiln-acme"
	// StateDir is certbot's /etc/letsencrypt (account, lineages).
	StateDir = "/var/lib/kiln/acme"
	// SelfSignedUnit makes the first-boot certificate.
	SelfSignedUnit = "kiln-tls-selfsigned.service"
	// RenewUnit issues or renews the certificate.
	RenewUnit = "kiln-acme.service"
	// RenewTimer runs RenewUnit twice a day.
	RenewTimer = "kiln-acme.timer"
	// CertName is certbot's lineage name, fixed so renewals find it.
	CertName = "kiln"
)

// Config is what the builder derives from the spec's TLS section.
type Config struct {
	// Domains to certify; the first is the subject's common name.
	Domains []string
	// Email receives the CA's expiry and policy notices.
	Email string
	// Directory is the ACME directory URL (LetsEncryptProduction,
	// LetsEncryptStaging or another CA's).
	Directory string
	// KeyType is "ecdsa" (P-256) or "rsa" (2048 bits).
	KeyType string
	// SelfSignedDays is the first-boot certificate's lifetime.
	SelfSignedDays int
	// TLSDir is where nginx reads the certificate (nginx.TLSDir).
	TLSDir string
	// Webroot is nginx's ACME challenge root (nginx.ACMEWebroot).
	Webroot string
	// NginxService is the systemd service of the edge that serves the
	// certificate and is reloaded when it changes (nginx.ServiceName).
	NginxService string
	// TextfileDir is the node exporter's textfile directory, where the
	// attempts' metrics go; empty writes none.
	TextfileDir string
}

// DefaultConfig issues from Let's Encrypt production.
func DefaultConfig(email string, domains ...string) Config {
	return Config{
		Domains: domains, Email: email, Directory: LetsEncryptProduction, KeyType: "ecdsa",
		SelfSignedDays: 30, TLSDir: nginx.TLSDir, Webroot: nginx.ACMEWebroot,
		NginxService: nginx.ServiceName,
	}
}

// serviceRe is a systemd service name with nothing that could end a unit
// line or start a specifier.
var serviceRe = regexp.MustCompile(`^[A-Za-z0-9@._-]+\.service$`)

//go:embed selfsigned.sh
var selfSignedScript string

//go:embed deploy-hook.sh
var deployHookScript string

//go:embed reload-nginx.sh
var reloadScript string

//go:embed kiln-acme.sh
var attemptScript string

//go:embed kiln-tls-selfsigned.service.tmpl
var selfSignedTmpl string

//go:embed kiln-acme.service.tmpl
var renewTmpl string

//go:embed kiln-acme.timer.tmpl
var timerTmpl string

var (
	selfSignedT = template.Must(template.New(SelfSignedUnit).Parse(selfSignedTmpl))
	renewT      = template.Must(template.New(RenewUnit).Parse(renewTmpl))
	timerT      = template.Must(template.New(RenewTimer).Parse(timerTmpl))
)

// domainRe accepts lower-case DNS names with at least two labels; a
// wildcard needs a DNS challenge, which the webroot cannot answer.
var domainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// pathRe keeps paths free of characters a unit file or shell would read.
var pathRe = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)

// unsafe are characters that a unit file line ("%" starts a specifier) or
// the shell would interpret.
const unsafe = " '\"\\$`%;"

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	if len(c.Domains) == 0 {
		return fmt.Errorf("domains: %w", ErrNoDomains)
	}
	for i, d := range c.Domains {
		if len(d) > 253 || !domainRe.MatchString(d) {
			return fmt.Errorf("domains[%d]: %q: %w", i, d, ErrDomain)
		}
	}
	a, err := mail.ParseAddress(c.Email)
	if err != nil || a.Address != c.Email || a.Name != "" || strings.ContainsAny(c.Email, unsafe) {
		return fmt.Errorf("email: %q: %w", c.Email, ErrEmail)
	}
	u, err := url.Parse(c.Directory)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(c.Directory, unsafe) {
		return fmt.Errorf("directory: %q: %w", c.Directory, ErrDirectory)
	}
	if c.KeyType != "ecdsa" && c.KeyType != "rsa" {
		return fmt.Errorf("key_type: %q: %w", c.KeyType, ErrKeyType)
	}
	if c.SelfSignedDays < 1 || c.SelfSignedDays > 825 {
		return fmt.Errorf("self_signed_days: %d: %w", c.SelfSignedDays, ErrDays)
	}
	if c.NginxService != "" && !serviceRe.MatchString(c.NginxService) {
		return fmt.Errorf("nginx_service: %q: %w", c.NginxService, ErrPath)
	}
	if c.TextfileDir != "" && !pathRe.MatchString(c.TextfileDir) {
		return fmt.Errorf("textfile_dir: %q: %w", c.TextfileDir, ErrPath)
	}
	for _, p := range []struct{ field, v string }{{"tls_dir", c.TLSDir}, {"webroot", c.Webroot}} {
		if !pathRe.MatchString(p.v) {
			return fmt.Errorf("%s: %q: %w", p.field, p.v, ErrPath)
		}
	}
	return nil
}

type view struct {
	Config
	Names                    string
	HookDir, StateDir, Image string
	SelfSignedScript         string
	ReloadScript             string
	AttemptScript            string
	CertName, Nginx          string
	SelfSignedUnit           string
}

// Render returns the four scripts and the self-signed, renewal and timer
// units. The renewal unit is enabled too, so the first real certificate is
// requested right after the first boot rather than at the next timer tick.
func Render(c Config) ([]overlays.File, []units.Unit, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	svc := c.NginxService
	if svc == "" {
		svc = nginx.ServiceName
	}
	v := view{Config: c, Names: strings.Join(c.Domains, " "), HookDir: HookDir, StateDir: StateDir,
		SelfSignedScript: SelfSignedScript, ReloadScript: ReloadScript, AttemptScript: AttemptScript,
		Image: CertbotImage, CertName: CertName, Nginx: svc, SelfSignedUnit: SelfSignedUnit}
	files := []overlays.File{
		{Path: SelfSignedScript, Mode: 0o755, Contents: []byte(selfSignedScript)},
		{Path: HookDir + "/deploy-hook.sh", Mode: 0o755, Contents: []byte(deployHookScript)},
		{Path: ReloadScript, Mode: 0o755, Contents: []byte(reloadScript)},
		{Path: AttemptScript, Mode: 0o755, Contents: []byte(attemptScript)},
	}
	var us []units.Unit
	for _, u := range []struct {
		name string
		t    *template.Template
	}{{SelfSignedUnit, selfSignedT}, {RenewUnit, renewT}, {RenewTimer, timerT}} {
		var b bytes.Buffer
		if err := u.t.Execute(&b, v); err != nil {
			return nil, nil, err
		}
		us = append(us, units.Unit{Name: u.name, Contents: b.String(), Enabled: true})
	}
	return files, us, nil
}
