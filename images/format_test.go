package images

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFormatTable: the lists derived from the table are the ones kiln has
// always accepted, every row is complete, and every platform's default
// formats can be built for it.
func TestFormatTable(t *testing.T) {
	want := []string{
		"raw", "raw.gz", "raw.xz", "raw.zst",
		"qcow2", "qcow2.gz", "qcow2.xz", "qcow2.zst",
		"vhd", "vhd.gz", "vhd.xz", "vhd.zst",
		"iso", "pxe",
	}
	if got := FormatNames(); !slices.Equal(got, want) {
		t.Errorf("FormatNames() = %v, want %v", got, want)
	}
	for _, name := range want {
		if _, _, err := ParseFormat(name); err != nil {
			t.Errorf("ParseFormat(%q): %v", name, err)
		}
	}
	for _, bad := range []string{"raw.", "iso.gz", "pxe.xz", "qcow2.bz2", "vmdk", ".xz"} {
		if _, ok := LookupFormat(bad); ok {
			t.Errorf("LookupFormat(%q) accepted", bad)
		}
	}
	for _, f := range Formats() {
		if f.write == nil || f.sniff == nil || f.read == nil || f.InspectKind == "" {
			t.Errorf("format %s: writer, sniffer, reader and inspect kind are all required", f.Name)
		}
		if f.Live && f.Compressible {
			t.Errorf("format %s: a live boot artifact is booted as it is and cannot be compressed", f.Name)
		}
		if slices.IndexFunc(Bases(), func(b BaseInfo) bool { return b.Kind == f.Base }) < 0 {
			t.Errorf("format %s: base %q is not in the base table", f.Name, f.Base)
		}
	}
	names := PlatformNames()
	if !slices.IsSorted(names) || len(names) != 9 {
		t.Errorf("PlatformNames() = %v, want the 9 platforms, sorted", names)
	}
	for _, p := range names {
		pl, _ := LookupPlatform(p)
		if len(pl.Formats) == 0 {
			t.Errorf("platform %s has no default formats", p)
		}
		for _, f := range pl.Formats {
			if _, err := checkTarget(Target{Platform: p, Format: f}); err != nil {
				t.Errorf("platform %s, default format %s: %v", p, f, err)
			}
		}
	}
}

// TestTargetsOutsideTheTable: names that are not rows are refused, among
// them the alias "proxmox" and "gcp", which images once accepted though
// the spec never offered them.
func TestTargetsOutsideTheTable(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want error
	}{
		{Target{Platform: "proxmox", Format: "qcow2"}, ErrUnknownPlatform},
		{Target{Platform: "gcp", Format: "raw"}, ErrUnknownPlatform},
		{Target{Platform: "qemu", Format: "iso"}, ErrUnknownPlatform},
		{Target{Platform: "qemu", Format: "vmdk"}, ErrUnknownFormat},
	} {
		req := Request{Ignition: []byte("{}"), Name: "a", Version: "1", OutDir: "x", BaseImage: "b", BaseISO: "i", Targets: []Target{c.t}}
		if err := req.validate(); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.t, err, c.want)
		}
	}
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{Platform: "qemu", Format: "qcow2"}, "qcow2 needs BaseImage"},
		{Target{Platform: "metal", Format: "iso"}, "iso needs BaseISO"},
	} {
		req := Request{Ignition: []byte("{}"), Name: "a", Version: "1", OutDir: "x", Targets: []Target{c.t}}
		if err := req.validate(); !errors.Is(err, ErrMissingBase) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.t, err, c.want)
		}
	}
	// PXE can do without its base: the bundle then points at URLs.
	req := Request{Ignition: []byte("{}"), Name: "a", Version: "1", OutDir: "x", Targets: []Target{{Format: "pxe"}}}
	if err := req.validate(); err != nil {
		t.Errorf("pxe without a base: %v", err)
	}
}

// tagFooter ends the test-only format below.
const tagFooter = "KILNTAG!"

// taggedFormat is a format that exists only in this test: a raw disk
// followed by one 512-byte block that starts with tagFooter. It is what
// adding a format takes: a layout (or a writer) and a row.
var taggedFormat = FormatInfo{
	Name: "tagged", Base: DiskBase, Compressible: true, InspectKind: "tagged",
	write: diskWriter(diskLayout{tail: func(_ *builder, _ string, _ int64) (int64, []byte) {
		block := make([]byte, 512)
		copy(block, tagFooter)
		return 0, block
	}}),
	sniff: func(head []byte, f *os.File, size int64) bool {
		tail := make([]byte, len(tagFooter))
		_, err := f.ReadAt(tail, size-512)
		return isGPTDisk(head) && err == nil && string(tail) == tagFooter
	},
	read: func(_ string, f *os.File, size int64) ([]byte, string, error) {
		return diskConfig(io.NewSectionReader(f, 0, size-512))
	},
}

// TestAddFormat adds taggedFormat as the table's first row (sniffed
// first: its files are GPT disks too) and builds and inspects it like
// any other format.
func TestAddFormat(t *testing.T) {
	saved := formatTable
	formatTable = append([]FormatInfo{taggedFormat}, formatTable...)
	t.Cleanup(func() { formatTable = saved })

	if !slices.Contains(FormatNames(), "tagged.zst") {
		t.Fatalf("FormatNames() lacks tagged.zst: %v", FormatNames())
	}
	f := newBuildFixture(t)
	out := t.TempDir()
	m, err := Build(context.Background(), f.request(out, Target{Platform: "openstack", Format: "tagged"}, Target{Platform: "openstack", Format: "tagged.gz"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Artifacts) != 2 {
		t.Fatalf("artifacts: %+v", m.Artifacts)
	}
	for _, a := range m.Artifacts {
		if a.Boot != string(BootDisk) || a.Platform != "openstack" || a.SHA256 != fileSHA(t, filepath.Join(out, a.Name)) {
			t.Errorf("artifact %+v", a)
		}
	}
	p := filepath.Join(out, "clipper-1.2.0-openstack.tagged")
	if got, want := mustSize(t, p), mustSize(t, f.image)+512; got != want {
		t.Errorf("%s: %d bytes, want the disk and a 512-byte block, %d", p, got, want)
	}
	res, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "tagged" || res.Platform != "openstack" || res.ConfigSHA256 != m.ConfigSHA256 {
		t.Errorf("inspect: %+v", res)
	}
}
