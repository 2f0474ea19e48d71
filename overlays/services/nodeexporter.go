package services

import "fmt"

// NodeExporterConfig is the host metrics exporter's configuration. It has
// no configuration file: everything is a command-line flag.
type NodeExporterConfig struct {
	// Image is the container image.
	Image string
	// Port the exporter listens on inside the container network.
	Port int
	// TextfileDir is where the backup jobs drop *.prom files; the same
	// path on the server and in the container.
	TextfileDir string
	// RootfsMount is where the host's root filesystem is mounted in the
	// container.
	RootfsMount string
}

// DefaultNodeExporter returns Clipper's node exporter configuration.
func DefaultNodeExporter() NodeExporterConfig {
	return NodeExporterConfig{
		Image:       "quay.io/prometheus/node-exporter:latest",
		Port:        9100,
		TextfileDir: NodeExporterTextfileDir,
		RootfsMount: "/host",
	}
}

// NodeExporterTextfileDir is where jobs write metrics for the textfile
// collector (the backup jobs' kiln_backup_* and kiln_wal_archive_*).
const NodeExporterTextfileDir = DataRoot + "/node-exporter/textfile"

// Validate checks the configuration.
func (c NodeExporterConfig) Validate() error {
	if err := checkNonEmpty("node exporter image", c.Image); err != nil {
		return err
	}
	if err := checkPort("node exporter port", c.Port); err != nil {
		return err
	}
	if err := checkPlain("node exporter textfile dir", c.TextfileDir); err != nil {
		return err
	}
	return checkPlain("node exporter rootfs mount", c.RootfsMount)
}

// NodeExporterArgs are the exporter's flags. Filesystems are read through
// the host's root mounted at RootfsMount, so mount points appear as on the
// host; the exporter's default exclusions already leave out virtual
// filesystems and container storage.
func NodeExporterArgs(cfg NodeExporterConfig) []string {
	return []string{
		"--path.rootfs=" + cfg.RootfsMount,
		"--collector.textfile.directory=" + cfg.TextfileDir,
		fmt.Sprintf("--web.listen-address=:%d", cfg.Port),
	}
}

// NodeExporterRuntime describes the node exporter container. The host's
// root is mounted read-only with slave propagation, so filesystems mounted
// later (the data volume) are seen too; it is not relabelled (Podman
// refuses to relabel /) and the container runs unconfined to read it. The
// container shares the host's network namespace, so the network collectors
// report the host's interfaces rather than a container's veth, and its PID
// namespace, so /proc is the host's.
func NodeExporterRuntime(cfg NodeExporterConfig) Runtime {
	return Runtime{
		Image: cfg.Image,
		Exec:  NodeExporterArgs(cfg),
		Mounts: []Mount{
			{Source: "/", Target: cfg.RootfsMount, ReadOnly: true, Options: "rslave", HostSystem: true},
			{Source: cfg.TextfileDir, Target: cfg.TextfileDir, ReadOnly: true},
		},
		HostPID:              true,
		HostNetwork:          true,
		SecurityLabelDisable: true,
		Ports:                []int{cfg.Port},
	}
}
