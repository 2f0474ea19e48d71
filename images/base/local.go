package base

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// ErrUnsigned is returned for a local base file without a signature beside
// it when unsigned bases are not allowed.
var ErrUnsigned = errors.New("local base artifact has no signature")

// LocalBase is what CheckLocal proved about a base file the user named.
type LocalBase struct {
	// SHA256 is the verified digest of a signed file; empty when the file
	// was used unverified or is a directory.
	SHA256 string
	// Signer is the signing key's identity; empty when unverified.
	Signer string
}

// CheckLocal decides whether a base artifact the user named by path may be
// used. A file with a detached signature beside it (FILE.sig, as Fedora
// publishes them) is verified against Fedora's keys (keyring, or the
// system's when nil); a directory of PXE files needs one per live file.
// Without a signature the file is refused unless insecure is set, as
// coreos-installer's --insecure. The file is never modified.
func CheckLocal(p string, insecure bool, keyring openpgp.EntityList) (LocalBase, error) {
	st, err := os.Stat(p)
	if err != nil {
		return LocalBase{}, err
	}
	files := []string{p}
	if st.IsDir() {
		ents, err := os.ReadDir(p)
		if err != nil {
			return LocalBase{}, err
		}
		files = nil
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".sig") || strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".sha256") {
				continue
			}
			files = append(files, filepath.Join(p, n))
		}
	}
	var out LocalBase
	for _, f := range files {
		sig := f + ".sig"
		if _, err := os.Stat(sig); err != nil {
			if insecure {
				continue
			}
			return LocalBase{}, fmt.Errorf("%w: %s has no %s beside it; download the .sig with it and kiln verifies it against Fedora's keys, or pass --insecure-base to use it unverified", ErrUnsigned, f, filepath.Base(sig))
		}
		if keyring == nil {
			if keyring, err = FedoraKeyring(); err != nil {
				return LocalBase{}, err
			}
		}
		v, err := VerifyLocal(f, LocalCheck{SignaturePath: sig}, keyring)
		if err != nil {
			return LocalBase{}, err
		}
		if rel := releaseInName(filepath.Base(f)); rel != "" {
			if err := checkSignerRelease(v, rel); err != nil {
				return LocalBase{}, fmt.Errorf("%s: %w", f, err)
			}
		}
		if !st.IsDir() {
			out = LocalBase{SHA256: v.SHA256, Signer: v.SignerIdentity}
		}
	}
	return out, nil
}

// releaseInName finds the release in an FCOS file name
// (fedora-coreos-42.20251012.3.0-metal.x86_64.raw.xz).
func releaseInName(name string) string {
	rest, ok := strings.CutPrefix(name, "fedora-coreos-")
	if !ok {
		return ""
	}
	rel, _, _ := strings.Cut(rest, "-")
	if strings.Count(rel, ".") != 3 {
		return ""
	}
	return rel
}

// streamOf is the stream an FCOS release belongs to: its third number
// says so (1 next, 2 testing, 3 stable).
func streamOf(release string) string {
	parts := strings.Split(release, ".")
	if len(parts) != 4 {
		return ""
	}
	return map[string]string{"1": "next", "2": "testing", "3": "stable"}[parts[2]]
}

// Import seeds the cache with a base artifact the user downloaded (for
// offline builds): the file must carry Fedora's name
// (fedora-coreos-RELEASE-metal.ARCH.raw.xz or -live.ARCH.iso) and its
// .sig beside it, which is verified as a download would be. The file is
// copied, never moved.
func (c *Cache) Import(ctx context.Context, p string, keyring openpgp.EntityList) (Entry, error) {
	name := filepath.Base(p)
	rel := releaseInName(name)
	stream := streamOf(rel)
	var format, arch string
	rest := strings.TrimPrefix(name, "fedora-coreos-"+rel+"-")
	switch {
	case strings.HasPrefix(rest, "metal.") && strings.HasSuffix(rest, ".raw.xz"):
		format, arch = "raw.xz", strings.TrimSuffix(strings.TrimPrefix(rest, "metal."), ".raw.xz")
	case strings.HasPrefix(rest, "live.") && strings.HasSuffix(rest, ".iso"):
		format, arch = "iso", strings.TrimSuffix(strings.TrimPrefix(rest, "live."), ".iso")
	}
	if rel == "" || stream == "" || format == "" || !safeName(arch) {
		return Entry{}, fmt.Errorf("%s: not an FCOS metal .raw.xz or live .iso by its name (fedora-coreos-RELEASE-metal.ARCH.raw.xz); import the file as Fedora publishes it", p)
	}
	if keyring == nil {
		var err error
		if keyring, err = FedoraKeyring(); err != nil {
			return Entry{}, err
		}
	}
	sig, err := os.ReadFile(p + ".sig")
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %s.sig: %w (kiln imports only signed artifacts)", ErrMissingSignature, p, err)
	}
	e, err := checkSignature(keyring, p, sig)
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", p, err)
	}
	digest, size, err := hashFile(p)
	if err != nil {
		return Entry{}, err
	}
	v := Verification{SHA256: digest, Size: size, ChecksumVerified: true}
	v.Signer, v.SignerIdentity = describeSigner(e)
	if err := checkSignerRelease(v, rel); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", p, err)
	}
	dir := c.dir(stream, rel, arch, "metal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Entry{}, err
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	if err := copyFile(filepath.Join(dir, name), p); err != nil {
		return Entry{}, err
	}
	if err := copyFile(filepath.Join(dir, name+".sig"), p+".sig"); err != nil {
		return Entry{}, err
	}
	rec, err := readRecord(dir)
	if err != nil {
		rec = &Record{}
	}
	rec.Stream, rec.Release, rec.Arch, rec.Platform = stream, rel, arch, "metal"
	if rec.Formats == nil {
		rec.Formats = map[string][]CachedFile{}
	}
	// The published digest is the one verified under the signature: the
	// cache re-verifies both before every use.
	rec.Formats[format] = []CachedFile{{Name: name, Role: RoleDisk, Published: RemoteFile{Location: "file://" + p, SHA256: v.SHA256}, Verified: v}}
	if err := writeRecord(dir, rec); err != nil {
		return Entry{}, err
	}
	return Entry{Record: *rec, Dir: dir, Size: v.Size}, nil
}

// copyFile copies src to dst through a partial file renamed into place,
// so the cache never holds half a file under its final name.
func copyFile(dst, src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), partialPrefix+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
