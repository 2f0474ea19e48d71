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
)

// baseTap takes the digest of a base disk from a target's pass over it,
// so a build whose digest is not known yet does not read the base again
// just to hash it. The pass is the first compressed disk target's (see
// mapsBase): it reads the root area front to back, every byte that is
// not a hole; the head, which that pass reads from the staged copy with
// the config in it, is hashed from the base first. Holes hash as the
// zeros they read as, so the digest is the standard sha256 of the file.
type baseTap struct {
	u       *baseUse
	started bool
	h       hash.Hash
	pos     int64 // bytes hashed
	lo, hi  int64 // the part the pass reads from the base
	err     error
}

// start hashes the base's [0, lo) and readies the tap for the pass's
// reads of [lo, hi).
func (t *baseTap) start(ctx context.Context, base *os.File, lo, hi int64) {
	t.started, t.h, t.lo, t.hi = true, sha256.New(), lo, hi
	src := fileSource{f: base, size: hi, read: &diskBaseRead}
	buf := make([]byte, copyChunk)
	for off := int64(0); off < lo && t.err == nil; {
		if t.err = ctx.Err(); t.err != nil {
			return
		}
		if d := min(src.dataAt(off), lo); d > off {
			t.zeros(d - off)
			off = d
			continue
		}
		n := min(int64(len(buf)), lo-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			t.err = err
			return
		}
		t.h.Write(buf[:n])
		t.pos += n
		off += n
	}
}

func (t *baseTap) zeros(n int64) {
	for n > 0 {
		k := min(n, int64(len(zeroChunk)))
		t.h.Write(zeroChunk[:k])
		t.pos += k
		n -= k
	}
}

// data hashes what the pass read at off, the part of it in [lo, hi);
// the gap since the last read was a hole.
func (t *baseTap) data(off int64, b []byte) {
	if t.err != nil {
		return
	}
	if lo := max(off, t.lo); lo > off {
		b = b[min(lo-off, int64(len(b))):]
		off = lo
	}
	if end := off + int64(len(b)); end > t.hi {
		b = b[:max(0, t.hi-off)]
	}
	if len(b) == 0 {
		return
	}
	if off < t.pos {
		t.err = fmt.Errorf("internal: the base was read at %d after %d: not front to back", off, t.pos)
		return
	}
	t.zeros(off - t.pos)
	t.h.Write(b)
	t.pos += int64(len(b))
}

// finish ends the tap with the pass's outcome: on success the digest of
// the whole base becomes the base's, and is kept in the digest store.
func (t *baseTap) finish(b *builder, err error) {
	if t == nil || t.u == nil {
		return
	}
	u := t.u
	t.u = nil
	defer close(u.done)
	switch {
	case err != nil:
		u.err = err
	case !t.started:
		u.err = errors.New("internal: no target read the base")
	case t.err != nil:
		u.err = t.err
	default:
		t.zeros(t.hi - t.pos)
		u.sha256 = hex.EncodeToString(t.h.Sum(nil))
		b.digests.put(u.path, u.sha256)
	}
}
