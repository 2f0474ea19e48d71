package builder

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"

	"gopkg.in/yaml.v3"
)

// The Butane document kiln writes. Butane's own Go types have no
// omitempty tags, so marshalling them would fill the .bu with nulls; these
// mirror the subset of fcos 1.6 that kiln uses and produce a file a person
// can read and diff between releases.

// ButaneVariant and ButaneVersion select the Butane spec (fcos 1.6 →
// Ignition 3.5), supported by every current FCOS release.
const (
	ButaneVariant = "fcos"
	ButaneVersion = "1.6.0"
)

type butaneConfig struct {
	Variant string        `yaml:"variant"`
	Version string        `yaml:"version"`
	Passwd  butanePasswd  `yaml:"passwd,omitempty"`
	Storage butaneStorage `yaml:"storage,omitempty"`
	Systemd butaneSystemd `yaml:"systemd,omitempty"`
}

type butanePasswd struct {
	Users []butaneUser `yaml:"users,omitempty"`
}

type butaneUser struct {
	Name              string   `yaml:"name"`
	Groups            []string `yaml:"groups,omitempty"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
}

type butaneStorage struct {
	Disks       []butaneDisk       `yaml:"disks,omitempty"`
	Filesystems []butaneFilesystem `yaml:"filesystems,omitempty"`
	Directories []butaneDirectory  `yaml:"directories,omitempty"`
	Files       []butaneFile       `yaml:"files,omitempty"`
}

type butaneDisk struct {
	Device     string            `yaml:"device"`
	WipeTable  bool              `yaml:"wipe_table"`
	Partitions []butanePartition `yaml:"partitions"`
}

type butanePartition struct {
	Number   int    `yaml:"number"`
	Label    string `yaml:"label"`
	StartMiB int    `yaml:"start_mib"`
	SizeMiB  int    `yaml:"size_mib"`
}

type butaneFilesystem struct {
	Device         string `yaml:"device"`
	Format         string `yaml:"format"`
	Label          string `yaml:"label"`
	WipeFilesystem bool   `yaml:"wipe_filesystem"`
}

type butaneDirectory struct {
	Path string     `yaml:"path"`
	Mode butaneMode `yaml:"mode"`
}

type butaneFile struct {
	Path     string         `yaml:"path"`
	Mode     butaneMode     `yaml:"mode"`
	User     *butaneOwner   `yaml:"user,omitempty"`
	Group    *butaneOwner   `yaml:"group,omitempty"`
	Contents butaneContents `yaml:"contents"`
}

type butaneOwner struct {
	Name string `yaml:"name"`
}

type butaneContents struct {
	Inline text `yaml:"inline"`
}

type butaneSystemd struct {
	Units []butaneUnit `yaml:"units,omitempty"`
}

type butaneUnit struct {
	Name     string `yaml:"name"`
	Enabled  *bool  `yaml:"enabled,omitempty"`
	Contents text   `yaml:"contents,omitempty"`
}

// butaneMode prints a file mode in octal (0644), as people write it; YAML
// reads a leading zero as octal, so Butane gets the same number.
type butaneMode fs.FileMode

// MarshalYAML writes the mode as an octal integer literal.
func (m butaneMode) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprintf("0%o", uint32(m))}, nil
}

// text is file or unit contents. Multi-line text is written as a literal
// block, so unit files and configs read in the .bu as on the server.
type text string

// MarshalYAML picks the literal style for multi-line text.
func (t text) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(t)}
	if strings.Contains(string(t), "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n, nil
}

// marshalButane writes the Butane document.
func marshalButane(c *butaneConfig) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
