package spec

import "sort"

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

// KindInfo is everything kiln knows about a service kind outside its
// recipe: the recipe itself lives in the builder, keyed by Name, and a
// builder test fails when a kind here has none.
type KindInfo struct {
	// Name is the value of a service's kind field.
	Name string
	// Role decides whether the kind's ports may be public.
	Role Role
	// MetricsPath is where Prometheus scrapes the kind; empty when it
	// exposes no metrics.
	MetricsPath string
	// HostNetwork runs the container in the host's network namespace.
	// The edge, so its ports are plain input-chain ports of the firewall;
	// the node exporter, because only the host's namespace shows the
	// host's interfaces; the nginx exporter, which reads the edge's status
	// page on the host's loopback.
	HostNetwork bool
	// Backup says what the backup job saves of the kind's data.
	Backup BackupNeed
}

// BackupNeed is what a backup saves of a kind's data.
type BackupNeed string

// Backup needs; the zero value saves nothing beyond the data filesystem's
// files.
const (
	BackupNone BackupNeed = ""
	// BackupPostgres dumps the database and archives its WAL.
	BackupPostgres BackupNeed = "postgres"
	// BackupRedis copies the cache's RDB snapshot.
	BackupRedis BackupNeed = "redis"
)

// kinds is the one table of service kinds. Its order is the order the
// schema's enum lists them in; Kinds() sorts.
var kinds = []KindInfo{
	{Name: KindApp, Role: RoleApp, MetricsPath: "/metrics"},
	{Name: KindStatic, Role: RoleApp},
	{Name: KindEdge, Role: RoleEdge, HostNetwork: true},
	{Name: KindPostgres, Role: RoleDatabase, Backup: BackupPostgres},
	{Name: KindPgBouncer, Role: RoleDatabase},
	{Name: KindRedis, Role: RoleCache, Backup: BackupRedis},
	{Name: KindPrometheus, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindGrafana, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindLoki, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindAlloy, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindNodeExporter, Role: RoleMonitoring, MetricsPath: "/metrics", HostNetwork: true},
	{Name: KindAlertmanager, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindPostgresExporter, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindRedisExporter, Role: RoleMonitoring, MetricsPath: "/metrics"},
	{Name: KindNginxExporter, Role: RoleMonitoring, MetricsPath: "/metrics", HostNetwork: true},
}

// Kind returns what kiln knows about a service kind and whether the kind
// exists.
func Kind(name string) (KindInfo, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return KindInfo{}, false
}

// KindRole returns the role of a service kind and whether the kind exists.
func KindRole(kind string) (Role, bool) {
	k, ok := Kind(kind)
	return k.Role, ok
}

// Kinds lists the known service kinds, sorted.
func Kinds() []string {
	names := serviceKindNames()
	sort.Strings(names)
	return names
}

// serviceKindNames lists the kinds in the table's order.
func serviceKindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}
