package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"
)

// streamInto creates out (which must not exist) and lets write stream src
// into it through the compressor and a buffer; the bytes that reach the
// file are hashed on their way. It returns the digest and size of out,
// synced to disk. share, when not nil, is the compressed members this
// output has in common with others of the build.
func streamInto(out string, src source, size int64, comp Compression, share *memberShare, write func(w io.Writer, src source, size int64) error) (string, int64, error) {
	if comp == CompressXZ {
		defer limitMemory(xzMemoryLimit)()
	}
	dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", 0, err
	}
	defer dst.Close()
	wf := newWritebackFile(dst)
	hw := newHashingWriter(wf)
	finished := false
	defer func() {
		if !finished {
			hw.sum()
		}
	}()
	cw, err := compressor(hw, comp)
	if err != nil {
		return "", 0, err
	}
	if pc, ok := cw.(*parallelCompressor); ok {
		pc.share = share
	}
	if err := write(cw, src, size); err != nil {
		cw.Close()
		return "", 0, err
	}
	if err := cw.Close(); err != nil {
		return "", 0, err
	}
	if err := hw.Flush(); err != nil {
		return "", 0, err
	}
	finished = true
	wf.wb.kick()
	sum, n := hw.sum()
	if err := dst.Sync(); err != nil {
		return "", 0, err
	}
	return sum, n, dst.Close()
}

// xzMemoryLimit is the soft limit on the Go runtime's memory while an xz
// output is written. Each xz member's encoder is a few MiB of garbage, and
// with GOGC alone the runtime kept freed pages mapped well above the
// ~30 MiB live heap: raw.xz peaked at 62 MiB of the 64 MiB budget (the
// program's own text is ~18 MiB of it). Under this limit the runtime
// collects and returns pages as it nears it: ~53 MiB, with collections
// still ~0% of the CPU (32 MiB measured 11%). It is only for xz: zstd's
// encoders are kept and reused, not garbage, and under this limit a
// raw.zst build took 25% longer for no lower peak (the runtime collects
// without end when the limit is near what is live).
const xzMemoryLimit = 40 << 20

// limitMemory sets the runtime's soft memory limit to n and returns what
// restores the previous one. A GOMEMLIMIT the user set is kept.
func limitMemory(n int64) (restore func()) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return func() {}
	}
	prev := debug.SetMemoryLimit(n)
	return func() { debug.SetMemoryLimit(prev) }
}

// streamSparse writes all size bytes of src to w, producing zeros for holes
// without reading them, and skipping without reading what w says it has
// from elsewhere (sharedSkipper).
func streamSparse(ctx context.Context, w io.Writer, src source, size int64, progress func(done, total int64)) error {
	buf := make([]byte, copyChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if sk, ok := w.(sharedSkipper); ok {
			k, err := sk.SkipShared(size - off)
			if err != nil {
				return err
			}
			if k > 0 {
				off += k
				if progress != nil {
					progress(off, size)
				}
				continue
			}
		}
		if data := src.dataAt(off); data > off {
			if err := writeZeros(w, data-off); err != nil {
				return err
			}
			off = data
			continue
		}
		n := min(int64(len(buf)), size-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
		if progress != nil {
			progress(off, size)
		}
	}
	return nil
}

// sharedSkipper is a writer that can take input another output of the
// build already holds without its bytes (see parallelCompressor.SkipShared).
type sharedSkipper interface {
	SkipShared(n int64) (int64, error)
}

// zeroWriter is a writer that takes zeros without their bytes.
type zeroWriter interface{ WriteZeros(n int64) error }

func writeZeros(w io.Writer, n int64) error {
	if zw, ok := w.(zeroWriter); ok {
		return zw.WriteZeros(n)
	}
	for n > 0 {
		k := min(n, int64(len(zeroChunk)))
		if _, err := w.Write(zeroChunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// stagedDisk is a base disk with one platform's config embedded: the
// head (GPT, ESP and boot partition) staged in its own sparse file of the
// disk's size, the rest read from the base.
type stagedDisk struct {
	splitSource
	base *os.File
	size int64
}

func (d *stagedDisk) close() {
	d.head.f.Close()
	d.base.Close()
}

// stageDisk creates path as a sparse file of the base's size holding the
// base's head up to the end of the boot partition (and its backup GPT, so
// the file is a valid disk), and embeds config there. Only that head is
// copied: the root partition, most of the disk, is read from the base by
// whoever writes the output. path is removed on failure.
func stageDisk(ctx context.Context, path, basePath string, config []byte, platformID string, epoch time.Time) (d *stagedDisk, err error) {
	in, err := os.Open(basePath)
	if err != nil {
		return nil, err
	}
	st, err := in.Stat()
	if err != nil {
		in.Close()
		return nil, err
	}
	boot, err := findBoot(in)
	if err != nil {
		in.Close()
		return nil, err
	}
	size := st.Size()
	split := min(boot.Start+boot.Size, size)
	head, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		in.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			head.Close()
			in.Close()
			os.Remove(path)
		}
	}()
	if err := head.Truncate(size); err != nil {
		return nil, err
	}
	src := fileSource{f: in, size: size, read: &diskBaseRead}
	if err := copyRange(ctx, head, src, 0, split); err != nil {
		return nil, err
	}
	if err := copyRange(ctx, head, src, max(split, size-copyChunk), size); err != nil {
		return nil, err
	}
	if err := embedDisk(path, config, platformID, epoch); err != nil {
		return nil, err
	}
	return &stagedDisk{splitSource: splitSource{head: fileSource{f: head, size: size}, tail: src, split: split}, base: in, size: size}, nil
}

// copyRange copies the data of src in [lo, hi) into dst at the same
// offsets, leaving holes and all-zero chunks unwritten.
func copyRange(ctx context.Context, dst *os.File, src source, lo, hi int64) error {
	buf := make([]byte, copyChunk)
	for off := lo; off < hi; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d := src.dataAt(off); d > off {
			off = d
			continue
		}
		n := min(int64(len(buf)), hi-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read base: %w", err)
		}
		if !isZero(buf[:n]) {
			if _, err := dst.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
		off += n
	}
	return nil
}

// WriteRaw writes a raw disk at out: the base with config embedded for
// platform, stored sparsely and synced. The base is opened read-only. out
// must not exist; it is removed on failure.
func WriteRaw(ctx context.Context, out, base string, config []byte, platform string, epoch time.Time, progress func(done, total int64)) (err error) {
	_, err = writeRaw(ctx, out, base, config, platform, epoch, progress)
	return err
}

// writeRaw is WriteRaw returning the output's sha256.
func writeRaw(ctx context.Context, out, base string, config []byte, platform string, epoch time.Time, progress func(done, total int64)) (string, error) {
	if _, ok := LookupPlatform(platform); !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownPlatform, platform)
	}
	d, err := stageDisk(ctx, out, base, config, platform, epoch)
	if err != nil {
		return "", err
	}
	defer d.close()
	sum, err := copyHashed(ctx, d.head.f, d, d.size, d.split, 0, nil, progress)
	if err != nil {
		os.Remove(out)
	}
	return sum, err
}
