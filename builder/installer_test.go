package builder

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/internal/judge"
)

// coreosInstallerConfig lists every directive of coreos-installer's config
// file (docs/customizing-install.md, "Config file format"); decoding with
// KnownFields refuses a key coreos-installer would not know.
type coreosInstallerConfig struct {
	Stream           string   `yaml:"stream"`
	ImageURL         string   `yaml:"image-url"`
	ImageFile        string   `yaml:"image-file"`
	IgnitionFile     string   `yaml:"ignition-file"`
	IgnitionURL      string   `yaml:"ignition-url"`
	IgnitionHash     string   `yaml:"ignition-hash"`
	Architecture     string   `yaml:"architecture"`
	Platform         string   `yaml:"platform"`
	Console          []string `yaml:"console"`
	AppendKarg       []string `yaml:"append-karg"`
	DeleteKarg       []string `yaml:"delete-karg"`
	CopyNetwork      bool     `yaml:"copy-network"`
	NetworkDir       string   `yaml:"network-dir"`
	SavePartlabel    []string `yaml:"save-partlabel"`
	SavePartindex    []string `yaml:"save-partindex"`
	Offline          bool     `yaml:"offline"`
	Insecure         bool     `yaml:"insecure"`
	InsecureIgnition bool     `yaml:"insecure-ignition"`
	StreamBaseURL    string   `yaml:"stream-base-url"`
	PreserveOnError  bool     `yaml:"preserve-on-error"`
	FetchRetries     any      `yaml:"fetch-retries"`
	SecureIPL        bool     `yaml:"secure-ipl"`
	DestDevice       string   `yaml:"dest-device"`
}

// TestInstallerConfigApplies runs the installer boot's config through the
// real Ignition engine and checks what coreos-installer will find: a config
// file with known directives that installs to the spec's disk offline,
// keeps the data partition, and carries the appliance's config unchanged.
func TestInstallerConfigApplies(t *testing.T) {
	res := renderCase(t, "clipper")
	dev := InstallDevice(res.App)
	if dev != "/dev/sda" {
		t.Fatalf("Clipper installs to %q, want /dev/sda", dev)
	}
	ign, err := InstallerConfig(res, dev)
	if err != nil {
		t.Fatal(err)
	}
	root, c := applyInstaller(t, ign)
	if c.DestDevice != "/dev/sda" || !c.Offline || c.IgnitionFile != installerDestPath ||
		strings.Join(c.SavePartlabel, ",") != "kiln-data" {
		t.Errorf("installer config = %+v", c)
	}
	st, err := os.Stat(filepath.Join(root, installerDestPath))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 0600 (it holds the whole appliance config)", installerDestPath, st.Mode().Perm())
	}
	dest, _ := os.ReadFile(filepath.Join(root, installerDestPath))
	if !bytes.Equal(dest, res.Ignition) {
		t.Errorf("the installed system would get a different config (%d bytes, want %d)", len(dest), len(res.Ignition))
	}
	// The live system must not run the appliance itself.
	if units, _ := os.ReadDir(filepath.Join(root, "etc/containers/systemd")); len(units) > 0 {
		t.Errorf("the installer's live system got the appliance's containers: %v", units)
	}
}

// TestInstallerKeepsNoPartitionWithoutOne: a volume appliance has no data
// partition on the install disk to keep.
func TestInstallerKeepsNoPartitionWithoutOne(t *testing.T) {
	res := renderCase(t, "volume")
	ign, err := InstallerConfig(res, "/dev/nvme0n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, c := applyInstaller(t, ign); len(c.SavePartlabel) > 0 || c.DestDevice != "/dev/nvme0n1" {
		t.Errorf("installer config = %+v, want dest /dev/nvme0n1 and no partition kept", c)
	}
	if _, err := InstallerConfig(res, "sda"); err == nil {
		t.Error("a device that is not a /dev path was accepted")
	}
}

// applyInstaller applies an installer config with Ignition and reads the
// coreos-installer config file it leaves, as coreos-installer would.
func applyInstaller(t *testing.T, ign []byte) (string, coreosInstallerConfig) {
	t.Helper()
	judge.ValidateIgnition(t, ign)
	root := judge.ApplyIgnition(t, ign)
	conf, err := os.ReadFile(filepath.Join(root, installerConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	var c coreosInstallerConfig
	dec := yaml.NewDecoder(bytes.NewReader(conf))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("coreos-installer would not read %s: %v\n%s", installerConfigPath, err, conf)
	}
	return root, c
}

// TestInstallerFitsTheISO: FCOS live ISOs reserve 256 KiB
// (images/ignition.img) for the embedded config initrd; Clipper's
// installer, which carries the whole appliance config, must fit with room
// to grow.
func TestInstallerFitsTheISO(t *testing.T) {
	res := renderCase(t, "clipper")
	ign, err := InstallerConfig(res, "/dev/sda")
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := images.ConfigInitrd(ign)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("appliance config %d bytes, installer config %d, its initrd %d", len(res.Ignition), len(ign), len(initrd))
	if len(initrd) > 128<<10 {
		t.Errorf("installer initrd is %d bytes; the ISO holds 256 KiB and this leaves too little room", len(initrd))
	}
}
