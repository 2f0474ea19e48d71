package spec

// Data modes.
const (
	DataPartition = "partition"
	DataVolume    = "volume"
	DataNone      = "none"
)

// Service kinds: each names a recipe kiln knows how to configure.
const (
	KindApp          = "app"
	KindStatic       = "static"
	KindEdge         = "edge"
	KindPostgres     = "postgres"
	KindPgBouncer    = "pgbouncer"
	KindRedis        = "redis"
	KindPrometheus   = "prometheus"
	KindGrafana      = "grafana"
	KindLoki         = "loki"
	KindAlloy        = "alloy"
	KindNodeExporter = "node-exporter"
	KindAlertmanager = "alertmanager"
	// Exporters of the stateful services' metrics, for Prometheus.
	KindPostgresExporter = "postgres-exporter"
	KindRedisExporter    = "redis-exporter"
	KindNginxExporter    = "nginx-exporter"
)

// Role groups kinds by what they expose; it decides what may be public.
type Role string

// Roles.
const (
	RoleApp        Role = "application"
	RoleEdge       Role = "edge"
	RoleDatabase   Role = "database"
	RoleCache      Role = "cache"
	RoleMonitoring Role = "monitoring"
)

var kindRoles = map[string]Role{
	KindApp:              RoleApp,
	KindStatic:           RoleApp,
	KindEdge:             RoleEdge,
	KindPostgres:         RoleDatabase,
	KindPgBouncer:        RoleDatabase,
	KindRedis:            RoleCache,
	KindPrometheus:       RoleMonitoring,
	KindGrafana:          RoleMonitoring,
	KindLoki:             RoleMonitoring,
	KindAlloy:            RoleMonitoring,
	KindNodeExporter:     RoleMonitoring,
	KindAlertmanager:     RoleMonitoring,
	KindPostgresExporter: RoleMonitoring,
	KindRedisExporter:    RoleMonitoring,
	KindNginxExporter:    RoleMonitoring,
}

// KindRole returns the role of a service kind and whether the kind exists.
func KindRole(kind string) (Role, bool) {
	r, ok := kindRoles[kind]
	return r, ok
}

// Kinds lists the known service kinds, sorted.
func Kinds() []string {
	return []string{KindAlertmanager, KindAlloy, KindApp, KindEdge, KindGrafana, KindLoki, KindNginxExporter, KindNodeExporter, KindPgBouncer, KindPostgres, KindPostgresExporter, KindPrometheus, KindRedis, KindRedisExporter, KindStatic}
}

// Platforms maps each FCOS platform id kiln builds for to its default
// output formats, as FCOS publishes them.
var Platforms = map[string][]string{
	"metal":        {"raw.xz", "iso", "pxe"},
	"qemu":         {"qcow2"},
	"digitalocean": {"qcow2.gz"},
	"vultr":        {"raw.xz"},
	"hetzner":      {"raw.xz"},
	"openstack":    {"qcow2"},
	"proxmoxve":    {"qcow2"},
	"azure":        {"vhd"},
	"aws":          {"raw"},
}

// Formats lists every output format kiln can write, compressed or not.
var Formats = []string{
	"raw", "raw.gz", "raw.xz", "raw.zst",
	"qcow2", "qcow2.gz", "qcow2.xz", "qcow2.zst",
	"vhd", "vhd.gz", "vhd.xz", "vhd.zst",
	"iso", "pxe",
}
