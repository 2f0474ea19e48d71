package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockName is the advisory lock of an output directory; stagePrefix names
// the staging directories builds assemble their outputs in.
const (
	lockName    = ".kiln-lock"
	stagePrefix = ".kiln-stage-"
)

// outDir is an output directory held by one build.
type outDir struct {
	dir  string
	lock *os.File
}

// openOutDir takes the output directory's lock, without waiting: two
// builds writing one directory would interleave their manifests. Holding
// the lock, it removes staging directories left by builds that died
// (SIGKILL, power loss): no live build can own them, since a build holds
// the lock for as long as its staging directory exists.
func openOutDir(dir string) (*outDir, error) {
	path := filepath.Join(dir, lockName)
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: %s (wait for the other kiln build to finish, or write to another directory with -o)", ErrLocked, dir)
			}
			return nil, err
		}
		// The holder before us removes the lock file when it is done; a
		// lock on a file no longer at path locks nothing: take it again.
		var a, b unix.Stat_t
		if unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(path, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			o := &outDir{dir: dir, lock: f}
			stale, _ := filepath.Glob(filepath.Join(dir, stagePrefix+"*"))
			for _, s := range stale {
				if err := os.RemoveAll(s); err != nil {
					o.close()
					return nil, fmt.Errorf("removing the staging directory of an interrupted build: %w", err)
				}
			}
			return o, nil
		}
		f.Close()
		if attempt == 10 {
			return nil, fmt.Errorf("%w: %s (the lock file keeps changing)", ErrLocked, dir)
		}
	}
}

// close removes the lock file while still holding the lock, so the
// directory holds only artifacts once the build is over.
func (o *outDir) close() {
	_ = os.Remove(o.lock.Name())
	_ = syscall.Flock(int(o.lock.Fd()), syscall.LOCK_UN)
	o.lock.Close()
}

// checkExisting refuses to replace artifacts that are already there unless
// force is set, as Packer's and mkosi's --force do.
func (o *outDir) checkExisting(names []string, force bool) error {
	if force {
		return nil
	}
	var there []string
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(o.dir, filepath.FromSlash(n))); err == nil {
			there = append(there, n)
		}
	}
	if len(there) == 0 {
		return nil
	}
	sort.Strings(there)
	return fmt.Errorf("%w in %s: %s (pass --force to replace them, or write to another directory with -o)", ErrOutputExists, o.dir, strings.Join(there, ", "))
}

// previous reads the manifest a former build left, or nil.
func (o *outDir) previous() (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(o.dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w (move it away, or write to another directory with -o)", ErrMixedOutput, filepath.Join(o.dir, ManifestName), err)
	}
	return &m, nil
}

// mergeManifest adds the artifacts of an earlier build of the same
// appliance, version and config to m, so building one target at a time
// leaves every artifact listed. Artifacts of another appliance, version or
// config in one directory would make SHA256SUMS vouch for a mixture:
// refused.
func mergeManifest(m, prev *Manifest, dir string) error {
	if prev == nil {
		return nil
	}
	if prev.Appliance != m.Appliance || prev.Version != m.Version {
		return fmt.Errorf("%w: %s holds %s %s, this build is %s %s (write each version to its own directory with -o)", ErrMixedOutput, dir, prev.Appliance, prev.Version, m.Appliance, m.Version)
	}
	if prev.ConfigSHA256 != m.ConfigSHA256 {
		return fmt.Errorf("%w: %s holds %s %s built from another config (sha256 %.12s…, now %.12s…): a changed spec needs a new version, or another directory with -o", ErrMixedOutput, dir, m.Appliance, m.Version, prev.ConfigSHA256, m.ConfigSHA256)
	}
	have := map[string]bool{}
	for _, a := range m.Artifacts {
		have[a.Name] = true
	}
	for _, a := range prev.Artifacts {
		if !have[a.Name] {
			m.Artifacts = append(m.Artifacts, a)
		}
	}
	sort.Slice(m.Artifacts, func(i, j int) bool { return m.Artifacts[i].Name < m.Artifacts[j].Name })
	seen := map[BaseArtifact]bool{}
	for _, b := range m.Bases {
		seen[b] = true
	}
	for _, b := range prev.Bases {
		if !seen[b] {
			m.Bases = append(m.Bases, b)
		}
	}
	sort.Slice(m.Bases, func(i, j int) bool {
		if m.Bases[i].Kind != m.Bases[j].Kind {
			return m.Bases[i].Kind < m.Bases[j].Kind
		}
		return m.Bases[i].Name < m.Bases[j].Name
	})
	return nil
}

// checkFreeSpace fails before the first byte is written when the outputs
// cannot fit, rather than minutes later with a half-written file.
func checkFreeSpace(dir string, need int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil // not knowable here: the write itself will tell
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if need > free {
		return fmt.Errorf("%w: %s has %s free, this build needs about %s (free space, or write to another disk with -o)", ErrNoSpace, dir, humanSize(free), humanSize(need))
	}
	return nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// allocated is the space a file's data takes (holes cost nothing).
func allocated(path string) int64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}
