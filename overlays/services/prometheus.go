package services

import (
	"fmt"
	"time"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// PrometheusConfig is the Prometheus server configuration and its alert
// thresholds.
type PrometheusConfig struct {
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
	// DataDir is Prometheus's storage on the data filesystem.
	DataDir string
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

// DefaultAlertThresholds returns kiln's alerting thresholds, which every
// appliance shares.
func DefaultAlertThresholds() AlertThresholds {
	return AlertThresholds{
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
	}
}

// Paths of the Prometheus files, on the server and in the container.
const (
	PrometheusConfigDir     = ConfigRoot + "/prometheus"
	prometheusConfMount     = "/etc/prometheus"
	prometheusDataMount     = "/prometheus"
	prometheusConfFileName  = "prometheus.yml"
	prometheusRulesDir      = "rules"
	prometheusRulesFileName = "clipper-alerts.yml"
)

// Validate checks the configuration without rendering it.
func (c PrometheusConfig) Validate() error {
	if err := firstError(
		checkPort("port", c.Port),
		checkDuration("scrape_interval", c.ScrapeInterval),
		checkDuration("evaluation_interval", c.EvaluationInterval),
		checkDuration("retention", c.Retention),
		checkPlain("appliance", c.Appliance),
	); err != nil {
		return err
	}
	for i, a := range c.Alertmanagers {
		if err := checkHostPort(fmt.Sprintf("alertmanagers[%d]", i), a); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"host_job", c.HostJob}, {"data_mount", c.DataMount}, {"acme_unit", c.ACMEUnit}} {
		if f.v != "" {
			if err := checkPlain(f.name, f.v); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		field := fmt.Sprintf("jobs[%d]", i)
		if err := checkPlain(field+".name", j.Name); err != nil {
			return err
		}
		if seen[j.Name] {
			return bad(field+".name", j.Name, "appears twice", ErrInvalidValue)
		}
		seen[j.Name] = true
		if len(j.Targets) == 0 {
			return overlays.Bad(field+".targets", nil, ErrEmptyField)
		}
		for k, t := range j.Targets {
			if err := checkPlain(fmt.Sprintf("%s.targets[%d]", field, k), t); err != nil {
				return err
			}
		}
	}
	a := c.Alerts
	for _, r := range []struct {
		name string
		v    float64
	}{{"alerts.error_ratio", a.ErrorRatio}, {"alerts.disk_free_ratio", a.DiskFreeRatio}, {"alerts.memory_used_ratio", a.MemoryUsedRatio},
		{"alerts.data_full_warning", a.DataFullWarning}, {"alerts.data_full_critical", a.DataFullCritical}} {
		if r.v <= 0 || r.v >= 1 {
			return bad(r.name, r.v, "want a share between 0 and 1", ErrInvalidValue)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"alerts.latency_p95", a.LatencyP95}, {"alerts.daily_backup_max_age", a.DailyBackupMaxAge}, {"alerts.weekly_backup_max_age", a.WeeklyBackupMaxAge},
		{"alerts.wal_max_age", a.WALMaxAge}, {"alerts.service_down_for", a.ServiceDownFor}, {"alerts.host_down_for", a.HostDownFor},
		{"alerts.cert_warning", a.CertWarning}, {"alerts.cert_critical", a.CertCritical}} {
		if d.v <= 0 {
			return bad(d.name, d.v, "want a positive duration", ErrInvalidValue)
		}
	}
	if a.HostDownFor >= a.ServiceDownFor {
		return bad("alerts.host_down_for", a.HostDownFor, fmt.Sprintf("must be shorter than service_down_for %v, or HostDown cannot silence ServiceDown", a.ServiceDownFor), ErrInvalidValue)
	}
	if a.DataFullCritical <= a.DataFullWarning {
		return bad("alerts.data_full_critical", a.DataFullCritical, fmt.Sprintf("must be above data_full_warning %v", a.DataFullWarning), ErrInvalidValue)
	}
	if a.CertCritical >= a.CertWarning {
		return bad("alerts.cert_critical", a.CertCritical, fmt.Sprintf("must be shorter than cert_warning %v", a.CertWarning), ErrInvalidValue)
	}
	return nil
}

// Prometheus renders prometheus.yml and the alert rules.
func Prometheus(cfg PrometheusConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
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
	files, err := renderFiles(data,
		tmplFile{"prometheus.yml.tmpl", PrometheusConfigDir + "/" + prometheusConfFileName},
		tmplFile{"clipper-alerts.yml.tmpl", PrometheusConfigDir + "/" + prometheusRulesDir + "/" + prometheusRulesFileName})
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: files, Container: prometheusContainer(cfg), DataDirs: []overlays.DataDir{{Path: cfg.DataDir}}}, nil
}

// prometheusContainer is the Prometheus container.
func prometheusContainer(cfg PrometheusConfig) units.Container {
	return units.Container{
		Exec: []string{
			"--config.file=" + prometheusConfMount + "/" + prometheusConfFileName,
			"--storage.tsdb.path=" + prometheusDataMount,
			"--storage.tsdb.retention.time=" + cfg.Retention,
			fmt.Sprintf("--web.listen-address=:%d", cfg.Port),
		},
		Mounts: []units.Mount{
			{Source: PrometheusConfigDir, Target: prometheusConfMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: prometheusDataMount},
		},
		Health: httpHealth(cfg.Port, "/-/ready"),
	}
}
