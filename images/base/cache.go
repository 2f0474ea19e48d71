package base

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-version"
)

// recordName is the file, in each cache directory, that says what was
// verified there. A file the record does not vouch for is never used.
const recordName = "kiln-verified.json"

// partialPrefix marks downloads in progress; they are never listed or used.
const partialPrefix = ".kiln-partial-"

// Cache is a directory of verified base artifacts, laid out as
// <Dir>/<stream>/<release>/<arch>/<platform>/, each holding the artifact
// files, their .sig files and a kiln-verified.json record.
type Cache struct {
	// Dir is the cache's root directory.
	Dir string
}

// DefaultCacheDir returns where base artifacts are cached:
// $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln, with
// "fcos" appended so other kiln caches can live beside it.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("KILN_CACHE_DIR"); d != "" {
		return filepath.Join(d, "fcos"), nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kiln", "fcos"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set KILN_CACHE_DIR: %w", err)
	}
	return filepath.Join(home, ".cache", "kiln", "fcos"), nil
}

// Record is the content of a cache directory's kiln-verified.json.
type Record struct {
	Stream   string `json:"stream"`
	Release  string `json:"release"`
	Arch     string `json:"arch"`
	Platform string `json:"platform"`
	// Formats maps a format name to the files verified for it.
	Formats map[string][]CachedFile `json:"formats"`
}

// CachedFile is one verified file in the cache.
type CachedFile struct {
	// Name is the file's name in the cache directory.
	Name string `json:"name"`
	// Role is the file's role in its format (disk, kernel, …).
	Role string `json:"role"`
	// Published is what the metadata said about the file.
	Published RemoteFile `json:"published"`
	// Verified is what kiln proved about the bytes it holds.
	Verified Verification `json:"verified"`
}

// Entry describes one cached stream/release/platform directory.
type Entry struct {
	Record
	// Dir is the directory holding the files.
	Dir string `json:"dir"`
	// Size is the bytes used by the verified files.
	Size int64 `json:"size"`
}

// Path returns the cached path of a format's file with the given role.
func (e Entry) Path(format, role string) (string, bool) {
	for _, f := range e.Formats[format] {
		if f.Role == role {
			return filepath.Join(e.Dir, f.Name), true
		}
	}
	return "", false
}

func (c *Cache) dir(stream, release, arch, platform string) string {
	return filepath.Join(c.Dir, stream, release, arch, platform)
}

func readRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordName))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w %s: %w (delete the directory to refetch)", ErrCacheRecord, filepath.Join(dir, recordName), err)
	}
	return &r, nil
}

func writeRecord(dir string, r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(filepath.Join(dir, recordName), append(data, '\n'), 0o644)
}

// List returns what the cache holds, sorted by stream, then newest release
// first, then arch and platform.
func (c *Cache) List() ([]Entry, error) {
	records, err := filepath.Glob(filepath.Join(c.Dir, "*", "*", "*", "*", recordName))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, p := range records {
		dir := filepath.Dir(p)
		r, err := readRecord(dir)
		if err != nil {
			return nil, err
		}
		e := Entry{Record: *r, Dir: dir}
		for _, files := range r.Formats {
			for _, f := range files {
				e.Size += f.Verified.Size
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Stream != b.Stream {
			return a.Stream < b.Stream
		}
		if a.Release != b.Release {
			return releaseLess(b.Release, a.Release)
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		return a.Platform < b.Platform
	})
	return out, nil
}

// releaseLess orders release strings as versions, falling back to text for
// strings that are not versions, so a stray directory cannot break sorting.
func releaseLess(a, b string) bool {
	va, ea := version.NewVersion(a)
	vb, eb := version.NewVersion(b)
	if ea != nil || eb != nil {
		return a < b
	}
	return va.LessThan(vb)
}

// ReleaseRef names a release of a stream, e.g. the one a build uses.
type ReleaseRef struct {
	Stream  string
	Release string
}

// Prune keeps the keep newest releases of each stream, plus every release in
// inUse, and deletes the rest (with keep 0, all but the in-use releases go).
// It also sweeps leftover partial downloads. It returns what it removed.
func (c *Cache) Prune(keep int, inUse ...ReleaseRef) ([]Entry, error) {
	if keep < 0 {
		keep = 0
	}
	entries, err := c.List()
	if err != nil {
		return nil, err
	}
	pinned := map[ReleaseRef]bool{}
	for _, r := range inUse {
		pinned[r] = true
	}
	// Entries are sorted newest release first within a stream.
	kept := map[string][]string{}
	var removed []Entry
	for _, e := range entries {
		ref := ReleaseRef{e.Stream, e.Release}
		rels := kept[e.Stream]
		if pinned[ref] || contains(rels, e.Release) || len(rels) < keep {
			if !contains(rels, e.Release) {
				kept[e.Stream] = append(rels, e.Release)
			}
			continue
		}
		removed = append(removed, e)
	}
	for _, e := range removed {
		if err := os.RemoveAll(e.Dir); err != nil {
			return nil, err
		}
		removeEmptyParents(e.Dir, c.Dir)
	}
	if err := c.sweepPartials(); err != nil {
		return removed, err
	}
	return removed, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// removeEmptyParents deletes the now-empty release and stream directories
// above dir, stopping at root.
func removeEmptyParents(dir, root string) {
	for d := filepath.Dir(dir); strings.HasPrefix(d, root) && d != root; d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// sweepPartials removes downloads left behind by a killed process.
func (c *Cache) sweepPartials() error {
	return filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), partialPrefix) {
			return os.Remove(p)
		}
		return nil
	})
}

// find returns the newest cached artifact of stream that satisfies cons.
func (c *Cache) find(stream string, cons version.Constraints, arch, platform, format string) (Artifact, bool) {
	entries, err := c.List()
	if err != nil {
		return Artifact{}, false
	}
	for _, e := range entries {
		if e.Stream != stream || e.Arch != arch || e.Platform != platform {
			continue
		}
		files, ok := e.Formats[format]
		if !ok {
			continue
		}
		v, err := version.NewVersion(e.Release)
		if err != nil || (cons != nil && !cons.Check(v)) {
			continue
		}
		a := Artifact{Stream: stream, Release: e.Release, Arch: arch, Platform: platform, Format: format}
		for _, f := range files {
			a.Files = append(a.Files, NamedFile{Role: f.Role, RemoteFile: f.Published})
		}
		return a, true
	}
	return Artifact{}, false
}
