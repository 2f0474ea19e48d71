package images

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/kiln-dev/kiln/images/internal/ext4"
)

// ReleasePath is the file inside the Ignition config that describes the
// appliance release.
const ReleasePath = "/etc/kiln/release.json"

// InstallerDestPath is where an installer boot's live config keeps the
// appliance's config for coreos-installer to install.
const InstallerDestPath = "/etc/kiln/install/appliance.ign"

// Kinds of artifact Inspect recognises.
const (
	KindRaw    = "raw"
	KindQcow2  = "qcow2"
	KindVHD    = "vhd"
	KindISO    = "iso"
	KindInitrd = "initrd"
)

// InspectResult is what Inspect finds in an artifact.
//
// It holds two different hashes, on purpose. ConfigSHA256 covers the
// embedded Ignition file byte for byte (manifest.json's config_sha256).
// ConfigDigest is the appliance's configuration digest that the release
// file carries (and the SSH login banner shows): the generated Butane
// without the release file, plus the user's snippets; it cannot cover the
// release file that contains it.
type InspectResult struct {
	Kind         string          `json:"kind"`
	ConfigSHA256 string          `json:"config_sha256"`
	ConfigSize   int             `json:"config_size"`
	ConfigDigest string          `json:"config_digest,omitempty"`
	Platform     string          `json:"platform,omitempty"`
	Release      json.RawMessage `json:"release,omitempty"`
	// Installer is true for an ISO or PXE config that installs the
	// appliance to a disk; Config and the fields above then describe the
	// appliance's config it installs, InstallerSHA256 the live config.
	Installer       bool   `json:"installer,omitempty"`
	InstallerSHA256 string `json:"installer_sha256,omitempty"`
	Config          []byte `json:"-"`
}

// Inspect reads back the Ignition config embedded in a kiln output (raw,
// qcow2 or vhd disk, live ISO, or config initrd) and the release
// information it carries. Compressed outputs must be decompressed first.
func Inspect(path string) (*InspectResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, 0x8006)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	res := &InspectResult{}
	for _, fi := range formatTable {
		if !fi.sniff(head, f, st.Size()) {
			continue
		}
		res.Kind = fi.InspectKind
		if res.Config, res.Platform, err = fi.read(path, f, st.Size()); err != nil {
			return nil, err
		}
		return res.finish(), nil
	}
	if comp := sniffCompression(head); comp != CompressNone {
		return inspectCompressed(f, comp)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownArtifact, path)
}

func (res *InspectResult) finish() *InspectResult {
	if dest, ok := ignitionFile(res.Config, InstallerDestPath); ok {
		sum := sha256.Sum256(res.Config)
		res.Installer, res.InstallerSHA256, res.Config = true, hex.EncodeToString(sum[:]), dest
	}
	sum := sha256.Sum256(res.Config)
	res.ConfigSHA256 = hex.EncodeToString(sum[:])
	res.ConfigSize = len(res.Config)
	res.Release = releaseInfo(res.Config)
	var rel struct {
		ConfigDigest string `json:"config_digest"`
	}
	if res.Release != nil && json.Unmarshal(res.Release, &rel) == nil {
		res.ConfigDigest = rel.ConfigDigest
	}
	return res
}

// sniffCompression recognises the compressions kiln writes by magic.
func sniffCompression(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, []byte{0xFD, '7', 'z', 'X', 'Z', 0}):
		return CompressXZ
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return CompressGzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return CompressZstd
	}
	return CompressNone
}

// isConfigInitrd reports whether an xz file starts with a newc archive.
func isConfigInitrd(f *os.File) bool {
	r, err := decompressor(io.NewSectionReader(f, 0, 1<<62), CompressXZ)
	if err != nil {
		return false
	}
	defer r.Close()
	magic := make([]byte, 6)
	_, err = io.ReadFull(r, magic)
	return err == nil && string(magic) == "070701"
}

// inspectCompressed decompresses a disk output into a sparse temporary
// file and inspects that.
func inspectCompressed(f *os.File, comp Compression) (*InspectResult, error) {
	r, err := decompressor(f, comp)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tmp, err := os.CreateTemp("", "kiln-inspect-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	buf := make([]byte, copyChunk)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 && !isZero(buf[:n]) {
			if _, werr := tmp.WriteAt(buf[:n], off); werr != nil {
				return nil, werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
	}
	if err := tmp.Truncate(off); err != nil {
		return nil, err
	}
	return Inspect(tmp.Name())
}

// diskConfig reads the config and platform id out of an FCOS disk.
func diskConfig(r io.ReaderAt) ([]byte, string, error) {
	boot, err := findBoot(r)
	if err != nil {
		return nil, "", err
	}
	fs, err := ext4.Open(r, boot.Start)
	if err != nil {
		return nil, "", err
	}
	in, err := fs.Lookup(bootConfigPath)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrNoConfig, err)
	}
	cfg, err := fs.ReadFile(in)
	if err != nil {
		return nil, "", err
	}
	platform := ""
	if _, entry, err := findBLSEntry(fs); err == nil {
		if m := platformRE.Find(entry); m != nil {
			platform = strings.TrimPrefix(strings.TrimSpace(string(m)), "ignition.platform.id=")
		}
	}
	return cfg, platform, nil
}

// releaseInfo extracts /etc/kiln/release.json from an Ignition config, or
// nil when the config does not carry one.
func releaseInfo(config []byte) json.RawMessage {
	if data, ok := ignitionFile(config, ReleasePath); ok && json.Valid(data) {
		return json.RawMessage(data)
	}
	return nil
}

// ignitionFile returns the contents of the file at path in an Ignition
// config, when they are inline (a data URL, plain or gzip-compressed).
func ignitionFile(config []byte, path string) ([]byte, bool) {
	var c struct {
		Storage struct {
			Files []struct {
				Path     string `json:"path"`
				Contents struct {
					Source      string `json:"source"`
					Compression string `json:"compression"`
				} `json:"contents"`
			} `json:"files"`
		} `json:"storage"`
	}
	if json.Unmarshal(config, &c) != nil {
		return nil, false
	}
	for _, f := range c.Storage.Files {
		if f.Path != path {
			continue
		}
		data, ok := decodeDataURL(f.Contents.Source)
		switch {
		case !ok:
			return nil, false
		case f.Contents.Compression == "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, false
			}
			out, err := io.ReadAll(io.LimitReader(zr, 64<<20))
			return out, err == nil
		case f.Contents.Compression == "":
			return data, true
		}
		return nil, false
	}
	return nil, false
}

// decodeDataURL decodes an RFC 2397 data URL (percent-encoded or base64).
func decodeDataURL(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return nil, false
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, false
	}
	if strings.HasSuffix(meta, ";base64") {
		b, err := base64.StdEncoding.DecodeString(payload)
		return b, err == nil
	}
	b, err := url.PathUnescape(payload)
	return []byte(b), err == nil
}
