package services

import (
	"fmt"
	"net/url"

	"github.com/kiln-dev/kiln/overlays"
)

// AlloyConfig is the log shipper's configuration. Grafana Alloy replaces
// Promtail, which reached end of life; Alloy is its maintained successor.
type AlloyConfig struct {
	// Image is the container image.
	Image string
	// Port is Alloy's HTTP port (UI and /metrics, scraped by Prometheus).
	Port int
	// PushURL is Loki's push endpoint.
	PushURL string
	// JournalPath is the persistent journal directory, mounted read-only at
	// the same path in the container.
	JournalPath string
	// MaxAge is how far back Alloy reads the journal when it has no
	// position yet (first start, or lost data volume).
	MaxAge string
}

// DefaultAlloy returns Clipper's Alloy configuration.
func DefaultAlloy() AlloyConfig {
	return AlloyConfig{
		Image:       "docker.io/grafana/alloy:latest",
		Port:        12345,
		PushURL:     "http://loki:3100/loki/api/v1/push",
		JournalPath: "/var/log/journal",
		MaxAge:      "12h",
	}
}

// Paths of the Alloy files, on the server and in the container.
const (
	AlloyConfigDir    = ConfigRoot + "/alloy"
	AlloyDataDir      = DataRoot + "/alloy"
	alloyConfMount    = "/etc/alloy"
	alloyDataMount    = "/var/lib/alloy/data"
	alloyConfFileName = "config.alloy"
)

// Validate checks the configuration without rendering it.
func (c AlloyConfig) Validate() error {
	if err := checkNonEmpty("alloy image", c.Image); err != nil {
		return err
	}
	if err := checkPort("alloy port", c.Port); err != nil {
		return err
	}
	if err := checkPlain("alloy push url", c.PushURL); err != nil {
		return err
	}
	if u, err := url.Parse(c.PushURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("alloy push url %q: want an http(s) URL: %w", c.PushURL, ErrInvalidValue)
	}
	if err := checkPlain("alloy journal path", c.JournalPath); err != nil {
		return err
	}
	if _, err := parsePromDuration(c.MaxAge); err != nil {
		return fmt.Errorf("alloy max age %q: %w", c.MaxAge, err)
	}
	return nil
}

// Alloy renders config.alloy.
func Alloy(cfg AlloyConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := render("config.alloy.tmpl", cfg)
	if err != nil {
		return nil, err
	}
	return []overlays.File{{Path: AlloyConfigDir + "/" + alloyConfFileName, Mode: 0o644, Contents: conf}}, nil
}

// AlloyRuntime describes the Alloy container. It listens on every address
// of the container so Prometheus can scrape it; the journal and the
// machine id (which names the journal directory) are mounted read-only.
func AlloyRuntime(cfg AlloyConfig) Runtime {
	return Runtime{
		Image: cfg.Image,
		Exec: []string{
			"run",
			fmt.Sprintf("--server.http.listen-addr=0.0.0.0:%d", cfg.Port),
			"--storage.path=" + alloyDataMount,
			"--disable-reporting",
			alloyConfMount + "/" + alloyConfFileName,
		},
		Mounts: []Mount{
			{Source: AlloyConfigDir, Target: alloyConfMount, ReadOnly: true},
			{Source: AlloyDataDir, Target: alloyDataMount},
			{Source: cfg.JournalPath, Target: cfg.JournalPath, ReadOnly: true, HostSystem: true},
			{Source: "/etc/machine-id", Target: "/etc/machine-id", ReadOnly: true, HostSystem: true},
		},
		// journald must keep writing and rotating the files Alloy reads,
		// so they keep their own labels and Alloy runs unconfined.
		SecurityLabelDisable: true,
		Ports:                []int{cfg.Port},
	}
}
