package main

import (
	"slices"
	"testing"

	"github.com/containers/storage"
	"github.com/opencontainers/go-digest"
)

// TestRecord checks that after record the image is found by the pinned
// digest, which is how Podman resolves repository:tag@digest, and that
// its own manifest digest is kept.
func TestRecord(t *testing.T) {
	dir := t.TempDir()
	store, err := storage.GetStore(storage.StoreOptions{GraphRoot: dir + "/graph", RunRoot: dir + "/run", GraphDriverName: "vfs"})
	if err != nil {
		t.Skipf("no container storage here: %v", err)
	}
	defer func() { _, _ = store.Shutdown(true) }()
	manifest := []byte(`{"schemaVersion":2}`)
	own := digest.FromBytes(manifest)
	ref := "docker.io/restic/restic:0.17.3"
	img, err := store.CreateImage("", []string{ref}, "", "", &storage.ImageOptions{
		BigData: []storage.ImageBigDataOption{{Key: storage.ImageDigestBigDataKey, Data: manifest, Digest: own}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := digest.Digest("sha256:8f5a62b422a2cb1277ea0dd6e826fe1acf649e5b9f02d60e5268d5fd1976255a")
	if got, _ := store.ImagesByDigest(want); len(got) != 0 {
		t.Fatalf("image found by %s before record", want)
	}
	if err := record(store, ref, want); err != nil {
		t.Fatal(err)
	}
	got, err := store.ImagesByDigest(want)
	if err != nil || len(got) != 1 || got[0].ID != img.ID {
		t.Fatalf("ImagesByDigest(%s) = %v, %v; want the image %s", want, got, err, img.ID)
	}
	if !slices.Contains(got[0].Digests, own) {
		t.Errorf("the image lost its own digest %s: %v", own, got[0].Digests)
	}
	if err := record(store, "docker.io/library/absent:1", want); err == nil {
		t.Error("record of an absent image succeeded")
	}
}
