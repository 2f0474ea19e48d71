package services

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

// Runtime describes how a service's container consumes its configuration.
// The unit generator turns it into a Quadlet .container file.
type Runtime struct {
	// Image is the container image reference.
	Image string
	// Entrypoint replaces the image's entrypoint when not empty.
	Entrypoint string
	// Exec is the command (arguments after the entrypoint); empty keeps the
	// image's default.
	Exec []string
	// Env is the container environment. Values never hold secrets, only
	// paths to secret files.
	Env map[string]string
	// Secrets are the Podman secrets the container needs.
	Secrets []Secret
	// EnvSecrets hands Podman secrets to programs that read a password
	// only from the environment: variable name to secret name. The value
	// never appears in the unit, only the secret's name.
	EnvSecrets map[string]string
	// Mounts are bind mounts from the server into the container.
	Mounts []Mount
	// Ports are the ports the service listens on inside the container
	// network; none of them is published on the host.
	Ports []int
	// HostPID shares the host's PID namespace (podman --pid=host).
	HostPID bool
	// HostNetwork runs the container in the host's network namespace, so
	// it sees the host's interfaces (and /proc/net is the host's).
	HostNetwork bool
	// SecurityLabelDisable runs the container unconfined by SELinux: it
	// reads host system paths that must keep their own labels.
	SecurityLabelDisable bool
	// HealthCmd is a shell command line that exits 0 when the service
	// answers (Quadlet HealthCmd=); empty when the image has no tool for it.
	HealthCmd string
}

// Secret is a Podman secret mounted into a container at /run/secrets/<Name>.
type Secret struct {
	// Name of the Podman secret, also the basename of the file the server
	// generates at first boot under /etc/kiln/secrets/.
	Name string
	// UID and GID own the mounted file inside the container, so a service
	// that drops privileges can still read it.
	UID, GID int
	// Mode of the mounted file.
	Mode fs.FileMode
}

// Path is where the secret appears inside the container.
func (s Secret) Path() string { return SecretsDir + "/" + s.Name }

// Mount is a bind mount of a server path into a container.
type Mount struct {
	// Source is the absolute path on the server.
	Source string
	// Target is the absolute path inside the container.
	Target string
	// ReadOnly mounts read-only; every configuration mount is.
	ReadOnly bool
	// Options are further comma-separated mount options (e.g. rslave).
	Options string
	// HostSystem marks a path the host's own software uses (the journal,
	// machine-id, the root): it is never relabelled for SELinux, and only
	// a container with SecurityLabelDisable can read it.
	HostSystem bool
}

// SecretsDir is where Podman mounts secrets inside a container.
const SecretsDir = "/run/secrets"

// ConfigRoot is the server directory holding every service's configuration.
const ConfigRoot = "/etc/kiln"

// DataRoot is the server directory holding every service's data, on the
// data filesystem that rebuilds never touch.
const DataRoot = "/var/lib/kiln"

// ClipperSubnet is the IPv4 subnet of the Clipper container network. The
// network unit must declare it (Subnet=) because pg_hba.conf trusts it.
const ClipperSubnet = "10.89.0.0/24"

//go:embed templates/*
var templatesFS embed.FS

var templates = template.Must(template.New("").
	Option("missingkey=error").
	Funcs(template.FuncMap{
		"pgquote":  pgQuote,
		"yamlstr":  yamlString,
		"riverstr": riverString,
		"json":     jsonString,
		"join":     strings.Join,
	}).
	ParseFS(templatesFS, "templates/*"))

// render executes one embedded template.
func render(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, name, err)
	}
	return buf.Bytes(), nil
}

// pgQuote quotes a value for postgresql.conf; any parameter type accepts a
// quoted value, so quoting everything avoids guessing types.
func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// yamlString quotes a value as a YAML double-quoted scalar.
func yamlString(s string) string { return goQuoted(s) }

// riverString quotes a value as an Alloy (River) string literal, whose
// escapes match Go's for the printable ASCII kiln emits.
func riverString(s string) string { return goQuoted(s) }

func goQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func checkPort(field string, p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%s %d: %w", field, p, ErrInvalidPort)
	}
	return nil
}

func checkNonEmpty(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s: %w", field, ErrEmptyField)
	}
	return nil
}

// checkPlain refuses characters that would break out of the simple quoted
// or bare tokens the templates emit (newlines, quotes, backslashes).
func checkPlain(field, v string) error {
	if err := checkNonEmpty(field, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, "\"'\\\n\r\t ") {
		return fmt.Errorf("%s %q: must not contain quotes, backslashes or whitespace: %w", field, v, ErrInvalidValue)
	}
	return nil
}
