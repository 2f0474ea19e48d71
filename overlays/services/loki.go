package services

import (
	"fmt"
	"regexp"
	"time"

	"github.com/kiln-dev/kiln/overlays"
)

// LokiConfig is the Loki log store configuration (single binary).
type LokiConfig struct {
	// Image is the container image.
	Image string
	// Port is the HTTP port (push and query API); GRPCPort is internal.
	Port, GRPCPort int
	// Dir is the storage directory inside the container.
	Dir string
	// Retention is how long logs are kept, in whole days: the compactor
	// deletes by daily index period.
	Retention time.Duration
	// SchemaFrom is the first day (YYYY-MM-DD) of the TSDB v13 schema.
	// It must never change once a server stores logs.
	SchemaFrom string
}

// DefaultLoki returns Clipper's Loki configuration.
func DefaultLoki() LokiConfig {
	return LokiConfig{
		Image:      "docker.io/grafana/loki:3.5.0",
		Port:       3100,
		GRPCPort:   9096,
		Dir:        "/loki",
		Retention:  31 * 24 * time.Hour,
		SchemaFrom: "2024-04-01",
	}
}

// Paths of the Loki files, on the server and in the container.
const (
	LokiConfigDir    = ConfigRoot + "/loki"
	LokiDataDir      = DataRoot + "/loki"
	lokiConfMount    = "/etc/loki"
	lokiConfFileName = "loki.yaml"
)

var isoDay = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// Validate checks the configuration without rendering it.
func (c LokiConfig) Validate() error {
	if err := checkNonEmpty("loki image", c.Image); err != nil {
		return err
	}
	if err := checkPort("loki port", c.Port); err != nil {
		return err
	}
	if err := checkPort("loki grpc port", c.GRPCPort); err != nil {
		return err
	}
	if err := checkPlain("loki dir", c.Dir); err != nil {
		return err
	}
	if c.Retention < 24*time.Hour || c.Retention%(24*time.Hour) != 0 {
		return fmt.Errorf("loki retention %v: want whole days: %w", c.Retention, ErrInvalidValue)
	}
	if _, err := time.Parse(time.DateOnly, c.SchemaFrom); err != nil || !isoDay.MatchString(c.SchemaFrom) {
		return fmt.Errorf("loki schema start %q: want YYYY-MM-DD: %w", c.SchemaFrom, ErrInvalidValue)
	}
	return nil
}

// Loki renders loki.yaml.
func Loki(cfg LokiConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	data := struct {
		LokiConfig
		Retention string
	}{cfg, fmt.Sprintf("%dh", int64(cfg.Retention/time.Hour))}
	conf, err := render("loki.yaml.tmpl", data)
	if err != nil {
		return nil, err
	}
	return []overlays.File{{Path: LokiConfigDir + "/" + lokiConfFileName, Mode: 0o644, Contents: conf}}, nil
}

// LokiRuntime describes the Loki container. The image runs as uid 10001,
// which must own the data directory.
func LokiRuntime(cfg LokiConfig) Runtime {
	return Runtime{
		Image: cfg.Image,
		Exec:  []string{"-config.file=" + lokiConfMount + "/" + lokiConfFileName},
		Mounts: []Mount{
			{Source: LokiConfigDir, Target: lokiConfMount, ReadOnly: true},
			{Source: LokiDataDir, Target: cfg.Dir},
		},
		Ports: []int{cfg.Port},
	}
}
