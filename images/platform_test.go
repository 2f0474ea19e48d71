package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

const serialGrub = "serial --speed=115200\nterminal_input serial console\nterminal_output serial console\n"

func TestApplyPlatform(t *testing.T) {
	var table map[string]platformSpec
	if err := json.Unmarshal([]byte(fixture.PlatformsJSON), &table); err != nil {
		t.Fatal(err)
	}
	entry := []byte("title FCOS\n" + fixture.BLSOptions + "\nlinux /vmlinuz\n")
	grub := []byte(fixture.ConsoleCfg)
	for _, tc := range []struct {
		id, opts, grub string // grub "" means unchanged
	}{
		{"aws", "ignition.platform.id=aws $ignition_firstboot", serialGrub},
		{"qemu", "ignition.platform.id=qemu", serialGrub},
		{"azure", "ignition.platform.id=azure", ""}, // console kargs, GRUB like metal
		{"hetzner", "ignition.platform.id=hetzner", ""},
		{"digitalocean", "ignition.platform.id=digitalocean", ""},
	} {
		e, err := applyPlatform(entry, table, tc.id, grubConsolePath, grub)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		opts := optionsLine(e.Entry)
		if !strings.Contains(opts, tc.opts) {
			t.Errorf("%s: options %q lack %q", tc.id, opts, tc.opts)
		}
		want := table[tc.id].KernelArguments
		if got := strings.Fields(opts); len(want) > 0 && strings.Join(got[len(got)-len(want):], " ") != strings.Join(want, " ") {
			t.Errorf("%s: options %q do not end with %v", tc.id, opts, want)
		}
		if len(want) == 0 && strings.Contains(opts, "console=") {
			t.Errorf("%s: console arguments on a platform without any: %q", tc.id, opts)
		}
		switch {
		case tc.grub == "" && e.Grub != nil:
			t.Errorf("%s: GRUB console rewritten to %q", tc.id, e.Grub)
		case tc.grub != "" && string(e.Grub) != strings.Replace(fixture.ConsoleCfg, "START\n\n#", "START\n"+tc.grub+"#", 1):
			t.Errorf("%s: console.cfg = %q", tc.id, e.Grub)
		}
	}
	// Metal's own console arguments give way to the platform's, as
	// coreos-installer's KargsEditor deletes before it appends.
	withMetal := map[string]platformSpec{"metal": {KernelArguments: []string{"console=ttyS1"}}, "aws": table["aws"]}
	e, err := applyPlatform([]byte("options a console=ttyS1 ignition.platform.id=metal console=ttyS1b\n"), withMetal, "aws", grubConsolePath, grub)
	if err != nil {
		t.Fatal(err)
	}
	if got := optionsLine(e.Entry); got != "a ignition.platform.id=aws console=ttyS1b console=tty0 console=ttyS0,115200n8" {
		t.Errorf("metal arguments not replaced: %q", got)
	}
	// A platform that needs GRUB settings where the image has no block.
	if _, err := applyPlatform(entry, table, "aws", grubCfgPath, []byte("set pager=1\n")); !errors.Is(err, ErrNoConsoleSettings) {
		t.Errorf("no console block: err %v", err)
	}
	if _, err := applyPlatform(entry, table, "aws", "", nil); !errors.Is(err, ErrNoConsoleSettings) {
		t.Errorf("no GRUB file: err %v", err)
	}
	// An image without platforms.json gets only the platform id.
	if e, err := applyPlatform(entry, nil, "aws", grubConsolePath, grub); err != nil || e.Grub != nil || strings.Contains(optionsLine(e.Entry), "console=") {
		t.Errorf("without a table: %v, %q", err, e.Entry)
	}
}

func optionsLine(entry []byte) string {
	for _, l := range strings.Split(string(entry), "\n") {
		if rest, ok := strings.CutPrefix(l, "options "); ok {
			return rest
		}
	}
	return ""
}

// TestEmbedDiskPlatformConsole writes cloud images from FCOS-shaped disks
// (current layout with console.cfg and platforms.json, and the older one
// with the block in grub.cfg) and reads them back with debugfs; GRUB's own
// grub-script-check judges the console file, e2fsck the filesystem.
func TestEmbedDiskPlatformConsole(t *testing.T) {
	for _, tc := range []struct {
		bs  int
		old bool
	}{{1024, false}, {4096, false}, {4096, true}} {
		t.Run(fmt.Sprintf("%d-old=%v", tc.bs, tc.old), func(t *testing.T) {
			dir := t.TempDir()
			base := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: tc.bs, OldGrub: tc.old})
			for _, p := range []string{"aws", "hetzner"} {
				out := filepath.Join(dir, p+".raw")
				copyFile(t, base, out)
				if err := embedDisk(out, []byte(testConfig), p, testEpoch); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				checkBootFS(t, out, []byte(testConfig), p)
				spec := fmt.Sprintf("%s?offset=%d", out, fixture.BootStart)
				entry := judge(t, false, "debugfs", "-R", "cat /"+fixture.BLSEntry, spec)
				grubFile := "/grub2/console.cfg"
				if tc.old {
					grubFile = "/grub2/grub.cfg"
				}
				grub := judge(t, false, "debugfs", "-R", "cat "+grubFile, spec)
				cfg := filepath.Join(dir, p+".cfg")
				if err := os.WriteFile(cfg, []byte(grub), 0o644); err != nil {
					t.Fatal(err)
				}
				judge(t, false, "grub-script-check", cfg)
				switch p {
				case "aws":
					if tc.old {
						// Older images have no platforms.json: only the id changes.
						if strings.Contains(entry, "console=") || strings.Contains(grub, "serial") {
							t.Errorf("console settings without a platform table:\n%s\n%s", entry, grub)
						}
						continue
					}
					if !strings.Contains(entry, "ignition.platform.id=aws ") || !strings.Contains(entry, " console=tty0 console=ttyS0,115200n8\n") {
						t.Errorf("aws BLS entry:\n%s", entry)
					}
					if !strings.Contains(grub, "# CONSOLE-SETTINGS-START\n"+serialGrub+"# CONSOLE-SETTINGS-END\n") {
						t.Errorf("aws console.cfg:\n%s", grub)
					}
				case "hetzner":
					if strings.Contains(entry, "console=") || strings.Contains(grub, "serial") {
						t.Errorf("hetzner has no console settings in FCOS, got:\n%s\n%s", entry, grub)
					}
				}
			}
		})
	}
}
