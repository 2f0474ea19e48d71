package images

import (
	"io"

	"github.com/klauspost/compress/zstd"
)

// maxZstdWorkers bounds the zstd members compressed at once; each holds
// an encoder (its 2 MiB window and match tables) and a chunk's input and
// output. A raw.zst build of images/bench.sh's fixture peaked at 51 MiB of
// RSS with two workers and 70 MiB with four (GOMAXPROCS=4), over the
// 64 MiB budget; a soft memory limit only slowed four (GC without end).
const maxZstdWorkers = 2

// zstdMembers compresses each chunk of a parallelCompressor as one zstd
// frame; zstd reads frames back to back as one stream, as xz and gzip read
// their members. klauspost's streaming encoder overlaps one block's
// encoding with the previous block's output but finds matches on one core
// (a raw.zst build took 1.4× `zstd -T0 -3`, which spreads jobs over every
// core); independent frames spread it over the workers. An encoder's tables
// cost more to allocate than a 2 MiB chunk takes to compress, so each is
// kept in a free list and reset for the next member.
type zstdMembers struct {
	free chan *zstd.Encoder
}

func newZstdMembers() *zstdMembers {
	return &zstdMembers{free: make(chan *zstd.Encoder, maxZstdWorkers)}
}

// member starts one frame written to w; its Close ends the frame.
func (z *zstdMembers) member(w io.Writer) (io.WriteCloser, error) {
	var enc *zstd.Encoder
	select {
	case enc = <-z.free:
		enc.Reset(w)
	default:
		// One core per encoder: the workers are the concurrency. The window
		// is the chunk (a frame is never longer), not SpeedDefault's 8 MiB.
		var err error
		enc, err = zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(parallelChunk))
		if err != nil {
			return nil, err
		}
	}
	return &zstdMember{Encoder: enc, z: z}, nil
}

type zstdMember struct {
	*zstd.Encoder
	z *zstdMembers
}

func (m *zstdMember) Close() error {
	err := m.Encoder.Close()
	select {
	case m.z.free <- m.Encoder:
	default:
	}
	return err
}
