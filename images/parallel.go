package images

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
)

// parallelChunk is the input size of one independently compressed member.
// xz, gzip and zstd all define a file as a sequence of complete streams
// (members; zstd's frames), and their decompressors read them back to
// back; splitting the input at fixed offsets keeps the output identical
// on every machine whatever the number of workers.
const parallelChunk = 2 << 20

// Worker counts bound memory: each in-flight chunk holds its input and
// output (at most ~2 × parallelChunk) and an encoder, and at most one
// chunk per worker is in flight. An xz encoder costs ~5 MiB (see
// xzDictCap), a gzip one well under 1 MiB, so xz gets fewer workers to
// keep a build's peak RSS within 64 MiB (zstd: see maxZstdWorkers).
const (
	maxGzipWorkers = 4
	maxXZWorkers   = 2
)

// chunkJob is one member being compressed.
type chunkJob struct {
	index int64 // the chunk's place in the input
	reuse *memberRef
	zero  bool // a whole chunk of zeros, given without its bytes (see WriteZeros)
	// skipped: a whole chunk whose member is copied from another output,
	// given without its bytes (see SkipShared)
	skipped bool
	in      []byte
	out     *bytes.Buffer
	err     error
	ready   chan struct{}
}

// parallelCompressor compresses fixed-size chunks concurrently into
// independent members written in order. An all-zero chunk (most of a
// sparse disk image) is compressed once and its member reused.
type parallelCompressor struct {
	w        io.Writer
	newEnc   func(io.Writer) (io.WriteCloser, error)
	buf      []byte
	jobs     chan *chunkJob
	order    chan *chunkJob
	inflight chan struct{} // one token per chunk being compressed or written
	done     chan struct{}
	mu       sync.Mutex
	err      error
	zeroOnce sync.Once
	zero     []byte
	zeroErr  error
	pool     freeList[[]byte]        // input chunks
	outs     freeList[*bytes.Buffer] // output buffers, reused so the heap stays flat
	workers  sync.WaitGroup
	// share, when set, holds members other targets of the build made
	// from the same input (see memberShare); next is the index of the
	// chunk being filled and written the output's length so far.
	share   *memberShare
	next    int64
	written int64
}

func newParallelCompressor(w io.Writer, workers int, newEnc func(io.Writer) (io.WriteCloser, error)) *parallelCompressor {
	n := max(1, min(runtime.GOMAXPROCS(0), workers))
	p := &parallelCompressor{
		w: w, newEnc: newEnc,
		jobs:     make(chan *chunkJob),
		order:    make(chan *chunkJob, n),
		inflight: make(chan struct{}, n),
		done:     make(chan struct{}),
	}
	// n chunks in flight and the one being filled.
	p.pool = newFreeList(n+1, func() []byte { return make([]byte, 0, parallelChunk) })
	p.outs = newFreeList(n, func() *bytes.Buffer { return new(bytes.Buffer) })
	p.buf = p.pool.get()
	for range n {
		p.workers.Add(1)
		go p.work()
	}
	go p.drain()
	return p
}

// compress writes in as one complete member into out.
func (p *parallelCompressor) compress(out *bytes.Buffer, in []byte) error {
	enc, err := p.newEnc(out)
	if err != nil {
		return err
	}
	if _, err := enc.Write(in); err != nil {
		return err
	}
	return enc.Close()
}

// size is the number of input bytes of j.
func (j *chunkJob) size() int {
	if j.zero || j.skipped {
		return parallelChunk
	}
	return len(j.in)
}

func (p *parallelCompressor) work() {
	defer p.workers.Done()
	for j := range p.jobs {
		if j.reuse != nil {
			j.err = p.share.read(*j.reuse, j.out)
		} else if j.skipped {
			j.err = errors.New("internal: a chunk given without its bytes has no member to copy")
		} else if j.zero || len(j.in) == parallelChunk && isZero(j.in) {
			p.zeroOnce.Do(func() {
				var b bytes.Buffer
				p.zeroErr = p.compress(&b, make([]byte, parallelChunk))
				p.zero = b.Bytes()
			})
			j.out.Write(p.zero)
			j.err = p.zeroErr
		} else {
			j.out.Grow(len(j.in) + len(j.in)/64 + 4096)
			j.err = p.compress(j.out, j.in)
		}
		close(j.ready)
	}
}

// drain writes finished members in submission order.
func (p *parallelCompressor) drain() {
	defer close(p.done)
	for j := range p.order {
		<-j.ready
		err := j.err
		if err == nil && p.failed() == nil {
			p.share.record(j.index, j.size(), p.written, int64(j.out.Len()))
			var n int
			n, err = p.w.Write(j.out.Bytes())
			p.written += int64(n)
		}
		if err != nil {
			p.fail(err)
		}
		if j.in != nil {
			p.pool.put(j.in[:0])
		}
		j.out.Reset()
		p.outs.put(j.out)
		<-p.inflight
	}
}

func (p *parallelCompressor) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *parallelCompressor) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *parallelCompressor) submit() {
	p.queue(&chunkJob{in: p.buf})
	p.buf = p.pool.get()
}

func (p *parallelCompressor) queue(j *chunkJob) {
	p.inflight <- struct{}{}
	j.index, j.out, j.ready = p.next, p.outs.get(), make(chan struct{})
	if r, ok := p.share.lookup(j.index, j.size()); ok {
		j.reuse = &r
	}
	p.next++
	p.order <- j
	p.jobs <- j
}

// SkipShared takes, at the current input offset and within the next n
// bytes, the whole chunks whose members another output of the build
// already holds (see memberShare), without their bytes, and returns how
// many bytes it took. The caller skips them in its input: a second disk
// of the same format does not read the base's shared part again.
func (p *parallelCompressor) SkipShared(n int64) (int64, error) {
	if err := p.failed(); err != nil {
		return 0, err
	}
	var took int64
	for len(p.buf) == 0 && n-took >= parallelChunk {
		if _, ok := p.share.lookup(p.next, parallelChunk); !ok {
			break
		}
		p.queue(&chunkJob{skipped: true})
		took += parallelChunk
	}
	return took, nil
}

// WriteZeros writes n zero bytes. The holes of a disk image are most of
// it: whole chunks of them are queued without being copied or scanned.
func (p *parallelCompressor) WriteZeros(n int64) error {
	if err := p.failed(); err != nil {
		return err
	}
	for n > 0 {
		if len(p.buf) == 0 && n >= parallelChunk {
			p.queue(&chunkJob{zero: true})
			n -= parallelChunk
			continue
		}
		k := min(n, int64(parallelChunk-len(p.buf)))
		p.buf = p.buf[:len(p.buf)+int(k)]
		clear(p.buf[len(p.buf)-int(k):])
		n -= k
		if len(p.buf) == parallelChunk {
			p.submit()
		}
	}
	return nil
}

// Write buffers data and hands every full chunk to a worker.
func (p *parallelCompressor) Write(b []byte) (int, error) {
	if err := p.failed(); err != nil {
		return 0, err
	}
	n := len(b)
	for len(b) > 0 {
		k := copy(p.buf[len(p.buf):parallelChunk], b)
		p.buf = p.buf[:len(p.buf)+k]
		b = b[k:]
		if len(p.buf) == parallelChunk {
			p.submit()
		}
	}
	return n, nil
}

// Close compresses the last partial chunk and waits for every member.
func (p *parallelCompressor) Close() error {
	if len(p.buf) > 0 {
		p.submit()
	}
	close(p.jobs)
	close(p.order)
	<-p.done
	p.workers.Wait()
	return p.failed()
}

// freeList keeps up to its capacity of idle values for reuse. A sync.Pool
// keeps a cache per P, so on a machine with more cores more idle 2 MiB
// buffers stayed allocated: a raw.zst build peaked at 74 MiB of RSS with
// GOMAXPROCS=4 against 57 MiB with 2, for the same two workers.
type freeList[T any] struct {
	idle  chan T
	alloc func() T
}

func newFreeList[T any](n int, alloc func() T) freeList[T] {
	return freeList[T]{idle: make(chan T, n), alloc: alloc}
}

func (f freeList[T]) get() T {
	select {
	case v := <-f.idle:
		return v
	default:
		return f.alloc()
	}
}

func (f freeList[T]) put(v T) {
	select {
	case f.idle <- v:
	default:
	}
}
