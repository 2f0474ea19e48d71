package builder

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/overlays"
)

// renderCase renders one spec file of testdata/render.
func renderCase(t testing.TB, name string) *Result {
	t.Helper()
	if name == "clipper" {
		res, err := Render(Request{File: DefaultSpecName, Spec: DefaultSpec})
		if err != nil {
			t.Fatalf("default appliance: %v", err)
		}
		return res
	}
	file := filepath.Join("testdata", "render", name+".yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(Request{File: file, Spec: data})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return res
}

// renderCases are the specs with golden outputs: the default appliance and
// one small spec per feature.
var renderCases = []string{"clipper", "minimal", "volume", "ephemeral", "snippet"}

// TestRenderGolden compares the generated Butane and Ignition with the
// recorded ones (re-record with -update and review the diff).
func TestRenderGolden(t *testing.T) {
	for _, name := range renderCases {
		t.Run(name, func(t *testing.T) {
			res := renderCase(t, name)
			testutil.Golden(t, filepath.Join("testdata", "render", name+".bu.golden"), res.Butane)
			var pretty map[string]any
			if err := json.Unmarshal(res.Ignition, &pretty); err != nil {
				t.Fatal(err)
			}
			out, _ := json.MarshalIndent(pretty, "", "  ")
			testutil.Golden(t, filepath.Join("testdata", "render", name+".ign.golden"), append(out, '\n'))
		})
	}
}

// TestRenderDeterministic: the same spec renders to the same bytes.
func TestRenderDeterministic(t *testing.T) {
	a, b := renderCase(t, "clipper"), renderCase(t, "clipper")
	if string(a.Ignition) != string(b.Ignition) || string(a.Butane) != string(b.Butane) {
		t.Fatal("two renders of the default appliance differ")
	}
}

// ignFile finds a file in the rendered Ignition config and decodes it.
func ignFile(t *testing.T, ign []byte, path string) (content string, mode int, ok bool) {
	t.Helper()
	var cfg struct {
		Storage struct {
			Files []struct {
				Path     string `json:"path"`
				Mode     *int   `json:"mode"`
				Contents struct {
					Source string `json:"source"`
				} `json:"contents"`
			} `json:"files"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(ign, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Storage.Files {
		if f.Path == path {
			m := 0
			if f.Mode != nil {
				m = *f.Mode
			}
			data, err := decodeDataURL(f.Contents.Source)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return string(data), m, true
		}
	}
	return "", 0, false
}

func TestReleaseFile(t *testing.T) {
	res := renderCase(t, "clipper")
	content, mode, ok := ignFile(t, res.Ignition, ReleasePath)
	if !ok {
		t.Fatalf("%s missing", ReleasePath)
	}
	var rel Release
	if err := json.Unmarshal([]byte(content), &rel); err != nil {
		t.Fatal(err)
	}
	if rel.Name != "clipper" || rel.Version != "1.0.0" || rel.ConfigDigest != res.ConfigDigest || !strings.HasPrefix(rel.ConfigDigest, "sha256:") {
		t.Errorf("release = %+v, digest %s", rel, res.ConfigDigest)
	}
	if mode != 0o644 {
		t.Errorf("release mode %o", mode)
	}
	motd, _, ok := ignFile(t, res.Ignition, MotdPath)
	if !ok || !strings.Contains(motd, "clipper 1.0.0") || !strings.Contains(motd, res.ConfigDigest) {
		t.Errorf("login banner does not show the release: %q", motd)
	}
}

func TestNoSecretsInImage(t *testing.T) {
	res := renderCase(t, "clipper")
	script, mode, ok := ignFile(t, res.Ignition, SecretsScript)
	if !ok || mode != 0o755 {
		t.Fatalf("secrets script missing or mode %o", mode)
	}
	for _, name := range []string{"postgres-password", "redis-password", "grafana-password"} {
		if !strings.Contains(script, "generate "+name+" 32\n") {
			t.Errorf("secret %s is not generated at first boot", name)
		}
	}
	if strings.Contains(strings.ToLower(string(res.Ignition)), "password=") {
		t.Error("the config holds a password assignment")
	}
}

func TestZincatiOffByDefault(t *testing.T) {
	got, _, ok := ignFile(t, renderCase(t, "clipper").Ignition, "/etc/zincati/config.d/90-kiln-updates.toml")
	if !ok || !strings.Contains(got, "enabled = false") {
		t.Errorf("zincati not disabled: %q", got)
	}
	got, _, _ = ignFile(t, renderCase(t, "volume").Ignition, "/etc/zincati/config.d/90-kiln-updates.toml")
	if !strings.Contains(got, "enabled = true") {
		t.Errorf("updates.auto: true not honoured: %q", got)
	}
}

func TestOnlyEdgePublishesBeyondLoopback(t *testing.T) {
	res := renderCase(t, "clipper")
	for _, f := range res.files(t) {
		if !strings.HasSuffix(f.path, ".container") {
			continue
		}
		for _, line := range strings.Split(f.content, "\n") {
			if strings.HasPrefix(line, "PublishPort=") && !strings.HasPrefix(line, "PublishPort=127.0.0.1:") {
				t.Errorf("%s publishes beyond loopback: %s", f.path, line)
			}
		}
		if strings.HasSuffix(f.path, "/edge.container") && !strings.Contains(f.content, "Network=host") {
			t.Errorf("edge does not use host networking")
		}
	}
}

type ignEntry struct{ path, content string }

func (r *Result) files(t *testing.T) []ignEntry {
	var cfg struct {
		Storage struct {
			Files []struct {
				Path string `json:"path"`
			} `json:"files"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(r.Ignition, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []ignEntry
	for _, f := range cfg.Storage.Files {
		c, _, _ := ignFile(t, r.Ignition, f.Path)
		out = append(out, ignEntry{f.Path, c})
	}
	return out
}

func TestSnippetMerged(t *testing.T) {
	res := renderCase(t, "snippet")
	if got, _, ok := ignFile(t, res.Ignition, "/etc/hostname"); !ok || got != "tiny-1" {
		t.Errorf("snippet file not merged: %q", got)
	}
	if !strings.Contains(string(res.Ignition), `"hello.service"`) {
		t.Error("snippet unit not merged")
	}
}

// TestSnippetErrorPointsAtSnippet: an error in a user's snippet names the
// snippet's own file and line.
func TestSnippetErrorPointsAtSnippet(t *testing.T) {
	file := filepath.Join("testdata", "render", "snippet.yaml")
	data, _ := os.ReadFile(file)
	bad := strings.Replace(string(data), "snippets/extra.bu", "snippets/broken.bu", 1)
	_, err := Render(Request{File: file, Spec: []byte(bad)})
	if !errors.Is(err, ErrSnippet) {
		t.Fatalf("err = %v, want a snippet error", err)
	}
	want := filepath.Join("testdata", "render", "snippets", "broken.bu") + ":5:"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "storage.files.0.path") {
		t.Errorf("error does not point at the snippet's line (%s):\n%v", want, err)
	}
	missing := strings.Replace(string(data), "snippets/extra.bu", "snippets/nope.bu", 1)
	if _, err := Render(Request{File: file, Spec: []byte(missing)}); !errors.Is(err, ErrSnippet) || !strings.Contains(err.Error(), "butane[0]") {
		t.Errorf("missing snippet: %v", err)
	}
}

func TestStrictRefusesUnpinnedImages(t *testing.T) {
	_, err := Render(Request{File: DefaultSpecName, Spec: DefaultSpec, Strict: true})
	var inv *spec.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Fatalf("--strict accepted unpinned images: %v", err)
	}
	// A digest-pinned spec passes --strict unless one of kiln's own images
	// still awaits its digest (see TestKilnImagesPinned): that is refused.
	_, err = Render(Request{File: "minimal.yaml", Spec: mustRead(t, "testdata/render/minimal.yaml"), Strict: true})
	var missing []string
	for _, img := range overlays.Images() {
		if img.Digest == "" {
			missing = append(missing, img.Ref)
		}
	}
	if len(missing) == 0 && err != nil {
		t.Errorf("a digest-pinned spec must pass --strict: %v", err)
	}
	for _, ref := range missing {
		if err == nil || !strings.Contains(err.Error(), ref) {
			t.Errorf("--strict accepted kiln's unpinned image %s: %v", ref, err)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func BenchmarkRenderDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(Request{File: DefaultSpecName, Spec: DefaultSpec}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkButaneAlone translates the default appliance's generated Butane
// with Butane alone: the floor under BenchmarkRenderDefault, run side by
// side so the ratio holds on a noisy machine.
func BenchmarkButaneAlone(b *testing.B) {
	res, err := Render(Request{File: DefaultSpecName, Spec: DefaultSpec})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := translate("bench", res.Butane); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSecretsReadableByContainerUser: a container that runs as a numeric
// user gets its secrets owned by that user, or it could not read them.
func TestSecretsReadableByContainerUser(t *testing.T) {
	for _, u := range renderCase(t, "clipper").Units {
		if u.Name != "backend.container" {
			continue
		}
		for _, sec := range []string{"postgres-password", "redis-password"} {
			want := "Secret=" + sec + ",type=mount,target=/run/secrets/" + sec + ",uid=65532,mode=0400"
			if !strings.Contains(u.Contents, want) {
				t.Errorf("backend.container lacks %q", want)
			}
		}
		return
	}
	t.Fatal("no backend.container")
}

// TestPlanWarningsReachTheUser: a warning found while planning (backups
// over plain http) is reported at the spec's line, and --strict refuses it.
func TestPlanWarningsReachTheUser(t *testing.T) {
	src := strings.Replace(string(DefaultSpec), "endpoint: https://s3.eu-central-1.amazonaws.com", "endpoint: http://10.0.0.5:9000", 1)
	res, err := Render(Request{File: "c.yaml", Spec: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range res.Diagnostics {
		if d.Path == "backup.s3.endpoint" && d.Severity == spec.Warning && strings.Contains(d.Msg, "plain http") && d.Pos.Line > 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning for plain-http backups: %v", res.Diagnostics)
	}
	if _, err := Render(Request{File: "c.yaml", Spec: []byte(src), Strict: true}); err == nil || !strings.Contains(err.Error(), "c.yaml:") {
		t.Errorf("--strict accepted plain-http backups: %v", err)
	}
}

// TestAllowListedContainerPort: `kiln init`'s commented example allows
// Prometheus (9090, a container published on loopback) from a CIDR. With
// it uncommented the port is published on every address and the firewall
// admits its DNAT from that CIDR only; loopback publishing alone would
// open nothing (the allow rule of the input chain never sees DNAT).
func TestAllowListedContainerPort(t *testing.T) {
	src := strings.Replace(string(DefaultSpec), "  allow: []\n  #  - port: 9090\n  #    from: [203.0.113.0/24]",
		"  allow:\n    - port: 9090\n      from: [203.0.113.0/24]", 1)
	if src == string(DefaultSpec) {
		t.Fatal("the default spec no longer carries the commented allow example")
	}
	res, err := Render(Request{File: "c.yaml", Spec: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	var prom, nft string
	for _, f := range res.files(t) {
		switch f.path {
		case "/etc/containers/systemd/prometheus.container":
			prom = f.content
		case "/etc/kiln/nftables.nft":
			nft = f.content
		}
	}
	if !strings.Contains(prom, "PublishPort=0.0.0.0:9090:9090\n") {
		t.Errorf("allow-listed prometheus port still on loopback only:\n%s", prom)
	}
	if !strings.Contains(nft, "ct status dnat ct original proto-dst 9090 ip saddr @allow_9090_v4 accept") {
		t.Errorf("forward chain does not admit the allow-listed DNAT:\n%s", nft)
	}
	for _, d := range res.Diagnostics {
		if d.Severity == spec.Warning && strings.HasPrefix(d.Path, "firewall.allow") {
			t.Errorf("unexpected warning for an IPv4 allow-list: %v", d)
		}
	}
	v6 := strings.Replace(src, "from: [203.0.113.0/24]", "from: [203.0.113.0/24, \"2001:db8::/32\"]", 1)
	res6, err := Render(Request{File: "c.yaml", Spec: []byte(v6)})
	if err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, d := range res6.Diagnostics {
		if d.Path == "firewall.allow[0].from[1]" && d.Severity == spec.Warning && strings.Contains(d.Msg, "IPv4 only") && d.Pos.Line > 1 {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no positioned warning for an IPv6 source of a container port: %v", res6.Diagnostics)
	}
	for _, f := range res.files(t) {
		if strings.HasSuffix(f.path, ".container") && f.path != "/etc/containers/systemd/prometheus.container" &&
			strings.Contains(f.content, "PublishPort=0.0.0.0") {
			t.Errorf("%s published beyond loopback without being public or allow-listed", f.path)
		}
	}
}
