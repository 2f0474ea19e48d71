package overlays

// Image is a container image kiln itself runs on the server, as opposed to
// the images an appliance spec names. A tag can be moved to other code at
// any time; the digest cannot, so every image is pinned by both: the tag
// for people, the digest for Podman.
type Image struct {
	// Ref is registry/repository:tag.
	Ref string
	// Digest is the digest published for Ref (the multi-architecture
	// index), "sha256:" and 64 hex digits. Empty means it has not been
	// confirmed against the registry yet: --strict then refuses the build.
	Digest string
	// SpecPath is the spec field that brings the image onto the server,
	// where a warning about it points.
	SpecPath string
}

// Pinned is the reference Podman is given: Ref@Digest, or Ref alone while
// the digest is unconfirmed.
func (i Image) Pinned() string {
	if i.Digest == "" {
		return i.Ref
	}
	return i.Ref + "@" + i.Digest
}

// kiln's own images: the one table to update (and re-confirm with
// `skopeo inspect --format '{{.Digest}}' docker://REF`) on a version bump.
var (
	// ResticImage runs backups, restores and drills.
	ResticImage = Image{Ref: "docker.io/restic/restic:0.17.3", Digest: "sha256:8f5a62b422a2cb1277ea0dd6e826fe1acf649e5b9f02d60e5268d5fd1976255a", SpecPath: "backup"}
	// CertbotImage issues and renews ACME certificates.
	CertbotImage = Image{Ref: "docker.io/certbot/certbot:v5.3.1", Digest: "sha256:8be9c9f10232e223acd84acdacc26858fcd46e8194c6dcdf99b2ddd231a362fe", SpecPath: "tls.acme"}
)

// Images lists kiln's own images.
func Images() []Image { return []Image{ResticImage, CertbotImage} }
