package services

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// HostMetricsConfig configures kiln-host-metrics, the host-side job that
// writes what the node exporter cannot see from its container (failed
// systemd units, the edge certificate's expiry, an OS changed by hand) to
// the exporter's textfile directory. (The WAL spool's size comes from the
// backup jobs.)
type HostMetricsConfig struct {
	// TextfileDir is the node exporter's textfile directory.
	TextfileDir string
	// StateDir keeps the OS each kiln release first booted with; it is on
	// the data filesystem, so it outlives a reinstalled root.
	StateDir string
	// CertPath is the edge's certificate; empty without an edge.
	CertPath string
	// AutoUpdates says Zincati may update the OS, so a new OS under the
	// same release is expected.
	AutoUpdates bool
	// After are units the job needs (the data filesystem's mount).
	After []string
}

// Names of the host metrics job on the server.
const (
	HostMetricsScript = "/usr/local/libexec/kiln/kiln-host-metrics"
	HostMetricsUnit   = "kiln-host-metrics"
)

//go:embed scripts/kiln-host-metrics
var hostMetricsScript []byte

// Validate checks the configuration.
func (c HostMetricsConfig) Validate() error {
	if err := checkPlains("textfile_dir", c.TextfileDir, "state_dir", c.StateDir); err != nil {
		return err
	}
	if c.CertPath != "" {
		return checkPlain("cert_path", c.CertPath)
	}
	return nil
}

// HostMetrics renders the script, its service and the timer that runs it
// every minute.
func HostMetrics(c HostMetricsConfig) ([]overlays.File, []units.Unit, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	env := []string{"KILN_TEXTFILE_DIR=" + c.TextfileDir, "KILN_STATE_DIR=" + c.StateDir}
	if c.CertPath != "" {
		env = append(env, "KILN_TLS_CERT="+c.CertPath)
	}
	if c.AutoUpdates {
		env = append(env, "KILN_AUTO_UPDATES=1")
	}
	var b strings.Builder
	b.WriteString("[Unit]\nDescription=Write host metrics for Prometheus (failed units, certificate, OS changes)\n")
	if len(c.After) > 0 {
		fmt.Fprintf(&b, "After=%s\nRequires=%s\n", strings.Join(c.After, " "), strings.Join(c.After, " "))
	}
	b.WriteString("\n[Service]\nType=oneshot\n")
	for _, e := range env {
		fmt.Fprintf(&b, "Environment=%s\n", e)
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", HostMetricsScript)
	// It only reads the system (systemctl asks systemd over D-Bus, a unix
	// socket) and writes two directories.
	b.WriteString(units.Confined{Writable: []string{c.TextfileDir, c.StateDir}}.Directives())
	service := units.Unit{Name: HostMetricsUnit + ".service", Contents: b.String()}
	timer := units.Unit{Name: HostMetricsUnit + ".timer", Enabled: true, Contents: "[Unit]\nDescription=Write host metrics for Prometheus every minute\n\n" +
		"[Timer]\nOnBootSec=30s\nOnUnitActiveSec=1min\nAccuracySec=10s\nUnit=" + HostMetricsUnit + ".service\n\n[Install]\nWantedBy=timers.target\n"}
	files := []overlays.File{{Path: HostMetricsScript, Mode: 0o755, Contents: hostMetricsScript}}
	return files, []units.Unit{service, timer}, nil
}
