package services

import (
	"encoding/json"
	"strconv"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// GrafanaConfig is the Grafana configuration: provisioning and environment.
type GrafanaConfig struct {
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
	// DataDir is Grafana's database and plugins, on the data filesystem.
	DataDir string
	// UID is the numeric user the image runs its process as, which owns
	// the mounted password secret; the plan decides it from the image.
	UID string
}

// Paths of the Grafana files, on the server and in the container.
const (
	GrafanaConfigDir        = ConfigRoot + "/grafana"
	grafanaProvisioningDir  = GrafanaConfigDir + "/provisioning"
	grafanaDashboardsDir    = GrafanaConfigDir + "/dashboards"
	grafanaProvisioningPath = "/etc/grafana/provisioning"
	grafanaDashboardsMount  = "/etc/grafana/dashboards"
	grafanaDataMount        = "/var/lib/grafana"
)

// Validate checks the configuration without rendering it.
func (c GrafanaConfig) Validate() error {
	return firstError(
		checkPort("port", c.Port),
		checkPlains("admin_user", c.AdminUser, "password_secret", c.PasswordSecret,
			"prometheus_url", c.PrometheusURL, "loki_url", c.LokiURL,
			"prometheus_uid", c.PrometheusUID, "loki_uid", c.LokiUID, "folder", c.Folder),
		checkDuration("scrape_interval", c.ScrapeInterval),
	)
}

// Grafana renders the datasource and dashboard provisioning files and the
// dashboards.
func Grafana(cfg GrafanaConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	data := struct {
		GrafanaConfig
		DashboardsMount string
	}{cfg, grafanaDashboardsMount}
	files, err := renderFiles(data,
		tmplFile{"datasources.yaml.tmpl", grafanaProvisioningDir + "/datasources/kiln.yaml"},
		tmplFile{"dashboards.yaml.tmpl", grafanaProvisioningDir + "/dashboards/kiln.yaml"},
		tmplFile{"clipper-overview.json.tmpl", grafanaDashboardsDir + "/clipper-overview.json"})
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: files, Container: grafanaContainer(cfg), DataDirs: []overlays.DataDir{{Path: cfg.DataDir}}}, nil
}

// GrafanaEnv is the container environment: the admin password is read from
// the secret file, and nothing phones home.
func GrafanaEnv(cfg GrafanaConfig) map[string]string {
	return map[string]string{
		"GF_SECURITY_ADMIN_USER":                cfg.AdminUser,
		"GF_SECURITY_ADMIN_PASSWORD__FILE":      secretPath(cfg.PasswordSecret),
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

// grafanaContainer is the Grafana container.
func grafanaContainer(cfg GrafanaConfig) units.Container {
	return units.Container{
		Env:     GrafanaEnv(cfg),
		Secrets: []units.SecretMount{secret(cfg.PasswordSecret, cfg.UID)},
		Mounts: []units.Mount{
			{Source: grafanaProvisioningDir, Target: grafanaProvisioningPath, ReadOnly: true},
			{Source: grafanaDashboardsDir, Target: grafanaDashboardsMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: grafanaDataMount},
		},
		Health: httpHealth(cfg.Port, "/api/health"),
	}
}

// jsonString quotes a value as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
