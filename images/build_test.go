package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

type buildFixture struct {
	dir, image, iso, pxe string
}

func newBuildFixture(t *testing.T) *buildFixture {
	t.Helper()
	dir := t.TempDir()
	return &buildFixture{
		dir:   dir,
		image: fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096}),
		iso:   fixture.ISO(t, dir, fixture.ISOOptions{}),
		pxe:   fixture.PXE(t, dir),
	}
}

func (f *buildFixture) request(out string, targets ...Target) Request {
	return Request{
		Ignition: []byte(testConfig), Name: "clipper", Version: "1.2.0", OutDir: out,
		Targets: targets, BaseImage: f.image, BaseISO: f.iso, BasePXE: f.pxe,
		BaseRelease: fixture.Release, SourceDateEpoch: testEpoch,
		KernelArgs: []string{"console=ttyS0"}, KilnVersion: "test",
		PXE: PXEOptions{BaseURL: "http://192.0.2.1/clipper"},
	}
}

var allTargets = []Target{
	{Platform: "proxmoxve", Format: "raw"},
	{Platform: "qemu", Format: "qcow2"},
	{Platform: "azure", Format: "vhd"},
	{Platform: "digitalocean", Format: "qcow2.zst"},
	{Platform: "hetzner", Format: "raw.xz"},
	{Platform: "vultr", Format: "vhd.gz"},
	{Format: "iso"},
	{Format: "pxe"},
}

func TestBuildAllFormats(t *testing.T) {
	f := newBuildFixture(t)
	baseSums := map[string]string{f.image: fileSHA(t, f.image), f.iso: fileSHA(t, f.iso)}
	out1 := filepath.Join(f.dir, "out1")
	out2 := filepath.Join(f.dir, "out2")
	for _, d := range []string{out1, out2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var events int
	req := f.request(out1, allTargets...)
	req.Progress = func(ProgressEvent) { events++ }
	m, err := Build(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if events == 0 {
		t.Error("no progress events")
	}
	m2, err := Build(t.Context(), f.request(out2, allTargets...))
	if err != nil {
		t.Fatal(err)
	}
	for p, s := range baseSums {
		if fileSHA(t, p) != s {
			t.Errorf("base %s changed", p)
		}
	}
	// Reproducible: every artifact, the manifest and the sums agree.
	if len(m.Artifacts) != len(m2.Artifacts) {
		t.Fatalf("artifact lists differ")
	}
	for i, a := range m.Artifacts {
		if a != m2.Artifacts[i] {
			t.Errorf("not reproducible: %+v vs %+v", a, m2.Artifacts[i])
		}
	}
	for _, n := range []string{ManifestName, SumsName} {
		if fileSHA(t, filepath.Join(out1, n)) != fileSHA(t, filepath.Join(out2, n)) {
			t.Errorf("%s differs between builds", n)
		}
	}
	// SHA256SUMS verifies with sha256sum itself.
	shell(t, "cd '"+out1+"' && sha256sum --quiet -c SHA256SUMS")
	ents, _ := os.ReadDir(out1)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover %s in output dir", e.Name())
		}
	}
	var mj Manifest
	data, _ := os.ReadFile(filepath.Join(out1, ManifestName))
	if err := json.Unmarshal(data, &mj); err != nil || mj.ConfigSHA256 != m.ConfigSHA256 || len(mj.Bases) != 3 {
		t.Errorf("manifest.json: %v %+v", err, mj)
	}

	raw := filepath.Join(out1, "clipper-1.2.0-proxmoxve.raw")
	qcow := filepath.Join(out1, "clipper-1.2.0-qemu.qcow2")
	vhd := filepath.Join(out1, "clipper-1.2.0-azure.vhd")
	iso := filepath.Join(out1, "clipper-1.2.0-live.iso")
	initrd := filepath.Join(out1, "clipper-1.2.0-pxe.ign.img")

	t.Run("raw", func(t *testing.T) {
		checkBootFS(t, raw, []byte(testConfig), "proxmoxve")
		// The ESP is left alone and still checks clean.
		esp := filepath.Join(t.TempDir(), "esp.img")
		judge(t, false, "dd", "if="+raw, "of="+esp, "bs=1M", "skip=2", "count=127", "status=none")
		judge(t, false, "fsck.vfat", "-n", esp)
		if st, _ := os.Stat(raw); st.Size() != mustSize(t, f.image) {
			t.Errorf("raw size %d, base %d", st.Size(), mustSize(t, f.image))
		}
	})
	t.Run("qcow2", func(t *testing.T) {
		out := judge(t, false, "qemu-img", "check", qcow)
		if !strings.Contains(out, "No errors were found") {
			t.Errorf("qemu-img check:\n%s", out)
		}
		info := judge(t, false, "qemu-img", "info", "--output=json", qcow)
		if !strings.Contains(info, `"compat": "1.1"`) || !strings.Contains(info, `"cluster-size": 65536`) {
			t.Errorf("qemu-img info:\n%s", info)
		}
		// Compare with the same platform written as raw.
		plain := filepath.Join(t.TempDir(), "qemu.raw")
		if err := WriteRaw(t.Context(), plain, f.image, []byte(testConfig), "qemu", testEpoch, nil); err != nil {
			t.Fatal(err)
		}
		judge(t, false, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", qcow, plain)
		if st, _ := os.Stat(qcow); st.Size() > 64<<20 {
			t.Errorf("qcow2 of a mostly empty disk is %d bytes: zero clusters allocated?", st.Size())
		}
		zst := filepath.Join(t.TempDir(), "do.qcow2")
		shell(t, fmt.Sprintf("zstd -q -d -o '%s' '%s'", zst, filepath.Join(out1, "clipper-1.2.0-digitalocean.qcow2.zst")))
		judge(t, false, "qemu-img", "check", zst)
		for _, p := range []string{zst, filepath.Join(out1, "clipper-1.2.0-digitalocean.qcow2.zst")} {
			res, err := Inspect(p)
			if err != nil || res.Platform != "digitalocean" || res.Kind != KindQcow2 || res.ConfigSHA256 != m.ConfigSHA256 {
				t.Errorf("inspect %s: %+v %v", p, res, err)
			}
		}
	})
	t.Run("vhd", func(t *testing.T) {
		info := judge(t, false, "qemu-img", "info", "-f", "vpc", "--output=json", vhd)
		want := (mustSize(t, f.image) + (1<<20 - 1)) / (1 << 20) * (1 << 20)
		if !strings.Contains(info, fmt.Sprintf(`"virtual-size": %d`, want)) {
			t.Errorf("vhd virtual size, want %d:\n%s", want, info)
		}
		if (mustSize(t, vhd)-512)%(1<<20) != 0 {
			t.Errorf("vhd size %d is not 1 MiB + footer", mustSize(t, vhd))
		}
		plain := filepath.Join(t.TempDir(), "azure.raw")
		if err := WriteRaw(t.Context(), plain, f.image, []byte(testConfig), "azure", testEpoch, nil); err != nil {
			t.Fatal(err)
		}
		judge(t, false, "qemu-img", "compare", "-f", "vpc", "-F", "raw", vhd, plain)
	})
	t.Run("iso", func(t *testing.T) {
		ex := t.TempDir()
		judge(t, false, "xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/images/ignition.img", filepath.Join(ex, "ign.img"), "-extract", "/EFI/fedora/grub.cfg", filepath.Join(ex, "grub.cfg"))
		if mustSize(t, filepath.Join(ex, "ign.img")) != 256*1024 {
			t.Error("ignition.img changed size")
		}
		// xz refuses the zero padding after the stream only when it is not a
		// multiple of four; cut the stream out for the judges.
		img, _ := os.ReadFile(filepath.Join(ex, "ign.img"))
		cut := filepath.Join(ex, "cut.img")
		os.WriteFile(cut, []byte(strings.TrimRight(string(img), "\x00")), 0o644)
		checkInitrdFile(t, cut, []byte(testConfig))
		grub, _ := os.ReadFile(filepath.Join(ex, "grub.cfg"))
		if !strings.Contains(string(grub), fixture.KargsDefault+" console=ttyS0###") {
			t.Errorf("kargs not appended:\n%s", grub)
		}
		// The ISO's own MD5 tags were made for the base: after an in-place
		// embed they must flag exactly the edited files and nothing else.
		out := judge(t, true, "xorriso", "-md5", "on", "-indev", iso, "-check_md5_r", "SORRY", "/", "--")
		for _, bad := range []string{"/images/ignition.img", "/EFI/fedora/grub.cfg", "/isolinux/isolinux.cfg"} {
			if !strings.Contains(out, "MD5 MISMATCH: '"+bad+"'") {
				t.Errorf("md5 check does not flag %s:\n%s", bad, out)
			}
		}
		if strings.Count(out, "MD5 MISMATCH") != 3 {
			t.Errorf("md5 check flags more than the edited files:\n%s", out)
		}
		baseOut := judge(t, false, "xorriso", "-md5", "on", "-indev", f.iso, "-check_md5_r", "SORRY", "/", "--")
		if strings.Contains(baseOut, "MISMATCH") || !strings.Contains(baseOut, "checksums match") {
			t.Errorf("base ISO md5 check:\n%s", baseOut)
		}
	})
	t.Run("pxe", func(t *testing.T) {
		checkInitrdFile(t, initrd, []byte(testConfig))
		ipxe, _ := os.ReadFile(filepath.Join(out1, "clipper-1.2.0-pxe.ipxe"))
		for _, want := range []string{"#!ipxe", "initrd --name config http://192.0.2.1/clipper/clipper-1.2.0-pxe.ign.img", "coreos.live.rootfs_url=http://192.0.2.1/clipper/fedora-coreos-" + fixture.Release + "-live-rootfs.x86_64.img", "ignition.firstboot ignition.platform.id=metal console=ttyS0"} {
			if !strings.Contains(string(ipxe), want) {
				t.Errorf("ipxe lacks %q:\n%s", want, ipxe)
			}
		}
		var prof struct {
			ID   string `json:"id"`
			Boot struct {
				Kernel string   `json:"kernel"`
				Initrd []string `json:"initrd"`
				Args   []string `json:"args"`
			} `json:"boot"`
		}
		data, _ := os.ReadFile(filepath.Join(out1, "matchbox/profiles/clipper-1.2.0.json"))
		if err := json.Unmarshal(data, &prof); err != nil || len(prof.Boot.Initrd) != 2 || prof.ID != "clipper-1.2.0" {
			t.Errorf("matchbox profile: %v\n%s", err, data)
		}
		grub, _ := os.ReadFile(filepath.Join(out1, "clipper-1.2.0-pxe.grub.cfg"))
		if !strings.Contains(string(grub), "(http,192.0.2.1)/clipper/clipper-1.2.0-pxe.ign.img") {
			t.Errorf("grub netboot:\n%s", grub)
		}
	})
	t.Run("compressed", func(t *testing.T) {
		dir := t.TempDir()
		rawXZ := filepath.Join(dir, "h.raw")
		shell(t, fmt.Sprintf("xz -dc '%s' > '%s'", filepath.Join(out1, "clipper-1.2.0-hetzner.raw.xz"), rawXZ))
		checkBootFS(t, rawXZ, []byte(testConfig), "hetzner")
		if lv := judge(t, false, "xz", "-lvv", filepath.Join(out1, "clipper-1.2.0-hetzner.raw.xz")); !strings.Contains(lv, "CRC32") {
			t.Errorf("raw.xz check type:\n%s", lv)
		}
		vhdGz := filepath.Join(dir, "v.vhd")
		shell(t, fmt.Sprintf("gzip -dc '%s' > '%s'", filepath.Join(out1, "clipper-1.2.0-vultr.vhd.gz"), vhdGz))
		plain := filepath.Join(dir, "vultr.raw")
		if err := WriteRaw(t.Context(), plain, f.image, []byte(testConfig), "vultr", testEpoch, nil); err != nil {
			t.Fatal(err)
		}
		judge(t, false, "qemu-img", "compare", "-f", "vpc", "-F", "raw", vhdGz, plain)
		for _, p := range []string{"clipper-1.2.0-hetzner.raw.xz", "clipper-1.2.0-vultr.vhd.gz"} {
			res, err := Inspect(filepath.Join(out1, p))
			if err != nil || res.ConfigSHA256 != m.ConfigSHA256 {
				t.Errorf("inspect %s: %+v %v", p, res, err)
			}
		}
	})
	t.Run("inspect", func(t *testing.T) {
		for _, c := range []struct{ path, kind, platform string }{
			{raw, KindRaw, "proxmoxve"}, {qcow, KindQcow2, "qemu"}, {vhd, KindVHD, "azure"}, {iso, KindISO, ""}, {initrd, KindInitrd, ""},
		} {
			res, err := Inspect(c.path)
			if err != nil {
				t.Errorf("%s: %v", c.path, err)
				continue
			}
			if res.Kind != c.kind || res.ConfigSHA256 != m.ConfigSHA256 || res.Platform != c.platform {
				t.Errorf("%s: %+v", c.path, res)
			}
			if string(res.Release) != `{"appliance":"clipper"}` {
				t.Errorf("%s: release %s", c.path, res.Release)
			}
		}
		if _, err := Inspect(f.image); !errors.Is(err, ErrNoConfig) {
			t.Errorf("base image inspect: %v", err)
		}
		if _, err := Inspect(f.iso); !errors.Is(err, ErrNoConfig) {
			t.Errorf("base iso inspect: %v", err)
		}
	})
}

func TestBuildCancelled(t *testing.T) {
	f := newBuildFixture(t)
	// Count the progress events of a full build, then cancel at several
	// points of it: copy, conversion, hashing.
	total := 0
	full := f.request(t.TempDir(), Target{Platform: "metal", Format: "raw.gz"}, Target{Platform: "qemu", Format: "qcow2"})
	full.Progress = func(ProgressEvent) { total++ }
	if _, err := Build(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	for _, after := range []int{1, total / 3, total * 2 / 3, total} {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			out := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			n := 0
			req := f.request(out, Target{Platform: "metal", Format: "raw.gz"}, Target{Platform: "qemu", Format: "qcow2"})
			req.Progress = func(ProgressEvent) {
				if n++; n == after {
					cancel()
				}
			}
			_, err := Build(ctx, req)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			ents, _ := os.ReadDir(out)
			if len(ents) != 0 {
				t.Errorf("cancelled build left %v", ents)
			}
		})
	}
}

func TestWriteISORefusesUsedArea(t *testing.T) {
	dir := t.TempDir()
	base := fixture.ISO(t, dir, fixture.ISOOptions{})
	once := filepath.Join(dir, "once.iso")
	if err := WriteISO(t.Context(), once, base, []byte(testConfig), nil); err != nil {
		t.Fatal(err)
	}
	twice := filepath.Join(dir, "twice.iso")
	if err := WriteISO(t.Context(), twice, once, []byte(testConfig), nil); !errors.Is(err, ErrConfigExists) {
		t.Fatalf("got %v, want ErrConfigExists", err)
	}
	if _, err := os.Stat(twice); !os.IsNotExist(err) {
		t.Error("refused ISO left an output")
	}
}

func TestBuildPXEByURL(t *testing.T) {
	out := t.TempDir()
	m, err := Build(t.Context(), Request{
		Ignition: []byte(testConfig), Name: "clipper", Version: "1.2.0", OutDir: out,
		Targets: []Target{{Format: "pxe"}}, SourceDateEpoch: testEpoch,
		PXE: PXEOptions{
			BaseURL:      "http://192.0.2.1/kiln",
			KernelURL:    "https://mirror.example/k",
			InitramfsURL: "https://mirror.example/i.img",
			RootfsURL:    "https://mirror.example/r.img",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Artifacts) != 5 || len(m.Bases) != 0 {
		t.Errorf("artifacts %+v bases %+v", m.Artifacts, m.Bases)
	}
	ipxe, _ := os.ReadFile(filepath.Join(out, "clipper-1.2.0-pxe.ipxe"))
	for _, want := range []string{"kernel https://mirror.example/k ", "coreos.live.rootfs_url=https://mirror.example/r.img", "initrd --name main https://mirror.example/i.img", "initrd --name config http://192.0.2.1/kiln/clipper-1.2.0-pxe.ign.img"} {
		if !strings.Contains(string(ipxe), want) {
			t.Errorf("ipxe lacks %q:\n%s", want, ipxe)
		}
	}
}

func TestBuildRefusals(t *testing.T) {
	f := newBuildFixture(t)
	out := t.TempDir()
	for name, c := range map[string]struct {
		req  Request
		want error
	}{
		"unknown-platform": {f.request(out, Target{Platform: "mars", Format: "raw"}), ErrUnknownPlatform},
		"unknown-format":   {f.request(out, Target{Platform: "metal", Format: "vmdk"}), ErrUnknownFormat},
		"iso-not-metal":    {f.request(out, Target{Platform: "aws", Format: "iso"}), ErrUnknownPlatform},
		"no-base": {func() Request {
			r := f.request(out, Target{Platform: "aws", Format: "raw"})
			r.BaseImage = ""
			return r
		}(), ErrMissingBase},
		"kargs-too-long": {func() Request {
			r := f.request(out, Target{Format: "iso"})
			r.KernelArgs = []string{strings.Repeat("x", 2000)}
			return r
		}(), ErrKargsTooLong},
		"iso-too-large": {func() Request {
			r := f.request(out, Target{Format: "iso"})
			r.Ignition = randomBytes(300 * 1024)
			return r
		}(), ErrConfigTooLarge},
		// The raw target completes before the ISO fails: nothing may reach
		// the output directory all the same.
		"second-target-fails": {func() Request {
			r := f.request(out, Target{Platform: "aws", Format: "raw"}, Target{Format: "iso"})
			r.KernelArgs = []string{strings.Repeat("y", 2000)}
			return r
		}(), ErrKargsTooLong},
		"pxe-without-base": {func() Request {
			r := f.request(out, Target{Format: "pxe"})
			r.BasePXE = ""
			return r
		}(), ErrMissingBase},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(t.Context(), c.req)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("refused build left %v", ents)
			}
		})
	}
}

// randomBytes returns incompressible bytes (xorshift), reproducibly.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint64(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
