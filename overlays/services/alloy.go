package services

import (
	"fmt"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// AlloyConfig is the log shipper's configuration. Grafana Alloy replaces
// Promtail, which reached end of life; Alloy is its maintained successor.
type AlloyConfig struct {
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
	// DataDir holds Alloy's positions and write-ahead log, on the data
	// filesystem.
	DataDir string
}

// Paths of the Alloy files, on the server and in the container.
const (
	AlloyConfigDir    = ConfigRoot + "/alloy"
	alloyConfMount    = "/etc/alloy"
	alloyDataMount    = "/var/lib/alloy/data"
	alloyConfFileName = "config.alloy"
)

// Validate checks the configuration without rendering it.
func (c AlloyConfig) Validate() error {
	return firstError(
		checkPort("port", c.Port),
		checkURL("push_url", c.PushURL),
		checkPlain("journal_path", c.JournalPath),
		checkDuration("max_age", c.MaxAge),
	)
}

// Alloy renders config.alloy.
func Alloy(cfg AlloyConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	files, err := renderFiles(cfg, tmplFile{"config.alloy.tmpl", AlloyConfigDir + "/" + alloyConfFileName})
	if err != nil {
		return overlays.Component{}, err
	}
	// A data volume kept from a release that ran Alloy as root holds
	// root's positions and write-ahead log, which the alloy user could not
	// update: its few files are handed over at boot.
	return overlays.Component{Files: files, Container: alloyContainer(cfg), DataDirs: []overlays.DataDir{{Path: cfg.DataDir, Adopt: true}}}, nil
}

// alloyContainer is the Alloy container. It listens on every address
// of the container so Prometheus can scrape it; the journal and the
// machine id (which names the journal directory) are mounted read-only.
func alloyContainer(cfg AlloyConfig) units.Container {
	return units.Container{
		Exec: []string{
			"run",
			fmt.Sprintf("--server.http.listen-addr=0.0.0.0:%d", cfg.Port),
			"--storage.path=" + alloyDataMount,
			"--disable-reporting",
			alloyConfMount + "/" + alloyConfFileName,
		},
		Mounts: []units.Mount{
			{Source: AlloyConfigDir, Target: alloyConfMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: alloyDataMount},
			{Source: cfg.JournalPath, Target: cfg.JournalPath, ReadOnly: true, NoRelabel: true},
			{Source: "/etc/machine-id", Target: "/etc/machine-id", ReadOnly: true, NoRelabel: true},
		},
		// Not root: the image's alloy user, which owns its data directory,
		// reads the journal through the systemd-journal group. Its gid is
		// fixed on Fedora (190, Fedora's setup package, uidgid), so the
		// container names it by number. A spec's user replaces both.
		User:                 alloyUser,
		GroupAdd:             []string{systemdJournalGID},
		SecurityLabelDisable: true,
		// The Alloy image is Debian-based with bash but no wget or curl.
		Health: health(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d'`, cfg.Port),
	}
}

// alloyUser is the alloy user and group of the grafana/alloy image (UID
// 473 in its Dockerfile).
const alloyUser = "473:473"

// systemdJournalGID is the systemd-journal group of Fedora CoreOS, which
// may read the persistent journal.
const systemdJournalGID = "190"
