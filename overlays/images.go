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
	// ResticImage runs backups, restores and drills. The digest (the
	// multi-architecture index of 0.17.3) is the one independent public
	// projects pin as restic/restic:0.17.3@sha256:8f5a62b4…: a Kubernetes
	// backup CronJob's check script, a Compose sidecar setting whose
	// comment calls it "the multi-arch manifest-list digest for 0.17.3",
	// a Raspberry Pi gateway's backup and drill scripts, and an enclave's
	// backup test scripts — four unrelated code bases, found in November
	// 2026 with kiln's code search, all agreeing.
	ResticImage = Image{Ref: "docker.io/restic/restic:0.17.3", Digest: "sha256:8f5a62b422a2cb1277ea0dd6e826fe1acf649e5b9f02d60e5268d5fd1976255a", SpecPath: "backup"}
	// CertbotImage issues and renews ACME certificates. v5.3.1's digest
	// had one public source only (one project's deploy script), so kiln
	// moved to v5.7.0, whose index digest two kinds of source agree on:
	// Docker Hub's listing as quoted in openagentemail/openagentemail
	// pull request #51, and pins of certbot/certbot:v5.7.0@sha256:34ee91d2…
	// in several unrelated public repositories (deploy scripts, Compose
	// files and the tests that check them), found in November 2026.
	CertbotImage = Image{Ref: "docker.io/certbot/certbot:v5.7.0", Digest: "sha256:34ee91d2f43008eb78a007d22f23ed4b2eaa9a454cb27ca2c042b49527a695b4", SpecPath: "tls.acme"}
)

// Images lists kiln's own images.
func Images() []Image { return []Image{ResticImage, CertbotImage} }
