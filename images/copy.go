package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyChunk is the unit of the sparse copy: large enough to keep syscalls
// rare, small enough that a run of zeros inside data becomes a hole.
const copyChunk = 1 << 20

// cloneOrSparseCopy copies src into dst (both regular files) so that dst
// shares blocks with src (FICLONE) when the filesystem allows, and otherwise
// stores only src's data: holes are skipped with SEEK_DATA/SEEK_HOLE and
// all-zero chunks inside data are not written either.
func cloneOrSparseCopy(ctx context.Context, dst, src *os.File, progress func(done, total int64)) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err == nil {
		if progress != nil {
			progress(size, size)
		}
		return nil
	}
	return sparseCopy(ctx, dst, src, size, progress)
}

func sparseCopy(ctx context.Context, dst, src *os.File, size int64, progress func(done, total int64)) error {
	if err := dst.Truncate(size); err != nil {
		return err
	}
	buf := make([]byte, copyChunk)
	off := int64(0)
	for off < size {
		data, err := unix.Seek(int(src.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			data = off // no SEEK_DATA: treat everything as data
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		for p := data; p < hole; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(buf)), hole-p)
			if _, err := src.ReadAt(buf[:n], p); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read base: %w", err)
			}
			if !isZero(buf[:n]) {
				if _, err := dst.WriteAt(buf[:n], p); err != nil {
					return fmt.Errorf("write output: %w", err)
				}
			}
			p += n
			if progress != nil {
				progress(p, size)
			}
		}
		off = hole
	}
	if progress != nil {
		progress(size, size)
	}
	return nil
}

// zeroChunk is compared against with bytes.Equal, which is vectorised.
var zeroChunk = make([]byte, copyChunk)

// isZero reports whether b (at most copyChunk long) is all zero bytes.
func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroChunk))
		if !bytes.Equal(b[:n], zeroChunk[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
