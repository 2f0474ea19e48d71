package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

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
}

func (s fileSource) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

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

// chunk is a pooled buffer shared by the writer and the hashers; it goes
// back to the pool when the last of them releases it.
type chunk struct {
	b    []byte
	n    int
	refs sync.WaitGroup
}

// chunkPool bounds memory: at most poolChunks buffers of copyChunk bytes
// are in flight whatever the image size.
type chunkPool struct{ free chan *chunk }

const poolChunks = 4

func newChunkPool() *chunkPool {
	p := &chunkPool{free: make(chan *chunk, poolChunks)}
	for range poolChunks {
		p.free <- &chunk{b: make([]byte, copyChunk)}
	}
	return p
}

func (p *chunkPool) get() *chunk { return <-p.free }

// put waits until every hasher is done with c, then recycles it. It runs
// in its own goroutine so the writer never waits for a hasher.
func (p *chunkPool) put(c *chunk) {
	go func() {
		c.refs.Wait()
		p.free <- c
	}()
}

// asyncHash computes a sha256 on its own goroutine, so hashing an output
// costs another core rather than time on the writer's.
type asyncHash struct {
	h    hash.Hash
	jobs chan hashJob
	done chan struct{}
	n    int64
}

type hashJob struct {
	c     *chunk
	zeros int64
}

func newAsyncHash() *asyncHash {
	a := &asyncHash{h: sha256.New(), jobs: make(chan hashJob, poolChunks), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for j := range a.jobs {
			if j.c != nil {
				a.h.Write(j.c.b[:j.c.n])
				a.n += int64(j.c.n)
				j.c.refs.Done()
				continue
			}
			// A hole hashes as the zeros it reads as: the digest is the
			// standard sha256 of the file.
			for z := j.zeros; z > 0; {
				k := min(z, int64(len(zeroChunk)))
				a.h.Write(zeroChunk[:k])
				z -= k
			}
			a.n += j.zeros
		}
	}()
	return a
}

func (a *asyncHash) data(c *chunk) {
	c.refs.Add(1)
	a.jobs <- hashJob{c: c}
}

func (a *asyncHash) zeros(n int64) {
	if n > 0 {
		a.jobs <- hashJob{zeros: n}
	}
}

// sum waits for every queued chunk and returns the hex digest and the
// number of bytes hashed.
func (a *asyncHash) sum() (string, int64) {
	close(a.jobs)
	<-a.done
	return hex.EncodeToString(a.h.Sum(nil)), a.n
}

// hashingWriter hashes what passes through it to w, on another core.
type hashingWriter struct {
	w    io.Writer
	pool *chunkPool
	h    *asyncHash
}

func newHashingWriter(w io.Writer) *hashingWriter {
	return &hashingWriter{w: w, pool: newChunkPool(), h: newAsyncHash()}
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		c := hw.pool.get()
		c.n = copy(c.b, rest)
		rest = rest[c.n:]
		hw.h.data(c)
		hw.pool.put(c)
	}
	return hw.w.Write(p)
}

func (hw *hashingWriter) sum() (string, int64) { return hw.h.sum() }

// copyHashed writes src (size bytes) into dst, storing only data (holes
// and all-zero chunks stay holes), then pad zero bytes and trailer, and
// returns the sha256 of what dst now holds, computed from the bytes in
// hand: the output is never read back. Bytes below skip are already in
// dst and are hashed but not written again. The file is synced, so a
// finished artifact is on disk before it is renamed into place.
func copyHashed(ctx context.Context, dst *os.File, src source, size, skip, pad int64, trailer []byte, progress func(done, total int64)) (string, error) {
	total := size + pad + int64(len(trailer))
	if err := dst.Truncate(size + pad); err != nil {
		return "", err
	}
	pool := newChunkPool()
	h := newAsyncHash()
	finished := false
	defer func() {
		if !finished {
			h.sum()
		}
	}()
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if d := src.dataAt(off); d > off {
			h.zeros(d - off)
			off = d
			continue
		}
		end := min(src.holeAt(off), size)
		if end <= off {
			end = size
		}
		for off < end {
			c := pool.get()
			c.n = int(min(int64(len(c.b)), end-off))
			if _, err := src.ReadAt(c.b[:c.n], off); err != nil && !errors.Is(err, io.EOF) {
				pool.put(c)
				return "", err
			}
			h.data(c)
			if off >= skip && !isZero(c.b[:c.n]) {
				if _, err := dst.WriteAt(c.b[:c.n], off); err != nil {
					pool.put(c)
					return "", err
				}
			}
			pool.put(c)
			off += int64(c.n)
			if progress != nil {
				progress(off, size)
			}
		}
	}
	h.zeros(pad)
	if len(trailer) > 0 {
		if _, err := dst.WriteAt(trailer, size+pad); err != nil {
			return "", err
		}
		c := pool.get()
		c.n = copy(c.b, trailer)
		h.data(c)
		pool.put(c)
	}
	finished = true
	sum, n := h.sum()
	if n != total {
		return "", fmt.Errorf("internal: hashed %d bytes of a %d-byte output", n, total)
	}
	if err := dst.Sync(); err != nil {
		return "", err
	}
	return sum, nil
}
