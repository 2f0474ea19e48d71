package builder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/images/base"
)

// ErrNoTargets: nothing to build.
var ErrNoTargets = errors.New("no targets to build")

// BuildRequest asks for an appliance's images.
type BuildRequest struct {
	// Render is the spec to render; Rendered, when set, is used instead
	// (the CLI renders first to show the spec's warnings before a long
	// build).
	Render   Request
	Rendered *Result
	// OutDir receives the images, manifest.json and SHA256SUMS.
	OutDir string
	// Platforms selects targets of the spec (or adds a platform with its
	// default formats); Formats overrides the selected targets' formats.
	Platforms, Formats []string
	// BaseImage, BaseISO and BasePXE are local base artifacts (a metal
	// raw image, .xz or .gz accepted; a live ISO; a directory with the
	// live kernel, initramfs and rootfs). Empty means the spec's release,
	// from the cache or downloaded and verified.
	BaseImage, BaseISO, BasePXE string
	// InsecureBase allows local bases without a signature beside them.
	InsecureBase bool
	// Force replaces artifacts that already exist in OutDir.
	Force bool
	// PXEBaseURL is where the PXE files will be served from.
	PXEBaseURL string
	// Client fetches base artifacts; nil means Fedora's servers and the
	// default cache.
	Client *base.Client
	// SourceDateEpoch is the only time written into the outputs.
	SourceDateEpoch time.Time
	// KernelArgs are extra kernel arguments for ISO and PXE boots.
	KernelArgs  []string
	KilnVersion string
	// Progress reports the image writers' progress; Status reports steps
	// (resolving, verifying, decompressing) with byte counts.
	Progress func(images.ProgressEvent)
	Status   func(step string, done, total int64)
}

// BuildResult is what a build produced.
type BuildResult struct {
	Render   *Result
	Manifest *images.Manifest
}

// Build renders the spec and writes its images. Steps: 1 render, 2 choose
// targets, 3 find bases, 4 write images (all or nothing: images.Build
// stages the outputs and renames them when every target is done).
func Build(ctx context.Context, req BuildRequest) (*BuildResult, error) {
	res := req.Rendered
	if res == nil {
		var err error
		if res, err = Render(req.Render); err != nil {
			return &BuildResult{Render: res}, err
		}
	}
	out := &BuildResult{Render: res}
	targets, err := chooseTargets(res.App, req.Platforms, req.Formats)
	if err != nil {
		return out, err
	}
	bases, err := findBases(ctx, req, res.App, targets)
	if err != nil {
		return out, err
	}
	if err := os.MkdirAll(req.OutDir, 0o755); err != nil {
		return out, err
	}
	// ISO and PXE boot an installer when the spec names a disk.
	var live []byte
	dev := InstallDevice(res.App)
	if dev != "" {
		if live, err = InstallerConfig(res, dev); err != nil {
			return out, err
		}
	}
	m, err := images.Build(ctx, images.Request{
		LiveIgnition: live, InstallDevice: dev, MinDiskMiB: int64(spec.MinDiskMiB(res.App)),
		Ignition: res.Ignition, Name: res.App.Name, Version: res.App.Version, OutDir: req.OutDir,
		Targets: targets, BaseImage: bases.disk, BaseISO: bases.iso, BasePXE: bases.pxe,
		BaseRelease: bases.release, BaseSHA256: bases.sums, BaseNames: bases.names,
		BaseConstraint: res.App.Base.Release, DigestDir: bases.digests, Force: req.Force,
		PXE:             images.PXEOptions{BaseURL: req.PXEBaseURL},
		SourceDateEpoch: req.SourceDateEpoch, KernelArgs: req.KernelArgs,
		KilnVersion: req.KilnVersion, Progress: req.Progress,
	})
	out.Manifest = m
	return out, err
}

// chooseTargets applies --platform and --format to the spec's targets.
func chooseTargets(a *spec.Appliance, platforms, formats []string) ([]images.Target, error) {
	var chosen []spec.Target
	if len(platforms) == 0 {
		chosen = a.Targets
	}
	for _, p := range platforms {
		pl, known := images.LookupPlatform(p)
		if !known {
			return nil, fmt.Errorf("unknown platform %q (known: %s)", p, strings.Join(images.PlatformNames(), ", "))
		}
		t := spec.Target{Platform: p, Formats: pl.Formats}
		for _, st := range a.Targets {
			if st.Platform == p {
				t.Install, t.DiskGiB = st.Install, st.DiskGiB
				if len(st.Formats) > 0 {
					t.Formats = st.Formats
				}
			}
		}
		chosen = append(chosen, t)
	}
	for _, f := range formats {
		if _, known := images.LookupFormat(f); !known {
			return nil, fmt.Errorf("unknown format %q (known: %s)", f, strings.Join(images.FormatNames(), ", "))
		}
	}
	// --format applies to every chosen platform it fits: iso and pxe boot
	// bare metal, so `--platform qemu --platform metal --format qcow2
	// --format iso` means a qcow2 for each and an ISO for metal.
	used := map[string]bool{}
	var out []images.Target
	for _, t := range chosen {
		fs := t.Formats
		if len(fs) == 0 {
			pl, _ := images.LookupPlatform(t.Platform)
			fs = pl.Formats
		}
		override := len(formats) > 0
		if override {
			fs = formats
		}
		for _, f := range fs {
			if fi, _ := images.LookupFormat(f); !fi.Fits(t.Platform) {
				if override {
					continue
				}
				return nil, fmt.Errorf("format %s is for platform metal, not %s", f, t.Platform)
			}
			// --platform and --format can name combinations the spec
			// does not list; they must be able to boot too.
			if err := spec.CheckBoot(a, t, f); err != nil {
				return nil, err
			}
			used[f] = true
			out = append(out, images.Target{Platform: t.Platform, Format: f})
		}
	}
	for _, f := range formats {
		if !used[f] {
			return nil, fmt.Errorf("format %s fits none of the chosen platforms (iso and pxe are for --platform metal)", f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: add `targets:` to the spec or pass --platform", ErrNoTargets)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

type bases struct {
	disk, iso, pxe string
	release        string
	sums, names    map[string]string
	digests        string
}

// findBases locates the base artifacts the targets need: the user's
// local files (signed, or allowed unsigned with InsecureBase), or the
// spec's release from the verified cache. Every base that cannot be had
// is reported, each with what fixes it, in one error.
func findBases(ctx context.Context, req BuildRequest, a *spec.Appliance, targets []images.Target) (bases, error) {
	b := bases{sums: map[string]string{}, names: map[string]string{}}
	need := map[images.BaseKind]bool{}
	for _, t := range targets {
		fi, _ := images.LookupFormat(t.Format)
		need[fi.Base] = true
	}
	status := func(step string) func(done, total int64) {
		return func(done, total int64) {
			if req.Status != nil {
				req.Status(step, done, total)
			}
		}
	}
	client := req.Client
	if client == nil {
		client = &base.Client{}
	}
	if client.Progress == nil && req.Status != nil {
		client.Progress = func(name string, done, total int64) { req.Status("download "+name, done, total) }
	}
	cacheDir := ""
	if client.Cache != nil {
		cacheDir = client.Cache.Dir
	} else if d, err := base.DefaultCacheDir(); err == nil {
		cacheDir = d
	}
	if cacheDir != "" {
		b.digests = filepath.Join(cacheDir, "digests")
	}
	var errs []error
	fetch := func(bi images.BaseInfo) (base.Fetched, bool) {
		f, err := client.Get(ctx, a.Base.Stream, a.Base.Release, images.MetalPlatform, bi.FCOSFormat)
		if err != nil {
			errs = append(errs, fmt.Errorf("base %s (stream %s, release %q): %w — fix: `kiln base fetch --format %s` while online, `kiln base import FILE`, or %s FILE", bi.FCOSFormat, a.Base.Stream, a.Base.Release, err, bi.FCOSFormat, bi.Flag))
			return f, false
		}
		b.release = f.Release
		for _, cf := range f.Files {
			b.sums[filepath.Join(f.Dir, cf.Name)] = cf.Verified.SHA256
		}
		return f, true
	}
	local := func(p string) string {
		lb, err := base.CheckLocal(p, req.InsecureBase, nil)
		if err != nil {
			errs = append(errs, err)
			return ""
		}
		abs, _ := filepath.Abs(p)
		if lb.SHA256 != "" {
			b.sums[p], b.sums[abs] = lb.SHA256, lb.SHA256
		}
		return p
	}
	given := map[images.BaseKind]string{images.DiskBase: req.BaseImage, images.ISOBase: req.BaseISO, images.PXEBase: req.BasePXE}
	found := map[images.BaseKind]*string{images.DiskBase: &b.disk, images.ISOBase: &b.iso, images.PXEBase: &b.pxe}
	for _, bi := range images.Bases() {
		if !need[bi.Kind] {
			continue
		}
		if p := given[bi.Kind]; p != "" {
			// A compressed local disk base is decompressed by
			// images.Build, into the output directory's staging area.
			*found[bi.Kind] = local(p)
			continue
		}
		f, ok := fetch(bi)
		switch {
		case !ok:
		case bi.Kind == images.PXEBase:
			b.pxe = f.Dir // the live kernel, initramfs and rootfs
		case bi.Kind == images.DiskBase:
			// The stream's raw.xz, decompressed once into the cache.
			p, _ := f.Path(base.RoleDisk)
			dst := strings.TrimSuffix(p, ".xz")
			if err := base.Uncompress(ctx, p, dst, status("decompress "+filepath.Base(p))); err != nil {
				return b, err
			}
			b.disk = dst
			b.sums[dst], b.names[dst] = b.sums[p], filepath.Base(p)
		default:
			*found[bi.Kind], _ = f.Path(base.RoleDisk)
		}
	}
	return b, errors.Join(errs...)
}
