package ext4

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func mkfs(t *testing.T, bs, features string) (string, *os.File) {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "d.1"), 0o755)
	os.Symlink("d.1", filepath.Join(tree, "d"))
	os.WriteFile(filepath.Join(tree, "d.1", "f.conf"), []byte("options x=1\n"), 0o644)
	img := filepath.Join(dir, "fs.img")
	f, _ := os.Create(img)
	f.Truncate(64 << 20)
	f.Close()
	out, err := exec.Command(testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-b", bs, "-O", "metadata_csum,64bit"+features, "-d", tree, img).CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if strings.Contains(features, "metadata_csum_seed") {
		// With a stored seed the UUID can change without rewriting any
		// checksum: change it so the seed no longer derives from it.
		if out, err := exec.Command(testutil.Tool(t, "tune2fs"), "-U", "11111111-2222-4333-8444-555555555555", img).CombinedOutput(); err != nil {
			t.Fatalf("tune2fs: %v\n%s", err, out)
		}
	}
	f, err = os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return img, f
}

func TestPatchAndRewrite(t *testing.T) {
	for _, c := range []struct{ bs, features string }{
		{"1024", ""}, {"4096", ""}, {"4096", ",metadata_csum_seed"}, {"1024", ",orphan_file,metadata_csum_seed"},
	} {
		t.Run(c.bs+c.features, func(t *testing.T) {
			img, f := mkfs(t, c.bs, c.features)
			fs, err := Open(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := fs.CheckWritable(); err != nil {
				t.Fatal(err)
			}
			in, err := fs.Lookup("/d/f.conf")
			if err != nil {
				t.Fatal(err)
			}
			if !fs.VerifyChecksum(in) {
				t.Fatal("checksum of an inode mke2fs wrote does not verify")
			}
			data, err := fs.ReadFile(in)
			if err != nil || string(data) != "options x=1\n" {
				t.Fatalf("read %q %v", data, err)
			}
			in.SetTimes(time.Unix(1700000000, 0))
			if err := fs.RewriteInPlace(f, in, []byte("options x=12345\n")); err != nil {
				t.Fatal(err)
			}
			if err := fs.RewriteInPlace(f, in, bytes.Repeat([]byte("x"), 5000)); err == nil {
				t.Error("growing past the allocated blocks was accepted")
			}
			f.Sync()
			out, err := exec.Command(testutil.Tool(t, "e2fsck"), "-fn", img).CombinedOutput()
			if err != nil {
				t.Fatalf("e2fsck: %v\n%s", err, out)
			}
			cat, _ := exec.Command(testutil.Tool(t, "debugfs"), "-R", "cat /d.1/f.conf", img).Output()
			if string(cat) != "options x=12345\n" {
				t.Errorf("debugfs cat: %q", cat)
			}
			st, _ := exec.Command(testutil.Tool(t, "debugfs"), "-R", "stat /d.1/f.conf", img).Output()
			if !strings.Contains(string(st), "mtime: 0x6553f100") {
				t.Errorf("mtime not set:\n%s", st)
			}
			root, _ := fs.Lookup("/")
			if ok, err := fs.CanAddEntry(root, "ignition"); err != nil || !ok {
				t.Errorf("a fresh root directory has no room: %v", err)
			}
			if _, err := fs.Lookup("/nope"); err == nil {
				t.Error("missing path found")
			}
		})
	}
}
