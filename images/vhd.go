package images

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"time"
)

// vhdFooterSize is the size of the VHD footer (and of the copy dynamic
// disks keep at the front; fixed disks have only the trailing one).
const vhdFooterSize = 512

// vhdAlign is the granularity Azure wants for a VHD's virtual size.
const vhdAlign = 1 << 20

// vhdEpoch is where VHD timestamps count from.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// vhdSize rounds a disk size up to what Azure accepts.
func vhdSize(size int64) int64 { return (size + vhdAlign - 1) / vhdAlign * vhdAlign }

// vhdFooter builds the footer of a fixed VHD of size bytes (already
// aligned). The unique id is derived from seed so builds are reproducible.
func vhdFooter(size int64, ts time.Time, seed []byte) []byte {
	f := make([]byte, vhdFooterSize)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved bit always set
	be.PutUint32(f[12:], 0x00010000) // format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none for fixed disks
	secs := ts.Unix() - vhdEpoch.Unix()
	if secs < 0 {
		secs = 0
	}
	be.PutUint32(f[24:], uint32(secs))
	// QEMU sizes a VHD by its CHS geometry (which rounds the disk down and
	// cuts off the backup GPT) unless the creator is one of a fixed list
	// that means "trust current_size"; Azure always trusts current_size.
	// "qem2" is what qemu-img writes for force_size images, the format
	// Azure's own guidance produces, so both readers agree on the size.
	copy(f[28:], "qem2")
	be.PutUint32(f[32:], 0x00010000)
	copy(f[36:], "Wi2k")
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	c, h, s := vhdCHS(size)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // fixed disk
	id := sha256.Sum256(seed)
	copy(f[68:84], id[:16])
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	be.PutUint32(f[64:], ^sum)
	return f
}

// vhdCHS is the geometry algorithm of the VHD specification (appendix).
func vhdCHS(size int64) (cyl uint16, heads, spt uint8) {
	total := size / 512
	if total > 65535*16*255 {
		total = 65535 * 16 * 255
	}
	var s, h, cth int64
	if total >= 65535*16*63 {
		s, h = 255, 16
		cth = total / s
	} else {
		s = 17
		cth = total / s
		h = (cth + 1023) / 1024
		if h < 4 {
			h = 4
		}
		if cth >= h*1024 || h > 16 {
			s, h = 31, 16
			cth = total / s
		}
		if cth >= h*1024 {
			s, h = 63, 16
			cth = total / s
		}
	}
	return uint16(cth / h), uint8(h), uint8(s)
}

// vhdLayout: a fixed VHD is the disk, padded to Azure's alignment, then
// the footer.
var vhdLayout = diskLayout{tail: func(b *builder, name string, size int64) (int64, []byte) {
	pad := vhdSize(size) - size
	return pad, vhdFooter(size+pad, b.req.SourceDateEpoch, b.vhdSeed(name))
}}

// vhdSeed makes a VHD's unique id depend on the output's name and config
// only, so rebuilds are byte-identical and two outputs still differ.
func (b *builder) vhdSeed(name string) []byte {
	return append([]byte(name+"\x00"), b.req.Ignition...)
}

// isVHD recognises a fixed VHD kiln wrote: a GPT disk with the footer.
func isVHD(head []byte, f *os.File, size int64) bool {
	return isGPTDisk(head) && hasVHDFooter(f, size)
}

// hasVHDFooter reports whether the file ends with a VHD footer.
func hasVHDFooter(f *os.File, size int64) bool {
	footer := make([]byte, 8)
	if size < vhdFooterSize {
		return false
	}
	_, err := f.ReadAt(footer, size-vhdFooterSize)
	return err == nil && string(footer) == "conectix"
}

// readVHDDisk reads the config of the disk before the footer.
func readVHDDisk(_ string, f *os.File, size int64) ([]byte, string, error) {
	return diskConfig(io.NewSectionReader(f, 0, size-vhdFooterSize))
}
