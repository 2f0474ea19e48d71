package images

import (
	"os"

	"golang.org/x/sys/unix"
)

// writebackChunk is how much a writer lets become dirty before it asks
// the kernel to start writing it out.
const writebackChunk = 16 << 20

// writeback starts the kernel writing a file's dirty pages while the
// writer goes on. Every artifact is fsynced before it is renamed into
// place; on a machine with plenty of memory nothing is written back
// before that fsync, which then writes the whole artifact while the
// build waits. Started as the data is written, the writeback overlaps
// the copy and the hash, and the final fsync finds little left to do.
type writeback struct {
	fd       int
	from, to int64 // the range written since the last kick
	pending  int64
}

func newWriteback(f *os.File) *writeback { return &writeback{fd: int(f.Fd())} }

// wrote records that [off, off+n) was written.
func (w *writeback) wrote(off, n int64) {
	if n <= 0 {
		return
	}
	if w.pending == 0 {
		w.from, w.to = off, off+n
	} else {
		w.from, w.to = min(w.from, off), max(w.to, off+n)
	}
	w.pending += n
	if w.pending >= writebackChunk {
		w.kick()
	}
}

// kick starts writing back what was recorded. SYNC_FILE_RANGE_WRITE
// waits for nothing but queue space; a failure only loses the head start,
// as the final fsync reports any error writing the file.
func (w *writeback) kick() {
	if w.pending > 0 {
		_ = unix.SyncFileRange(w.fd, w.from, w.to-w.from, unix.SYNC_FILE_RANGE_WRITE)
	}
	w.pending = 0
}

// writebackFile is a file written front to back with its writeback
// started as it grows.
type writebackFile struct {
	f   *os.File
	off int64
	wb  *writeback
}

func newWritebackFile(f *os.File) *writebackFile {
	return &writebackFile{f: f, wb: newWriteback(f)}
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.wb.wrote(w.off, int64(n))
	w.off += int64(n)
	return n, err
}
