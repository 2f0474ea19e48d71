package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/kiln-dev/kiln/images/base"
)

// checkBases refuses bases that are cut short or of another release than
// the spec's base.release, and records each with its release.
func (b *builder) checkBases() error {
	disk, iso, pxe := b.needs()
	var errs []error
	add := func(kind BaseKind, path, release string) {
		if err := checkRelease(string(kind), path, release, b.req.BaseConstraint); err != nil {
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
				add(DiskBase, b.req.BaseImage, rel)
			}
		}
	}
	if iso {
		if volid, err := checkISOBase(b.req.BaseISO); err != nil {
			errs = append(errs, err)
		} else {
			add(ISOBase, b.req.BaseISO, findRelease(volid))
		}
	}
	if pxe {
		if rel, err := pxeRelease(b.req.BasePXE); err != nil {
			errs = append(errs, err)
		} else {
			add(PXEBase, b.req.BasePXE, rel)
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
	if err := checkRelease(string(DiskBase), b.req.BaseImage, rel, b.req.BaseConstraint); err != nil {
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
	u := &baseUse{kind: DiskBase, path: b.req.BaseImage, name: name, release: rel, sha256: sum}
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
		if u.sha256 != "" || u.kind == PXEBase {
			// A PXE base is hashed from its copies (target).
			close(u.done)
			continue
		}
		if u.kind == DiskBase && slices.ContainsFunc(b.req.Targets, mapsBase) {
			// A compressed disk target reads the base whole: its
			// pass hashes it too (baseTap); done closes then.
			b.tap = &baseTap{u: u}
			continue
		}
		go func() {
			defer close(u.done)
			if u.kind == PXEBase {
				u.sha256, u.err = hashDir(u.path)
			} else {
				var read *atomic.Int64
				if u.kind == DiskBase {
					read = &diskBaseRead
				}
				u.sha256, u.err = hashPath(ctx, u.path, read)
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
		out = append(out, BaseArtifact{Kind: string(u.kind), Name: u.name, Release: u.release, SHA256: u.sha256})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out, errors.Join(errs...)
}

// hashPath hashes a file, producing the zeros of its holes without
// reading them; read, when set, counts the bytes read.
func hashPath(ctx context.Context, path string, read *atomic.Int64) (string, error) {
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
	if err := streamSparse(ctx, h, fileSource{f: f, size: st.Size(), read: read}, st.Size(), nil); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
		s, err := hashPath(context.Background(), filepath.Join(dir, n), nil)
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
