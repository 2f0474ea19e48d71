package base

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/hashicorp/go-version"
)

// DefaultBaseURL is where Fedora publishes FCOS metadata and artifacts.
const DefaultBaseURL = "https://builds.coreos.fedoraproject.org"

// maxMetadata bounds a metadata or signature download: the real documents are
// tens of kilobytes, and an unbounded read of a hostile answer would not be.
const maxMetadata = 64 << 20

// Client resolves and downloads FCOS base artifacts. The zero value is
// usable: it talks to DefaultBaseURL with http.DefaultClient, verifies with
// FedoraKeyring and caches in DefaultCacheDir.
type Client struct {
	// BaseURL replaces DefaultBaseURL, for mirrors and tests. Artifact
	// locations under DefaultBaseURL are rewritten to it.
	BaseURL string
	// HTTP is the client used for every request.
	HTTP *http.Client
	// Cache keeps verified artifacts; nil means the default cache directory.
	Cache *Cache
	// Keyring verifies detached signatures; nil means FedoraKeyring().
	Keyring openpgp.EntityList
	// Arch is the architecture to resolve; empty means DefaultArch.
	Arch string
	// Offline forbids the network: only the cache answers.
	Offline bool
	// Progress, when set, is called as a file downloads, with the file's
	// name, the bytes written so far and the total (-1 when unknown). The
	// library prints nothing; the CLI turns this into a progress bar.
	Progress func(name string, done, total int64)
}

// Artifact is one resolved format of one platform in one release: what
// Fetch downloads.
type Artifact struct {
	Stream   string      `json:"stream"`
	Release  string      `json:"release"`
	Arch     string      `json:"arch"`
	Platform string      `json:"platform"`
	Format   string      `json:"format"`
	Files    []NamedFile `json:"files"`
}

func (c *Client) base() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *Client) arch() string {
	if c.Arch == "" {
		return DefaultArch
	}
	return c.Arch
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}

func (c *Client) cache() (*Cache, error) {
	if c.Cache != nil {
		return c.Cache, nil
	}
	dir, err := DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	c.Cache = &Cache{Dir: dir}
	return c.Cache, nil
}

func (c *Client) keyring() (openpgp.EntityList, error) {
	if c.Keyring != nil {
		return c.Keyring, nil
	}
	ring, err := FedoraKeyring()
	if err != nil {
		return nil, err
	}
	c.Keyring = ring
	return ring, nil
}

// rebase points a published URL at BaseURL, so a mirror serves everything
// the metadata names and not only the metadata itself.
func (c *Client) rebase(u string) string {
	b := c.base()
	if b != DefaultBaseURL && strings.HasPrefix(u, DefaultBaseURL+"/") {
		return b + strings.TrimPrefix(u, DefaultBaseURL)
	}
	return u
}

func checkStream(name string) error {
	if !slices.Contains(Streams, name) {
		return fmt.Errorf("%w %q (use one of %s)", ErrUnknownStream, name, strings.Join(Streams, ", "))
	}
	return nil
}

// get fetches a small document.
func (c *Client) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := statusError(resp, url); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(data) > maxMetadata {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMetadata, url, maxMetadata)
	}
	return data, nil
}

// statusError turns a non-200 answer into an error; 5xx answers also wrap
// ErrUnavailable.
func statusError(resp *http.Response, url string) error {
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: %w: GET %s: %s", ErrHTTPStatus, ErrUnavailable, url, resp.Status)
	default:
		return fmt.Errorf("%w: GET %s: %s", ErrHTTPStatus, url, resp.Status)
	}
}

// Stream fetches and parses the metadata of a stream (stable, testing, next).
func (c *Client) Stream(ctx context.Context, stream string) (*Stream, error) {
	if err := checkStream(stream); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, fmt.Errorf("%w: stream metadata for %s", ErrOffline, stream)
	}
	data, err := c.get(ctx, c.base()+"/streams/"+stream+".json")
	if err != nil {
		return nil, err
	}
	s, err := ParseStream(data)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	if s.Stream != stream {
		return nil, fmt.Errorf("%w: asked for stream %s, metadata is for %s", ErrMetadata, stream, s.Stream)
	}
	return s, nil
}

// Releases fetches a stream's releases index.
func (c *Client) Releases(ctx context.Context, stream string) (*ReleaseIndex, error) {
	if err := checkStream(stream); err != nil {
		return nil, err
	}
	data, err := c.get(ctx, c.base()+"/prod/streams/"+stream+"/releases.json")
	if err != nil {
		return nil, err
	}
	return ParseReleaseIndex(data)
}

// candidate is a release that may satisfy a constraint.
type candidate struct {
	v           *version.Version
	metadataURL string // empty for the stream's current release
}

// Resolve picks the newest release of stream that satisfies constraint (a
// hashicorp/go-version constraint such as ">= 42.20250901, < 43"; empty
// means the stream's current release) and returns its artifact for platform
// and format. Candidates are the stream's current release and every release
// in the stream's index. When the network cannot be reached, a verified
// artifact in the cache that satisfies the constraint is returned instead.
func (c *Client) Resolve(ctx context.Context, stream, constraint, platform, format string) (Artifact, error) {
	if err := checkStream(stream); err != nil {
		return Artifact{}, err
	}
	var cons version.Constraints
	if strings.TrimSpace(constraint) != "" {
		var err error
		if cons, err = version.NewConstraint(constraint); err != nil {
			return Artifact{}, fmt.Errorf("%w %q: %w", ErrConstraint, constraint, err)
		}
	}
	a, err := c.resolveOnline(ctx, stream, cons, constraint, platform, format)
	if err == nil || !isUnreachable(err) {
		return a, err
	}
	// Only a network failure falls back to the cache: a release that does
	// not match must not be replaced by a stale one silently.
	cache, cerr := c.cache()
	if cerr != nil {
		return Artifact{}, errors.Join(err, cerr)
	}
	if cached, ok := cache.find(stream, cons, c.arch(), platform, format); ok {
		return cached, nil
	}
	return Artifact{}, fmt.Errorf("%w; no cached %s/%s %s release satisfies %q", err, stream, platform, format, constraint)
}

// isUnreachable tells a failure to talk to the server from a server's answer.
func isUnreachable(err error) bool {
	if errors.Is(err, ErrOffline) || errors.Is(err, ErrUnavailable) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return !errors.Is(err, ErrHTTPStatus) && !errors.Is(err, ErrMetadata) &&
		!errors.Is(err, ErrNoMatchingRelease) && !errors.Is(err, ErrPlatform) && !errors.Is(err, ErrFormat)
}

func (c *Client) resolveOnline(ctx context.Context, stream string, cons version.Constraints, constraint, platform, format string) (Artifact, error) {
	s, err := c.Stream(ctx, stream)
	if err != nil {
		return Artifact{}, err
	}
	arch := c.arch()
	cur, ok := s.Architectures[arch].Artifacts[platform]
	if !ok {
		return Artifact{}, fmt.Errorf("%w: %s has no %s artifacts for %s (published: %s)", ErrPlatform, stream, arch, platform, strings.Join(s.Platforms(arch), ", "))
	}
	curV, err := version.NewVersion(cur.Release)
	if err != nil {
		return Artifact{}, fmt.Errorf("%w: release %q: %w", ErrMetadata, cur.Release, err)
	}
	cands := []candidate{{v: curV}}
	// The current release satisfying the constraint is the common case;
	// the index is only needed to look further back.
	if cons != nil && !cons.Check(curV) {
		idx, err := c.Releases(ctx, stream)
		if err != nil && !errors.Is(err, ErrHTTPStatus) {
			return Artifact{}, err
		}
		if idx != nil {
			for _, r := range idx.Releases {
				v, err := version.NewVersion(r.Version)
				if err != nil {
					continue
				}
				u := r.MetadataURL
				if u == "" {
					u = DefaultBaseURL + "/prod/streams/" + stream + "/builds/" + r.Version + "/release.json"
				}
				cands = append(cands, candidate{v: v, metadataURL: c.rebase(u)})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].v.GreaterThan(cands[j].v) })
	var pick *candidate
	for i := range cands {
		if cons == nil || cons.Check(cands[i].v) {
			pick = &cands[i]
			break
		}
	}
	if pick == nil {
		return Artifact{}, fmt.Errorf("%w %q on %s; available releases: %s", ErrNoMatchingRelease, constraint, stream, listVersions(cands))
	}
	a := Artifact{Stream: stream, Arch: arch, Platform: platform, Format: format, Release: pick.v.Original()}
	var f ImageFormat
	if pick.metadataURL == "" || pick.v.Equal(curV) {
		a.Release = cur.Release
		var ok bool
		if f, ok = cur.Formats[format]; !ok {
			return Artifact{}, fmt.Errorf("%w: %s %s %s has no %q (published: %s)", ErrFormat, stream, cur.Release, platform, format, strings.Join(s.Formats(arch, platform), ", "))
		}
	} else {
		data, err := c.get(ctx, pick.metadataURL)
		if err != nil {
			return Artifact{}, err
		}
		rel, err := ParseRelease(data)
		if err != nil {
			return Artifact{}, fmt.Errorf("release %s: %w", a.Release, err)
		}
		media, ok := rel.Architectures[arch].Media[platform]
		if !ok {
			return Artifact{}, fmt.Errorf("%w: release %s has no %s artifacts for %s", ErrPlatform, a.Release, arch, platform)
		}
		if f, ok = media.Artifacts[format]; !ok {
			return Artifact{}, fmt.Errorf("%w: release %s %s has no %q (published: %s)", ErrFormat, a.Release, platform, format, strings.Join(sortedKeys(media.Artifacts), ", "))
		}
	}
	for _, nf := range f.Files() {
		nf.Location = c.rebase(nf.Location)
		if nf.Signature != "" {
			nf.Signature = c.rebase(nf.Signature)
		}
		a.Files = append(a.Files, nf)
	}
	return a, nil
}

// listVersions names the releases, newest first, deduplicated.
func listVersions(cands []candidate) string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cands {
		s := c.v.Original()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}
