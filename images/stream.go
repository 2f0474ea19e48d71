package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// source is what the writers read a disk or ISO from: random access plus a
// map of where the data is, so holes are neither read nor written (a 10
// GiB FCOS disk holds about 2 GiB of data).
type source interface {
	io.ReaderAt
	// dataAt returns the first offset >= off that may hold data, or the
	// size when only a hole remains.
	dataAt(off int64) int64
	// holeAt returns the end of the data run that holds off.
	holeAt(off int64) int64
}

// fileSource is a regular file; SEEK_DATA/SEEK_HOLE find its holes (a
// filesystem without them reports the whole file as data).
type fileSource struct {
	f    *os.File
	size int64
	// read, when set, counts the bytes read (see diskBaseRead).
	read *atomic.Int64
}

// diskBaseRead counts the bytes read from base disks, so tests can see
// how many times a build reads its base (see TestBuildReadsBaseOnce).
var diskBaseRead atomic.Int64

func (s fileSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
	if s.read != nil {
		s.read.Add(int64(n))
	}
	return n, err
}

func (s fileSource) dataAt(off int64) int64 {
	if off >= s.size {
		return s.size
	}
	d, err := unix.Seek(int(s.f.Fd()), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return s.size
	}
	if err != nil {
		return off
	}
	return min(d, s.size)
}

func (s fileSource) holeAt(off int64) int64 {
	h, err := unix.Seek(int(s.f.Fd()), off, unix.SEEK_HOLE)
	if err != nil {
		return s.size
	}
	return min(h, s.size)
}

// splitSource reads [0, split) from head and the rest from tail: a disk
// whose first partitions (GPT, ESP and the boot filesystem with the config
// embedded) were staged apart, and whose root partition is read straight
// from the base, so no full-size copy is ever made.
type splitSource struct {
	head, tail fileSource
	split      int64
}

func (s splitSource) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.split {
		return s.tail.ReadAt(p, off)
	}
	if end := off + int64(len(p)); end > s.split {
		n, err := s.head.ReadAt(p[:s.split-off], off)
		if err != nil {
			return n, err
		}
		m, err := s.tail.ReadAt(p[s.split-off:], s.split)
		return n + m, err
	}
	return s.head.ReadAt(p, off)
}

func (s splitSource) dataAt(off int64) int64 {
	if off < s.split {
		if d := s.head.dataAt(off); d < s.split {
			return d
		}
		off = s.split
	}
	return s.tail.dataAt(off)
}

func (s splitSource) holeAt(off int64) int64 {
	if off < s.split {
		return min(s.head.holeAt(off), s.split)
	}
	return s.tail.holeAt(off)
}

// patch is bytes that replace the source's at an offset.
type patch struct {
	off  int64
	data []byte
}

// patchedSource is a source with a few small patches laid over it (the
// live ISO's embed and kernel argument areas).
type patchedSource struct {
	source
	patches []patch
}

func (s patchedSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.source.ReadAt(p, off)
	for _, pt := range s.patches {
		lo, hi := max(off, pt.off), min(off+int64(n), pt.off+int64(len(pt.data)))
		if lo < hi {
			copy(p[lo-off:hi-off], pt.data[lo-pt.off:hi-pt.off])
		}
	}
	return n, err
}

func (s patchedSource) dataAt(off int64) int64 {
	d := s.source.dataAt(off)
	for _, pt := range s.patches {
		if end := pt.off + int64(len(pt.data)); end > off && pt.off < d {
			d = max(off, pt.off)
		}
	}
	return d
}

// copyHashed writes src (size bytes) into dst, storing only data (holes
// and all-zero chunks stay holes), then pad zero bytes and trailer, and
// returns the sha256 of what dst now holds. Bytes below skip are already
// in dst and are hashed but not written again. The file is synced, so a
// finished artifact is on disk before it is renamed into place.
//
// Copying and hashing run side by side, each reading src on its own:
// hashing a disk image costs more than copying its data (every hole is
// hashed as the zeros it reads as, and sha256 cannot skip them), so a
// copy paced by the hash would wait, and its fsync would only start once
// the hash was done. Apart, the copy finishes and is written back to disk
// while the hash is still running, and the build takes about as long as
// the hash alone. The output is never read back: the hash reads the
// source (the staged head and the base), whose bytes the output holds.
func copyHashed(ctx context.Context, dst *os.File, src source, size, skip, pad int64, trailer []byte, progress func(done, total int64)) (string, error) {
	total := size + pad + int64(len(trailer))
	if err := dst.Truncate(size + pad); err != nil {
		return "", err
	}
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	var hashed atomic.Int64
	type result struct {
		sum string
		n   int64
		err error
	}
	res := make(chan result, 1)
	go func() {
		sum, n, err := hashSource(hctx, src, size, pad, trailer, &hashed)
		res <- result{sum, n, err}
	}()
	report := func(copied int64) {
		if progress != nil {
			progress(min(copied, hashed.Load()), total)
		}
	}
	err := copyData(ctx, dst, src, size, skip, report)
	if err == nil && len(trailer) > 0 {
		_, err = dst.WriteAt(trailer, size+pad)
	}
	if err == nil {
		err = dst.Sync()
	}
	if err != nil {
		stop()
		<-res
		return "", err
	}
	// Progress comes from the calling goroutine (Request.Progress says
	// so): while the hash finishes, report it from here.
	var r result
	if progress == nil {
		r = <-res
	} else {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case r = <-res:
				break wait
			case <-tick.C:
				report(total)
			}
		}
	}
	if r.err != nil {
		return "", r.err
	}
	if r.n != total {
		return "", fmt.Errorf("internal: hashed %d bytes of a %d-byte output", r.n, total)
	}
	report(total)
	return r.sum, nil
}

// copyData copies the data of src at and above skip into dst at the same
// offsets, leaving holes and all-zero chunks unwritten, and starts the
// written ranges' writeback as it goes (see writeback).
func copyData(ctx context.Context, dst *os.File, src source, size, skip int64, report func(copied int64)) error {
	wb := newWriteback(dst)
	// The staged head below skip was written before: start writing it
	// back now rather than at the final fsync.
	wb.wrote(0, skip)
	wb.kick()
	buf := make([]byte, copyChunk)
	for off := skip; off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d := src.dataAt(off); d > off {
			off = d
			continue
		}
		end := min(src.holeAt(off), size)
		if end <= off {
			end = size
		}
		for off < end {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(buf)), end-off)
			if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if !isZero(buf[:n]) {
				if _, err := dst.WriteAt(buf[:n], off); err != nil {
					return err
				}
				wb.wrote(off, n)
			}
			off += n
			report(off)
		}
	}
	wb.kick()
	return nil
}

// hashSource returns the sha256 of src's size bytes followed by pad zero
// bytes and trailer, and the number of bytes hashed, keeping done up to
// date. Holes are hashed as zeros without being read. One goroutine reads
// the data ahead into a few buffers while this one hashes, so the hash,
// the longest job of a raw build, never waits for a read.
func hashSource(ctx context.Context, src source, size, pad int64, trailer []byte, done *atomic.Int64) (string, int64, error) {
	type piece struct {
		buf   []byte
		zeros int64
	}
	free := make(chan []byte, poolChunks)
	for range poolChunks {
		free <- make([]byte, copyChunk)
	}
	pieces := make(chan piece, poolChunks)
	var readErr error
	go func() {
		defer close(pieces)
		for off := int64(0); off < size; {
			if err := ctx.Err(); err != nil {
				readErr = err
				return
			}
			if d := src.dataAt(off); d > off {
				pieces <- piece{zeros: d - off}
				off = d
				continue
			}
			end := min(src.holeAt(off), size)
			if end <= off {
				end = size
			}
			for off < end {
				var b []byte
				select {
				case b = <-free:
				case <-ctx.Done():
				}
				if err := ctx.Err(); err != nil {
					readErr = err
					return
				}
				n := min(int64(len(b)), end-off)
				if _, err := src.ReadAt(b[:n], off); err != nil && !errors.Is(err, io.EOF) {
					readErr = err
					return
				}
				pieces <- piece{buf: b[:n]}
				off += n
			}
		}
	}()
	h := sha256.New()
	var n int64
	zeros := func(z int64) {
		for z > 0 && ctx.Err() == nil {
			k := min(z, int64(len(zeroChunk)))
			h.Write(zeroChunk[:k])
			z -= k
			n += k
			done.Store(n)
		}
	}
	// Every piece is taken, even after a cancellation, so the reader is
	// never left blocked.
	for p := range pieces {
		if p.buf == nil {
			// A hole hashes as the zeros it reads as: the digest is the
			// standard sha256 of the file.
			zeros(p.zeros)
			continue
		}
		if ctx.Err() == nil {
			h.Write(p.buf)
			n += int64(len(p.buf))
			done.Store(n)
		}
		free <- p.buf[:cap(p.buf)]
	}
	if readErr != nil {
		return "", 0, readErr
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	zeros(pad)
	h.Write(trailer)
	n += int64(len(trailer))
	done.Store(n)
	return hex.EncodeToString(h.Sum(nil)), n, ctx.Err()
}
