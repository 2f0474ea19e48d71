package images

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"
)

// The buffers and hashers the writers share: every output is hashed while
// it is written, never read back.

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
	jobs chan *chunk
	done chan struct{}
	n    int64
}

func newAsyncHash() *asyncHash {
	a := &asyncHash{h: sha256.New(), jobs: make(chan *chunk, poolChunks), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for c := range a.jobs {
			a.h.Write(c.b[:c.n])
			a.n += int64(c.n)
			c.refs.Done()
		}
	}()
	return a
}

func (a *asyncHash) data(c *chunk) {
	c.refs.Add(1)
	a.jobs <- c
}

// sum waits for every queued chunk and returns the hex digest and the
// number of bytes hashed.
func (a *asyncHash) sum() (string, int64) {
	close(a.jobs)
	<-a.done
	return hex.EncodeToString(a.h.Sum(nil)), a.n
}

// hashingWriter buffers what is written to it in pooled chunks and
// passes each full chunk both to w and to a hash on another core: the
// bytes are copied once, and the chunk is reused when both are done.
type hashingWriter struct {
	w    io.Writer
	pool *chunkPool
	h    *asyncHash
	cur  *chunk // being filled
}

func newHashingWriter(w io.Writer) *hashingWriter {
	return &hashingWriter{w: w, pool: newChunkPool(), h: newAsyncHash()}
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if hw.cur == nil {
			hw.cur = hw.pool.get()
			hw.cur.n = 0
		}
		k := copy(hw.cur.b[hw.cur.n:], p[done:])
		hw.cur.n += k
		done += k
		if hw.cur.n == len(hw.cur.b) {
			if err := hw.Flush(); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// Flush writes and hashes what is buffered.
func (hw *hashingWriter) Flush() error {
	c := hw.cur
	if c == nil {
		return nil
	}
	hw.cur = nil
	defer hw.pool.put(c)
	if c.n == 0 {
		return nil
	}
	hw.h.data(c)
	_, err := hw.w.Write(c.b[:c.n])
	return err
}

func (hw *hashingWriter) sum() (string, int64) { return hw.h.sum() }
