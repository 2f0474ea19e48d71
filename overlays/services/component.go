package services

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// secret mounts a Podman secret as a file at /run/secrets/<name>, owned by
// uid (empty: root) so that a process that drops root can still read it.
func secret(name, uid string) units.SecretMount {
	return units.SecretMount{Name: name, Target: secretPath(name), UID: uid, Mode: "0400"}
}

// secretPath is where a secret appears inside the container.
func secretPath(name string) string { return SecretsDir + "/" + name }

// health is a component's health check; the plan gives it the spec's
// default timing.
func health(format string, args ...any) units.Health {
	return units.Health{Command: fmt.Sprintf(format, args...)}
}

// httpHealth probes a local HTTP endpoint with the busybox wget most
// images carry.
func httpHealth(port int, path string) units.Health {
	return health("wget -q -O /dev/null http://127.0.0.1:%d%s", port, path)
}

// SecretsDir is where Podman mounts secrets inside a container.
const SecretsDir = "/run/secrets"

// ConfigRoot is the server directory holding every service's configuration.
const ConfigRoot = "/etc/kiln"

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

// Every check names the field by its path in the kind's Config, in the
// spec's snake_case (receivers[1].email.to), and returns an
// overlays.FieldError, which the plan maps back to the spec's line.

func checkPort(field string, p int) error { return overlays.CheckPort(field, p) }

func checkNonEmpty(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return overlays.Bad(field, nil, ErrEmptyField)
	}
	return nil
}

// firstError is the first failure of a Config's checks, which are pure and
// cheap, so a Validate lists them in the order a user should fix them.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkPlains applies checkPlain to field/value pairs.
func checkPlains(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkPlain(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// checkDuration accepts a Prometheus duration such as 15s or 15d.
func checkDuration(field, v string) error {
	if _, err := parsePromDuration(v); err != nil {
		return overlays.Bad(field, v, err)
	}
	return nil
}

// checkMin accepts a count of at least min.
func checkMin(field string, v, min int) error {
	if v < min {
		return bad(field, v, fmt.Sprintf("want at least %d", min), ErrInvalidValue)
	}
	return nil
}

// bad is a FieldError whose message says what the value should be.
func bad(field string, v any, want string, sentinel error) error {
	return overlays.Bad(field, v, fmt.Errorf("%s: %w", want, sentinel))
}

// checkPlain refuses characters that would break out of the simple quoted
// or bare tokens the templates emit (newlines, quotes, backslashes).
func checkPlain(field, v string) error {
	if err := checkNonEmpty(field, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, "\"'\\\n\r\t ") {
		return bad(field, v, "must not contain quotes, backslashes or whitespace", ErrInvalidValue)
	}
	return nil
}

// tmplFile is one configuration file rendered from an embedded template.
type tmplFile struct{ tmpl, path string }

// renderFiles renders each template with data into a root-owned 0644 file
// at its path.
func renderFiles(data any, files ...tmplFile) ([]overlays.File, error) {
	out := make([]overlays.File, 0, len(files))
	for _, f := range files {
		contents, err := render(f.tmpl, data)
		if err != nil {
			return nil, err
		}
		out = append(out, overlays.File{Path: f.path, Mode: 0o644, Contents: contents})
	}
	return out, nil
}
