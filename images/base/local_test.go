package base

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckLocal: a local base is used when the .sig beside it verifies,
// refused when it does not, and without a .sig only when insecure is set;
// a PXE directory needs a signature for each live file.
func TestCheckLocal(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	dir := t.TempDir()
	p := filepath.Join(dir, "fedora-coreos-42.20251012.3.0-metal.x86_64.raw.xz")
	data := content("42.20251012.3.0", "local")
	os.WriteFile(p, data, 0o644)

	if _, err := CheckLocal(p, false, ring); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: got %v, want ErrUnsigned", err)
	}
	if lb, err := CheckLocal(p, true, ring); err != nil || lb.SHA256 != "" {
		t.Fatalf("unsigned with insecure: %+v %v", lb, err)
	}
	os.WriteFile(p+".sig", sign(t, signer, data), 0o644)
	lb, err := CheckLocal(p, false, ring)
	if err != nil || lb.SHA256 != sum(data) {
		t.Fatalf("signed: %+v %v", lb, err)
	}
	os.WriteFile(p+".sig", sign(t, signer, []byte("other")), 0o644)
	for _, insecure := range []bool{false, true} {
		if _, err := CheckLocal(p, insecure, ring); !errors.Is(err, ErrSignature) {
			t.Fatalf("bad signature (insecure %v): got %v, want ErrSignature", insecure, err)
		}
	}

	pxe := t.TempDir()
	for _, n := range []string{"k-live-kernel", "i-live-initramfs.img", "r-live-rootfs.img"} {
		os.WriteFile(filepath.Join(pxe, n), []byte(n), 0o644)
		os.WriteFile(filepath.Join(pxe, n+".sig"), sign(t, signer, []byte(n)), 0o644)
	}
	if _, err := CheckLocal(pxe, false, ring); err != nil {
		t.Fatalf("signed PXE directory: %v", err)
	}
	os.Remove(filepath.Join(pxe, "r-live-rootfs.img.sig"))
	if _, err := CheckLocal(pxe, false, ring); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("PXE directory with an unsigned rootfs: got %v", err)
	}
}

// TestImport: a signed download enters the cache and is found offline;
// an unsigned one or one with a name kiln cannot place is refused.
func TestImport(t *testing.T) {
	signer, ring := testKey(t, "fedora-test")
	dir := t.TempDir()
	const release = "42.20251012.3.0"
	p := filepath.Join(dir, "fedora-coreos-"+release+"-metal.x86_64.raw.xz")
	data := content(release, "import")
	os.WriteFile(p, data, 0o644)
	c := &Cache{Dir: filepath.Join(dir, "cache")}
	if _, err := c.Import(t.Context(), p, ring); !errors.Is(err, ErrMissingSignature) {
		t.Fatalf("unsigned import: got %v", err)
	}
	os.WriteFile(p+".sig", sign(t, signer, data), 0o644)
	e, err := c.Import(t.Context(), p, ring)
	if err != nil {
		t.Fatal(err)
	}
	if e.Stream != "stable" || e.Release != release {
		t.Errorf("imported as %+v", e.Record)
	}
	client := &Client{Offline: true, Cache: c, Keyring: ring}
	got, err := client.Get(t.Context(), "stable", ">= 42", "metal", "raw.xz")
	if err != nil {
		t.Fatalf("offline get after import: %v", err)
	}
	if cp, _ := got.Path(RoleDisk); cp == p || got.Files[0].Verified.SHA256 != sum(data) {
		t.Errorf("got %+v", got)
	}
	other := filepath.Join(dir, "my-disk.raw.xz")
	os.WriteFile(other, data, 0o644)
	if _, err := c.Import(t.Context(), other, ring); err == nil {
		t.Error("a file without FCOS's name was imported")
	}
}
