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
	"path"
	"strings"
	"time"
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

// Extent maps logical blocks of a file to physical blocks.
type Extent struct {
	Logical  uint32
	Physical int64
	Len      uint32
}

// Extents returns the data extents of an inode in logical order.
func (fs *FS) Extents(in *Inode) ([]Extent, error) {
	if in.flags()&inodeFlagExtents == 0 {
		return nil, fmt.Errorf("%w: inode %d does not use extents", ErrUnsupported, in.Num)
	}
	return fs.walk(in.Raw[0x28:0x64], 0)
}

func (fs *FS) walk(node []byte, level int) ([]Extent, error) {
	le := binary.LittleEndian
	if level > 5 || len(node) < 12 || le.Uint16(node[0:]) != extentMagic {
		return nil, fmt.Errorf("%w: bad extent node", ErrUnsupported)
	}
	n := int(le.Uint16(node[2:]))
	depth := le.Uint16(node[6:])
	if 12+12*n > len(node) {
		return nil, fmt.Errorf("%w: extent node overflows", ErrUnsupported)
	}
	var out []Extent
	for i := 0; i < n; i++ {
		e := node[12+12*i : 24+12*i]
		if depth == 0 {
			l := uint32(le.Uint16(e[4:]))
			if l > 32768 {
				l -= 32768
			}
			out = append(out, Extent{
				Logical:  le.Uint32(e[0:]),
				Physical: int64(le.Uint16(e[6:]))<<32 | int64(le.Uint32(e[8:])),
				Len:      l,
			})
			continue
		}
		child := int64(le.Uint32(e[4:])) | int64(le.Uint16(e[8:]))<<32
		blk := make([]byte, fs.blockSize)
		if _, err := fs.dev.ReadAt(blk, fs.off+child*fs.blockSize); err != nil {
			return nil, fmt.Errorf("read extent block: %w", err)
		}
		sub, err := fs.walk(blk, level+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// ReadFile returns the contents of an inode.
func (fs *FS) ReadFile(in *Inode) ([]byte, error) {
	size := in.Size()
	if in.IsSymlink() && size < 60 && in.flags()&inodeFlagExtents == 0 {
		return append([]byte(nil), in.Raw[0x28:0x28+size]...), nil
	}
	if size > 1<<30 {
		return nil, fmt.Errorf("%w: file of %d bytes", ErrUnsupported, size)
	}
	ext, err := fs.Extents(in)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	for _, e := range ext {
		start := int64(e.Logical) * fs.blockSize
		if start >= size {
			continue
		}
		n := int64(e.Len) * fs.blockSize
		if start+n > size {
			n = size - start
		}
		if _, err := fs.dev.ReadAt(buf[start:start+n], fs.off+e.Physical*fs.blockSize); err != nil {
			return nil, fmt.Errorf("read data: %w", err)
		}
	}
	return buf, nil
}

// dirent is one directory entry as stored on disk.
type dirent struct {
	ino     uint32
	recLen  int
	nameLen int
	typ     byte
	// name is empty when the entry's name would run past its block.
	name string
}

// walkDir calls fn for each entry of dir's blocks, in on-disk order, until
// fn returns false.
func (fs *FS) walkDir(dir *Inode, fn func(dirent) bool) error {
	data, err := fs.ReadFile(dir)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	for b := int64(0); b < int64(len(data)); b += fs.blockSize {
		blk := data[b:min(b+fs.blockSize, int64(len(data)))]
		for p := 0; p+8 <= len(blk); {
			e := dirent{ino: le.Uint32(blk[p:]), recLen: int(le.Uint16(blk[p+4:])), nameLen: int(blk[p+6]), typ: blk[p+7]}
			if e.recLen < 8 {
				break
			}
			if p+8+e.nameLen <= len(blk) {
				e.name = string(blk[p+8 : p+8+e.nameLen])
			}
			if !fn(e) {
				return nil
			}
			p += e.recLen
		}
	}
	return nil
}

// lookupIn finds name in directory dir.
func (fs *FS) lookupIn(dir *Inode, name string) (uint32, error) {
	var found uint32
	err := fs.walkDir(dir, func(e dirent) bool {
		if e.ino != 0 && e.nameLen > 0 && e.name == name {
			found = e.ino
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if found == 0 {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return found, nil
}

// Lookup resolves an absolute path to an inode, following symbolic links
// in every component (FCOS reaches its BLS entries through `loader`).
func (fs *FS) Lookup(p string) (*Inode, error) {
	return fs.lookup(p, 0)
}

func (fs *FS) lookup(p string, follows int) (*Inode, error) {
	cur, err := fs.ReadInode(rootInode)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	dirPath := "/"
	for i, part := range parts {
		if part == "" {
			continue
		}
		if !cur.IsDir() {
			return nil, fmt.Errorf("%w: %s is not a directory", ErrNotFound, dirPath)
		}
		ino, err := fs.lookupIn(cur, part)
		if err != nil {
			return nil, fmt.Errorf("%w in %s", err, dirPath)
		}
		next, err := fs.ReadInode(ino)
		if err != nil {
			return nil, err
		}
		if next.IsSymlink() {
			if follows >= maxSymlinkFollows {
				return nil, fmt.Errorf("%w: too many symbolic links at %s", ErrUnsupported, p)
			}
			target, err := fs.ReadFile(next)
			if err != nil {
				return nil, err
			}
			t := string(target)
			if !strings.HasPrefix(t, "/") {
				t = path.Join(dirPath, t)
			}
			rest := strings.Join(parts[i+1:], "/")
			return fs.lookup(path.Join(t, rest), follows+1)
		}
		cur = next
		dirPath = path.Join(dirPath, part)
	}
	return cur, nil
}

// Exists reports whether a path exists.
func (fs *FS) Exists(p string) (bool, error) {
	_, err := fs.Lookup(p)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// RewriteInPlace replaces a regular file's contents with data without
// allocating anything: the bytes go into the blocks the file already owns,
// the tail of its last block is zeroed and i_size is updated. It refuses
// when data needs more blocks than the file has, or fewer (which would leave
// an allocated block past the end of file).
func (fs *FS) RewriteInPlace(w io.WriterAt, in *Inode, data []byte) error {
	ext, err := fs.Extents(in)
	if err != nil {
		return err
	}
	var blocks int64
	for _, e := range ext {
		blocks += int64(e.Len)
	}
	need := (int64(len(data)) + fs.blockSize - 1) / fs.blockSize
	if need != blocks {
		return fmt.Errorf("%w: %d bytes need %d blocks, the file has %d", ErrNoRoom, len(data), need, blocks)
	}
	for _, e := range ext {
		start := int64(e.Logical) * fs.blockSize
		chunk := make([]byte, int64(e.Len)*fs.blockSize)
		if start < int64(len(data)) {
			copy(chunk, data[start:])
		}
		if _, err := w.WriteAt(chunk, fs.off+e.Physical*fs.blockSize); err != nil {
			return fmt.Errorf("write data: %w", err)
		}
	}
	in.setSize(int64(len(data)))
	return fs.WriteInode(w, in)
}

// ReadDirNames lists a directory's entry names (without . and ..), in
// on-disk order.
func (fs *FS) ReadDirNames(dir *Inode) ([]string, error) {
	var names []string
	err := fs.walkDir(dir, func(e dirent) bool {
		if e.ino != 0 && e.nameLen > 0 && e.name != "." && e.name != ".." {
			names = append(names, e.name)
		}
		return true
	})
	return names, err
}

// inodeFlagIndex marks an htree-indexed directory.
const inodeFlagIndex = 0x1000

// CanAddEntry reports whether a new entry called name fits in the slack of
// the directory's existing blocks, so adding it needs neither a new block
// nor an htree update: the two directory changes go-diskfs gets wrong.
func (fs *FS) CanAddEntry(dir *Inode, name string) (bool, error) {
	if dir.flags()&inodeFlagIndex != 0 {
		return false, nil
	}
	need := (8 + len(name) + 3) &^ 3
	fits := false
	err := fs.walkDir(dir, func(e dirent) bool {
		// The metadata_csum tail is a fake entry with inode 0, rec_len 12
		// and name_len 0 and type 0xDE; it is not free space.
		isTail := e.ino == 0 && e.recLen == 12 && e.nameLen == 0 && e.typ == 0xDE
		used := 0
		if e.ino != 0 {
			used = (8 + e.nameLen + 3) &^ 3
		}
		fits = !isTail && e.recLen-used >= need
		return !fits
	})
	return fits, err
}
