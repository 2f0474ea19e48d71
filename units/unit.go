package units

import (
	"fmt"
	"path"
	"strings"
)

// Unit is one systemd unit or Podman Quadlet file. The extension of Name
// decides where it goes: Quadlet files (.container, .network, .volume, .pod,
// .kube, .image, .build) are written under /etc/containers/systemd, which
// Quadlet turns into services at boot; everything else is a systemd unit.
type Unit struct {
	// Name is the file name, e.g. "postgres.container" or "backup-daily.timer".
	Name string
	// Contents is the unit text.
	Contents string
	// Enabled units are started at boot (for Quadlet files, through their
	// [Install] section, since generated services cannot be enabled).
	Enabled bool
}

// QuadletDir is where Quadlet reads system units on the server.
const QuadletDir = "/etc/containers/systemd"

// IsQuadlet reports whether the unit is a Quadlet file rather than a plain
// systemd unit.
func (u Unit) IsQuadlet() bool {
	switch path.Ext(u.Name) {
	case ".container", ".network", ".volume", ".pod", ".kube", ".image", ".build":
		return true
	}
	return false
}

// unitWriter writes a unit file's Key=value lines; sections are written
// as they are.
type unitWriter struct{ strings.Builder }

// kv writes one Key=value line.
func (w *unitWriter) kv(k, v string) { fmt.Fprintf(w, "%s=%s\n", k, v) }
