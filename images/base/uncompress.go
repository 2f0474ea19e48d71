package base

import (
	"bytes"
	"compress/gzip"
	"context"
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
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	counted := &countingReader{r: in, total: st.Size(), progress: progress}
	var r io.Reader
	switch {
	case strings.HasSuffix(src, ".xz"):
		xr, err := xz.NewReader(bufioReader(counted))
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		r = xr
	case strings.HasSuffix(src, ".gz"):
		gr, err := gzip.NewReader(bufioReader(counted))
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		defer gr.Close()
		r = gr
	default:
		return fmt.Errorf("%s: %w (want .xz or .gz)", src, ErrCompression)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := sparseCopy(ctx, tmp, r); err != nil {
		return fmt.Errorf("decompressing %s: %w", src, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// sparseCopy copies r to f, seeking over all-zero blocks instead of
// writing them, and sets the final size.
func sparseCopy(ctx context.Context, f *os.File, r io.Reader) error {
	const block = 1 << 20
	buf := make([]byte, block)
	zero := make([]byte, block)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, werr := f.WriteAt(buf[:n], off); werr != nil {
					return werr
				}
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
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
