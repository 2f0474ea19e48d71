package images

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Platforms maps kiln's platform names to the ignition.platform.id values
// Fedora CoreOS knows.
var Platforms = map[string]string{
	"metal":        "metal",
	"qemu":         "qemu",
	"digitalocean": "digitalocean",
	"vultr":        "vultr",
	"hetzner":      "hetzner",
	"openstack":    "openstack",
	"azure":        "azure",
	"aws":          "aws",
	"proxmox":      "proxmoxve",
	"proxmoxve":    "proxmoxve",
	"gcp":          "gcp",
}

// Target is one output: a platform and a format such as "qcow2.xz".
type Target struct {
	Platform string
	Format   string
}

// ProgressEvent reports how far one artifact's step has come.
type ProgressEvent struct {
	Artifact string // output file name
	Step     string // "copy", "embed", "write", "hash"
	Done     int64  // bytes
	Total    int64  // bytes; 0 when unknown
}

// Request is everything Build needs.
type Request struct {
	// Ignition is the rendered, validated Ignition config.
	Ignition []byte
	// LiveIgnition, when set, is what ISO and PXE boots run instead of
	// Ignition: an installer that writes the appliance to InstallDevice
	// and reboots into it. Empty means they run the appliance live.
	LiveIgnition  []byte
	InstallDevice string
	// MinDiskMiB is the smallest disk the appliance's disk images and
	// installers need (the image and its data partition), for the manifest.
	MinDiskMiB int64
	// Name and Version name the outputs: <name>-<version>-<platform>.<format>.
	Name, Version string
	// OutDir receives the outputs; it must exist.
	OutDir string
	// Targets lists the outputs to write.
	Targets []Target
	// BaseImage is the FCOS metal raw image (uncompressed) for disk
	// targets, BaseISO the live ISO, BasePXE a directory with the live
	// kernel, initramfs and rootfs.
	BaseImage, BaseISO, BasePXE string
	// BaseRelease is the FCOS release the bases come from (for the manifest).
	BaseRelease string
	// BaseSHA256 maps a base path to its verified sha256; missing entries
	// are computed.
	BaseSHA256 map[string]string
	// PXE says where PXE artifacts are served.
	PXE PXEOptions
	// SourceDateEpoch is the only time that reaches the outputs.
	SourceDateEpoch time.Time
	// KernelArgs are appended for ISO and PXE boots.
	KernelArgs []string
	// KilnVersion is recorded in the manifest.
	KilnVersion string
	// Progress, when set, receives progress events (from the calling
	// goroutine; keep it quick).
	Progress func(ProgressEvent)
}

// Artifact describes one output file.
type Artifact struct {
	Name     string `json:"name"`
	Platform string `json:"platform,omitempty"`
	Format   string `json:"format,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// Boot is disk (the server's disk), live (runs from RAM) or installer
	// (installs to InstallDevice and reboots).
	Boot          string `json:"boot,omitempty"`
	InstallDevice string `json:"install_device,omitempty"`
	// MinDiskMiB is the smallest disk the artifact boots from (disk) or
	// installs to (installer).
	MinDiskMiB int64 `json:"min_disk_mib,omitempty"`
}

// BaseArtifact describes one base artifact an output was made from.
type BaseArtifact struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Manifest records what a build produced and from what.
type Manifest struct {
	Appliance       string         `json:"appliance"`
	Version         string         `json:"version"`
	BaseRelease     string         `json:"base_release,omitempty"`
	Bases           []BaseArtifact `json:"bases"`
	ConfigSHA256    string         `json:"config_sha256"`
	KilnVersion     string         `json:"kiln_version,omitempty"`
	SourceDateEpoch int64          `json:"source_date_epoch"`
	Artifacts       []Artifact     `json:"artifacts"`
}

// OutputName returns the file name Build gives a target.
func OutputName(name, version string, t Target) string {
	switch {
	case t.Format == string(FormatISO):
		return name + "-" + version + "-live.iso"
	case t.Format == string(FormatPXE):
		return name + "-" + version + "-pxe.ign.img"
	}
	return name + "-" + version + "-" + t.Platform + "." + t.Format
}

// Build writes every target of req into req.OutDir, plus manifest.json and
// SHA256SUMS, and returns the manifest. Outputs are assembled in a staging
// directory inside OutDir and renamed into place only when all of them
// are complete, so a failure or a cancelled ctx leaves OutDir as it was.
// Base artifacts are only ever opened read-only.
func Build(ctx context.Context, req Request) (*Manifest, error) {
	// 1. Validate the request before touching anything.
	if err := req.validate(); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(req.OutDir, ".kiln-stage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	b := &builder{req: &req, stage: stage, ctx: ctx}
	sum := sha256.Sum256(req.Ignition)
	m := &Manifest{
		Appliance: req.Name, Version: req.Version, BaseRelease: req.BaseRelease,
		ConfigSHA256: hex.EncodeToString(sum[:]), KilnVersion: req.KilnVersion,
		SourceDateEpoch: req.SourceDateEpoch.Unix(), Bases: []BaseArtifact{}, Artifacts: []Artifact{},
	}
	// 2. Write each target into the staging directory.
	var names []string
	for _, t := range req.Targets {
		got, err := b.target(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", OutputName(req.Name, req.Version, t), err)
		}
		names = append(names, got...)
	}
	// 3. Hash outputs and bases.
	sort.Strings(names)
	for _, n := range names {
		a, err := b.describe(n)
		if err != nil {
			return nil, err
		}
		m.Artifacts = append(m.Artifacts, a)
	}
	for _, base := range b.basesUsed() {
		s, ok := req.BaseSHA256[base.path]
		if !ok {
			if s, err = b.hashFile(base.path, "base "+filepath.Base(base.path)); err != nil {
				return nil, err
			}
		}
		m.Bases = append(m.Bases, BaseArtifact{Kind: base.kind, Name: filepath.Base(base.path), SHA256: s})
	}
	// 4. Manifest and checksums.
	if err := writeManifest(stage, m); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// 5. Move everything into place.
	for _, n := range append(names, ManifestName, SumsName) {
		dst := filepath.Join(req.OutDir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.Rename(filepath.Join(stage, filepath.FromSlash(n)), dst); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (r *Request) validate() error {
	if len(r.Ignition) == 0 || r.Name == "" || r.Version == "" || r.OutDir == "" {
		return fmt.Errorf("%w: Ignition, Name, Version and OutDir are required", ErrBadRequest)
	}
	if strings.ContainsAny(r.Name+r.Version, "/\\ ") {
		return fmt.Errorf("%w: name and version must not contain slashes or spaces", ErrBadRequest)
	}
	if len(r.Targets) == 0 {
		return fmt.Errorf("%w: no targets", ErrBadRequest)
	}
	for _, t := range r.Targets {
		f, _, err := ParseFormat(t.Format)
		if err != nil {
			return err
		}
		if _, ok := Platforms[t.Platform]; !ok && !(f == FormatISO || f == FormatPXE) {
			return fmt.Errorf("%w: %q", ErrUnknownPlatform, t.Platform)
		}
		if (f == FormatISO || f == FormatPXE) && t.Platform != "" && t.Platform != "metal" {
			return fmt.Errorf("%w: %s boots as metal, not %q", ErrUnknownPlatform, f, t.Platform)
		}
		switch {
		case f == FormatISO && r.BaseISO == "":
			return fmt.Errorf("%w: iso needs BaseISO", ErrMissingBase)
		case (f == FormatRaw || f == FormatQcow2 || f == FormatVHD) && r.BaseImage == "":
			return fmt.Errorf("%w: %s needs BaseImage", ErrMissingBase, f)
		}
	}
	return nil
}

// builder is the state of one Build.
type builder struct {
	ctx   context.Context
	req   *Request
	stage string
	used  map[string]string // base path -> kind
}

type baseUse struct{ path, kind string }

func (b *builder) useBase(path, kind string) {
	if b.used == nil {
		b.used = map[string]string{}
	}
	b.used[path] = kind
}

func (b *builder) basesUsed() []baseUse {
	var out []baseUse
	for p, k := range b.used {
		out = append(out, baseUse{p, k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func (b *builder) progress(artifact, step string) func(done, total int64) {
	if b.req.Progress == nil {
		return nil
	}
	return func(done, total int64) {
		b.req.Progress(ProgressEvent{Artifact: artifact, Step: step, Done: done, Total: total})
	}
}

// target writes one target and returns the staged names it produced.
func (b *builder) target(t Target) ([]string, error) {
	f, comp, _ := ParseFormat(t.Format)
	name := OutputName(b.req.Name, b.req.Version, t)
	switch f {
	case FormatPXE:
		initrd, err := ConfigInitrd(b.req.liveConfig())
		if err != nil {
			return nil, err
		}
		if b.req.BasePXE != "" {
			b.useBase(b.req.BasePXE, "pxe")
		}
		return buildPXE(b.ctx, b.stage, b.req, initrd)
	case FormatISO:
		b.useBase(b.req.BaseISO, "iso")
		initrd, err := ConfigInitrd(b.req.liveConfig())
		if err != nil {
			return nil, err
		}
		out := filepath.Join(b.stage, name)
		if err := copyInto(b.ctx, out, b.req.BaseISO); err != nil {
			return nil, err
		}
		if err := embedISO(out, initrd, b.req.KernelArgs); err != nil {
			return nil, err
		}
		return []string{name}, nil
	}
	b.useBase(b.req.BaseImage, "image")
	raw := filepath.Join(b.stage, "."+name+".raw")
	if err := WriteRaw(b.ctx, raw, b.req.BaseImage, b.req.Ignition, t.Platform, b.req.SourceDateEpoch, b.progress(name, "copy")); err != nil {
		return nil, err
	}
	defer os.Remove(raw)
	out := filepath.Join(b.stage, name)
	if comp == CompressNone && (f == FormatRaw || f == FormatVHD) {
		// Keep the sparse file as it is: no byte needs to move.
		if err := os.Rename(raw, out); err != nil {
			return nil, err
		}
		if f == FormatVHD {
			if err := finishVHD(out, b.vhdSeed(name), b.req.SourceDateEpoch); err != nil {
				return nil, err
			}
		}
		return []string{name}, nil
	}
	if err := b.convert(out, raw, f, comp, name); err != nil {
		return nil, err
	}
	return []string{name}, nil
}

func (b *builder) vhdSeed(name string) []byte {
	return append([]byte(name+"\x00"), b.req.Ignition...)
}

// convert streams the raw disk at raw into format f, compressed with comp.
func (b *builder) convert(out, raw string, f Format, comp Compression, name string) error {
	prog := b.progress(name, "write")
	return streamInto(out, raw, comp, func(w io.Writer, src *os.File, size int64) error {
		switch f {
		case FormatQcow2:
			return writeQcow2(b.ctx, w, src, size, prog)
		case FormatVHD:
			vsize := vhdSize(size)
			if err := streamSparse(b.ctx, w, src, size, prog); err != nil {
				return err
			}
			if err := writeZeros(w, vsize-size); err != nil {
				return err
			}
			_, err := w.Write(vhdFooter(vsize, b.req.SourceDateEpoch, b.vhdSeed(name)))
			return err
		default:
			return streamSparse(b.ctx, w, src, size, prog)
		}
	})
}

// streamInto opens the raw disk at raw, creates out (which must not exist)
// and lets write stream into it through a buffer and the compressor.
func streamInto(out, raw string, comp Compression, write func(w io.Writer, src *os.File, size int64) error) error {
	src, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer dst.Close()
	bw := bufio.NewWriterSize(dst, 1<<20)
	cw, err := compressor(bw, comp)
	if err != nil {
		return err
	}
	if err := write(cw, src, st.Size()); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return dst.Close()
}

// finishVHD turns a raw file into a fixed VHD in place: pad to a whole
// MiB and append the footer.
func finishVHD(path string, seed []byte, epoch time.Time) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := vhdSize(st.Size())
	if err := f.Truncate(size); err != nil {
		return err
	}
	if _, err := f.WriteAt(vhdFooter(size, epoch, seed), size); err != nil {
		return err
	}
	return f.Close()
}

// streamSparse writes all size bytes of src to w, producing zeros for holes
// without reading them.
func streamSparse(ctx context.Context, w io.Writer, src *os.File, size int64, progress func(done, total int64)) error {
	buf := make([]byte, copyChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(int(src.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			data = size
		} else if err != nil {
			data = off
		}
		if data > off {
			if err := writeZeros(w, data-off); err != nil {
				return err
			}
			off = data
			continue
		}
		n := min(int64(len(buf)), size-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
		if progress != nil {
			progress(off, size)
		}
	}
	return nil
}

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeroChunk)))
		if _, err := w.Write(zeroChunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// WriteRaw writes a raw disk at out: a copy of base (reflinked when the
// filesystem allows, else sparse) with config embedded for platform. The
// base is opened read-only. out must not exist; it is removed on failure.
func WriteRaw(ctx context.Context, out, base string, config []byte, platform string, epoch time.Time, progress func(done, total int64)) (err error) {
	id, ok := Platforms[platform]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPlatform, platform)
	}
	in, err := os.Open(base)
	if err != nil {
		return err
	}
	defer in.Close()
	dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		dst.Close()
		if err != nil {
			os.Remove(out)
		}
	}()
	if err := cloneOrSparseCopy(ctx, dst, in, progress); err != nil {
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return embedDisk(out, config, id, epoch)
}

func (b *builder) hashFile(path, label string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return hashDir(path)
	}
	h := sha256.New()
	if err := streamSparse(b.ctx, h, f, st.Size(), b.progress(label, "hash")); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashDir hashes a base PXE directory as the sha256 of its SHA256SUMS-style
// listing, so it changes when any file does.
func hashDir(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var list strings.Builder
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&list, "%x  %s\n", h.Sum(nil), e.Name())
	}
	s := sha256.Sum256([]byte(list.String()))
	return hex.EncodeToString(s[:]), nil
}

func (b *builder) describe(name string) (Artifact, error) {
	p := filepath.Join(b.stage, filepath.FromSlash(name))
	st, err := os.Stat(p)
	if err != nil {
		return Artifact{}, err
	}
	s, err := b.hashFile(p, name)
	if err != nil {
		return Artifact{}, err
	}
	a := Artifact{Name: name, Size: st.Size(), SHA256: s}
	for _, t := range b.req.Targets {
		if OutputName(b.req.Name, b.req.Version, t) == name {
			a.Platform, a.Format = t.Platform, t.Format
			b.bootInfo(&a)
		}
	}
	return a, nil
}

// liveConfig is the config ISO and PXE boots run.
func (r *Request) liveConfig() []byte {
	if len(r.LiveIgnition) > 0 {
		return r.LiveIgnition
	}
	return r.Ignition
}

// bootInfo records how an artifact boots and the disk it needs: at least
// the base image (FCOS's are 10 GiB) and what the spec's data partition
// adds.
func (b *builder) bootInfo(a *Artifact) {
	f, _, _ := ParseFormat(a.Format)
	minDisk := b.req.MinDiskMiB
	if st, err := os.Stat(b.req.BaseImage); err == nil && b.req.BaseImage != "" {
		minDisk = max(minDisk, (st.Size()+1<<20-1)>>20)
	}
	switch {
	case f != FormatISO && f != FormatPXE:
		a.Boot, a.MinDiskMiB = "disk", minDisk
	case len(b.req.LiveIgnition) > 0:
		a.Boot, a.InstallDevice, a.MinDiskMiB = "installer", b.req.InstallDevice, minDisk
	default:
		a.Boot = "live"
	}
}
