package services

import (
	"fmt"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// NodeExporterConfig is the host metrics exporter's configuration. It has
// no configuration file: everything is a command-line flag.
type NodeExporterConfig struct {
	// Port the exporter listens on inside the container network.
	Port int
	// TextfileDir is where the backup jobs drop *.prom files; the same
	// path on the server and in the container.
	TextfileDir string
	// RootfsMount is where the host's root filesystem is mounted in the
	// container.
	RootfsMount string
}

// Validate checks the configuration.
func (c NodeExporterConfig) Validate() error {
	return firstError(
		checkPort("port", c.Port),
		checkPlains("textfile_dir", c.TextfileDir, "rootfs_mount", c.RootfsMount),
	)
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

// NodeExporter is the node exporter: no file, only its container. The host's
// root is mounted read-only with slave propagation, so filesystems mounted
// later (the data volume) are seen too; it is not relabelled (Podman
// refuses to relabel /) and the container runs unconfined to read it. The
// container shares the host's network namespace, so the network collectors
// report the host's interfaces rather than a container's veth, and its PID
// namespace, so /proc is the host's.
func NodeExporter(cfg NodeExporterConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Container: units.Container{
		Exec: NodeExporterArgs(cfg),
		Mounts: []units.Mount{
			{Source: "/", Target: cfg.RootfsMount, ReadOnly: true, Options: "rslave", NoRelabel: true},
			{Source: cfg.TextfileDir, Target: cfg.TextfileDir, ReadOnly: true},
		},
		Network:              "host",
		PodmanArgs:           []string{"--pid=host"},
		SecurityLabelDisable: true,
		Health:               httpHealth(cfg.Port, "/metrics"),
	}}, nil
}
