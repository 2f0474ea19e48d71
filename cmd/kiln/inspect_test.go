package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// TestBuildJSONProgressAndInspect builds one qcow2 with --json: stdout is
// the manifest (the same as manifest.json), stderr shows progress lines
// with percentages (it is a pipe, not a terminal), and `kiln inspect`
// prints each hash once under its own label, saying what it covers.
func TestBuildJSONProgressAndInspect(t *testing.T) {
	dir := t.TempDir()
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	stdout, stderr, code := kilnEnv(t, dir, []string{"SOURCE_DATE_EPOCH=1700000000"}, "build", "--json", "-q", "-o", "out", "--offline",
		"--cache-dir", filepath.Join(dir, "cache"), "--insecure-base", "--base-image", disk, "--platform", "qemu")
	if code != 0 {
		t.Fatalf("build: exit %d\n%s", code, stderr)
	}
	type manifest struct {
		Appliance       string `json:"appliance"`
		Version         string `json:"version"`
		ConfigSHA256    string `json:"config_sha256"`
		SourceDateEpoch int64  `json:"source_date_epoch"`
		Artifacts       []struct {
			Name     string `json:"name"`
			Platform string `json:"platform"`
			Format   string `json:"format"`
			Size     int64  `json:"size"`
			SHA256   string `json:"sha256"`
		} `json:"artifacts"`
	}
	var printed, written manifest
	if err := json.Unmarshal([]byte(stdout), &printed); err != nil {
		t.Fatalf("stdout is not the manifest: %v\n%s", err, stdout)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &written); err != nil {
		t.Fatal(err)
	}
	if printed.Appliance != "clipper" || printed.Version != "1.0.0" || printed.SourceDateEpoch != 1700000000 ||
		len(printed.Artifacts) != 1 || printed.Artifacts[0].Name != "clipper-1.0.0-qemu.qcow2" ||
		printed.Artifacts[0].Format != "qcow2" || printed.Artifacts[0].Size == 0 || len(printed.Artifacts[0].SHA256) != 64 {
		t.Errorf("printed manifest: %+v", printed)
	}
	if pj, _ := json.Marshal(printed); string(pj) != func() string { wj, _ := json.Marshal(written); return string(wj) }() {
		t.Errorf("printed manifest differs from manifest.json:\n%s\n%s", stdout, data)
	}
	if !regexp.MustCompile(`(?m)^kiln: clipper-1\.0\.0-qemu\.qcow2 \w+: 100% \(.* in \d+s, .*/s\)$`).MatchString(stderr) {
		t.Errorf("no progress line with percent and rate for the artifact:\n%s", stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("-q printed warnings:\n%s", stderr)
	}

	art := filepath.Join("out", "clipper-1.0.0-qemu.qcow2")
	jsonOut, stderr, code := kiln(t, dir, "inspect", "--json", art)
	if code != 0 {
		t.Fatalf("inspect --json: exit %d: %s", code, stderr)
	}
	var r struct {
		ConfigSHA256 string `json:"config_sha256"`
		ConfigDigest string `json:"config_digest"`
		Release      struct {
			ConfigDigest string `json:"config_digest"`
		} `json:"release"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ConfigDigest, "sha256:") || r.ConfigDigest != r.Release.ConfigDigest || r.ConfigSHA256 != written.ConfigSHA256 {
		t.Errorf("inspect --json: %s", jsonOut)
	}
	text, stderr, code := kiln(t, dir, "inspect", art)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	digests := regexp.MustCompile(`(?m)^config digest: +(\S+)$`).FindAllStringSubmatch(text, -1)
	if len(digests) != 1 || digests[0][1] != r.ConfigDigest {
		t.Errorf("want one config digest, %s, under one label:\n%s", r.ConfigDigest, text)
	}
	sums := regexp.MustCompile(`(?m)^ignition sha256: +(\S+) \(\d+ bytes\)$`).FindAllStringSubmatch(text, -1)
	if len(sums) != 1 || sums[0][1] != written.ConfigSHA256 {
		t.Errorf("want the Ignition file's sha256, manifest.json's %s, once:\n%s", written.ConfigSHA256, text)
	}
	if strings.Contains(text, "config sha256") {
		t.Errorf("the old, ambiguous label is back:\n%s", text)
	}
	for _, covers := range []string{"The config digest identifies the appliance's configuration", "manifest.json's config_sha256"} {
		if !strings.Contains(text, covers) {
			t.Errorf("inspect does not say what each hash covers (%q):\n%s", covers, text)
		}
	}
}
