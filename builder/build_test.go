package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/images/base"
	"github.com/kiln-dev/kiln/internal/fixture"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// TestBuildFromStream is kiln's main job end to end without a local base:
// the spec's stream and release constraint are resolved against a mirror
// on loopback, the metal raw.xz is downloaded, verified by sha256 and
// OpenPGP signature, decompressed into the cache, and the config embedded.
// A second build works offline from the cache.
func TestBuildFromStream(t *testing.T) {
	xzTool := testutil.Tool(t, "xz")
	dir := t.TempDir()
	const release = "42.20251012.3.0"
	name := "fedora-coreos-" + release + "-metal.x86_64.raw.xz"
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	if out, err := exec.Command(xzTool, "-T2", "-1", "--keep", disk).CombinedOutput(); err != nil {
		t.Fatalf("xz: %v\n%s", err, out)
	}
	compressed, err := os.ReadFile(disk + ".xz")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := openpgp.NewEntity("fedora-test", "test", "fedora-test@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub, sig bytes.Buffer
	if err := signer.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	ring, err := openpgp.ReadKeyRing(&pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := openpgp.DetachSign(&sig, signer, bytes.NewReader(compressed), nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(compressed)
	path := "/prod/streams/stable/builds/" + release + "/x86_64/" + name
	stream := base.Stream{Stream: "stable", Metadata: base.Metadata{LastModified: "2025-10-12T00:00:00Z"},
		Architectures: map[string]base.Arch{"x86_64": {Artifacts: map[string]base.PlatformArtifacts{
			"metal": {Release: release, Formats: map[string]base.ImageFormat{"raw.xz": {Disk: &base.RemoteFile{
				Location: base.DefaultBaseURL + path, Signature: base.DefaultBaseURL + path + ".sig", SHA256: hex.EncodeToString(sum[:])}}}},
		}}}}
	meta, _ := json.Marshal(stream)
	files := map[string][]byte{"/streams/stable.json": meta, path: compressed, path + ".sig": sig.Bytes()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()

	cache := filepath.Join(dir, "cache")
	build := func(client *base.Client, out string) *BuildResult {
		t.Helper()
		res, err := Build(context.Background(), BuildRequest{
			Render:          Request{File: DefaultSpecName, Spec: DefaultSpec},
			OutDir:          out,
			Platforms:       []string{"qemu"},
			Client:          client,
			SourceDateEpoch: time.Unix(1700000000, 0),
		})
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		return res
	}
	online := build(&base.Client{BaseURL: srv.URL, HTTP: srv.Client(), Cache: &base.Cache{Dir: cache}, Keyring: ring}, filepath.Join(dir, "out1"))
	if online.Manifest.BaseRelease != release {
		t.Errorf("manifest base release %q, want %q", online.Manifest.BaseRelease, release)
	}
	art := filepath.Join(dir, "out1", "clipper-1.0.0-qemu.qcow2")
	got, err := images.Inspect(art)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(online.Render.Ignition)
	if !strings.HasSuffix(got.ConfigSHA256, hex.EncodeToString(want[:])) {
		t.Errorf("embedded config %s, rendered %x", got.ConfigSHA256, want)
	}
	srv.Close()
	offline := build(&base.Client{Offline: true, Cache: &base.Cache{Dir: cache}, Keyring: ring}, filepath.Join(dir, "out2"))
	if offline.Manifest.Artifacts[0].SHA256 != online.Manifest.Artifacts[0].SHA256 {
		t.Error("the offline rebuild from the cache differs from the online build")
	}
	// After a build from the cache, the digests kiln recorded while
	// writing are sha256sum's, and the base is the verified download.
	out2 := filepath.Join(dir, "out2")
	if out, err := exec.Command("sh", "-c", "cd '"+out2+"' && sha256sum -c SHA256SUMS").CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	for _, a := range offline.Manifest.Artifacts {
		if got := fileDigest(t, filepath.Join(out2, a.Name)); got != a.SHA256 {
			t.Errorf("%s: manifest %s, file %s", a.Name, a.SHA256, got)
		}
	}
	if b := offline.Manifest.Bases; len(b) != 1 || b[0].Name != name || b[0].SHA256 != hex.EncodeToString(sum[:]) || b[0].Release != fixture.Release {
		t.Errorf("manifest bases %+v, want %s with its verified sha256 and the release read from it", b, name)
	}
	// A tampered mirror is refused: a different file under the same
	// metadata fails verification, and nothing is written.
	files[path] = append([]byte("x"), compressed[1:]...)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := files[r.URL.Path]; ok {
			w.Write(body)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv2.Close()
	_, err = Build(context.Background(), BuildRequest{
		Render: Request{File: DefaultSpecName, Spec: DefaultSpec}, OutDir: filepath.Join(dir, "out3"), Platforms: []string{"qemu"},
		Client: &base.Client{BaseURL: srv2.URL, HTTP: srv2.Client(), Cache: &base.Cache{Dir: filepath.Join(dir, "cache2")}, Keyring: ring},
	})
	if err == nil {
		t.Fatal("a base failing verification was accepted")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out3")); len(entries) > 0 {
		t.Errorf("a refused build wrote %d entries", len(entries))
	}
}

func TestChooseTargets(t *testing.T) {
	res, err := Render(Request{File: DefaultSpecName, Spec: DefaultSpec})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		platforms, formats []string
		want               string
		err                string
	}{
		{nil, nil, "digitalocean/qcow2.gz hetzner/raw.xz metal/raw.xz metal/iso metal/pxe", ""},
		{[]string{"digitalocean"}, nil, "digitalocean/qcow2.gz", ""},
		{[]string{"qemu"}, nil, "qemu/qcow2", ""},
		{[]string{"qemu", "metal"}, []string{"raw.zst", "iso"}, "qemu/raw.zst metal/raw.zst metal/iso", ""},
		{[]string{"qemu"}, []string{"iso"}, "", "fits none"},
		{[]string{"gcpp"}, nil, "", "unknown platform"},
		{[]string{"qemu"}, []string{"raw.bz2"}, "", "unknown format"},
	}
	// Without install.device, an ISO boots live, where the data partition
	// on the boot disk cannot exist: --platform/--format must not get
	// around the validator.
	live := *res.App
	live.Targets = nil
	for _, tc := range []struct{ platforms, formats []string }{{[]string{"metal"}, nil}, {[]string{"metal"}, []string{"iso"}}, {[]string{"metal"}, []string{"pxe"}}} {
		if _, err := chooseTargets(&live, tc.platforms, tc.formats); err == nil || !strings.Contains(err.Error(), "live boot has no boot disk") {
			t.Errorf("%v %v on a live metal target: err %v, want the live-boot refusal", tc.platforms, tc.formats, err)
		}
	}
	if _, err := chooseTargets(&live, []string{"metal"}, []string{"raw.xz"}); err != nil {
		t.Errorf("a metal disk image needs no installer: %v", err)
	}
	for _, tc := range cases {
		got, err := chooseTargets(res.App, tc.platforms, tc.formats)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v %v: err %v, want %q", tc.platforms, tc.formats, err, tc.err)
			}
			continue
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Platform+"/"+g.Format)
		}
		if s := strings.Join(names, " "); err != nil || s != tc.want {
			t.Errorf("%v %v = %q, %v; want %q", tc.platforms, tc.formats, s, err, tc.want)
		}
	}
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
