package ext4

import (
	"fmt"
	"io"
)

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
