package builder

import (
	"fmt"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/units"
)

// 11. Every container's image is pulled by a Quadlet .image unit of its
// own, which the container then requires: first boot pulls about ten
// images, and a pull that hits a rate limit or a slow registry is retried
// (podman pull --retry) within a timeout instead of failing the service,
// with the registry credentials file when the spec names one. The
// credentials are never in the image: systemd-tmpfiles creates the file
// empty (anonymous pulls) when it is missing.
func (p *plan) imagePulls() error {
	r := p.App.Registry
	timeout, err := time.ParseDuration(r.PullTimeout)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, u := range p.Units {
		names[u.Name] = true
	}
	for i, u := range p.Units {
		base, ok := strings.CutSuffix(u.Name, ".container")
		if !ok {
			continue
		}
		ref, ok := imageLine(u.Contents)
		if !ok || strings.HasSuffix(ref, ".image") || strings.HasSuffix(ref, ".build") {
			continue
		}
		img := units.Image{
			Name: base, Description: fmt.Sprintf("%s: pull %s", p.App.Name, ref), Ref: ref,
			AuthFile: r.AuthFile, Retries: r.PullRetries, RetryDelay: r.PullRetryDelay, TimeoutSec: int(timeout.Seconds()),
		}
		iu := img.Unit()
		// Quadlet names the pull service <base>-image.service, which must
		// not be another container's service.
		if names[base+"-image.container"] {
			return fmt.Errorf("%w: %s would collide with the pull unit of %s", ErrDuplicateUnit, base+"-image", base)
		}
		p.Units[i].Contents = strings.Replace(u.Contents, "\nImage="+ref+"\n", "\nImage="+iu.Name+"\n", 1)
		p.Units = append(p.Units, iu)
	}
	if r.AuthFile != "" {
		p.addFile("/etc/tmpfiles.d/kiln-registry.conf", 0o644,
			"# Managed by kiln: the registry credentials file (containers-auth.json),\n"+
				"# created empty so pulls work anonymously until credentials are put there.\n"+
				"f "+r.AuthFile+" 0600 root root - {}\n")
	}
	return nil
}

// imageLine returns the Image= value of a Quadlet .container file.
func imageLine(contents string) (string, bool) {
	for _, l := range strings.Split(contents, "\n") {
		if v, ok := strings.CutPrefix(l, "Image="); ok {
			return v, true
		}
	}
	return "", false
}
