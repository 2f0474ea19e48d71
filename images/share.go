package images

import (
	"bytes"
	"os"
	"sync/atomic"
)

// memberShare lets the disk targets of one build that have the same
// compressed format (say hetzner and metal raw.xz) compress the base once.
// Compressed outputs are sequences of independent members, one per
// parallelChunk of input at fixed offsets (see parallelCompressor), and
// the targets differ only in the staged head: every chunk that lies
// wholly in the part read from the base, [lo, hi), is the same input and
// gives the same member. The first target records where each such member
// landed in its output; later ones copy it from there instead of
// compressing the chunk again, which is what makes a build of several
// .xz disks cost little more than one. Outputs are byte for byte what
// compressing every chunk would give.
type memberShare struct {
	lo, hi  int64 // the input every target of the group reads from the base
	path    string
	members map[int64]memberRef // by chunk index, once recorded
	// ready is set once the first output is complete; until then the
	// share records and nothing is copied.
	ready bool
	f     *os.File
}

// memberRef is where a member lies in the first output.
type memberRef struct{ off, n int64 }

// sharedMembers counts members copied rather than compressed, so tests
// can see that sharing happened.
var sharedMembers atomic.Int64

// covers reports whether the chunk with index i and n input bytes lies
// wholly in the shared input.
func (s *memberShare) covers(i int64, n int) bool {
	start := i * parallelChunk
	return start >= s.lo && start+int64(n) <= s.hi
}

// lookup returns where chunk i's member lies in the first output, when
// it can be copied from there.
func (s *memberShare) lookup(i int64, n int) (memberRef, bool) {
	if s == nil || !s.ready || !s.covers(i, n) {
		return memberRef{}, false
	}
	r, ok := s.members[i]
	return r, ok
}

// record notes that chunk i's member (of n input bytes) was written at
// off in the first output.
func (s *memberShare) record(i int64, n int, off, size int64) {
	if s != nil && !s.ready && s.covers(i, n) {
		s.members[i] = memberRef{off, size}
	}
}

// finish marks the first output complete: later targets copy from it.
func (s *memberShare) finish() {
	f, err := os.Open(s.path)
	if err != nil {
		return // nothing is shared; every chunk is compressed
	}
	s.f, s.ready = f, true
}

// read writes the member r, from the first output, to out.
func (s *memberShare) read(r memberRef, out *bytes.Buffer) error {
	out.Grow(int(r.n))
	b := out.AvailableBuffer()[:r.n]
	if _, err := s.f.ReadAt(b, r.off); err != nil {
		return err
	}
	out.Write(b)
	sharedMembers.Add(1)
	return nil
}

func (s *memberShare) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// share returns the compressed members the disk target writing out in
// format can have in common with the build's other targets of the same
// format, or nil when its members are not independent of the head: a
// layout that streams its own structure (qcow2 places data clusters by
// what the head holds), or an uncompressed output (nothing to save).
func (b *builder) share(format string, l diskLayout, comp Compression, out string, d *stagedDisk) *memberShare {
	if l.stream != nil || comp == CompressNone {
		return nil
	}
	if s, ok := b.shares[format]; ok {
		if s.lo != d.split || s.hi != d.size {
			return nil
		}
		return s
	}
	if b.shares == nil {
		b.shares = map[string]*memberShare{}
	}
	s := &memberShare{lo: d.split, hi: d.size, path: out, members: map[int64]memberRef{}}
	b.shares[format] = s
	return s
}
