// Package acme renders certificate management for the edge: a first-boot
// self-signed certificate so nginx can start at once, then issuance and
// twice-daily renewal from an ACME CA (Let's Encrypt by default) through
// nginx's webroot, reloading nginx only when the certificate changed.
package acme

import (
	"embed"
	_ "embed"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/kiln-dev/kiln/internal/valid"
	"github.com/kiln-dev/kiln/overlays"
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
	// TLSDir is where the edge reads the certificate.
	TLSDir string
	// Webroot is the edge's ACME challenge root.
	Webroot string
	// NginxService is the systemd service of the edge that serves the
	// certificate and is reloaded when it changes (<service name>.service).
	NginxService string
	// TextfileDir is the node exporter's textfile directory, where the
	// attempts' metrics go; empty writes none.
	TextfileDir string
}

// DefaultConfig issues from Let's Encrypt production for the edge service
// edge, which reads the certificate from tlsDir and serves the challenges
// from webroot.
func DefaultConfig(edge, tlsDir, webroot, email string, domains ...string) Config {
	return Config{
		Domains: domains, Email: email, Directory: LetsEncryptProduction, KeyType: "ecdsa",
		SelfSignedDays: 30, TLSDir: tlsDir, Webroot: webroot, NginxService: edge,
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

//go:embed *.tmpl
var templatesFS embed.FS

var templates = overlays.Templates(templatesFS)

// pathRe keeps paths free of characters a unit file or shell would read.
var pathRe = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)

// unsafe are characters that a unit file line ("%" starts a specifier) or
// the shell would interpret.
const unsafe = " '\"\\$`%;"

func bad(field string, v any, err error) error {
	return &overlays.FieldError{Field: field, Value: v, Err: err}
}

// hostNameRe is a name a self-signed certificate may carry: any host
// name, "localhost" included, since no CA has to accept it.
var hostNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

// checkDomains applies rule to each domain; there must be one at least.
func (c Config) checkDomains(rule func(string) error) error {
	if len(c.Domains) == 0 {
		return &overlays.FieldError{Field: "domains", Err: ErrNoDomains}
	}
	for i, d := range c.Domains {
		if err := rule(d); err != nil {
			return &overlays.FieldError{Field: fmt.Sprintf("domains[%d]", i), Err: err}
		}
	}
	return nil
}

// validateSelfSigned checks what the first-boot certificate uses.
func (c Config) validateSelfSigned() error {
	err := c.checkDomains(func(d string) error {
		if !hostNameRe.MatchString(d) {
			return fmt.Errorf("%q: %w", d, ErrDomain)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.SelfSignedDays < 1 || c.SelfSignedDays > 825 {
		return bad("self_signed_days", c.SelfSignedDays, ErrDays)
	}
	if !serviceRe.MatchString(c.NginxService) {
		return bad("nginx_service", c.NginxService, ErrPath)
	}
	if !pathRe.MatchString(c.TLSDir) {
		return bad("tls_dir", c.TLSDir, ErrPath)
	}
	return nil
}

// Validate reports the first problem in c as an *overlays.FieldError
// naming the Config's field.
func (c Config) Validate() error {
	// A CA's rule for names is stricter than a self-signed certificate's,
	// so it is checked first. The spec checks its domains with the same
	// rule; this catches a caller that did not.
	if err := c.checkDomains(valid.Domain); err != nil {
		return err
	}
	if err := c.validateSelfSigned(); err != nil {
		return err
	}
	if err := valid.Email(c.Email); err != nil {
		return &overlays.FieldError{Field: "email", Err: err}
	}
	u, err := url.Parse(c.Directory)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(c.Directory, unsafe) {
		return bad("directory", c.Directory, ErrDirectory)
	}
	if c.KeyType != "ecdsa" && c.KeyType != "rsa" {
		return bad("key_type", c.KeyType, ErrKeyType)
	}
	if c.TextfileDir != "" && !pathRe.MatchString(c.TextfileDir) {
		return bad("textfile_dir", c.TextfileDir, ErrPath)
	}
	if !pathRe.MatchString(c.Webroot) {
		return bad("webroot", c.Webroot, ErrPath)
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
	// Sandboxes of the self-signed and the renewal unit.
	SelfSignedSandbox, RenewSandbox string
}

// Render returns the four scripts and the self-signed, renewal and timer
// units. The renewal unit is enabled too, so the first real certificate is
// requested right after the first boot rather than at the next timer tick.
func Render(c Config) ([]overlays.File, []units.Unit, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return render(c, true)
}

// SelfSigned returns only the first-boot self-signed certificate's script
// and unit, for an edge no CA certifies (no public names, or ACME turned
// off). It needs no contact email, directory or webroot.
func SelfSigned(c Config) ([]overlays.File, []units.Unit, error) {
	if err := c.validateSelfSigned(); err != nil {
		return nil, nil, err
	}
	return render(c, false)
}

// render writes the self-signed part, and the issuance part when asked.
func render(c Config, issue bool) ([]overlays.File, []units.Unit, error) {
	svc := c.NginxService
	v := view{Config: c, Names: strings.Join(c.Domains, " "), HookDir: HookDir, StateDir: StateDir,
		SelfSignedScript: SelfSignedScript, ReloadScript: ReloadScript, AttemptScript: AttemptScript,
		Image: CertbotImage, CertName: CertName, Nginx: svc, SelfSignedUnit: SelfSignedUnit}
	// openssl needs nothing but the certificate directory.
	v.SelfSignedSandbox = units.Confined{Writable: []string{c.TLSDir}}.Directives()
	// certbot joins Podman's default bridge network (netavark configures
	// it); it enters no other container.
	writable := []string{StateDir, c.Webroot, c.TLSDir}
	if c.TextfileDir != "" {
		writable = append(writable, c.TextfileDir)
	}
	v.RenewSandbox = units.PodmanRunner{Writable: writable, Bridge: true}.Directives()
	files := []overlays.File{{Path: SelfSignedScript, Mode: 0o755, Contents: []byte(selfSignedScript)}}
	names := []string{SelfSignedUnit}
	if issue {
		files = append(files,
			overlays.File{Path: HookDir + "/deploy-hook.sh", Mode: 0o755, Contents: []byte(deployHookScript)},
			overlays.File{Path: ReloadScript, Mode: 0o755, Contents: []byte(reloadScript)},
			overlays.File{Path: AttemptScript, Mode: 0o755, Contents: []byte(attemptScript)})
		names = append(names, RenewUnit, RenewTimer)
	}
	var us []units.Unit
	for _, name := range names {
		b, err := overlays.Execute(templates, name+".tmpl", v)
		if err != nil {
			return nil, nil, err
		}
		us = append(us, units.Unit{Name: name, Contents: string(b), Enabled: true})
	}
	return files, us, nil
}
