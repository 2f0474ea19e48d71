package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"
)

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
