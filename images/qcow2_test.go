package images

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQcow2OddSize covers a disk whose size is not a whole cluster, with
// data in the last partial cluster and runs spanning two L2 tables.
func TestQcow2OddSize(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "odd.raw")
	size := int64(600<<20 + 25*512) // disks are whole sectors, not whole clusters
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	data := randomBytes(3 << 20)
	for _, off := range []int64{0, 512<<20 - 1<<20, size - 5000} {
		f.WriteAt(data[:min(int64(len(data)), size-off)], off)
	}
	f.Close()
	out := filepath.Join(dir, "odd.qcow2")
	if err := WriteQcow2(t.Context(), out, raw, nil); err != nil {
		t.Fatal(err)
	}
	if c := judge(t, false, "qemu-img", "check", out); !strings.Contains(c, "No errors were found") {
		t.Errorf("qemu-img check:\n%s", c)
	}
	judge(t, false, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", out, raw)
	// kiln's own reader agrees byte for byte.
	qf, _ := os.Open(out)
	defer qf.Close()
	q, err := openQcow2(qf)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(raw)
	got, err := io.ReadAll(io.NewSectionReader(q, 0, q.Size()))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("qcow2 reader: %v, equal=%v", err, bytes.Equal(got, want))
	}
	// The reader also reads what qemu-img writes.
	qi := filepath.Join(dir, "qi.qcow2")
	judge(t, false, "qemu-img", "convert", "-O", "qcow2", raw, qi)
	qif, _ := os.Open(qi)
	defer qif.Close()
	q2, err := openQcow2(qif)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := io.ReadAll(io.NewSectionReader(q2, 0, q2.Size()))
	if err != nil || !bytes.Equal(got2, want) {
		t.Fatalf("reading qemu-img's qcow2: %v", err)
	}
}
