// Package base finds, downloads, verifies and caches the Fedora CoreOS base
// artifacts kiln builds images from. It reads FCOS stream metadata, picks a
// release by a version constraint, checks every file against its sha256 and
// its detached OpenPGP signature by Fedora's keys (shipped in keys/), and
// keeps verified files in a cache so that later builds need no network.
package base

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// DefaultArch is the only architecture kiln builds for today.
const DefaultArch = "x86_64"

// Streams are the FCOS update streams, from most to least conservative.
var Streams = []string{"stable", "testing", "next"}

// Stream is the parsed stream metadata document
// (https://builds.coreos.fedoraproject.org/streams/<stream>.json).
type Stream struct {
	Stream        string          `json:"stream"`
	Metadata      Metadata        `json:"metadata"`
	Architectures map[string]Arch `json:"architectures"`
}

// Metadata carries the document's modification time, as published.
type Metadata struct {
	LastModified string `json:"last-modified"`
}

// Arch holds the artifacts of one architecture, keyed by platform
// (metal, qemu, digitalocean, …).
type Arch struct {
	Artifacts map[string]PlatformArtifacts `json:"artifacts"`
}

// PlatformArtifacts is the current release of one platform and its formats,
// keyed by format name (raw.xz, qcow2.xz, iso, pxe, …).
type PlatformArtifacts struct {
	Release string                 `json:"release"`
	Formats map[string]ImageFormat `json:"formats"`
}

// ImageFormat holds the files of one format: a disk, or kernel, initramfs
// and rootfs for PXE.
type ImageFormat struct {
	Disk      *RemoteFile `json:"disk,omitempty"`
	Kernel    *RemoteFile `json:"kernel,omitempty"`
	Initramfs *RemoteFile `json:"initramfs,omitempty"`
	Rootfs    *RemoteFile `json:"rootfs,omitempty"`
}

// RemoteFile is one published file with its integrity data.
type RemoteFile struct {
	Location           string `json:"location"`
	Signature          string `json:"signature"`
	SHA256             string `json:"sha256"`
	UncompressedSHA256 string `json:"uncompressed-sha256,omitempty"`
}

// ReleaseIndex is the parsed releases index of a stream
// (https://builds.coreos.fedoraproject.org/prod/streams/<stream>/releases.json),
// listing every release ever published on it, oldest first.
type ReleaseIndex struct {
	Stream   string         `json:"stream"`
	Metadata Metadata       `json:"metadata"`
	Releases []IndexRelease `json:"releases"`
}

// IndexRelease points at one release's metadata document.
type IndexRelease struct {
	Version     string `json:"version"`
	MetadataURL string `json:"metadata"`
}

// Release is the parsed metadata of one release (release.json in the
// release's build directory). Its shape differs from the stream's: platforms
// sit under "media" and formats under "artifacts".
type Release struct {
	Release       string                 `json:"release"`
	Stream        string                 `json:"stream"`
	Architectures map[string]ReleaseArch `json:"architectures"`
}

// ReleaseArch holds one architecture's platforms in a release document.
type ReleaseArch struct {
	Media map[string]ReleaseMedia `json:"media"`
}

// ReleaseMedia holds one platform's formats in a release document.
type ReleaseMedia struct {
	Artifacts map[string]ImageFormat `json:"artifacts"`
}

// ParseStream decodes stream metadata and checks that it names a stream and
// that every file has a location and a sha256.
func ParseStream(data []byte) (*Stream, error) {
	var s Stream
	if err := decode(data, &s); err != nil {
		return nil, err
	}
	if s.Stream == "" {
		return nil, fmt.Errorf("%w: stream metadata has no \"stream\" name", ErrMetadata)
	}
	for arch, a := range s.Architectures {
		for platform, p := range a.Artifacts {
			if p.Release == "" {
				return nil, fmt.Errorf("%w: architectures.%s.artifacts.%s has no release", ErrMetadata, arch, platform)
			}
			for format, f := range p.Formats {
				if err := f.check(fmt.Sprintf("architectures.%s.artifacts.%s.formats[%q]", arch, platform, format)); err != nil {
					return nil, err
				}
			}
		}
	}
	return &s, nil
}

// ParseReleaseIndex decodes a stream's releases index.
func ParseReleaseIndex(data []byte) (*ReleaseIndex, error) {
	var idx ReleaseIndex
	if err := decode(data, &idx); err != nil {
		return nil, err
	}
	for i, r := range idx.Releases {
		if r.Version == "" {
			return nil, fmt.Errorf("%w: releases[%d] has no version", ErrMetadata, i)
		}
	}
	return &idx, nil
}

// ParseRelease decodes one release's metadata document.
func ParseRelease(data []byte) (*Release, error) {
	var r Release
	if err := decode(data, &r); err != nil {
		return nil, err
	}
	if r.Release == "" {
		return nil, fmt.Errorf("%w: release metadata has no \"release\"", ErrMetadata)
	}
	for arch, a := range r.Architectures {
		for platform, m := range a.Media {
			for format, f := range m.Artifacts {
				if err := f.check(fmt.Sprintf("architectures.%s.media.%s.artifacts[%q]", arch, platform, format)); err != nil {
					return nil, err
				}
			}
		}
	}
	return &r, nil
}

// decode is lenient about unknown fields on purpose: Fedora adds fields
// (images, oci-image, …) that kiln does not use, and must not break on them.
func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMetadata, err)
	}
	return nil
}

// Files returns the format's files keyed by role (disk, kernel, initramfs,
// rootfs), in that fixed order.
func (f ImageFormat) Files() []NamedFile {
	var out []NamedFile
	for _, r := range []struct {
		role string
		f    *RemoteFile
	}{{RoleDisk, f.Disk}, {RoleKernel, f.Kernel}, {RoleInitramfs, f.Initramfs}, {RoleRootfs, f.Rootfs}} {
		if r.f != nil {
			out = append(out, NamedFile{Role: r.role, RemoteFile: *r.f})
		}
	}
	return out
}

func (f ImageFormat) check(where string) error {
	files := f.Files()
	if len(files) == 0 {
		return fmt.Errorf("%w: %s has no files", ErrMetadata, where)
	}
	for _, nf := range files {
		if nf.Location == "" || nf.SHA256 == "" {
			return fmt.Errorf("%w: %s.%s needs a location and a sha256", ErrMetadata, where, nf.Role)
		}
	}
	return nil
}

// Roles of the files in a format.
const (
	RoleDisk      = "disk"
	RoleKernel    = "kernel"
	RoleInitramfs = "initramfs"
	RoleRootfs    = "rootfs"
)

// NamedFile is a published file with the role it plays in its format.
type NamedFile struct {
	Role string `json:"role"`
	RemoteFile
}

// Platforms lists the platforms the stream publishes for arch, sorted.
func (s *Stream) Platforms(arch string) []string {
	return sortedKeys(s.Architectures[arch].Artifacts)
}

// Formats lists a platform's formats in the stream, sorted.
func (s *Stream) Formats(arch, platform string) []string {
	return sortedKeys(s.Architectures[arch].Artifacts[platform].Formats)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
