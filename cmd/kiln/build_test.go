package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// TestBuildFromLocalBases runs `kiln build` on the default appliance with
// fixture bases (an FCOS-layout disk, a live ISO, PXE files), offline,
// then reads every output back with `kiln inspect`.
func TestBuildFromLocalBases(t *testing.T) {
	dir := t.TempDir()
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	iso := fixture.ISO(t, dir, fixture.ISOOptions{})
	pxe := fixture.PXE(t, dir)
	before := fileSHA(t, disk)

	args := []string{"build", "-o", "out", "--offline", "--cache-dir", filepath.Join(dir, "cache"), "--insecure-base",
		"--base-image", disk, "--base-iso", iso, "--base-pxe", pxe,
		"--platform", "metal", "--platform", "digitalocean", "--platform", "hetzner", "--platform", "qemu",
		"--pxe-url", "http://pxe.example/clipper"}
	cmdEnv := []string{"SOURCE_DATE_EPOCH=1700000000"}
	stdout, stderr, code := kilnEnv(t, dir, cmdEnv, args...)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var m struct {
		ConfigSHA256    string `json:"config_sha256"`
		SourceDateEpoch int64  `json:"source_date_epoch"`
		Artifacts       []struct {
			Name   string `json:"name"`
			SHA256 string `json:"sha256"`
		} `json:"artifacts"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "out", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.SourceDateEpoch != 1700000000 {
		t.Errorf("manifest epoch %d", m.SourceDateEpoch)
	}
	want := []string{"clipper-1.0.0-qemu.qcow2", "clipper-1.0.0-digitalocean.qcow2.gz", "clipper-1.0.0-hetzner.raw.xz", "clipper-1.0.0-metal.raw.xz", "clipper-1.0.0-live.iso", "clipper-1.0.0-pxe.ign.img"}
	names := map[string]string{}
	for _, a := range m.Artifacts {
		names[a.Name] = a.SHA256
	}
	for _, w := range want {
		if _, ok := names[w]; !ok {
			t.Errorf("no %s in the manifest (have %v)", w, names)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "SHA256SUMS")); err != nil {
		t.Error("no SHA256SUMS")
	}
	for _, name := range []string{"clipper-1.0.0-qemu.qcow2", "clipper-1.0.0-hetzner.raw.xz", "clipper-1.0.0-digitalocean.qcow2.gz", "clipper-1.0.0-live.iso", "clipper-1.0.0-pxe.ign.img"} {
		out, stderr, code := kilnEnv(t, dir, nil, "inspect", "--json", filepath.Join("out", name))
		if code != 0 {
			t.Errorf("inspect %s: exit %d: %s", name, code, stderr)
			continue
		}
		var r struct {
			ConfigSHA256 string `json:"config_sha256"`
			Release      struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"release"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("inspect %s: %v\n%s", name, err, out)
		}
		if r.ConfigSHA256 != m.ConfigSHA256 || r.Release.Name != "clipper" || r.Release.Version != "1.0.0" {
			t.Errorf("inspect %s = %+v, manifest config %s", name, r, m.ConfigSHA256)
		}
	}
	if fileSHA(t, disk) != before {
		t.Error("the base image was modified")
	}
}

// TestBuildRefusesBadBase: a disk without an FCOS boot partition is refused
// with a clear message and no output.
func TestBuildRefusesBadBase(t *testing.T) {
	dir := t.TempDir()
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096, BootLabel: "notboot"})
	_, stderr, code := kilnEnv(t, dir, nil, "build", "-o", "out", "--offline", "--insecure-base", "--base-image", disk, "--platform", "qemu")
	if code != 1 || !strings.Contains(stderr, "boot") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestBaseCommandsOffline: an empty cache lists nothing, and an offline
// fetch or build with nothing cached fails saying what to do, writing
// nothing.
func TestBaseCommandsOffline(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	out, stderr, code := kilnEnv(t, dir, nil, "base", "list", "--cache-dir", cache)
	if code != 0 || !strings.Contains(out, "no cached base artifacts") {
		t.Errorf("base list: exit %d: %s %s", code, out, stderr)
	}
	_, stderr, code = kilnEnv(t, dir, nil, "base", "fetch", "--offline", "--cache-dir", cache)
	if code != 1 || !strings.Contains(stderr, "offline") {
		t.Errorf("offline fetch with an empty cache: exit %d: %s", code, stderr)
	}
	_, stderr, code = kilnEnv(t, dir, nil, "build", "--offline", "--cache-dir", cache, "--platform", "qemu", "-o", "out")
	if code != 1 || !strings.Contains(stderr, "--base-image") {
		t.Errorf("offline build with an empty cache: exit %d: %s", code, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) > 0 {
		t.Errorf("a failed build left %d entries in out/", len(entries))
	}
}
