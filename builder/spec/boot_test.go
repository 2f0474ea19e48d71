package spec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/images"
)

// TestBootModels: the combinations that can boot load cleanly, and the
// boot of each artifact is what the model says.
func TestBootModels(t *testing.T) {
	for name, targets := range map[string]string{
		"installer with a boot-disk partition":  "targets: [{platform: metal, formats: [raw.xz, iso, pxe], install: {device: /dev/sda}}]\n",
		"metal defaults as installers":          "targets: [{platform: metal, install: {device: /dev/nvme0n1}, disk_gib: 12}]\n",
		"live boots with a data volume":         "data: {mode: volume, device: /dev/disk/by-id/ata-DATA}\ntargets: [{platform: metal, formats: [iso, pxe]}]\n",
		"live boots with a partition elsewhere": "data: {device: /dev/sdb}\ntargets: [{platform: metal, formats: [pxe]}]\n",
		"droplet with a declared disk":          "targets: [{platform: digitalocean, disk_gib: 25}]\n",
	} {
		app, _, ds := Load("ok.yaml", []byte(strings.Replace(minimal, "name: web\n", "name: web\n"+targets, 1)))
		if app == nil {
			t.Errorf("%s: refused:\n%s", name, diagLines(ds))
			continue
		}
		for _, d := range ds {
			if strings.HasPrefix(d.Path, "targets") || strings.HasPrefix(d.Path, "data") {
				t.Errorf("%s: unexpected %s", name, d)
			}
		}
	}
	inst := Target{Platform: "metal", Install: Install{Device: "/dev/sda"}}
	for _, tc := range []struct {
		t      Target
		format string
		want   Boot
	}{
		{inst, "iso", BootInstaller}, {inst, "pxe", BootInstaller}, {inst, "raw.xz", BootDisk},
		{Target{Platform: "metal"}, "iso", BootLive}, {Target{Platform: "qemu"}, "qcow2", BootDisk},
	} {
		if got := BootOf(tc.t, tc.format); got != tc.want {
			t.Errorf("BootOf(%+v, %s) = %s, want %s", tc.t, tc.format, got, tc.want)
		}
	}
}

// TestTargetsFollowImagesTables: the spec accepts exactly the platforms
// and formats of images' tables — each platform with its default formats,
// each format under a platform it fits — and lists them in its fixes and
// its schema.
func TestTargetsFollowImagesTables(t *testing.T) {
	load := func(targets string) (*Appliance, []Diagnostic) {
		data := "data: {mode: volume, device: /dev/sdb}\n"
		app, _, ds := Load("t.yaml", []byte(strings.Replace(minimal, "name: web\n", "name: web\n"+data+targets, 1)))
		return app, ds
	}
	for _, p := range images.PlatformNames() {
		if app, ds := load("targets: [{platform: " + p + ", disk_gib: 30}]\n"); app == nil {
			t.Errorf("platform %s refused:\n%s", p, diagLines(ds))
		}
	}
	for _, f := range images.FormatNames() {
		p := "qemu"
		if IsLiveFormat(f) {
			p = images.MetalPlatform
		}
		if app, ds := load("targets: [{platform: " + p + ", formats: [" + f + "], disk_gib: 30}]\n"); app == nil {
			t.Errorf("format %s refused:\n%s", f, diagLines(ds))
		}
	}
	for targets, fix := range map[string]string{
		"targets: [{platform: gcp}]\n":                     strings.Join(images.PlatformNames(), ", "),
		"targets: [{platform: qemu, formats: [vmdk]}]\n":   strings.Join(images.FormatNames(), ", "),
		"targets: [{platform: qemu, formats: [iso]}]\n":    "list iso and pxe under platform metal",
		"targets: [{platform: qemu, formats: [raw.]}]\n":   strings.Join(images.FormatNames(), ", "),
		"targets: [{platform: proxmox, formats: [raw]}]\n": strings.Join(images.PlatformNames(), ", "),
	} {
		app, ds := load(targets)
		if app != nil || !strings.Contains(diagLines(ds), fix) {
			t.Errorf("%s: want an error with fix %q, got:\n%s", targets, fix, diagLines(ds))
		}
	}
	schema, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range [][]string{images.PlatformNames(), images.FormatNames()} {
		enum, _ := json.Marshal(list)
		if !strings.Contains(strings.Join(strings.Fields(string(schema)), ""), string(enum)) {
			t.Errorf("schema has no enum %s", enum)
		}
	}
}
