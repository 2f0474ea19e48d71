package builder

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// TestKilnImagesPinned: every image of kiln's own table carries a digest,
// and the units use the pinned reference.
func TestKilnImagesPinned(t *testing.T) {
	for _, img := range overlays.Images() {
		if img.Digest == "" {
			t.Errorf("%s is not pinned by digest", img.Ref)
			continue
		}
		if !strings.HasPrefix(img.Digest, "sha256:") || len(img.Digest) != len("sha256:")+64 {
			t.Errorf("%s: malformed digest %q", img.Ref, img.Digest)
		}
	}
	res := renderCase(t, "clipper")
	for _, img := range overlays.Images() {
		if !strings.Contains(string(res.Butane), img.Pinned()) {
			t.Errorf("the rendered server does not run %s", img.Pinned())
		}
	}
}

// TestStrictChecksEveryImage: --strict refuses an unpinned image in any
// container unit of the plan and any of kiln's own images without a
// digest, not only the images the spec names.
func TestStrictChecksEveryImage(t *testing.T) {
	p := &plan{App: &spec.Appliance{Services: []spec.Service{{Name: "api", Image: "registry.example.com/api:1"}}}}
	p.Units = []units.Unit{
		{Name: "api.container", Contents: "[Container]\nImage=registry.example.com/api:1\n"},
		{Name: "helper.container", Contents: "[Container]\nImage=docker.io/example/helper:2\n"},
		{Name: "pinned.container", Contents: "[Container]\nImage=docker.io/example/ok:3@sha256:" + strings.Repeat("a", 64) + "\n"},
	}
	restic := overlays.ResticImage
	p.Files = []overlays.File{{Path: "/etc/x.env", Contents: []byte("run " + restic.Ref + " backup")}}
	saved := overlays.ResticImage
	t.Cleanup(func() { overlays.ResticImage = saved })
	overlays.ResticImage.Digest = ""
	if err := p.images(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.Path+": "+w.Msg)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"services: image \"docker.io/example/helper:2\"", "backup: image \"" + restic.Ref + "\""} {
		if !strings.Contains(all, want) {
			t.Errorf("missing warning %q in:\n%s", want, all)
		}
	}
	if len(p.Warnings) != 2 {
		t.Errorf("want 2 warnings (the spec's image is checked where it is written), got:\n%s", all)
	}
}
