package services

import (
	"fmt"
	"time"

	"github.com/kiln-dev/kiln/overlays"
)

// PrometheusConfig is the Prometheus server configuration and its alert
// thresholds.
type PrometheusConfig struct {
	// Image is the container image.
	Image string
	// Port Prometheus listens on.
	Port int
	// ScrapeInterval and EvaluationInterval in Prometheus duration syntax.
	ScrapeInterval, EvaluationInterval string
	// Jobs are the scrape jobs, in output order.
	Jobs []ScrapeJob
	// Retention is how long samples are kept (--storage.tsdb.retention.time).
	Retention string
	// Alert thresholds.
	Alerts AlertThresholds
	// Appliance names the server in every alert (the external label
	// appliance), so a receiver shared by several servers tells them apart.
	Appliance string
	// Alertmanagers are the host:port addresses alerts are sent to; with
	// none, Prometheus evaluates rules but notifies nobody.
	Alertmanagers []string
	// HostJob is the scrape job of the node exporter: when it stops
	// answering, HostDown fires (and silences the host's other alerts).
	HostJob string
	// DataMount is where the data filesystem is mounted; empty for an
	// ephemeral appliance, which has none to watch.
	DataMount string
	// ACMEUnit is the certificate renewal service; empty when the edge's
	// certificate is not issued by ACME.
	ACMEUnit string
	// PostgresExporter, PgBouncerExporter, RedisExporter and
	// NginxExporter add the rules that read the PostgreSQL, PgBouncer,
	// Redis and nginx exporters' metrics.
	PostgresExporter, PgBouncerExporter, RedisExporter, NginxExporter bool
}

// ScrapeJob is one scrape job with static targets.
type ScrapeJob struct {
	// Name is the job label.
	Name string
	// MetricsPath overrides /metrics when not empty.
	MetricsPath string
	// Targets are host:port pairs.
	Targets []string
}

// AlertThresholds parameterise the alert rules.
type AlertThresholds struct {
	// ErrorRatio is the share of 5xx responses that fires HighErrorRate.
	ErrorRatio float64
	// LatencyP95 is the 95th percentile latency that fires HighResponseTime.
	LatencyP95 time.Duration
	// DiskFreeRatio is the free-space share under which DiskSpaceLow fires.
	DiskFreeRatio float64
	// MemoryUsedRatio is the used-memory share over which MemoryHigh fires.
	MemoryUsedRatio float64
	// DailyBackupMaxAge and WeeklyBackupMaxAge are the ages of the last
	// successful backup that fire BackupDailyStale and BackupWeeklyStale.
	DailyBackupMaxAge, WeeklyBackupMaxAge time.Duration
	// WALMaxAge is the age of the last archived WAL segment that fires
	// WALArchiveStale.
	WALMaxAge time.Duration
	// ServiceDownFor is how long a target must fail its scrapes before
	// ServiceDown fires.
	ServiceDownFor time.Duration
	// HostDownFor is how long the node exporter must fail its scrapes
	// before HostDown fires. It is shorter than ServiceDownFor by a few
	// scrapes: Alertmanager can only hold back the ServiceDown alerts that
	// follow from a host down when HostDown reached it first.
	HostDownFor time.Duration
	// DataFullWarning and DataFullCritical are the used shares of the data
	// filesystem that fire DataFilesystemFull as a warning and as critical.
	DataFullWarning, DataFullCritical float64
	// CertWarning and CertCritical are the remaining lifetimes of the edge
	// certificate that fire CertificateExpiring as a warning and critical.
	CertWarning, CertCritical time.Duration
}

// DefaultPrometheus returns Clipper's Prometheus configuration.
func DefaultPrometheus() PrometheusConfig {
	return PrometheusConfig{
		Image:              "quay.io/prometheus/prometheus:latest",
		Port:               9090,
		ScrapeInterval:     "15s",
		EvaluationInterval: "15s",
		Retention:          "15d",
		Appliance:          "clipper",
		Alertmanagers:      []string{"alertmanager:9093"},
		HostJob:            "node",
		DataMount:          DataRoot,
		ACMEUnit:           "kiln-acme.service",
		PostgresExporter:   true,
		PgBouncerExporter:  true,
		RedisExporter:      true,
		NginxExporter:      true,
		Jobs: []ScrapeJob{
			{Name: "clipper-backend", Targets: []string{"backend:8080"}},
			{Name: "prometheus", Targets: []string{"localhost:9090"}},
			{Name: "node", Targets: []string{"node-exporter:9100"}},
			{Name: "grafana", Targets: []string{"grafana:3000"}},
			{Name: "loki", Targets: []string{"loki:3100"}},
			{Name: "alloy", Targets: []string{"alloy:12345"}},
			{Name: "alertmanager", Targets: []string{"alertmanager:9093"}},
			{Name: "postgres-exporter", Targets: []string{"postgres-exporter:9187"}},
			{Name: "pgbouncer-exporter", Targets: []string{"pgbouncer-exporter:9127"}},
			{Name: "redis-exporter", Targets: []string{"redis-exporter:9121"}},
			{Name: "nginx-exporter", Targets: []string{"10.89.10.1:9113"}},
		},
		Alerts: AlertThresholds{
			ErrorRatio:         0.05,
			LatencyP95:         500 * time.Millisecond,
			DiskFreeRatio:      0.10,
			MemoryUsedRatio:    0.90,
			DailyBackupMaxAge:  26 * time.Hour,
			WeeklyBackupMaxAge: 8 * 24 * time.Hour,
			WALMaxAge:          10 * time.Minute,
			ServiceDownFor:     time.Minute,
			HostDownFor:        30 * time.Second,
			DataFullWarning:    0.85,
			DataFullCritical:   0.95,
			CertWarning:        14 * 24 * time.Hour,
			CertCritical:       3 * 24 * time.Hour,
		},
	}
}

// Paths of the Prometheus files, on the server and in the container.
const (
	PrometheusConfigDir     = ConfigRoot + "/prometheus"
	PrometheusDataDir       = DataRoot + "/prometheus"
	prometheusConfMount     = "/etc/prometheus"
	prometheusDataMount     = "/prometheus"
	prometheusConfFileName  = "prometheus.yml"
	prometheusRulesDir      = "rules"
	prometheusRulesFileName = "clipper-alerts.yml"
)

// Validate checks the configuration without rendering it.
func (c PrometheusConfig) Validate() error {
	if err := checkNonEmpty("prometheus image", c.Image); err != nil {
		return err
	}
	if err := checkPort("prometheus port", c.Port); err != nil {
		return err
	}
	for _, d := range []struct{ name, v string }{
		{"prometheus scrape interval", c.ScrapeInterval},
		{"prometheus evaluation interval", c.EvaluationInterval},
		{"prometheus retention", c.Retention},
	} {
		if _, err := parsePromDuration(d.v); err != nil {
			return fmt.Errorf("%s %q: %w", d.name, d.v, err)
		}
	}
	if err := checkPlain("prometheus appliance label", c.Appliance); err != nil {
		return err
	}
	for _, a := range c.Alertmanagers {
		if err := checkHostPort("prometheus alertmanager", a); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"prometheus host job", c.HostJob}, {"prometheus data mount", c.DataMount}, {"prometheus ACME unit", c.ACMEUnit}} {
		if f.v != "" {
			if err := checkPlain(f.name, f.v); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for _, j := range c.Jobs {
		if err := checkPlain("prometheus job name", j.Name); err != nil {
			return err
		}
		if seen[j.Name] {
			return fmt.Errorf("prometheus job %q appears twice: %w", j.Name, ErrInvalidValue)
		}
		seen[j.Name] = true
		if len(j.Targets) == 0 {
			return fmt.Errorf("prometheus job %q targets: %w", j.Name, ErrEmptyField)
		}
		for _, t := range j.Targets {
			if err := checkPlain("prometheus target", t); err != nil {
				return err
			}
		}
	}
	a := c.Alerts
	for _, r := range []struct {
		name string
		v    float64
	}{{"error ratio", a.ErrorRatio}, {"disk free ratio", a.DiskFreeRatio}, {"memory used ratio", a.MemoryUsedRatio},
		{"data full warning", a.DataFullWarning}, {"data full critical", a.DataFullCritical}} {
		if r.v <= 0 || r.v >= 1 {
			return fmt.Errorf("prometheus alert %s %v: want a share between 0 and 1: %w", r.name, r.v, ErrInvalidValue)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"p95 latency", a.LatencyP95}, {"daily backup age", a.DailyBackupMaxAge}, {"weekly backup age", a.WeeklyBackupMaxAge}, {"WAL age", a.WALMaxAge}, {"service down duration", a.ServiceDownFor}, {"host down duration", a.HostDownFor},
		{"certificate warning", a.CertWarning}, {"certificate critical", a.CertCritical}} {
		if d.v <= 0 {
			return fmt.Errorf("prometheus alert %s %v: %w", d.name, d.v, ErrInvalidValue)
		}
	}
	if a.HostDownFor >= a.ServiceDownFor {
		return fmt.Errorf("prometheus alert host down duration %v must be shorter than the service down duration %v, or HostDown cannot silence ServiceDown: %w", a.HostDownFor, a.ServiceDownFor, ErrInvalidValue)
	}
	if a.DataFullCritical <= a.DataFullWarning {
		return fmt.Errorf("prometheus alert data full critical %v must be above the warning %v: %w", a.DataFullCritical, a.DataFullWarning, ErrInvalidValue)
	}
	if a.CertCritical >= a.CertWarning {
		return fmt.Errorf("prometheus alert certificate critical %v must be shorter than the warning %v: %w", a.CertCritical, a.CertWarning, ErrInvalidValue)
	}
	return nil
}

// Prometheus renders prometheus.yml and the alert rules.
func Prometheus(cfg PrometheusConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := cfg.Alerts
	data := struct {
		PrometheusConfig
		RulesGlob                                           string
		ErrorRatio, DiskFreeRatio, MemoryUsedRatio          string
		LatencyP95Seconds                                   string
		DailyBackupMaxAge, WeeklyBackupMaxAge, WALMaxAge    string
		DailyBackupMaxAgeSeconds, WeeklyBackupMaxAgeSeconds string
		WALMaxAgeSeconds                                    string
		ErrorPercent, DiskFreePercent, MemoryUsedPercent    string
		LatencyP95                                          string
		ServiceDownFor, HostDownFor                         string
		DataFullWarning, DataFullCritical                   string
		DataFullWarningPercent, DataFullCriticalPercent     string
		CertWarning, CertCritical                           string
		CertWarningSeconds, CertCriticalSeconds             string
	}{
		PrometheusConfig:          cfg,
		RulesGlob:                 prometheusRulesDir + "/*.yml",
		ErrorRatio:                formatFloat(a.ErrorRatio),
		DiskFreeRatio:             formatFloat(a.DiskFreeRatio),
		MemoryUsedRatio:           formatFloat(a.MemoryUsedRatio),
		LatencyP95Seconds:         formatFloat(a.LatencyP95.Seconds()),
		DailyBackupMaxAge:         promDuration(a.DailyBackupMaxAge),
		WeeklyBackupMaxAge:        promDuration(a.WeeklyBackupMaxAge),
		WALMaxAge:                 promDuration(a.WALMaxAge),
		DailyBackupMaxAgeSeconds:  formatFloat(a.DailyBackupMaxAge.Seconds()),
		WeeklyBackupMaxAgeSeconds: formatFloat(a.WeeklyBackupMaxAge.Seconds()),
		WALMaxAgeSeconds:          formatFloat(a.WALMaxAge.Seconds()),
		ErrorPercent:              formatPercent(a.ErrorRatio),
		DiskFreePercent:           formatPercent(a.DiskFreeRatio),
		MemoryUsedPercent:         formatPercent(a.MemoryUsedRatio),
		LatencyP95:                a.LatencyP95.String(),
		ServiceDownFor:            promDuration(a.ServiceDownFor),
		HostDownFor:               promDuration(a.HostDownFor),
		DataFullWarning:           formatFloat(a.DataFullWarning),
		DataFullCritical:          formatFloat(a.DataFullCritical),
		DataFullWarningPercent:    formatPercent(a.DataFullWarning),
		DataFullCriticalPercent:   formatPercent(a.DataFullCritical),
		CertWarning:               promDuration(a.CertWarning),
		CertCritical:              promDuration(a.CertCritical),
		CertWarningSeconds:        formatFloat(a.CertWarning.Seconds()),
		CertCriticalSeconds:       formatFloat(a.CertCritical.Seconds()),
	}
	conf, err := render("prometheus.yml.tmpl", data)
	if err != nil {
		return nil, err
	}
	rules, err := render("clipper-alerts.yml.tmpl", data)
	if err != nil {
		return nil, err
	}
	return []overlays.File{
		{Path: PrometheusConfigDir + "/" + prometheusConfFileName, Mode: 0o644, Contents: conf},
		{Path: PrometheusConfigDir + "/" + prometheusRulesDir + "/" + prometheusRulesFileName, Mode: 0o644, Contents: rules},
	}, nil
}

// PrometheusRuntime describes the Prometheus container.
func PrometheusRuntime(cfg PrometheusConfig) Runtime {
	return Runtime{
		Image: cfg.Image,
		Exec: []string{
			"--config.file=" + prometheusConfMount + "/" + prometheusConfFileName,
			"--storage.tsdb.path=" + prometheusDataMount,
			"--storage.tsdb.retention.time=" + cfg.Retention,
			fmt.Sprintf("--web.listen-address=:%d", cfg.Port),
		},
		Mounts: []Mount{
			{Source: PrometheusConfigDir, Target: prometheusConfMount, ReadOnly: true},
			{Source: PrometheusDataDir, Target: prometheusDataMount},
		},
		Ports:     []int{cfg.Port},
		HealthCmd: fmt.Sprintf("wget -q -O /dev/null http://127.0.0.1:%d/-/ready", cfg.Port),
	}
}
