package ext4

import (
	"encoding/binary"
	"fmt"
)

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
