package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/go-version"

	"github.com/kiln-dev/kiln/images/internal/ext4"
)

// refetchHint says how to get a broken base again; it ends every
// truncation message.
const refetchHint = "the download was probably cut short or damaged: download it again (with its .sig), or let kiln fetch the release with `kiln base fetch`"

// checkDiskBase checks that a raw disk base is whole before anything is
// built from it: both GPT headers and the partition table carry valid
// CRCs, the backup header sits in the file's last sector, and every
// partition ends inside the file. A disk cut short loses its backup GPT
// first, so this catches truncation at any point.
func checkDiskBase(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s; %s", ErrTruncatedBase, path, fmt.Sprintf(format, a...), refetchHint)
	}
	sectors := st.Size() / 512
	if sectors < 68 {
		return bad("%d bytes is too small for a GPT disk", st.Size())
	}
	prim, err := readGPTHeader(f, 1)
	if err != nil {
		return bad("primary GPT header: %v", err)
	}
	if prim.alternate != uint64(sectors-1) {
		if prim.alternate >= uint64(sectors) {
			return bad("the GPT says the disk is %d bytes, the file has %d", (prim.alternate+1)*512, st.Size())
		}
		return bad("the backup GPT header is at sector %d, not in the file's last sector %d", prim.alternate, sectors-1)
	}
	back, err := readGPTHeader(f, int64(prim.alternate))
	if err != nil {
		return bad("backup GPT header: %v", err)
	}
	if back.alternate != 1 {
		return bad("backup GPT header points at sector %d for the primary", back.alternate)
	}
	for _, h := range []*gptHeader{prim, back} {
		tbl := make([]byte, int(h.entries)*int(h.entrySize))
		if _, err := f.ReadAt(tbl, int64(h.entryLBA)*512); err != nil {
			return bad("GPT partition entries at sector %d: %v", h.entryLBA, err)
		}
		if crc32.ChecksumIEEE(tbl) != h.entriesCRC {
			return bad("GPT partition entries at sector %d fail their CRC", h.entryLBA)
		}
		for i := 0; i < int(h.entries); i++ {
			e := tbl[i*int(h.entrySize):]
			if bytes.Equal(e[:16], make([]byte, 16)) {
				continue
			}
			last := binary.LittleEndian.Uint64(e[0x28:])
			if last > h.lastUsable || last >= uint64(sectors) {
				return bad("partition %d ends at byte %d, beyond the file's %d", i+1, (last+1)*512, st.Size())
			}
		}
	}
	return nil
}

type gptHeader struct {
	alternate, lastUsable, entryLBA uint64
	entries, entrySize, entriesCRC  uint32
}

// readGPTHeader reads and checks the GPT header at sector lba.
func readGPTHeader(r io.ReaderAt, lba int64) (*gptHeader, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, lba*512); err != nil {
		return nil, err
	}
	if !bytes.Equal(b[:8], []byte("EFI PART")) {
		return nil, fmt.Errorf("no GPT signature at sector %d", lba)
	}
	le := binary.LittleEndian
	size := le.Uint32(b[0x0c:])
	if size < 92 || size > 512 {
		return nil, fmt.Errorf("header size %d", size)
	}
	want := le.Uint32(b[0x10:])
	h := append([]byte(nil), b[:size]...)
	le.PutUint32(h[0x10:], 0)
	if crc32.ChecksumIEEE(h) != want {
		return nil, fmt.Errorf("header CRC mismatch at sector %d", lba)
	}
	g := &gptHeader{
		alternate: le.Uint64(b[0x20:]), lastUsable: le.Uint64(b[0x30:]), entryLBA: le.Uint64(b[0x48:]),
		entries: le.Uint32(b[0x50:]), entrySize: le.Uint32(b[0x54:]), entriesCRC: le.Uint32(b[0x58:]),
	}
	if g.entries > 1024 || g.entrySize < 128 || g.entrySize > 4096 {
		return nil, fmt.Errorf("%d entries of %d bytes", g.entries, g.entrySize)
	}
	if le.Uint64(b[0x18:]) != uint64(lba) {
		return nil, fmt.Errorf("header at sector %d says it is at sector %d", lba, le.Uint64(b[0x18:]))
	}
	return g, nil
}

// isoVolume reads the primary volume descriptor: the volume's size in
// bytes and its volume id.
func isoVolume(r io.ReaderAt) (int64, string, error) {
	b := make([]byte, isoBlock)
	if _, err := r.ReadAt(b, 16*isoBlock); err != nil {
		return 0, "", err
	}
	if b[0] != 1 || string(b[1:6]) != "CD001" {
		return 0, "", fmt.Errorf("no ISO 9660 primary volume descriptor")
	}
	blocks := int64(binary.LittleEndian.Uint32(b[80:]))
	bs := int64(binary.LittleEndian.Uint16(b[128:]))
	return blocks * bs, strings.TrimRight(string(b[40:72]), " \x00"), nil
}

// checkISOBase checks that a live ISO holds its whole volume. The file
// may be longer than the volume (xorriso pads 300 KiB after it, and puts
// its MD5 session tags there), so the test is "not shorter"; an isohybrid
// ISO (FCOS's) also carries a GPT whose backup header must sit in the
// file's last sector, which catches a cut inside the padding as well.
func checkISOBase(path string) (volid string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	size, volid, err := isoVolume(f)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v; %s", ErrTruncatedBase, path, err, refetchHint)
	}
	if size > st.Size() {
		return "", fmt.Errorf("%w: %s: the ISO's volume is %d bytes, the file has only %d; %s", ErrTruncatedBase, path, size, st.Size(), refetchHint)
	}
	if sig := make([]byte, 8); func() bool { _, err := f.ReadAt(sig, 512); return err == nil }() && string(sig) == "EFI PART" {
		if err := checkDiskBase(path); err != nil {
			return "", err
		}
	}
	return volid, nil
}

// releaseRE finds an FCOS release (e.g. 42.20251012.3.0) or, failing
// that, the bare major version after "fedora-coreos-".
var (
	releaseRE = regexp.MustCompile(`\b(\d{2,3}\.\d{8}\.\d+\.\d+)\b`)
	majorRE   = regexp.MustCompile(`fedora-coreos-(\d{2,3})\b`)
)

func findRelease(s string) string {
	if m := releaseRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	if m := majorRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// diskRelease reads the FCOS release from the BLS entry's title on the
// boot filesystem ("Fedora CoreOS 42.20251012.3.0 (ostree:0)").
func diskRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	boot, err := findBoot(f)
	if err != nil {
		return "", err
	}
	fs, err := ext4.Open(f, boot.Start)
	if err != nil {
		return "", fmt.Errorf("boot partition: %w", err)
	}
	_, entry, err := findBLSEntry(fs)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(entry), "\n") {
		if k, v, _ := strings.Cut(line, " "); k == "title" || k == "version" {
			if r := findRelease(v); r != "" {
				return r, nil
			}
		}
	}
	return "", nil
}

// pxeRelease reads the release from the live files' names
// (fedora-coreos-42.20251012.3.0-live-kernel.x86_64).
func pxeRelease(dir string) (string, error) {
	files, err := findPXEFiles(dir)
	if err != nil {
		return "", err
	}
	return findRelease(files.Kernel), nil
}

// checkRelease compares a base's release with the spec's constraint. A
// base whose release cannot be read is refused when there is a constraint
// to honour.
func checkRelease(kind, path, release, constraint string) error {
	constraint = strings.TrimSpace(constraint)
	if constraint == "" {
		return nil
	}
	cons, err := version.NewConstraint(constraint)
	if err != nil {
		return fmt.Errorf("%w: base.release %q: %w", ErrBaseRelease, constraint, err)
	}
	if release == "" {
		return fmt.Errorf("%w: %s base %s: no Fedora CoreOS release found in it, so base.release %q cannot be checked (use an FCOS artifact as published)", ErrBaseRelease, kind, filepath.Base(path), constraint)
	}
	v, err := version.NewVersion(release)
	if err != nil {
		return fmt.Errorf("%w: %s base %s: release %q: %w", ErrBaseRelease, kind, filepath.Base(path), release, err)
	}
	if !cons.Check(v) {
		return fmt.Errorf("%w: %s base %s is Fedora CoreOS %s, the spec's base.release wants %q (use a matching base, or change base.release)", ErrBaseRelease, kind, filepath.Base(path), release, constraint)
	}
	return nil
}
