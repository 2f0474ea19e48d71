package images

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigInitrd(t *testing.T) {
	img, err := ConfigInitrd([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ConfigInitrd([]byte(testConfig))
	if !bytes.Equal(img, again) {
		t.Error("initrd not deterministic")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	checkInitrdFile(t, p, []byte(testConfig))
	got, err := readConfigInitrd(bytes.NewReader(append(img, make([]byte, 4096)...)))
	if err != nil || string(got) != testConfig {
		t.Fatalf("read back: %q, %v", got, err)
	}
}

// checkInitrdFile judges a config initrd with xz and cpio.
func checkInitrdFile(t *testing.T, p string, config []byte) {
	t.Helper()
	judge(t, false, "cpio", "--version")
	lv := judge(t, false, "xz", "-lvv", p)
	if !strings.Contains(lv, "CRC32") || strings.Contains(lv, "CRC64") {
		t.Errorf("xz -lvv does not show a CRC32 check:\n%s", lv)
	}
	list := shell(t, "xz -dc '"+p+"' | cpio -itv 2>/dev/null")
	if !strings.Contains(list, "-rw-------") || !strings.Contains(list, "root     root") || !strings.Contains(list, "config.ign") {
		t.Errorf("cpio -itv:\n%s", list)
	}
	if strings.Count(strings.TrimSpace(list), "\n") != 0 {
		t.Errorf("archive holds more than config.ign:\n%s", list)
	}
	dir := t.TempDir()
	shell(t, "cd '"+dir+"' && xz -dc '"+p+"' | cpio -id --quiet 2>/dev/null")
	got, err := os.ReadFile(filepath.Join(dir, "config.ign"))
	if err != nil || !bytes.Equal(got, config) {
		t.Errorf("cpio extraction gives %q, %v", got, err)
	}
}
