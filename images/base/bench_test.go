package base

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// benchServer serves one signed artifact of size bytes and returns the
// artifact and a keyring that verifies it.
func benchServer(b *testing.B, size int) (*httptest.Server, Artifact, openpgp.EntityList) {
	b.Helper()
	signer, ring := testKey(b, "bench")
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	sig := sign(b, signer, data)
	mux := http.NewServeMux()
	mux.HandleFunc("/a.raw.xz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
	})
	mux.HandleFunc("/a.raw.xz.sig", func(w http.ResponseWriter, r *http.Request) { w.Write(sig) })
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	a := Artifact{Stream: "stable", Release: "42.20251012.3.0", Arch: "x86_64", Platform: "metal", Format: "raw.xz",
		Files: []NamedFile{{Role: RoleDisk, RemoteFile: RemoteFile{Location: srv.URL + "/a.raw.xz", Signature: srv.URL + "/a.raw.xz.sig", SHA256: sum(data)}}}}
	return srv, a, ring
}

// BenchmarkFetch measures download plus verification of a 64 MiB artifact
// over loopback into an empty cache.
func BenchmarkFetch(b *testing.B) {
	const size = 64 << 20
	srv, a, ring := benchServer(b, size)
	b.SetBytes(size)
	for b.Loop() {
		c := &Client{BaseURL: srv.URL, HTTP: srv.Client(), Cache: &Cache{Dir: b.TempDir()}, Keyring: ring}
		if _, err := c.Fetch(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHit measures re-verifying a cached 64 MiB artifact, the cost
// every build pays for not trusting the cache blindly.
func BenchmarkCacheHit(b *testing.B) {
	const size = 64 << 20
	srv, a, ring := benchServer(b, size)
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client(), Cache: &Cache{Dir: b.TempDir()}, Keyring: ring}
	if _, err := c.Fetch(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		if _, err := c.Fetch(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
}
