package base

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz"
)

// ErrCompression is returned for a compressed base kiln cannot read.
var ErrCompression = errors.New("unsupported compression")

// ErrTruncated is returned for a compressed base whose stream ends early
// or fails its checksum.
var ErrTruncated = errors.New("base artifact looks truncated or corrupt")

// IsCompressed reports whether a base file is compressed (FCOS publishes
// disk images as .xz; users may have .gz ones).
func IsCompressed(p string) bool {
	return strings.HasSuffix(p, ".xz") || strings.HasSuffix(p, ".gz")
}

// Uncompress writes the decompressed form of src to dst, sparsely (runs of
// zero blocks become holes, so a 10 GiB disk with 2 GiB of data costs 2
// GiB), through a temporary file renamed into place when complete. A dst
// that already exists and is newer than src is reused: the cache keeps
// the uncompressed base beside the verified download.
func Uncompress(ctx context.Context, src, dst string, progress func(done, total int64)) error {
	if s, err := os.Stat(src); err == nil {
		if d, err := os.Stat(dst); err == nil && !d.ModTime().Before(s.ModTime()) {
			return nil
		}
	}
	_, err := UncompressHashed(ctx, src, dst, progress)
	return err
}

// UncompressHashed decompresses src into dst as Uncompress does, always,
// and returns the sha256 of src computed while reading it. The stream
// must be complete: a stream that ends early or fails its own checksum
// (xz's CRC, gzip's CRC32 and length) is refused with ErrTruncated, and
// nothing is left at dst.
func UncompressHashed(ctx context.Context, src, dst string, progress func(done, total int64)) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(in, h), total: st.Size(), progress: progress}
	truncated := func(err error) error {
		return fmt.Errorf("%w: %s: %w; the download was probably cut short or damaged: download it again (with its .sig), or let kiln fetch the release with `kiln base fetch`", ErrTruncated, src, err)
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(src, ".xz"):
		xr, err := xz.NewReader(bufioReader(counted))
		if err != nil {
			return "", truncated(err)
		}
		r = xr
	case strings.HasSuffix(src, ".gz"):
		gr, err := gzip.NewReader(bufioReader(counted))
		if err != nil {
			return "", truncated(err)
		}
		defer gr.Close()
		r = gr
	default:
		return "", fmt.Errorf("%s: %w (want .xz or .gz)", src, ErrCompression)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := sparseCopy(ctx, tmp, r); err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		if _, isPath := err.(*os.PathError); isPath {
			return "", fmt.Errorf("decompressing %s: %w", src, err)
		}
		return "", truncated(err)
	}
	// The decompressor stops at the end of its stream; bytes after it
	// (a second, damaged stream) must not pass unseen.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	ok = true
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sparseCopy copies r to f, seeking over all-zero blocks instead of
// writing them, and sets the final size. Only io.EOF ends the stream: a
// decompressor reports a stream cut short as io.ErrUnexpectedEOF, which
// is an error here, never the end.
func sparseCopy(ctx context.Context, f *os.File, r io.Reader) error {
	const block = 1 << 20
	buf := make([]byte, block)
	zero := make([]byte, block)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		var err error
		for n < block && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		if n > 0 {
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, werr := f.WriteAt(buf[:n], off); werr != nil {
					return werr
				}
			}
			off += int64(n)
		}
		if err == io.EOF {
			return f.Truncate(off)
		}
		if err != nil {
			return err
		}
	}
}

type countingReader struct {
	r        io.Reader
	done     int64
	total    int64
	progress func(done, total int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.progress != nil {
		c.progress(c.done, c.total)
	}
	return n, err
}
