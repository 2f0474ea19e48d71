// Package ext4 is a small, careful reader and in-place patcher for the ext4
// boot filesystem of a Fedora CoreOS disk. go-diskfs creates files well but
// stamps the wall clock into inodes and cannot rewrite an existing file
// safely; this package does the few byte-exact edits kiln needs on top of it
// (inode times, a file rewritten inside its own blocks) and recomputes the
// metadata_csum checksums those edits touch.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Sentinel errors, wrapped with %w.
var (
	// ErrNotExt4 means the superblock magic is missing.
	ErrNotExt4 = errors.New("not an ext4 filesystem")
	// ErrNeedsRecovery means the journal holds transactions not yet replayed;
	// writing beside them would corrupt the filesystem at the next mount.
	ErrNeedsRecovery = errors.New("ext4 filesystem needs journal recovery")
	// ErrNoMetadataCsum means the filesystem lacks metadata_csum, which the
	// writer relies on (as Fedora CoreOS does).
	ErrNoMetadataCsum = fmt.Errorf("%w: no metadata_csum", ErrUnsupported)
	// ErrNotFound means a path does not exist.
	ErrNotFound = errors.New("no such file")
	// ErrNoRoom means new contents do not fit in the blocks the file owns.
	ErrNoRoom = errors.New("new contents do not fit in the file's allocated blocks")
	// ErrUnsupported means a layout this package does not handle.
	ErrUnsupported = errors.New("unsupported ext4 layout")
)

const (
	incompatRecover   = 0x4
	incompat64bit     = 0x80
	incompatCsumSeed  = 0x2000
	incompatInline    = 0x8000
	roCompatMetaCsum  = 0x400
	inodeFlagExtents  = 0x80000
	inodeFlagInline   = 0x10000000
	extentMagic       = 0xF30A
	rootInode         = 2
	maxSymlinkFollows = 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the raw CRC32C ext4 uses (no final inversion).
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// Device is the storage an ext4 filesystem lives on.
type Device interface {
	io.ReaderAt
}

// FS is an ext4 filesystem at an offset of a device.
type FS struct {
	dev        Device
	off        int64
	blockSize  int64
	inodeSize  int64
	ipg        uint32
	descSize   int64
	gdtBlock   int64
	incompat   uint32
	roCompat   uint32
	csumSeed   uint32
	extraIsize bool
}

// Open reads the superblock of the filesystem starting at off.
func Open(dev Device, off int64) (*FS, error) {
	sb := make([]byte, 1024)
	if _, err := dev.ReadAt(sb, off+1024); err != nil {
		return nil, fmt.Errorf("read superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xEF53 {
		return nil, ErrNotExt4
	}
	fs := &FS{
		dev:       dev,
		off:       off,
		blockSize: 1024 << le.Uint32(sb[0x18:]),
		ipg:       le.Uint32(sb[0x28:]),
		inodeSize: int64(le.Uint16(sb[0x58:])),
		incompat:  le.Uint32(sb[0x60:]),
		roCompat:  le.Uint32(sb[0x64:]),
	}
	if le.Uint32(sb[0x4C:]) == 0 {
		fs.inodeSize = 128
	}
	fs.descSize = 32
	if fs.incompat&incompat64bit != 0 {
		fs.descSize = int64(le.Uint16(sb[0xFE:]))
	}
	fs.gdtBlock = int64(le.Uint32(sb[0x14:])) + 1
	if fs.incompat&incompatCsumSeed != 0 {
		fs.csumSeed = le.Uint32(sb[0x270:])
	} else {
		fs.csumSeed = crc32c(^uint32(0), sb[0x68:0x78])
	}
	return fs, nil
}

// CheckWritable refuses filesystems kiln must not write to.
func (fs *FS) CheckWritable() error {
	if fs.incompat&incompatRecover != 0 {
		return ErrNeedsRecovery
	}
	if fs.roCompat&roCompatMetaCsum == 0 {
		return ErrNoMetadataCsum
	}
	if fs.incompat&incompatInline != 0 {
		return fmt.Errorf("%w: inline_data", ErrUnsupported)
	}
	return nil
}

// BlockSize returns the filesystem block size in bytes.
func (fs *FS) BlockSize() int64 { return fs.blockSize }
