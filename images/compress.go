package images

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// xzDictCap is the xz dictionary of each parallel member; see compressor.
const xzDictCap = 512 << 10

// compressor wraps w; Close flushes the stream but not w. Every encoder is
// configured without timestamps or names so output is reproducible.
func compressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case CompressXZ:
		return newParallelCompressor(w, maxXZWorkers, func(w io.Writer) (io.WriteCloser, error) {
			// ulikunitz/xz sizes its match finder by the dictionary: 8
			// bytes of hash table and 4 of chain per dictionary byte, so a
			// 4 MiB dictionary costs 36 MiB per worker, a 512 KiB one under 5 MiB
			// (each member is a 2 MiB chunk, so a bigger window gains little).
			return xz.WriterConfig{CheckSum: xz.CRC32, DictCap: xzDictCap}.NewWriter(w)
		}), nil
	case CompressGzip:
		// Neither gzip library compresses one member on several cores, so
		// members are compressed in parallel; the header carries no name
		// or mtime.
		return newParallelCompressor(w, maxGzipWorkers, func(w io.Writer) (io.WriteCloser, error) {
			return gzip.NewWriterLevel(w, gzip.DefaultCompression)
		}), nil
	case CompressZstd:
		return newParallelCompressor(w, maxZstdWorkers, newZstdMembers().member), nil
	case CompressNone:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("%w: compression %q", ErrUnknownFormat, c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// decompressor reads a stream written by compressor.
func decompressor(r io.Reader, c Compression) (io.ReadCloser, error) {
	switch c {
	case CompressXZ:
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(xr), nil
	case CompressGzip:
		return gzip.NewReader(r)
	case CompressZstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("%w: compression %q", ErrUnknownFormat, c)
}
