package builder

import (
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/overlays"
)

// 12. Every image the server will run must be pinned for --strict, not
// only the spec's (whose own validation points at their lines): the
// images of kiln's own units (restic, certbot) come from
// overlays.Images, and any Quadlet Image= the plan holds is checked too,
// so a new unit cannot slip an unpinned image past the check.
func (p *plan) images() error {
	fromSpec := map[string]bool{}
	for _, s := range p.App.Services {
		fromSpec[s.Image] = true
	}
	warned := map[string]bool{}
	warn := func(ref, path, why string) {
		if warned[ref] {
			return
		}
		warned[ref] = true
		p.Warnings = append(p.Warnings, planWarning{Path: path,
			Msg: fmt.Sprintf("image %q that kiln runs on the server is not pinned by digest%s", ref, why),
			Fix: "pin it by digest in kiln's image table (overlays/images.go); --strict requires it"})
	}
	mentions := func(s string) bool {
		for _, u := range p.Units {
			if strings.Contains(u.Contents, s) {
				return true
			}
		}
		for _, f := range p.Files {
			if strings.Contains(string(f.Contents), s) {
				return true
			}
		}
		return false
	}
	for _, img := range overlays.Images() {
		if img.Digest == "" && mentions(img.Ref) {
			warn(img.Ref, img.SpecPath, " (its digest is not confirmed yet)")
		}
	}
	for _, u := range p.Units {
		// A container names its image, or the Quadlet .image unit that
		// pulls it (step 11), which names it in turn.
		if !strings.HasSuffix(u.Name, ".container") && !strings.HasSuffix(u.Name, ".image") {
			continue
		}
		for _, line := range strings.Split(u.Contents, "\n") {
			ref, ok := strings.CutPrefix(strings.TrimSpace(line), "Image=")
			if strings.HasSuffix(ref, ".image") || strings.HasSuffix(ref, ".build") {
				continue
			}
			if ok && !fromSpec[ref] && !strings.Contains(ref, "@sha256:") {
				warn(ref, "services", " (unit "+u.Name+")")
			}
		}
	}
	return nil
}
