package services

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/kiln-dev/kiln/overlays"
)

// GrafanaConfig is the Grafana configuration: provisioning and environment.
type GrafanaConfig struct {
	// Image is the container image.
	Image string
	// Port is the HTTP port.
	Port int
	// AdminUser is the administrator's login; the password comes from
	// PasswordSecret.
	AdminUser string
	// PasswordSecret names the Podman secret holding the admin password.
	PasswordSecret string
	// PrometheusURL and LokiURL are the datasources, as the container
	// network names them.
	PrometheusURL, LokiURL string
	// PrometheusUID and LokiUID identify the datasources in dashboards.
	PrometheusUID, LokiUID string
	// ScrapeInterval matches Prometheus's, so Grafana picks sound steps.
	ScrapeInterval string
	// Folder is the Grafana folder holding kiln's dashboards.
	Folder string
}

// DefaultGrafana returns Clipper's Grafana configuration.
func DefaultGrafana() GrafanaConfig {
	return GrafanaConfig{
		Image:          "docker.io/grafana/grafana:latest",
		Port:           3000,
		AdminUser:      "admin",
		PasswordSecret: "grafana-password",
		PrometheusURL:  "http://prometheus:9090",
		LokiURL:        "http://loki:3100",
		PrometheusUID:  "prometheus",
		LokiUID:        "loki",
		ScrapeInterval: "15s",
		Folder:         "Clipper",
	}
}

// Paths of the Grafana files, on the server and in the container.
const (
	GrafanaConfigDir        = ConfigRoot + "/grafana"
	GrafanaDataDir          = DataRoot + "/grafana"
	grafanaProvisioningDir  = GrafanaConfigDir + "/provisioning"
	grafanaDashboardsDir    = GrafanaConfigDir + "/dashboards"
	grafanaProvisioningPath = "/etc/grafana/provisioning"
	grafanaDashboardsMount  = "/etc/grafana/dashboards"
	grafanaDataMount        = "/var/lib/grafana"
	grafanaImageUID         = 472 // the grafana user of the official image
)

// Validate checks the configuration without rendering it.
func (c GrafanaConfig) Validate() error {
	if err := checkNonEmpty("grafana image", c.Image); err != nil {
		return err
	}
	if err := checkPort("grafana port", c.Port); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"grafana admin user", c.AdminUser}, {"grafana password secret", c.PasswordSecret},
		{"grafana prometheus url", c.PrometheusURL}, {"grafana loki url", c.LokiURL},
		{"grafana prometheus uid", c.PrometheusUID}, {"grafana loki uid", c.LokiUID},
		{"grafana folder", c.Folder},
	} {
		if err := checkPlain(f.name, f.v); err != nil {
			return err
		}
	}
	if _, err := parsePromDuration(c.ScrapeInterval); err != nil {
		return fmt.Errorf("grafana scrape interval %q: %w", c.ScrapeInterval, err)
	}
	return nil
}

// Grafana renders the datasource and dashboard provisioning files and the
// dashboards.
func Grafana(cfg GrafanaConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	data := struct {
		GrafanaConfig
		DashboardsMount string
	}{cfg, grafanaDashboardsMount}
	var files []overlays.File
	for _, f := range []struct{ tmpl, path string }{
		{"datasources.yaml.tmpl", grafanaProvisioningDir + "/datasources/kiln.yaml"},
		{"dashboards.yaml.tmpl", grafanaProvisioningDir + "/dashboards/kiln.yaml"},
		{"clipper-overview.json.tmpl", grafanaDashboardsDir + "/clipper-overview.json"},
	} {
		contents, err := render(f.tmpl, data)
		if err != nil {
			return nil, err
		}
		files = append(files, overlays.File{Path: f.path, Mode: 0o644, Contents: contents})
	}
	return files, nil
}

// GrafanaEnv is the container environment: the admin password is read from
// the secret file, and nothing phones home.
func GrafanaEnv(cfg GrafanaConfig) map[string]string {
	return map[string]string{
		"GF_SECURITY_ADMIN_USER":                cfg.AdminUser,
		"GF_SECURITY_ADMIN_PASSWORD__FILE":      Secret{Name: cfg.PasswordSecret}.Path(),
		"GF_SERVER_HTTP_PORT":                   strconv.Itoa(cfg.Port),
		"GF_USERS_ALLOW_SIGN_UP":                "false",
		"GF_AUTH_ANONYMOUS_ENABLED":             "false",
		"GF_ANALYTICS_REPORTING_ENABLED":        "false",
		"GF_ANALYTICS_CHECK_FOR_UPDATES":        "false",
		"GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
		"GF_PATHS_PROVISIONING":                 grafanaProvisioningPath,
		"GF_LOG_MODE":                           "console",
	}
}

// GrafanaRuntime describes the Grafana container.
func GrafanaRuntime(cfg GrafanaConfig) Runtime {
	return Runtime{
		Image:   cfg.Image,
		Env:     GrafanaEnv(cfg),
		Secrets: []Secret{{Name: cfg.PasswordSecret, UID: grafanaImageUID, GID: 0, Mode: 0o400}},
		Mounts: []Mount{
			{Source: grafanaProvisioningDir, Target: grafanaProvisioningPath, ReadOnly: true},
			{Source: grafanaDashboardsDir, Target: grafanaDashboardsMount, ReadOnly: true},
			{Source: GrafanaDataDir, Target: grafanaDataMount},
		},
		Ports: []int{cfg.Port},
	}
}

// jsonString quotes a value as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
