package images

import "bytes"

// copyChunk is the unit of the sparse copy: large enough to keep syscalls
// rare, small enough that a run of zeros inside data becomes a hole.
const copyChunk = 1 << 20

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
