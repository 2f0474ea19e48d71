package spec

import (
	"strings"
	"testing"
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
