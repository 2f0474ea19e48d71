package images

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pxeOutputs are the boot descriptions of one PXE bundle.
type pxeOutputs struct {
	ipxe, grub string
	profile    struct {
		Name string `json:"name"`
		Boot struct {
			Kernel string   `json:"kernel"`
			Initrd []string `json:"initrd"`
			Args   []string `json:"args"`
		} `json:"boot"`
	}
}

func readPXEOutputs(t *testing.T, out string) *pxeOutputs {
	t.Helper()
	var p pxeOutputs
	ipxe, err1 := os.ReadFile(filepath.Join(out, "clipper-1.2.0-pxe.ipxe"))
	grub, err2 := os.ReadFile(filepath.Join(out, "clipper-1.2.0-pxe.grub.cfg"))
	prof, err3 := os.ReadFile(filepath.Join(out, "matchbox/profiles/clipper-1.2.0.json"))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(prof, &p.profile); err != nil {
		t.Fatal(err)
	}
	p.ipxe, p.grub = string(ipxe), string(grub)
	return &p
}

var rootfsArgRE = regexp.MustCompile(`coreos\.live\.rootfs_url=(\S+)`)

// checkRootfsRule asserts FCOS's rule on all three descriptions: the live
// rootfs comes from an http(s) coreos.live.rootfs_url, or else as an
// initrd named rootfs; and iPXE hands the kernel every initrd it loads
// (UEFI passes only those named by initrd=).
func checkRootfsRule(t *testing.T, p *pxeOutputs) (byURL bool) {
	t.Helper()
	args := strings.Join(p.profile.Boot.Args, " ")
	var urls []string
	for _, text := range []string{p.ipxe, p.grub, args} {
		for _, m := range rootfsArgRE.FindAllStringSubmatch(text, -1) {
			urls = append(urls, m[1])
			if !isHTTP(m[1]) {
				t.Errorf("coreos.live.rootfs_url=%s is not http(s); FCOS's initramfs refuses it", m[1])
			}
		}
	}
	if len(urls) != 0 && len(urls) != 3 {
		t.Errorf("rootfs URL in %d of the 3 descriptions:\n%s\n%s\n%s", len(urls), p.ipxe, p.grub, args)
	}
	if len(urls) == 0 {
		if !strings.Contains(p.ipxe, "initrd --name rootfs ") || !strings.Contains(args, "initrd=rootfs") ||
			!strings.Contains(strings.Join(p.profile.Boot.Initrd, " "), "--name rootfs ") || !regexp.MustCompile(`initrd \S+initramfs\S* \S+rootfs\S* \S+ign\.img`).MatchString(p.grub) {
			t.Errorf("no rootfs URL and no rootfs initrd:\n%s\n%s\n%s", p.ipxe, p.grub, args)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^initrd --name (\S+) `).FindAllStringSubmatch(p.ipxe, -1) {
		if !regexp.MustCompile(`(?m)^kernel .* initrd=` + m[1] + ` `).MatchString(p.ipxe) {
			t.Errorf("iPXE loads initrd %s but the kernel line does not name it:\n%s", m[1], p.ipxe)
		}
	}
	if strings.Contains(p.grub, "initrd=") {
		t.Errorf("GRUB's linux line carries iPXE's initrd= names:\n%s", p.grub)
	}
	return len(urls) == 3
}

func TestPXERootfsRule(t *testing.T) {
	f := newBuildFixture(t)
	for _, tc := range []struct {
		base  string
		byURL bool
	}{
		{"http://192.0.2.1/clipper", true},
		{"https://boot.example/clipper/", true},
		{"", false},                      // TFTP root: relative names
		{"tftp://192.0.2.1/kiln", false}, // iPXE fetches it, FCOS could not
	} {
		out := t.TempDir()
		r := f.request(out, Target{Format: "pxe"})
		r.PXE.BaseURL = tc.base
		if _, err := Build(t.Context(), r); err != nil {
			t.Fatalf("%q: %v", tc.base, err)
		}
		if got := checkRootfsRule(t, readPXEOutputs(t, out)); got != tc.byURL {
			t.Errorf("%q: rootfs by URL = %v, want %v", tc.base, got, tc.byURL)
		}
	}
	// A rootfs URL given outright must be one FCOS can fetch.
	out := t.TempDir()
	_, err := Build(t.Context(), Request{
		Ignition: []byte(testConfig), Name: "clipper", Version: "1.2.0", OutDir: out,
		Targets: []Target{{Format: "pxe"}}, SourceDateEpoch: testEpoch,
		PXE: PXEOptions{KernelURL: "https://m/k", InitramfsURL: "https://m/i", RootfsURL: "ftp://m/r.img"},
	})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "http or https") {
		t.Errorf("ftp rootfs URL: err %v, want a refusal naming http(s)", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("refused build left %v", ents)
	}
}

// TestInstallerBoots: with LiveIgnition, the ISO and PXE carry the
// installer's config while disk images keep the appliance's, and the
// manifest and PXE descriptions say how each artifact boots.
func TestInstallerBoots(t *testing.T) {
	f := newBuildFixture(t)
	out := t.TempDir()
	// The live config carries the appliance's config gzip-compressed, as
	// Butane writes it.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(testConfig))
	zw.Close()
	live := []byte(`{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/coreos/installer.d/50-kiln.yaml"},` +
		`{"path":"` + InstallerDestPath + `","contents":{"compression":"gzip","source":"data:;base64,` + base64.StdEncoding.EncodeToString(gz.Bytes()) + `"}}]}}`)
	r := f.request(out, Target{Platform: "qemu", Format: "qcow2"}, Target{Platform: "metal", Format: "iso"}, Target{Platform: "metal", Format: "pxe"})
	r.LiveIgnition, r.InstallDevice, r.MinDiskMiB = live, "/dev/sda", 11264
	m, err := Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	boots := map[string]Artifact{}
	for _, a := range m.Artifacts {
		boots[a.Name] = a
	}
	for name, want := range map[string]Artifact{
		"clipper-1.2.0-qemu.qcow2":  {Boot: "disk", MinDiskMiB: 11264},
		"clipper-1.2.0-live.iso":    {Boot: "installer", InstallDevice: "/dev/sda", MinDiskMiB: 11264},
		"clipper-1.2.0-pxe.ign.img": {Boot: "installer", InstallDevice: "/dev/sda", MinDiskMiB: 11264},
	} {
		a := boots[name]
		if a.Boot != want.Boot || a.InstallDevice != want.InstallDevice || a.MinDiskMiB != want.MinDiskMiB {
			t.Errorf("%s: boot %q device %q min disk %d; want %+v", name, a.Boot, a.InstallDevice, a.MinDiskMiB, want)
		}
	}
	checkInitrdFile(t, filepath.Join(out, "clipper-1.2.0-pxe.ign.img"), live)
	// inspect reports the config the installed server gets, and says the
	// artifact is an installer.
	sum := sha256.Sum256(live)
	for _, name := range []string{"clipper-1.2.0-live.iso", "clipper-1.2.0-pxe.ign.img"} {
		r, err := Inspect(filepath.Join(out, name))
		if err != nil || !r.Installer || string(r.Config) != testConfig || r.InstallerSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("inspect %s: %+v, %v; want the installed config and the installer's digest", name, r, err)
		}
	}
	qcow := filepath.Join(t.TempDir(), "q.raw")
	judge(t, false, "qemu-img", "convert", "-O", "raw", filepath.Join(out, "clipper-1.2.0-qemu.qcow2"), qcow)
	checkBootFS(t, qcow, []byte(testConfig), "qemu")
	p := readPXEOutputs(t, out)
	if !strings.Contains(p.ipxe, "installer") || !strings.Contains(p.ipxe, "/dev/sda") || !strings.Contains(p.grub, "installer to /dev/sda") ||
		!strings.Contains(p.profile.Name, "installs to /dev/sda") {
		t.Errorf("PXE descriptions do not say they install to /dev/sda:\n%s\n%s\n%s", p.ipxe, p.grub, p.profile.Name)
	}
	checkRootfsRule(t, p)

	// Without LiveIgnition the same targets boot live.
	out2 := t.TempDir()
	r2 := f.request(out2, Target{Platform: "metal", Format: "iso"})
	m2, err := Build(t.Context(), r2)
	if err != nil {
		t.Fatal(err)
	}
	if a := m2.Artifacts[0]; a.Boot != "live" || a.InstallDevice != "" || a.MinDiskMiB != 0 {
		t.Errorf("live ISO described as %+v", a)
	}
}
