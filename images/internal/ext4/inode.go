package ext4

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

func (fs *FS) inodeOffset(ino uint32) (int64, error) {
	if ino == 0 {
		return 0, fmt.Errorf("%w: inode 0", ErrUnsupported)
	}
	group := int64(ino-1) / int64(fs.ipg)
	index := int64(ino-1) % int64(fs.ipg)
	desc := make([]byte, fs.descSize)
	if _, err := fs.dev.ReadAt(desc, fs.off+fs.gdtBlock*fs.blockSize+group*fs.descSize); err != nil {
		return 0, fmt.Errorf("read group descriptor %d: %w", group, err)
	}
	table := int64(binary.LittleEndian.Uint32(desc[0x8:]))
	if fs.descSize >= 64 {
		table |= int64(binary.LittleEndian.Uint32(desc[0x28:])) << 32
	}
	return fs.off + table*fs.blockSize + index*fs.inodeSize, nil
}

// Inode is a raw on-disk inode.
type Inode struct {
	Num uint32
	Raw []byte
}

// Mode returns i_mode (file type and permission bits).
func (in *Inode) Mode() uint16 { return binary.LittleEndian.Uint16(in.Raw[0:]) }

// UID returns the owner.
func (in *Inode) UID() uint32 {
	return uint32(binary.LittleEndian.Uint16(in.Raw[0x2:])) | uint32(binary.LittleEndian.Uint16(in.Raw[0x78:]))<<16
}

// GID returns the group.
func (in *Inode) GID() uint32 {
	return uint32(binary.LittleEndian.Uint16(in.Raw[0x18:])) | uint32(binary.LittleEndian.Uint16(in.Raw[0x7A:]))<<16
}

// Size returns i_size.
func (in *Inode) Size() int64 {
	return int64(binary.LittleEndian.Uint32(in.Raw[0x4:])) | int64(binary.LittleEndian.Uint32(in.Raw[0x6C:]))<<32
}

func (in *Inode) setSize(n int64) {
	binary.LittleEndian.PutUint32(in.Raw[0x4:], uint32(n))
	binary.LittleEndian.PutUint32(in.Raw[0x6C:], uint32(n>>32))
}

func (in *Inode) flags() uint32 { return binary.LittleEndian.Uint32(in.Raw[0x20:]) }

// IsDir reports whether the inode is a directory.
func (in *Inode) IsDir() bool { return in.Mode()&0xF000 == 0x4000 }

// IsSymlink reports whether the inode is a symbolic link.
func (in *Inode) IsSymlink() bool { return in.Mode()&0xF000 == 0xA000 }

// ReadInode reads inode ino.
func (fs *FS) ReadInode(ino uint32) (*Inode, error) {
	off, err := fs.inodeOffset(ino)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, fs.inodeSize)
	if _, err := fs.dev.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("read inode %d: %w", ino, err)
	}
	return &Inode{Num: ino, Raw: raw}, nil
}

// checksum computes the inode's metadata_csum value.
func (fs *FS) checksum(in *Inode) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], in.Num)
	c := crc32c(fs.csumSeed, b[:])
	c = crc32c(c, in.Raw[0x64:0x68]) // i_generation
	raw := append([]byte(nil), in.Raw...)
	raw[0x7C], raw[0x7D] = 0, 0
	if fs.hasCsumHi(in) {
		raw[0x82], raw[0x83] = 0, 0
	}
	return crc32c(c, raw)
}

func (fs *FS) hasCsumHi(in *Inode) bool {
	return fs.inodeSize > 128 && binary.LittleEndian.Uint16(in.Raw[0x80:]) >= 4
}

// VerifyChecksum reports whether the stored inode checksum is right; it is
// how the tests prove this package computes checksums as e2fsck does.
func (fs *FS) VerifyChecksum(in *Inode) bool {
	c := fs.checksum(in)
	stored := uint32(binary.LittleEndian.Uint16(in.Raw[0x7C:]))
	if fs.hasCsumHi(in) {
		stored |= uint32(binary.LittleEndian.Uint16(in.Raw[0x82:])) << 16
		return stored == c
	}
	return stored == c&0xFFFF
}

// WriteInode stores an inode with a fresh checksum.
func (fs *FS) WriteInode(w io.WriterAt, in *Inode) error {
	c := fs.checksum(in)
	binary.LittleEndian.PutUint16(in.Raw[0x7C:], uint16(c))
	if fs.hasCsumHi(in) {
		binary.LittleEndian.PutUint16(in.Raw[0x82:], uint16(c>>16))
	}
	off, err := fs.inodeOffset(in.Num)
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(in.Raw, off); err != nil {
		return fmt.Errorf("write inode %d: %w", in.Num, err)
	}
	return nil
}

// SetTimes sets every timestamp of the inode (access, change, modify and
// creation) to t, with zero nanoseconds, so the output does not depend on
// when it was built.
func (in *Inode) SetTimes(t time.Time) {
	le := binary.LittleEndian
	sec := t.Unix()
	lo := uint32(sec)
	// The extra field carries epoch bits 32-33 in its low two bits.
	extra := uint32((sec-int64(int32(lo)))>>32) & 3
	for _, o := range []int{0x8, 0xC, 0x10} {
		le.PutUint32(in.Raw[o:], lo)
	}
	isz := int(0)
	if len(in.Raw) > 128 {
		isz = int(le.Uint16(in.Raw[0x80:]))
	}
	for _, o := range []int{0x84, 0x88, 0x8C} {
		if o+4 <= 128+isz {
			le.PutUint32(in.Raw[o:], extra)
		}
	}
	if 0x98 <= 128+isz {
		le.PutUint32(in.Raw[0x90:], lo)
		le.PutUint32(in.Raw[0x94:], extra)
	}
}
