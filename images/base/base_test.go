package base

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// fixedTime keeps the generated key and signatures independent of the clock.
var fixedTime = time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)

var pgpConfig = &packet.Config{
	Algorithm: packet.PubKeyAlgoEdDSA,
	Time:      func() time.Time { return fixedTime },
}

// testKey generates a signing key the way Fedora's would be used: the
// private half signs, the client only knows the public keyring.
func testKey(t testing.TB, name string) (*openpgp.Entity, openpgp.EntityList) {
	t.Helper()
	return testKeyEmail(t, name, name+"@example.invalid")
}

func testKeyEmail(t testing.TB, name, email string) (*openpgp.Entity, openpgp.EntityList) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test", email, pgpConfig)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	ring, err := openpgp.ReadKeyRing(&pub)
	if err != nil {
		t.Fatal(err)
	}
	return e, ring
}

func sign(t testing.TB, e *openpgp.Entity, data []byte) []byte {
	t.Helper()
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, e, bytes.NewReader(data), pgpConfig); err != nil {
		t.Fatal(err)
	}
	return sig.Bytes()
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// fakeFCOS serves stream metadata, a releases index, release documents and
// signed artifacts on loopback, shaped like builds.coreos.fedoraproject.org.
type fakeFCOS struct {
	t      *testing.T
	signer *openpgp.Entity
	srv    *httptest.Server

	mu    sync.Mutex
	files map[string][]byte // URL path → body
	hits  map[string]int
	// hook, when set, handles a request before the file table.
	hook func(w http.ResponseWriter, r *http.Request) bool
	// current is the stream's current release; older ones are only in the index.
	current  string
	releases []string
	// sha overrides the published sha256 of a location (path) to simulate
	// metadata that disagrees with the file.
	sha map[string]string
	// noSig lists paths whose signature is not published.
	noSig map[string]bool
}

func newFakeFCOS(t *testing.T, signer *openpgp.Entity, releases ...string) *fakeFCOS {
	f := &fakeFCOS{t: t, signer: signer, files: map[string][]byte{}, hits: map[string]int{}, sha: map[string]string{}, noSig: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.releases = releases
	f.current = releases[len(releases)-1]
	for _, r := range releases {
		f.addRelease(r)
	}
	return f
}

func (f *fakeFCOS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	f.mu.Lock()
	body, ok := f.files[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

func (f *fakeFCOS) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

func (f *fakeFCOS) hitCount(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[p]
}

func buildPath(stream, release, file string) string {
	return "/prod/streams/" + stream + "/builds/" + release + "/x86_64/" + file
}

// content makes an artifact body that differs per release and file.
func content(release, file string) []byte {
	return bytes.Repeat([]byte("fcos "+release+" "+file+"\n"), 4096)
}

func (f *fakeFCOS) addFile(p string, data []byte, signed bool) {
	f.files[p] = data
	if signed {
		f.files[p+".sig"] = sign(f.t, f.signer, data)
	}
}

func (f *fakeFCOS) addRelease(release string) {
	for _, name := range f.fileNames(release) {
		f.addFile(buildPath("stable", release, name), content(release, name), true)
	}
}

func (f *fakeFCOS) fileNames(release string) []string {
	return []string{
		"fedora-coreos-" + release + "-metal.x86_64.raw.xz",
		"fedora-coreos-" + release + "-live.x86_64.iso",
		"fedora-coreos-" + release + "-live-kernel.x86_64",
		"fedora-coreos-" + release + "-live-initramfs.x86_64.img",
		"fedora-coreos-" + release + "-live-rootfs.x86_64.img",
	}
}

func (f *fakeFCOS) remote(release, name string) *RemoteFile {
	p := buildPath("stable", release, name)
	rf := &RemoteFile{Location: DefaultBaseURL + p, SHA256: sum(f.files[p])}
	if s, ok := f.sha[p]; ok {
		rf.SHA256 = s
	}
	if !f.noSig[p] {
		rf.Signature = DefaultBaseURL + p + ".sig"
	}
	return rf
}

func (f *fakeFCOS) formats(release string) map[string]ImageFormat {
	n := f.fileNames(release)
	return map[string]ImageFormat{
		"raw.xz": {Disk: f.remote(release, n[0])},
		"iso":    {Disk: f.remote(release, n[1])},
		"pxe":    {Kernel: f.remote(release, n[2]), Initramfs: f.remote(release, n[3]), Rootfs: f.remote(release, n[4])},
	}
}

// publish (re)writes the metadata documents from the current state. URLs in
// them point at the real host, as Fedora's do, so the client's rebasing to
// BaseURL is exercised too.
func (f *fakeFCOS) publish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Stream{Stream: "stable", Metadata: Metadata{LastModified: "2025-10-12T00:00:00Z"},
		Architectures: map[string]Arch{"x86_64": {Artifacts: map[string]PlatformArtifacts{
			"metal": {Release: f.current, Formats: f.formats(f.current)},
		}}}}
	f.files["/streams/stable.json"] = mustJSON(f.t, s)
	var idx ReleaseIndex
	idx.Stream = "stable"
	for _, r := range f.releases {
		idx.Releases = append(idx.Releases, IndexRelease{Version: r,
			MetadataURL: DefaultBaseURL + "/prod/streams/stable/builds/" + r + "/release.json"})
		rel := Release{Release: r, Stream: "stable", Architectures: map[string]ReleaseArch{
			"x86_64": {Media: map[string]ReleaseMedia{"metal": {Artifacts: f.formats(r)}}}}}
		f.files["/prod/streams/stable/builds/"+r+"/release.json"] = mustJSON(f.t, rel)
	}
	f.files["/prod/streams/stable/releases.json"] = mustJSON(f.t, idx)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func newClient(f *fakeFCOS, ring openpgp.EntityList, cacheDir string) *Client {
	return &Client{BaseURL: f.srv.URL, HTTP: f.srv.Client(), Cache: &Cache{Dir: cacheDir}, Keyring: ring}
}

// cacheFiles lists every regular file under dir, relative to it.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		// The lock file is not an artifact: it holds no data.
		if !d.IsDir() && d.Name() != lockName {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFetchHappyPath(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20250901.3.0", "42.20251012.3.0")
	f.publish()
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	var progressed []int64
	c.Progress = func(name string, done, total int64) {
		if total != int64(len(content("42.20251012.3.0", name))) {
			t.Errorf("progress total %d for %s", total, name)
		}
		progressed = append(progressed, done)
	}
	ctx := context.Background()
	a, err := c.Resolve(ctx, "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	if a.Release != "42.20251012.3.0" || len(a.Files) != 1 || !strings.HasPrefix(a.Files[0].Location, f.srv.URL+"/") {
		t.Fatalf("resolved %+v", a)
	}
	got, err := c.Fetch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := got.Path(RoleDisk)
	if !ok {
		t.Fatal("no disk path")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := content(a.Release, filepath.Base(p)); !bytes.Equal(data, want) {
		t.Fatal("cached file differs from the served one")
	}
	if wantDir := filepath.Join(dir, "stable", "42.20251012.3.0", "x86_64", "metal"); filepath.Dir(p) != wantDir {
		t.Fatalf("cached at %s, want under %s", p, wantDir)
	}
	if len(progressed) == 0 || progressed[len(progressed)-1] != int64(len(data)) {
		t.Fatalf("progress did not reach the file size: %v", progressed)
	}
	v := got.Files[0].Verified
	if !v.Verified() || v.SHA256 != sum(data) || v.Size != int64(len(data)) {
		t.Fatalf("verification %+v", v)
	}
	wantFP := strings.ToUpper(hex.EncodeToString(signer.PrimaryKey.Fingerprint))
	if v.Signer != wantFP || !strings.Contains(v.SignerIdentity, "fedora-test") {
		t.Fatalf("signer %s %q, want %s", v.Signer, v.SignerIdentity, wantFP)
	}
	// The record says what was verified, for `kiln cache list` and for the
	// next run.
	rec, err := readRecord(got.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rf := rec.Formats["raw.xz"]; len(rf) != 1 || rf[0].Verified.SHA256 != sum(data) || rf[0].Verified.Signer != wantFP || rf[0].Published.SHA256 != sum(data) {
		t.Fatalf("record %+v", rec)
	}
	if _, err := os.Stat(p + ".sig"); err != nil {
		t.Fatal("signature not kept beside the artifact:", err)
	}

	// PXE: three files, each verified.
	pxe, err := c.Resolve(ctx, "stable", "", "metal", "pxe")
	if err != nil {
		t.Fatal(err)
	}
	gotPXE, err := c.Fetch(ctx, pxe)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{RoleKernel, RoleInitramfs, RoleRootfs} {
		if _, ok := gotPXE.Path(role); !ok {
			t.Errorf("pxe has no %s", role)
		}
	}
	entries, err := c.Cache.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Formats) != 2 {
		t.Fatalf("list %+v", entries)
	}
	var total int64
	for _, name := range f.fileNames(a.Release) {
		if strings.Contains(name, "iso") {
			continue
		}
		total += int64(len(content(a.Release, name)))
	}
	if entries[0].Size != total {
		t.Fatalf("listed size %d, want %d", entries[0].Size, total)
	}
}

func TestResolveConstraint(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "41.20250701.3.0", "42.20250901.3.0", "42.20250915.3.1", "43.20251101.3.0")
	f.publish()
	c := newClient(f, ring, t.TempDir())
	ctx := context.Background()
	for _, tc := range []struct{ constraint, want string }{
		{"", "43.20251101.3.0"},
		{">= 42.20250901, < 43", "42.20250915.3.1"},
		{"< 42", "41.20250701.3.0"},
		{"= 42.20250901.3.0", "42.20250901.3.0"},
	} {
		a, err := c.Resolve(ctx, "stable", tc.constraint, "metal", "raw.xz")
		if err != nil {
			t.Fatalf("%q: %v", tc.constraint, err)
		}
		if a.Release != tc.want {
			t.Errorf("%q resolved %s, want %s", tc.constraint, a.Release, tc.want)
		}
		if !strings.Contains(a.Files[0].Location, tc.want) {
			t.Errorf("%q: location %s is not from %s", tc.constraint, a.Files[0].Location, tc.want)
		}
	}
	// An older release must also download and verify.
	a, err := c.Resolve(ctx, "stable", "< 42", "metal", "iso")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := f.hitCount("/prod/streams/stable/releases.json"); n == 0 {
		t.Fatal("the releases index was never consulted")
	}
}

func TestResolveNoMatchListsReleases(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20250901.3.0", "42.20251012.3.0")
	f.publish()
	c := newClient(f, ring, t.TempDir())
	_, err := c.Resolve(context.Background(), "stable", ">= 44", "metal", "raw.xz")
	if !errors.Is(err, ErrNoMatchingRelease) {
		t.Fatalf("err = %v, want ErrNoMatchingRelease", err)
	}
	for _, r := range []string{"42.20251012.3.0", "42.20250901.3.0", ">= 44"} {
		if !strings.Contains(err.Error(), r) {
			t.Errorf("error %q does not name %s", err, r)
		}
	}
	for _, tc := range []struct {
		stream, constraint, platform, format string
		want                                 error
	}{
		{"stabel", "", "metal", "raw.xz", ErrUnknownStream},
		{"stable", ">= banana", "metal", "raw.xz", ErrConstraint},
		{"stable", "", "nowhere", "raw.xz", ErrPlatform},
		{"stable", "", "metal", "vhd.xz", ErrFormat},
	} {
		if _, err := c.Resolve(context.Background(), tc.stream, tc.constraint, tc.platform, tc.format); !errors.Is(err, tc.want) {
			t.Errorf("%+v: err = %v, want %v", tc, err, tc.want)
		}
	}
}

// refusal checks that a failed verification leaves nothing in the cache and
// that the message tells the user what to do.
func refusal(t *testing.T, dir string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Fatalf("refused artifact left files in the cache: %v", files)
	}
}

func TestFetchWrongSHA256(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	p := buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[0])
	f.sha[p] = strings.Repeat("ab", 32)
	f.publish()
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	a, err := c.Resolve(context.Background(), "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), a)
	refusal(t, dir, err, ErrChecksum)
	if !strings.Contains(err.Error(), "deleted") || !strings.Contains(err.Error(), "mirror") {
		t.Errorf("message does not say what happened and what to do: %v", err)
	}
}

func TestFetchBadSignature(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	impostor, _ := testKey(t, "impostor")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	p := buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[0])
	c := newClient(f, ring, t.TempDir())
	a, err := c.Resolve(context.Background(), "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}

	// Signed by a key that is not in the keyring.
	f.mu.Lock()
	f.files[p+".sig"] = sign(t, impostor, f.files[p])
	f.mu.Unlock()
	_, err = c.Fetch(context.Background(), a)
	refusal(t, c.Cache.Dir, err, ErrSignature)

	// Signed by the right key, but over other bytes.
	f.mu.Lock()
	f.files[p+".sig"] = sign(t, signer, []byte("something else"))
	f.mu.Unlock()
	_, err = c.Fetch(context.Background(), a)
	refusal(t, c.Cache.Dir, err, ErrSignature)

	// Garbage where a signature should be.
	f.mu.Lock()
	f.files[p+".sig"] = []byte("not a signature")
	f.mu.Unlock()
	_, err = c.Fetch(context.Background(), a)
	refusal(t, c.Cache.Dir, err, ErrSignature)
}

func TestFetchMissingSignature(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	p := buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[0])
	c := newClient(f, ring, t.TempDir())
	a, err := c.Resolve(context.Background(), "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	// Published in the metadata, but the server has no .sig.
	f.mu.Lock()
	delete(f.files, p+".sig")
	f.mu.Unlock()
	_, err = c.Fetch(context.Background(), a)
	refusal(t, c.Cache.Dir, err, ErrMissingSignature)
	if f.hitCount(p) != 0 {
		t.Error("the artifact was downloaded although its signature is missing")
	}

	// Not even named in the metadata.
	f.noSig[p] = true
	f.publish()
	a, err = c.Resolve(context.Background(), "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), a)
	refusal(t, c.Cache.Dir, err, ErrMissingSignature)
}

func TestCacheHitWithoutNetwork(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20250901.3.0", "42.20251012.3.0")
	f.publish()
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	ctx := context.Background()
	a, err := c.Resolve(ctx, "stable", "< 43", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Fetch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Close()

	// A new client, as in a later kiln run, with the server gone.
	c2 := newClient(f, ring, dir)
	a2, err := c2.Resolve(ctx, "stable", "< 43", "metal", "raw.xz")
	if err != nil {
		t.Fatalf("resolve without network: %v", err)
	}
	if a2.Release != a.Release {
		t.Fatalf("cache resolved %s, want %s", a2.Release, a.Release)
	}
	second, err := c2.Fetch(ctx, a2)
	if err != nil {
		t.Fatalf("fetch without network: %v", err)
	}
	p1, _ := first.Path(RoleDisk)
	p2, _ := second.Path(RoleDisk)
	if p1 != p2 || !second.Files[0].Verified.Verified() {
		t.Fatalf("cache hit %s (verified %v), want %s", p2, second.Files[0].Verified.Verified(), p1)
	}
	// Offline with nothing cached for the constraint must fail clearly.
	if _, err := c2.Resolve(ctx, "stable", ">= 43", "metal", "raw.xz"); err == nil || !strings.Contains(err.Error(), "no cached") {
		t.Fatalf("err = %v, want a no-cached-release error", err)
	}
	// The Offline switch never touches the network, even with a server.
	c3 := newClient(f, ring, dir)
	c3.Offline = true
	if _, err := c3.Resolve(ctx, "stable", "", "metal", "raw.xz"); err != nil {
		t.Fatalf("offline resolve from cache: %v", err)
	}
	if _, err := c3.Resolve(ctx, "stable", "", "metal", "iso"); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline resolve of an uncached format: %v", err)
	}

	// A cached file that was damaged is detected, deleted and refused
	// while offline.
	if err := os.WriteFile(p1, []byte("bit rot"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Fetch(ctx, a2); !errors.Is(err, ErrOffline) {
		t.Fatalf("damaged cache entry: err = %v, want ErrOffline after deletion", err)
	}
	if _, err := os.Stat(p1); !os.IsNotExist(err) {
		t.Fatal("damaged cached file was kept")
	}
	if entries, err := c3.Cache.List(); err != nil || len(entries) != 1 || len(entries[0].Formats) != 0 {
		t.Fatalf("the record still vouches for the deleted file: %+v %v", entries, err)
	}
}

func TestFetchInterruptedLeavesNothing(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	p := buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[0])
	body := f.files[p]
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != p {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		// Drop the connection mid-body, as a flaky link would.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	})
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	a, err := c.Resolve(context.Background(), "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background(), a); err == nil {
		t.Fatal("a truncated download was accepted")
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Fatalf("interrupted download left %v", files)
	}
}

func TestFetchCancelled(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	p := buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[0])
	started := make(chan struct{})
	body := f.files[p]
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != p {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:1024])
		w.(http.Flusher).Flush()
		close(started)
		// Hold the rest until the client gives up.
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return true
	})
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := c.Resolve(ctx, "stable", "", "metal", "raw.xz")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-started
		cancel()
	}()
	begin := time.Now()
	_, err = c.Fetch(ctx, a)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if time.Since(begin) > 5*time.Second {
		t.Fatal("cancellation did not stop the download promptly")
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Fatalf("cancelled download left %v", files)
	}
}

func TestPrune(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	rels := []string{"41.20250701.3.0", "42.20250901.3.0", "42.20250915.3.1", "42.20251012.3.0"}
	f := newFakeFCOS(t, signer, rels...)
	f.publish()
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	ctx := context.Background()
	for _, r := range rels {
		a, err := c.Resolve(ctx, "stable", "= "+r, "metal", "raw.xz")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Fetch(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// A partial download left by a killed process is swept too.
	stale := filepath.Join(dir, "stable", rels[0], "x86_64", "metal", partialPrefix+"x")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := c.Cache.Prune(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0].Release != "42.20250901.3.0" || removed[1].Release != "41.20250701.3.0" {
		t.Fatalf("removed %+v", removed)
	}
	left := listed(t, c.Cache)
	if strings.Join(left, " ") != "42.20251012.3.0 42.20250915.3.1" {
		t.Fatalf("kept %v, want the two newest", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "stable", rels[0])); !os.IsNotExist(err) {
		t.Fatal("pruned release directory remains")
	}
	// Keep only the release in use, even when it is not the newest.
	if _, err := c.Cache.Prune(0, ReleaseRef{"stable", "42.20250915.3.1"}); err != nil {
		t.Fatal(err)
	}
	if left := listed(t, c.Cache); strings.Join(left, " ") != "42.20250915.3.1" {
		t.Fatalf("kept %v, want only the in-use release", left)
	}
}

func listed(t *testing.T, c *Cache) []string {
	t.Helper()
	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Release)
	}
	return out
}

func TestVerifyLocal(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	dir := t.TempDir()
	p := filepath.Join(dir, "fcos.raw.xz")
	data := content("42.20251012.3.0", "local")
	if err := os.WriteFile(p, data, 0o444); err != nil {
		t.Fatal(err)
	}
	sigPath := p + ".sig"
	if err := os.WriteFile(sigPath, sign(t, signer, data), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)

	v, err := VerifyLocal(p, LocalCheck{}, ring)
	if err != nil || v.Verified() || v.SHA256 != sum(data) {
		t.Fatalf("unchecked local file: %+v, %v", v, err)
	}
	v, err = VerifyLocal(p, LocalCheck{SHA256: sum(data), SignaturePath: sigPath}, ring)
	if err != nil || !v.Verified() {
		t.Fatalf("good local file: %+v, %v", v, err)
	}
	if _, err := VerifyLocal(p, LocalCheck{SHA256: sum([]byte("x"))}, ring); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong sha256: %v", err)
	}
	if err := os.WriteFile(sigPath, sign(t, signer, []byte("other")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyLocal(p, LocalCheck{SignaturePath: sigPath}, ring); !errors.Is(err, ErrSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal("a local file that failed verification was removed")
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() {
		t.Fatal("the local file was modified")
	}
}

func TestDefaultKeyringIsFedora(t *testing.T) {
	signer, _ := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	// The default keyring comes from the system, never from the host this
	// test runs on: point it at a directory of the test's own.
	keys := t.TempDir()
	saved := KeyringDirs
	KeyringDirs = nil
	defer func() { KeyringDirs = saved }()
	t.Setenv(KeyringEnv, keys)

	// No Fedora key on the system: refused before anything is downloaded,
	// with a message that says what to install.
	dir := t.TempDir()
	c := &Client{BaseURL: f.srv.URL, HTTP: f.srv.Client(), Cache: &Cache{Dir: dir}}
	_, err := c.Get(context.Background(), "stable", "", "metal", "raw.xz")
	if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), "distribution-gpg-keys") {
		t.Fatalf("err = %v, want a keyring error naming the package to install", err)
	}
	if n := f.hitCount(buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[0])); n != 0 {
		t.Errorf("artifact downloaded %d times without a keyring", n)
	}

	// A pinned Fedora key on the system: it is the keyring, and it does
	// not accept a signature by any other key.
	fedora, _ := testKeyEmail(t, "Fedora 42", "fedora-42-primary@fedoraproject.org")
	var armored bytes.Buffer
	w, _ := armor.Encode(&armored, openpgp.PublicKeyType, nil)
	fedora.Serialize(w)
	w.Close()
	if err := os.WriteFile(filepath.Join(keys, "RPM-GPG-KEY-fedora-42-primary"), armored.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	savedFP := FedoraFingerprints["42"]
	FedoraFingerprints["42"] = strings.ToUpper(hex.EncodeToString(fedora.PrimaryKey.Fingerprint))
	defer func() { FedoraFingerprints["42"] = savedFP }()
	c = &Client{BaseURL: f.srv.URL, HTTP: f.srv.Client(), Cache: &Cache{Dir: dir}}
	_, err = c.Get(context.Background(), "stable", "", "metal", "raw.xz")
	refusal(t, dir, err, ErrSignature)
	if len(c.Keyring) != 1 {
		t.Fatalf("default keyring has %d keys, want the one pinned key on the system", len(c.Keyring))
	}
}

func TestCacheHitSkipsDownload(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	c := newClient(f, ring, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Get(ctx, "stable", "", "metal", "iso"); err != nil {
			t.Fatal(err)
		}
	}
	p := buildPath("stable", "42.20251012.3.0", f.fileNames("42.20251012.3.0")[1])
	if n, s := f.hitCount(p), f.hitCount(p+".sig"); n != 1 || s != 1 {
		t.Fatalf("artifact downloaded %d times, signature %d times; want once each", n, s)
	}
}

func TestConcurrentFetchSameDirectory(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	dir := t.TempDir()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, format := range []string{"raw.xz", "pxe"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := newClient(f, ring, dir).Get(ctx, "stable", "", "metal", format)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries, err := (&Cache{Dir: dir}).List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Formats) != 2 {
		t.Fatalf("both formats must be recorded: %+v", entries)
	}
}

func TestOpenLocal(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	dir := t.TempDir()
	p := filepath.Join(dir, "base.iso")
	data := content("local", "iso")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".sig", sign(t, signer, data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := OpenLocal(p, RoleDisk, LocalCheck{SHA256: sum(data), SignaturePath: p + ".sig"}, ring)
	if err != nil {
		t.Fatal(err)
	}
	if path, ok := got.Path(RoleDisk); !ok || path != p || !got.Files[0].Verified.Verified() {
		t.Fatalf("local artifact %+v", got)
	}
}

func TestFedoraSignerMustMatchMajor(t *testing.T) {
	ctx := context.Background()
	// A key shaped like Fedora 42's signs a 42 release: accepted.
	signer, ring := testKeyEmail(t, "Fedora", "fedora-42-primary@fedoraproject.org")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	if _, err := newClient(f, ring, t.TempDir()).Get(ctx, "stable", "", "metal", "raw.xz"); err != nil {
		t.Fatal(err)
	}
	// The same key's genuine signature on a 43 release: refused, because
	// FCOS 43 is signed with the Fedora 43 key.
	f2 := newFakeFCOS(t, signer, "43.20251101.2.0")
	f2.publish()
	dir := t.TempDir()
	_, err := newClient(f2, ring, dir).Get(ctx, "stable", "", "metal", "raw.xz")
	refusal(t, dir, err, ErrSignature)
	if !strings.Contains(err.Error(), "Fedora 43 key") {
		t.Errorf("message does not name the expected key: %v", err)
	}
}

func TestFetchPXEPartialFailureLeavesNothing(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	names := f.fileNames("42.20251012.3.0")
	// The kernel verifies, the initramfs does not.
	p := buildPath("stable", "42.20251012.3.0", names[3])
	f.files[p+".sig"] = sign(t, signer, []byte("another initramfs"))
	dir := t.TempDir()
	_, err := newClient(f, ring, dir).Get(context.Background(), "stable", "", "metal", "pxe")
	refusal(t, dir, err, ErrSignature)
	if f.hitCount(buildPath("stable", "42.20251012.3.0", names[2])) != 1 {
		t.Fatal("the kernel was not downloaded first; the test does not test what it claims")
	}
}

func TestServerErrorFallsBackToCache(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	f := newFakeFCOS(t, signer, "42.20251012.3.0")
	f.publish()
	dir := t.TempDir()
	c := newClient(f, ring, dir)
	ctx := context.Background()
	if _, err := c.Get(ctx, "stable", "", "metal", "raw.xz"); err != nil {
		t.Fatal(err)
	}
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", int(status.Load()))
		return true
	})
	if _, err := c.Get(ctx, "stable", "", "metal", "raw.xz"); err != nil {
		t.Fatalf("503 with a cached release: %v", err)
	}
	// A 404 is an answer, not an outage: no silent fallback.
	status.Store(http.StatusNotFound)
	if _, err := c.Get(ctx, "stable", "", "metal", "raw.xz"); !errors.Is(err, ErrHTTPStatus) {
		t.Fatalf("404: err = %v, want ErrHTTPStatus", err)
	}
}
