// Command standin-digest records a manifest digest on an image in the local
// container storage, so that a reference pinned by digest
// (repository:tag@sha256:…) finds a stand-in image there. It is used only
// to build kiln's test OS (testos/build.sh), whose stand-in images cannot
// have the real images' digests: a digest is the hash of the real
// manifest. kiln pins its own images (restic, certbot) by digest, and
// Podman looks a digest-pinned reference up among the digests the storage
// keeps for each image, which this adds to.
//
//	standin-digest IMAGE sha256:HEX…
//
// It is a module of its own so that kiln's module does not depend on
// containers/storage; build and test it with
// -tags "exclude_graphdriver_btrfs containers_image_openpgp" (no cgo).
package main

import (
	"fmt"
	"os"

	"github.com/containers/storage"
	"github.com/opencontainers/go-digest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "standin-digest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: standin-digest IMAGE sha256:HEX")
	}
	want, err := digest.Parse(args[1])
	if err != nil {
		return fmt.Errorf("digest %q: %w", args[1], err)
	}
	opts, err := storage.DefaultStoreOptions()
	if err != nil {
		return err
	}
	store, err := storage.GetStore(opts)
	if err != nil {
		return err
	}
	defer func() { _, _ = store.Shutdown(false) }()
	return record(store, args[0], want)
}

// record adds want to the digests the store keeps for the image named ref.
func record(store storage.Store, ref string, want digest.Digest) error {
	img, err := store.Image(ref)
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	manifest, err := store.ImageBigData(img.ID, storage.ImageDigestBigDataKey)
	if err != nil {
		return fmt.Errorf("image %s has no manifest: %w", ref, err)
	}
	// The same manifest under a second key whose digest is the one asked
	// for: the storage lists every manifest key's digest as the image's.
	// c/image names per-digest manifest keys "manifest-" + digest.
	key := storage.ImageDigestManifestBigDataNamePrefix + "-" + want.String()
	return store.SetImageBigData(img.ID, key, manifest, func([]byte) (digest.Digest, error) { return want, nil })
}
