package services

import (
	"fmt"
	"regexp"
	"time"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// LokiConfig is the Loki log store configuration (single binary).
type LokiConfig struct {
	// Port is the HTTP port (push and query API); GRPCPort is internal.
	Port, GRPCPort int
	// Dir is the storage directory inside the container.
	Dir string
	// DataDir is that directory on the data filesystem.
	DataDir string
	// Retention is how long logs are kept, in whole days: the compactor
	// deletes by daily index period.
	Retention time.Duration
	// SchemaFrom is the first day (YYYY-MM-DD) of the TSDB v13 schema.
	// It must never change once a server stores logs.
	SchemaFrom string
}

// Paths of the Loki files, on the server and in the container.
const (
	LokiConfigDir    = ConfigRoot + "/loki"
	lokiConfMount    = "/etc/loki"
	lokiConfFileName = "loki.yaml"
)

var isoDay = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// Validate checks the configuration without rendering it.
func (c LokiConfig) Validate() error {
	if err := firstError(
		checkPort("port", c.Port),
		checkPort("grpc_port", c.GRPCPort),
		checkPlains("dir", c.Dir, "data_dir", c.DataDir),
	); err != nil {
		return err
	}
	if c.Retention < 24*time.Hour || c.Retention%(24*time.Hour) != 0 {
		return bad("retention", c.Retention, "want whole days", ErrInvalidValue)
	}
	if _, err := time.Parse(time.DateOnly, c.SchemaFrom); err != nil || !isoDay.MatchString(c.SchemaFrom) {
		return bad("schema_from", c.SchemaFrom, "want YYYY-MM-DD", ErrInvalidValue)
	}
	return nil
}

// Loki renders loki.yaml.
func Loki(cfg LokiConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	data := struct {
		LokiConfig
		Retention string
	}{cfg, fmt.Sprintf("%dh", int64(cfg.Retention/time.Hour))}
	files, err := renderFiles(data, tmplFile{"loki.yaml.tmpl", LokiConfigDir + "/" + lokiConfFileName})
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: files, Container: lokiContainer(cfg), DataDirs: []overlays.DataDir{{Path: cfg.DataDir}}}, nil
}

// lokiContainer is the Loki container; it is ready once Loki says so, for
// the log shipper that pushes to it.
func lokiContainer(cfg LokiConfig) units.Container {
	return units.Container{
		Exec: []string{"-config.file=" + lokiConfMount + "/" + lokiConfFileName},
		Mounts: []units.Mount{
			{Source: LokiConfigDir, Target: lokiConfMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: cfg.Dir},
		},
		Health: httpHealth(cfg.Port, "/ready"),
		Notify: true,
	}
}
