package builder

import (
	"errors"
	"fmt"
	"strings"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	"gopkg.in/yaml.v3"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/images"
)

// Where the installer's live system keeps what coreos-installer reads.
// FCOS runs coreos-installer.service at boot when /etc/coreos/installer.d
// holds a file (coreos-installer's systemd generator), then reboots.
const (
	installerConfigPath = "/etc/coreos/installer.d/50-kiln.yaml"
	installerDestPath   = images.InstallerDestPath
)

// installerOptions is coreos-installer's config file format: the same
// names as its command-line options (docs/customizing-install.md).
type installerOptions struct {
	DestDevice    string   `yaml:"dest-device"`
	IgnitionFile  string   `yaml:"ignition-file"`
	SavePartlabel []string `yaml:"save-partlabel,omitempty"`
	// Offline installs the release the live system booted (its osmet
	// image), never a newer one from the network.
	Offline bool `yaml:"offline"`
}

// InstallDevice returns the disk the appliance's iso and pxe boots install
// to, or "" when they run live.
func InstallDevice(a *spec.Appliance) string {
	for _, t := range a.Targets {
		if t.Install.Device != "" {
			return t.Install.Device
		}
	}
	return ""
}

// InstallerConfig returns the Ignition config an installer ISO or PXE
// boot runs live: coreos-installer writes FCOS with the appliance's config
// (res.Ignition) to dev, keeps the data partition on reinstall (as
// `--save-partlabel` does), and reboots into the installed system, where
// /dev/disk/by-id/coreos-boot-disk exists. It is what
// `coreos-installer iso customize --dest-device` produces, written by kiln
// so that no extra tool is needed.
func InstallerConfig(res *Result, dev string) ([]byte, error) {
	if dev == "" || !strings.HasPrefix(dev, "/dev/") {
		return nil, fmt.Errorf("%w: install device %q is not a /dev path", ErrButane, dev)
	}
	opts := installerOptions{DestDevice: dev, IgnitionFile: installerDestPath, Offline: true}
	if d := res.App.Data; d.Mode == spec.DataPartition {
		opts.SavePartlabel = []string{d.Label}
	}
	conf, err := yaml.Marshal(opts)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Written by kiln: install %s %s to %s, then reboot into it.\n", res.App.Name, res.App.Version, dev)
	cfg := butaneConfig{
		Variant: ButaneVariant, Version: ButaneVersion,
		Storage: butaneStorage{Files: []butaneFile{
			{Path: installerConfigPath, Mode: 0o600, Contents: butaneContents{Inline: text(head + string(conf))}},
			{Path: installerDestPath, Mode: 0o600, Contents: butaneContents{Inline: text(res.Ignition)}},
		}},
	}
	bu, err := marshalButane(&cfg)
	if err != nil {
		return nil, err
	}
	// Unlike the appliance's config, this one is compressed: the ISO's
	// embed area holds 256 KiB, and nobody reads the installer's copy.
	raw, r, err := butane.TranslateBytes(bu, common.TranslateBytesOptions{})
	if err == nil && len(r.Entries) > 0 {
		err = errors.New("warnings in generated config")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: installer config: %w\n%s", ErrButane, err, r.String())
	}
	return raw, nil
}
