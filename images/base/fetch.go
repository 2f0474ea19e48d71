package base

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/renameio/v2"
)

// Fetched is an artifact whose files are in the cache and verified.
type Fetched struct {
	Artifact
	// Dir is the cache directory holding the files.
	Dir string
	// Files are the verified files, in the artifact's order.
	Files []CachedFile
}

// Path returns the cached path of the file with the given role (RoleDisk
// for disk images and ISOs; RoleKernel, RoleInitramfs, RoleRootfs for PXE).
func (f Fetched) Path(role string) (string, bool) {
	for _, cf := range f.Files {
		if cf.Role == role {
			return filepath.Join(f.Dir, cf.Name), true
		}
	}
	return "", false
}

// Fetch makes every file of the artifact available in the cache, verified by
// sha256 and by its detached signature against the keyring. A cached file is
// verified again before use; a file that fails is deleted and refused, and
// nothing unverified is ever left under its final name: downloads go to a
// temporary file renamed into place only after both checks pass.
func (c *Client) Fetch(ctx context.Context, a Artifact) (Fetched, error) {
	cache, err := c.cache()
	if err != nil {
		return Fetched{}, err
	}
	ring, err := c.keyring()
	if err != nil {
		return Fetched{}, err
	}
	if len(a.Files) == 0 {
		return Fetched{}, fmt.Errorf("%w: artifact %s %s %s has no files", ErrMetadata, a.Release, a.Platform, a.Format)
	}
	arch := a.Arch
	if arch == "" {
		arch = c.arch()
	}
	for _, part := range []string{a.Stream, a.Release, arch, a.Platform} {
		if !safeName(part) {
			return Fetched{}, fmt.Errorf("%w: unusable name %q in artifact", ErrMetadata, part)
		}
	}
	dir := cache.dir(a.Stream, a.Release, arch, a.Platform)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Fetched{}, err
	}
	// Two kiln runs fetching into the same directory would otherwise race
	// on the record and download everything twice.
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return Fetched{}, err
	}
	defer unlock()
	rec, err := readRecord(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return Fetched{}, err
		}
		rec = &Record{}
	}
	rec.Stream, rec.Release, rec.Arch, rec.Platform = a.Stream, a.Release, arch, a.Platform
	if rec.Formats == nil {
		rec.Formats = map[string][]CachedFile{}
	}
	out := Fetched{Artifact: a, Dir: dir}
	// Files placed by this call are unrecorded until the end; on failure
	// they go, so that the cache never holds a file its record does not
	// vouch for (a PXE set whose initramfs failed leaves no kernel behind).
	var placed []string
	fail := func(err error) (Fetched, error) {
		for _, p := range placed {
			_ = os.Remove(p)
			_ = os.Remove(p + ".sig")
		}
		return Fetched{}, err
	}
	for _, nf := range a.Files {
		cf, fresh, err := c.fetchFile(ctx, ring, dir, rec, nf)
		if err != nil {
			return fail(fmt.Errorf("%s %s %s %s: %w", a.Stream, a.Release, a.Platform, a.Format, err))
		}
		if fresh {
			placed = append(placed, filepath.Join(dir, cf.Name))
		}
		out.Files = append(out.Files, cf)
	}
	rec.Formats[a.Format] = out.Files
	if err := writeRecord(dir, rec); err != nil {
		return fail(err)
	}
	return out, nil
}

// Get resolves and fetches in one call: the newest release of stream that
// satisfies constraint, for platform and format, verified and cached.
func (c *Client) Get(ctx context.Context, stream, constraint, platform, format string) (Fetched, error) {
	a, err := c.Resolve(ctx, stream, constraint, platform, format)
	if err != nil {
		return Fetched{}, err
	}
	return c.Fetch(ctx, a)
}

// OpenLocal describes a base file the user supplied by path (offline
// builds, air-gapped sites) in the same shape as a fetched artifact. The
// file is verified as far as check allows (see VerifyLocal) and never
// modified, moved or deleted.
func OpenLocal(p, role string, check LocalCheck, keyring openpgp.EntityList) (Fetched, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return Fetched{}, err
	}
	v, err := VerifyLocal(abs, check, keyring)
	if err != nil {
		return Fetched{}, err
	}
	name := filepath.Base(abs)
	nf := NamedFile{Role: role, RemoteFile: RemoteFile{Location: "file://" + abs, SHA256: check.SHA256}}
	return Fetched{
		Artifact: Artifact{Files: []NamedFile{nf}},
		Dir:      filepath.Dir(abs),
		Files:    []CachedFile{{Name: name, Role: role, Published: nf.RemoteFile, Verified: v}},
	}, nil
}

// safeName refuses path elements that could leave the cache directory.
func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.HasPrefix(s, partialPrefix)
}

// fileName is the cache name of a published file: the last element of its URL.
func fileName(location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("%w: location %q: %w", ErrMetadata, location, err)
	}
	name := path.Base(u.Path)
	if !safeName(name) || name == recordName {
		return "", fmt.Errorf("%w: location %q has no usable file name", ErrMetadata, location)
	}
	return name, nil
}

func (c *Client) fetchFile(ctx context.Context, ring openpgp.EntityList, dir string, rec *Record, nf NamedFile) (cf CachedFile, fresh bool, err error) {
	name, err := fileName(nf.Location)
	if err != nil {
		return CachedFile{}, false, err
	}
	final := filepath.Join(dir, name)
	sigPath := final + ".sig"
	if known, ok := rec.lookup(name); ok && strings.EqualFold(known.Published.SHA256, nf.SHA256) {
		sig, err := os.ReadFile(sigPath)
		if err == nil {
			v, err := verifyFile(ring, final, nf.SHA256, sig)
			if err == nil {
				err = checkSignerRelease(v, rec.Release)
			}
			if err == nil {
				return CachedFile{Name: name, Role: nf.Role, Published: nf.RemoteFile, Verified: v}, false, nil
			}
			if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, os.ErrNotExist) {
				return CachedFile{}, false, err
			}
		}
		// A cached file that no longer verifies was damaged or tampered
		// with: it goes, and is fetched again if the network is allowed.
		_ = os.Remove(final)
		_ = os.Remove(sigPath)
		rec.forget(name)
		if err := writeRecord(dir, rec); err != nil {
			return CachedFile{}, false, err
		}
	}
	if c.Offline {
		return CachedFile{}, false, fmt.Errorf("%w: %s", ErrOffline, name)
	}
	if nf.Signature == "" {
		return CachedFile{}, false, fmt.Errorf("%w: the metadata gives no signature for %s; kiln refuses unsigned base artifacts (download it yourself and pass it as a local file with its sha256)", ErrMissingSignature, name)
	}
	sig, err := c.get(ctx, nf.Signature)
	if err != nil {
		if errors.Is(err, ErrHTTPStatus) && !errors.Is(err, ErrUnavailable) {
			return CachedFile{}, false, fmt.Errorf("%w for %s: %w; kiln refuses unsigned base artifacts (try again later, or another mirror)", ErrMissingSignature, name, err)
		}
		return CachedFile{}, false, err
	}
	tmp, err := c.download(ctx, dir, name, nf.Location)
	if err != nil {
		return CachedFile{}, false, err
	}
	v, err := verifyFile(ring, tmp, nf.SHA256, sig)
	if err == nil {
		err = checkSignerRelease(v, rec.Release)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return CachedFile{}, false, fmt.Errorf("%w; the download was deleted. Fetch again; if it fails again the mirror (%s) serves a damaged or forged file: use another mirror or report it", err, c.base())
	}
	if err := renameio.WriteFile(sigPath, sig, 0o644); err != nil {
		_ = os.Remove(tmp)
		return CachedFile{}, false, err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		_ = os.Remove(tmp)
		return CachedFile{}, false, err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return CachedFile{}, false, err
	}
	return CachedFile{Name: name, Role: nf.Role, Published: nf.RemoteFile, Verified: v}, true, nil
}

// forget drops every format that lists the named file: a format is only
// recorded while all of its files verify.
func (r *Record) forget(name string) {
	for format, files := range r.Formats {
		for _, f := range files {
			if f.Name == name {
				delete(r.Formats, format)
				break
			}
		}
	}
}

func (r *Record) lookup(name string) (CachedFile, bool) {
	for _, files := range r.Formats {
		for _, f := range files {
			if f.Name == name {
				return f, true
			}
		}
	}
	return CachedFile{}, false
}

// download streams url into a temporary file in dir and returns its path.
// On any failure, including cancellation, the temporary file is removed.
func (c *Client) download(ctx context.Context, dir, name, url string) (tmpPath string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := statusError(resp, url); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, partialPrefix+name+"-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var w io.Writer = f
	if c.Progress != nil {
		w = &progressWriter{w: f, name: name, total: resp.ContentLength, fn: c.Progress}
		c.Progress(name, 0, resp.ContentLength)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", fmt.Errorf("download %s: got %d of %d bytes: %w", url, n, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

type progressWriter struct {
	w     io.Writer
	name  string
	done  int64
	total int64
	fn    func(string, int64, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.fn(p.name, p.done, p.total)
	return n, err
}

// verifyFile checks the file at p against the published sha256 and the
// detached signature in one read. A wrong digest is reported before a bad
// signature, because it is the more specific diagnosis.
func verifyFile(ring openpgp.EntityList, p, wantSHA string, sig []byte) (Verification, error) {
	f, err := os.Open(p)
	if err != nil {
		return Verification{}, err
	}
	defer f.Close()
	h := sha256.New()
	counted := &countingHash{h: h}
	signer, sigErr := checkSignatureReader(ring, io.TeeReader(f, counted), sig)
	// The signature check stops early on a malformed signature; finish the
	// digest so the checksum diagnosis is still exact.
	if _, err := io.Copy(counted, f); err != nil {
		return Verification{}, err
	}
	v := Verification{SHA256: hex.EncodeToString(h.Sum(nil)), Size: counted.n}
	if err := checkDigest(filepath.Base(p), v.SHA256, wantSHA); err != nil {
		return v, err
	}
	v.ChecksumVerified = true
	if sigErr != nil {
		return v, sigErr
	}
	v.Signer, v.SignerIdentity = describeSigner(signer)
	return v, nil
}

type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.h.Write(b)
}
