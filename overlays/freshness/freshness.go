// Package freshness renders the server's base freshness check: a daily
// timer that compares the Fedora CoreOS release the server runs with the
// newest release of its stream and writes the result as node-exporter
// textfile metrics, and the Prometheus alerts that say a rebuild is due.
//
// kiln servers are immutable and Zincati is off by default, so kernel and
// OpenSSH fixes arrive only through a rebuild; `kiln base outdated` tells
// the operator the same thing from their own machine.
package freshness

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"path"
	"strconv"
	"text/template"
	"time"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// Names and paths on the server.
const (
	// Script is the check itself.
	Script = "/usr/local/bin/kiln-base-check"
	// ServiceName runs the check once; TimerName runs it daily.
	ServiceName = "kiln-base-check.service"
	// TimerName starts ServiceName daily (and soon after boot).
	TimerName = "kiln-base-check.timer"
	// RulesFile is the alert rules' name in Prometheus' rules directory.
	RulesFile = "kiln-base.yml"
)

// ErrConfig is returned for a configuration that cannot be rendered.
var ErrConfig = errors.New("invalid base freshness configuration")

//go:embed kiln-base-check.sh
var script []byte

//go:embed kiln-base-check.service.tmpl
var serviceTmpl string

//go:embed kiln-base-check.timer.tmpl
var timerTmpl string

//go:embed kiln-base.rules.yml.tmpl
var rulesTmpl string

var (
	serviceT = template.Must(template.New(ServiceName).Parse(serviceTmpl))
	timerT   = template.Must(template.New(TimerName).Parse(timerTmpl))
	rulesT   = template.Must(template.New(RulesFile).Parse(rulesTmpl))
)

// Config is what the builder derives from the spec.
type Config struct {
	// Stream is the FCOS stream the server was built from.
	Stream string
	// TextfileDir is node-exporter's textfile collector directory.
	TextfileDir string
	// RulesDir, when set, receives the alert rules (Prometheus' rules
	// directory on the host); empty when the appliance has no Prometheus.
	RulesDir string
	// Grace is how long a newer release may be out before a rebuild is due.
	Grace time.Duration
	// MaxAge alerts on the release's own age, even without the network.
	MaxAge time.Duration
}

// DefaultConfig checks the given stream; FCOS stable gets a new release
// about every two weeks, so a week's grace and 45 days' age leave room
// for one missed release but not two.
func DefaultConfig(stream, textfileDir string) Config {
	return Config{Stream: stream, TextfileDir: textfileDir, Grace: 7 * 24 * time.Hour, MaxAge: 45 * 24 * time.Hour}
}

func (c Config) validate() error {
	switch c.Stream {
	case "stable", "testing", "next":
	default:
		return fmt.Errorf("stream: %q: %w", c.Stream, ErrConfig)
	}
	for _, p := range []struct{ field, v string }{{"textfile_dir", c.TextfileDir}, {"rules_dir", c.RulesDir}} {
		if p.v != "" && (!path.IsAbs(p.v) || path.Clean(p.v) != p.v) {
			return fmt.Errorf("%s: %q is not a clean absolute path: %w", p.field, p.v, ErrConfig)
		}
	}
	if c.TextfileDir == "" {
		return fmt.Errorf("textfile_dir: empty: %w", ErrConfig)
	}
	if c.Grace < time.Hour || c.MaxAge < 24*time.Hour {
		return fmt.Errorf("grace %v / max_age %v too short: %w", c.Grace, c.MaxAge, ErrConfig)
	}
	return nil
}

// Render returns the script, the alert rules (when RulesDir is set) and
// the service and timer.
func Render(c Config) ([]overlays.File, []units.Unit, error) {
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	v := struct {
		Config
		Script                      string
		Grace, MaxAge               string
		GraceSeconds, MaxAgeSeconds string
	}{c, Script, days(c.Grace), days(c.MaxAge),
		strconv.FormatInt(int64(c.Grace.Seconds()), 10), strconv.FormatInt(int64(c.MaxAge.Seconds()), 10)}
	exec := func(t *template.Template) (string, error) {
		var b bytes.Buffer
		err := t.Execute(&b, v)
		return b.String(), err
	}
	svc, err := exec(serviceT)
	if err != nil {
		return nil, nil, err
	}
	tmr, err := exec(timerT)
	if err != nil {
		return nil, nil, err
	}
	files := []overlays.File{{Path: Script, Mode: 0o755, Contents: script}}
	if c.RulesDir != "" {
		rules, err := exec(rulesT)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, overlays.File{Path: c.RulesDir + "/" + RulesFile, Mode: 0o644, Contents: []byte(rules)})
	}
	return files, []units.Unit{{Name: ServiceName, Contents: svc}, {Name: TimerName, Contents: tmr, Enabled: true}}, nil
}

// days writes a duration the way people say it in an alert.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.String()
}
