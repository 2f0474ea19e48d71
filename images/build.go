package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
)

// buildGCPercent is the GOGC a build runs with; see Build.
const buildGCPercent = 20

// OutputName returns the file name Build gives a target.
func OutputName(name, version string, t Target) string {
	if fi, ok := LookupFormat(t.Format); ok && fi.Output != "" {
		return name + "-" + version + "-" + fi.Output
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
	defer b.closeShares()
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
	b.wantRootMap = slices.ContainsFunc(req.Targets, scansBase)
	for _, t := range b.writeOrder() {
		got, err := b.target(t)
		if err != nil {
			stopHashing()
			b.tap.finish(b, err)
			b.waitBases(false)
			return nil, fmt.Errorf("%s: %w", OutputName(req.Name, req.Version, t), err)
		}
		arts = append(arts, got...)
	}
	b.tap.finish(b, nil)
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
		fi, err := checkTarget(t)
		if err != nil {
			return err
		}
		if bi := baseInfo(fi.Base); !bi.Optional && r.base(fi.Base) == "" {
			return fmt.Errorf("%w: %s needs %s", ErrMissingBase, fi.Name, bi.Field)
		}
	}
	return nil
}

// base returns the path of the base artifact of kind k.
func (r *Request) base(k BaseKind) string {
	switch k {
	case ISOBase:
		return r.BaseISO
	case PXEBase:
		return r.BasePXE
	}
	return r.BaseImage
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
	// shares are the compressed members disk targets have in common,
	// by format.
	shares map[string]*memberShare
	// rootMap is the clusters of the base's root area, noted by the
	// first target that reads it whole, for the qcow2 targets after it.
	rootMap     *rootMap
	wantRootMap bool // a qcow2 target will use rootMap
	// tap, when set, takes the base disk's digest from a target's pass.
	tap *baseTap
}

// baseUse is one base artifact of the build and its digest, known or
// being computed.
type baseUse struct {
	kind                BaseKind
	path, name, release string
	sha256              string
	done                chan struct{}
	err                 error
}

func (b *builder) closeShares() {
	for _, s := range b.shares {
		s.close()
	}
}

func (b *builder) progress(artifact, step string) func(done, total int64) {
	if b.req.Progress == nil {
		return nil
	}
	return func(done, total int64) {
		b.req.Progress(ProgressEvent{Artifact: artifact, Step: step, Done: done, Total: total})
	}
}

// needs reports which kinds of base the targets read (an optional base
// only when it is given).
func (b *builder) needs() (disk, iso, pxe bool) {
	need := map[BaseKind]bool{}
	for _, t := range b.req.Targets {
		fi, _ := LookupFormat(t.Format)
		need[fi.Base] = need[fi.Base] || !baseInfo(fi.Base).Optional || b.req.base(fi.Base) != ""
	}
	return need[DiskBase], need[ISOBase], need[PXEBase]
}

// plannedNames lists every artifact the build will put in OutDir
// (manifest.json and SHA256SUMS are merged, not replaced).
func (b *builder) plannedNames() ([]string, error) {
	var names []string
	for _, t := range b.req.Targets {
		names = append(names, OutputName(b.req.Name, b.req.Version, t))
		if fi, _ := LookupFormat(t.Format); fi.extra != nil {
			more, err := fi.extra(b.req)
			if err != nil {
				return nil, err
			}
			names = append(names, more...)
		}
	}
	return names, nil
}

// target writes one target with its format's writer and returns the
// artifacts it produced, each with the digest taken while writing it.
func (b *builder) target(t Target) ([]Artifact, error) {
	fi, comp, _ := parseFormat(t.Format)
	name := OutputName(b.req.Name, b.req.Version, t)
	arts, err := fi.write(b, t, name, comp)
	if err != nil {
		return nil, err
	}
	for i := range arts {
		if arts[i].Name == name {
			arts[i].Platform, arts[i].Format = t.Platform, t.Format
			b.bootInfo(&arts[i], fi)
		}
	}
	return arts, nil
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
func (b *builder) bootInfo(a *Artifact, fi FormatInfo) {
	minDisk := b.req.MinDiskMiB
	disk := b.disk // the raw disk, also when BaseImage is compressed
	if disk == "" {
		disk = b.req.BaseImage
	}
	if st, err := os.Stat(disk); err == nil && disk != "" {
		minDisk = max(minDisk, (st.Size()+1<<20-1)>>20)
	}
	switch {
	case !fi.Live:
		a.Boot, a.MinDiskMiB = string(BootDisk), minDisk
	case len(b.req.LiveIgnition) > 0:
		a.Boot, a.InstallDevice, a.MinDiskMiB = string(BootInstaller), b.req.InstallDevice, minDisk
	default:
		a.Boot = string(BootLive)
	}
}
