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
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/images/base"
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
	// BaseImage is the FCOS metal raw image (uncompressed, or .xz/.gz,
	// which is decompressed into the output directory's staging area) for
	// disk targets, BaseISO the live ISO, BasePXE a directory with the
	// live kernel, initramfs and rootfs.
	BaseImage, BaseISO, BasePXE string
	// BaseRelease is the FCOS release the bases come from, when known
	// from their metadata; otherwise it is read from the bases themselves.
	BaseRelease string
	// BaseConstraint is the spec's base.release; a base whose own release
	// does not satisfy it is refused.
	BaseConstraint string
	// BaseSHA256 maps a base path to its verified sha256, and BaseNames
	// to the name to record for it (the verified download a decompressed
	// cache copy came from). Missing digests are taken from DigestDir or
	// computed once, beside the build.
	BaseSHA256, BaseNames map[string]string
	// DigestDir keeps base digests between builds, keyed by device,
	// inode, size and modification time; empty keeps none.
	DigestDir string
	// Force replaces artifacts that already exist in OutDir.
	Force bool
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
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Release string `json:"release,omitempty"`
	SHA256  string `json:"sha256"`
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

// buildGCPercent is the GOGC a build runs with; see Build.
const buildGCPercent = 20

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
// SHA256SUMS, and returns the manifest. Steps: 1 check the request, 2 lock
// the output directory and refuse to overwrite or mix, 3 check the bases
// (whole, of the right release), 4 check free space, 5 write each target
// into a staging directory inside OutDir, hashing every byte as it is
// written, 6 merge and write the manifest, 7 rename everything into
// place. A failure or a cancelled ctx leaves OutDir as it was; staging
// left by a killed build is removed by the next one. Base artifacts are
// only ever opened read-only.
func Build(ctx context.Context, req Request) (*Manifest, error) {
	// 1. Validate the request before touching anything.
	if err := req.validate(); err != nil {
		return nil, err
	}
	// The writers' live memory is bounded (a few MiB-sized buffers per
	// core, mostly pointer-free, so cheap to collect), but compressors
	// leave garbage behind and by default the heap grows to twice the
	// live data before a collection; collect earlier to keep the peak
	// RSS within budget whatever the format.
	defer debug.SetGCPercent(debug.SetGCPercent(buildGCPercent))
	// 2. The output directory: one build at a time, no silent overwrite,
	// no mixture of appliances, versions or configs.
	od, err := openOutDir(req.OutDir)
	if err != nil {
		return nil, err
	}
	defer od.close()
	sum := sha256.Sum256(req.Ignition)
	m := &Manifest{
		Appliance: req.Name, Version: req.Version, BaseRelease: req.BaseRelease,
		ConfigSHA256: hex.EncodeToString(sum[:]), KilnVersion: req.KilnVersion,
		SourceDateEpoch: req.SourceDateEpoch.Unix(), Bases: []BaseArtifact{}, Artifacts: []Artifact{},
	}
	prev, err := od.previous()
	if err != nil {
		return nil, err
	}
	if err := mergeManifest(&Manifest{Appliance: m.Appliance, Version: m.Version, ConfigSHA256: m.ConfigSHA256}, prev, req.OutDir); err != nil {
		return nil, err
	}
	b := &builder{req: &req, ctx: ctx, digests: digestStore{req.DigestDir}}
	planned, err := b.plannedNames()
	if err != nil {
		return nil, err
	}
	if err := od.checkExisting(planned, req.Force); err != nil {
		return nil, err
	}
	// 3. Bases: whole and of the release the spec asks for, before any
	// image-sized write (the free-space check below comes first).
	if err := b.checkBases(); err != nil {
		return nil, err
	}
	// 4. Free space, for what can be known before writing.
	if err := checkFreeSpace(req.OutDir, b.estimate()); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(req.OutDir, stagePrefix)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	b.stage = stage
	if err := b.prepareDiskBase(); err != nil {
		return nil, err
	}
	// Bases whose digest is not known are hashed once, beside the writers;
	// a failed build stops them.
	hashCtx, stopHashing := context.WithCancel(ctx)
	defer stopHashing()
	b.hashBases(hashCtx)
	// 5. Write each target into the staging directory.
	var arts []Artifact
	for _, t := range req.Targets {
		got, err := b.target(t)
		if err != nil {
			stopHashing()
			b.waitBases(false)
			return nil, fmt.Errorf("%s: %w", OutputName(req.Name, req.Version, t), err)
		}
		arts = append(arts, got...)
	}
	bases, err := b.waitBases(true)
	if err != nil {
		return nil, err
	}
	m.Bases = append(m.Bases, bases...)
	sort.Slice(arts, func(i, j int) bool { return arts[i].Name < arts[j].Name })
	m.Artifacts = append(m.Artifacts, arts...)
	if m.BaseRelease == "" {
		m.BaseRelease = b.release
	}
	// 6. Manifest and checksums, merged with what an earlier build of the
	// same appliance, version and config left.
	if err := mergeManifest(m, prev, req.OutDir); err != nil {
		return nil, err
	}
	if err := writeManifest(stage, m); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// 7. Move everything into place.
	for _, a := range append(arts, Artifact{Name: ManifestName}, Artifact{Name: SumsName}) {
		dst := filepath.Join(req.OutDir, filepath.FromSlash(a.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.Rename(filepath.Join(stage, filepath.FromSlash(a.Name)), dst); err != nil {
			return nil, err
		}
	}
	if d, err := os.Open(req.OutDir); err == nil {
		_ = d.Sync()
		d.Close()
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
	ctx     context.Context
	req     *Request
	stage   string
	digests digestStore
	// disk is the raw base disk the disk targets read: BaseImage, or its
	// decompressed copy in the staging directory.
	disk    string
	release string // read from the bases
	bases   []*baseUse
}

// baseUse is one base artifact of the build and its digest, known or
// being computed.
type baseUse struct {
	kind, path, name, release string
	sha256                    string
	done                      chan struct{}
	err                       error
}

func (b *builder) progress(artifact, step string) func(done, total int64) {
	if b.req.Progress == nil {
		return nil
	}
	return func(done, total int64) {
		b.req.Progress(ProgressEvent{Artifact: artifact, Step: step, Done: done, Total: total})
	}
}

// needs reports which kinds of base the targets read.
func (b *builder) needs() (disk, iso, pxe bool) {
	for _, t := range b.req.Targets {
		switch f, _, _ := ParseFormat(t.Format); f {
		case FormatISO:
			iso = true
		case FormatPXE:
			pxe = b.req.BasePXE != ""
		default:
			disk = true
		}
	}
	return
}

// plannedNames lists every artifact the build will put in OutDir
// (manifest.json and SHA256SUMS are merged, not replaced).
func (b *builder) plannedNames() ([]string, error) {
	var names []string
	for _, t := range b.req.Targets {
		names = append(names, OutputName(b.req.Name, b.req.Version, t))
		if f, _, _ := ParseFormat(t.Format); f == FormatPXE {
			p := b.req.Name + "-" + b.req.Version
			names = append(names, p+"-pxe.ipxe", p+"-pxe.grub.cfg", "matchbox/profiles/"+p+".json", "matchbox/groups/"+b.req.Name+".json")
			if b.req.BasePXE != "" {
				files, err := findPXEFiles(b.req.BasePXE)
				if err != nil {
					return nil, err
				}
				names = append(names, files.Kernel, files.Initramfs, files.Rootfs)
			}
		}
	}
	return names, nil
}

// checkBases refuses bases that are cut short or of another release than
// the spec's base.release, and records each with its release.
func (b *builder) checkBases() error {
	disk, iso, pxe := b.needs()
	var errs []error
	add := func(kind, path, release string) {
		if err := checkRelease(kind, path, release, b.req.BaseConstraint); err != nil {
			errs = append(errs, err)
		}
		if b.release == "" {
			b.release = release
		}
		name := filepath.Base(path)
		if n, ok := b.req.BaseNames[path]; ok {
			name = n
		}
		b.bases = append(b.bases, &baseUse{kind: kind, path: path, name: name, release: release})
	}
	if disk {
		// A compressed base is checked while it is decompressed
		// (prepareDiskBase): its stream's own checksum covers it.
		if !isCompressedBase(b.req.BaseImage) {
			if err := checkDiskBase(b.req.BaseImage); err != nil {
				errs = append(errs, err)
			} else if rel, err := diskRelease(b.req.BaseImage); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", b.req.BaseImage, err))
			} else {
				add("image", b.req.BaseImage, rel)
			}
		}
	}
	if iso {
		if volid, err := checkISOBase(b.req.BaseISO); err != nil {
			errs = append(errs, err)
		} else {
			add("iso", b.req.BaseISO, findRelease(volid))
		}
	}
	if pxe {
		if rel, err := pxeRelease(b.req.BasePXE); err != nil {
			errs = append(errs, err)
		} else {
			add("pxe", b.req.BasePXE, rel)
		}
	}
	return errors.Join(errs...)
}

func isCompressedBase(p string) bool {
	return strings.HasSuffix(p, ".xz") || strings.HasSuffix(p, ".gz")
}

// prepareDiskBase decompresses a compressed BaseImage into the staging
// directory (never the system's temporary directory: it is image-sized,
// and a killed build's staging is found and removed by the next), taking
// its digest on the way, then checks the result like any raw base.
func (b *builder) prepareDiskBase() error {
	disk, _, _ := b.needs()
	if !disk {
		return nil
	}
	b.disk = b.req.BaseImage
	if !isCompressedBase(b.req.BaseImage) {
		return nil
	}
	dst := filepath.Join(b.stage, ".base.raw")
	sum, err := base.UncompressHashed(b.ctx, b.req.BaseImage, dst, b.progress(filepath.Base(b.req.BaseImage), "decompress"))
	if err != nil {
		return err
	}
	if err := checkDiskBase(dst); err != nil {
		return fmt.Errorf("%s (decompressed): %w", b.req.BaseImage, err)
	}
	rel, err := diskRelease(dst)
	if err != nil {
		return fmt.Errorf("%s: %w", b.req.BaseImage, err)
	}
	if err := checkRelease("image", b.req.BaseImage, rel, b.req.BaseConstraint); err != nil {
		return err
	}
	if b.release == "" {
		b.release = rel
	}
	b.disk = dst
	name := filepath.Base(b.req.BaseImage)
	if n, ok := b.req.BaseNames[b.req.BaseImage]; ok {
		name = n
	}
	u := &baseUse{kind: "image", path: b.req.BaseImage, name: name, release: rel, sha256: sum}
	if s, ok := b.req.BaseSHA256[b.req.BaseImage]; ok {
		u.sha256 = s
	}
	b.bases = append(b.bases, u)
	return nil
}

// estimate is the space the outputs will take, as far as it is known
// before writing: uncompressed outputs take the base's data; compressed
// ones are counted at a quarter of it, FCOS's usual xz ratio.
func (b *builder) estimate() int64 {
	var need int64
	data := allocated(b.req.BaseImage)
	if isCompressedBase(b.req.BaseImage) {
		need += 4 * data // the decompressed copy, at FCOS's ratio
		data *= 4
	}
	for _, t := range b.req.Targets {
		f, comp, _ := ParseFormat(t.Format)
		switch {
		case f == FormatISO:
			need += allocated(b.req.BaseISO)
		case f == FormatPXE:
			if b.req.BasePXE != "" {
				if files, err := findPXEFiles(b.req.BasePXE); err == nil {
					for _, n := range []string{files.Kernel, files.Initramfs, files.Rootfs} {
						need += allocated(filepath.Join(b.req.BasePXE, n))
					}
				}
			}
		case comp != CompressNone:
			need += data / 4
		default:
			need += data
		}
	}
	return need
}

// hashBases starts a hash of every base whose digest is not known yet;
// waitBases collects them. A digest computed here is kept in DigestDir so
// the next build of the same file need not read it again.
func (b *builder) hashBases(ctx context.Context) {
	for _, u := range b.bases {
		u.done = make(chan struct{})
		if u.sha256 == "" {
			u.sha256 = b.req.BaseSHA256[u.path]
		}
		if u.sha256 == "" {
			u.sha256, _ = b.digests.get(u.path)
		}
		if u.sha256 != "" || u.kind == "pxe" {
			// A PXE base is hashed from its copies (target).
			close(u.done)
			continue
		}
		go func() {
			defer close(u.done)
			if u.kind == "pxe" {
				u.sha256, u.err = hashDir(u.path)
			} else {
				u.sha256, u.err = hashPath(ctx, u.path)
			}
			if u.err == nil {
				b.digests.put(u.path, u.sha256)
			}
		}()
	}
}

// waitBases waits for the base hashes; with finish, it also hashes what
// no writer did (a PXE base whose files were not copied) and returns
// the bases for the manifest.
func (b *builder) waitBases(finish bool) ([]BaseArtifact, error) {
	var out []BaseArtifact
	var errs []error
	for _, u := range b.bases {
		if u.done == nil {
			continue
		}
		<-u.done
		if !finish {
			continue
		}
		if u.err == nil && u.sha256 == "" {
			u.sha256, u.err = hashDir(u.path)
		}
		if u.err != nil {
			errs = append(errs, fmt.Errorf("hashing base %s: %w", u.path, u.err))
			continue
		}
		out = append(out, BaseArtifact{Kind: u.kind, Name: u.name, Release: u.release, SHA256: u.sha256})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out, errors.Join(errs...)
}

// hashPath hashes a file, producing the zeros of its holes without
// reading them.
func hashPath(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := streamSparse(ctx, h, fileSource{f, st.Size()}, st.Size(), nil); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// target writes one target and returns the artifacts it produced, each
// with the digest taken while writing it.
func (b *builder) target(t Target) ([]Artifact, error) {
	f, comp, _ := ParseFormat(t.Format)
	name := OutputName(b.req.Name, b.req.Version, t)
	art := func(sum string, size int64) []Artifact {
		a := Artifact{Name: name, Platform: t.Platform, Format: t.Format, Size: size, SHA256: sum}
		b.bootInfo(&a)
		return []Artifact{a}
	}
	switch f {
	case FormatPXE:
		initrd, err := ConfigInitrd(b.req.liveConfig())
		if err != nil {
			return nil, err
		}
		arts, err := buildPXE(b.ctx, b.stage, b.req, initrd)
		if err != nil {
			return nil, err
		}
		sums := map[string]string{}
		for i := range arts {
			if arts[i].Name == name {
				arts[i].Platform, arts[i].Format = t.Platform, t.Format
				b.bootInfo(&arts[i])
			}
			sums[arts[i].Name] = arts[i].SHA256
		}
		// The base PXE files were copied whole: their digests are the
		// copies', so the base directory is not read a second time.
		for _, u := range b.bases {
			if u.kind == "pxe" && u.sha256 == "" {
				if files, err := findPXEFiles(u.path); err == nil {
					u.sha256 = listingDigest(map[string]string{files.Kernel: sums[files.Kernel], files.Initramfs: sums[files.Initramfs], files.Rootfs: sums[files.Rootfs]})
				}
			}
		}
		return arts, nil
	case FormatISO:
		sum, size, err := writeISO(b.ctx, filepath.Join(b.stage, name), b.req.BaseISO, b.req.liveConfig(), b.req.KernelArgs, b.progress(name, "write"))
		if err != nil {
			return nil, err
		}
		return art(sum, size), nil
	}
	id := Platforms[t.Platform]
	out := filepath.Join(b.stage, name)
	if comp == CompressNone && (f == FormatRaw || f == FormatVHD) {
		// The staged head becomes the output: the rest of the disk is
		// written around it, sparsely, and hashed in the same pass.
		d, err := stageDisk(b.ctx, out, b.disk, b.req.Ignition, id, b.req.SourceDateEpoch)
		if err != nil {
			return nil, err
		}
		defer d.close()
		var pad int64
		var trailer []byte
		if f == FormatVHD {
			pad = vhdSize(d.size) - d.size
			trailer = vhdFooter(d.size+pad, b.req.SourceDateEpoch, b.vhdSeed(name))
		}
		sum, err := copyHashed(b.ctx, d.head.f, d, d.size, d.split, pad, trailer, b.progress(name, "write"))
		if err != nil {
			return nil, err
		}
		return art(sum, d.size+pad+int64(len(trailer))), nil
	}
	d, err := stageDisk(b.ctx, filepath.Join(b.stage, "."+name+".head"), b.disk, b.req.Ignition, id, b.req.SourceDateEpoch)
	if err != nil {
		return nil, err
	}
	defer os.Remove(d.head.f.Name())
	defer d.close()
	sum, size, err := b.convert(out, d, f, comp, name)
	if err != nil {
		return nil, err
	}
	return art(sum, size), nil
}

func (b *builder) vhdSeed(name string) []byte {
	return append([]byte(name+"\x00"), b.req.Ignition...)
}

// convert streams the disk into format f, compressed with comp, and
// returns the output's sha256 and size.
func (b *builder) convert(out string, d *stagedDisk, f Format, comp Compression, name string) (string, int64, error) {
	prog := b.progress(name, "write")
	return streamInto(out, d, d.size, comp, func(w io.Writer, src source, size int64) error {
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

// streamInto creates out (which must not exist) and lets write stream src
// into it through the compressor and a buffer; the bytes that reach the
// file are hashed on their way. It returns the digest and size of out,
// synced to disk.
func streamInto(out string, src source, size int64, comp Compression, write func(w io.Writer, src source, size int64) error) (string, int64, error) {
	dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", 0, err
	}
	defer dst.Close()
	hw := newHashingWriter(dst)
	finished := false
	defer func() {
		if !finished {
			hw.sum()
		}
	}()
	bw := bufio.NewWriterSize(hw, 1<<20)
	cw, err := compressor(bw, comp)
	if err != nil {
		return "", 0, err
	}
	if err := write(cw, src, size); err != nil {
		cw.Close()
		return "", 0, err
	}
	if err := cw.Close(); err != nil {
		return "", 0, err
	}
	if err := bw.Flush(); err != nil {
		return "", 0, err
	}
	finished = true
	sum, n := hw.sum()
	if err := dst.Sync(); err != nil {
		return "", 0, err
	}
	return sum, n, dst.Close()
}

// streamSparse writes all size bytes of src to w, producing zeros for holes
// without reading them.
func streamSparse(ctx context.Context, w io.Writer, src source, size int64, progress func(done, total int64)) error {
	buf := make([]byte, copyChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if data := src.dataAt(off); data > off {
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

// stagedDisk is a base disk with one platform's config embedded: the
// head (GPT, ESP and boot partition) staged in its own sparse file of the
// disk's size, the rest read from the base.
type stagedDisk struct {
	splitSource
	base *os.File
	size int64
}

func (d *stagedDisk) close() {
	d.head.f.Close()
	d.base.Close()
}

// stageDisk creates path as a sparse file of the base's size holding the
// base's head up to the end of the boot partition (and its backup GPT, so
// the file is a valid disk), and embeds config there. Only that head is
// copied: the root partition, most of the disk, is read from the base by
// whoever writes the output. path is removed on failure.
func stageDisk(ctx context.Context, path, basePath string, config []byte, platformID string, epoch time.Time) (d *stagedDisk, err error) {
	in, err := os.Open(basePath)
	if err != nil {
		return nil, err
	}
	st, err := in.Stat()
	if err != nil {
		in.Close()
		return nil, err
	}
	boot, err := findBoot(in)
	if err != nil {
		in.Close()
		return nil, err
	}
	size := st.Size()
	split := min(boot.Start+boot.Size, size)
	head, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		in.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			head.Close()
			in.Close()
			os.Remove(path)
		}
	}()
	if err := head.Truncate(size); err != nil {
		return nil, err
	}
	src := fileSource{in, size}
	if err := copyRange(ctx, head, src, 0, split); err != nil {
		return nil, err
	}
	if err := copyRange(ctx, head, src, max(split, size-copyChunk), size); err != nil {
		return nil, err
	}
	if err := embedDisk(path, config, platformID, epoch); err != nil {
		return nil, err
	}
	return &stagedDisk{splitSource: splitSource{head: fileSource{head, size}, tail: src, split: split}, base: in, size: size}, nil
}

// copyRange copies the data of src in [lo, hi) into dst at the same
// offsets, leaving holes and all-zero chunks unwritten.
func copyRange(ctx context.Context, dst *os.File, src source, lo, hi int64) error {
	buf := make([]byte, copyChunk)
	for off := lo; off < hi; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d := src.dataAt(off); d > off {
			off = d
			continue
		}
		n := min(int64(len(buf)), hi-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read base: %w", err)
		}
		if !isZero(buf[:n]) {
			if _, err := dst.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
		off += n
	}
	return nil
}

// WriteRaw writes a raw disk at out: the base with config embedded for
// platform, stored sparsely and synced. The base is opened read-only. out
// must not exist; it is removed on failure.
func WriteRaw(ctx context.Context, out, base string, config []byte, platform string, epoch time.Time, progress func(done, total int64)) (err error) {
	_, err = writeRaw(ctx, out, base, config, platform, epoch, progress)
	return err
}

// writeRaw is WriteRaw returning the output's sha256.
func writeRaw(ctx context.Context, out, base string, config []byte, platform string, epoch time.Time, progress func(done, total int64)) (string, error) {
	id, ok := Platforms[platform]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownPlatform, platform)
	}
	d, err := stageDisk(ctx, out, base, config, id, epoch)
	if err != nil {
		return "", err
	}
	defer d.close()
	sum, err := copyHashed(ctx, d.head.f, d, d.size, d.split, 0, nil, progress)
	if err != nil {
		os.Remove(out)
	}
	return sum, err
}

// hashDir hashes a base PXE directory as the sha256 of its SHA256SUMS-style
// listing of the live files, so it changes when any of them does.
func hashDir(dir string) (string, error) {
	files, err := findPXEFiles(dir)
	if err != nil {
		return "", err
	}
	sums := map[string]string{}
	for _, n := range []string{files.Kernel, files.Initramfs, files.Rootfs} {
		s, err := hashPath(context.Background(), filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		sums[n] = s
	}
	return listingDigest(sums), nil
}

// listingDigest is the sha256 of a SHA256SUMS-style listing, by name.
func listingDigest(sums map[string]string) string {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var list strings.Builder
	for _, n := range names {
		fmt.Fprintf(&list, "%s  %s\n", sums[n], n)
	}
	s := sha256.Sum256([]byte(list.String()))
	return hex.EncodeToString(s[:])
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
	disk := b.disk // the raw disk, also when BaseImage is compressed
	if disk == "" {
		disk = b.req.BaseImage
	}
	if st, err := os.Stat(disk); err == nil && disk != "" {
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
