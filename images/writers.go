package images

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
)

// WriteQcow2 converts the raw disk at raw into a qcow2 v3 image at out
// (64 KiB clusters, zero clusters unallocated). out must not exist and is
// removed on failure.
func WriteQcow2(ctx context.Context, out, raw string, progress func(done, total int64)) error {
	err := streamInto(out, raw, CompressNone, func(w io.Writer, src *os.File, size int64) error {
		return writeQcow2(ctx, w, src, size, progress)
	})
	if err != nil && !errors.Is(err, fs.ErrExist) {
		os.Remove(out)
	}
	return err
}

// WriteISO copies the live ISO base to out and embeds config (and extra
// kernel arguments) in place. out must not exist and is removed on failure.
func WriteISO(ctx context.Context, out, base string, config []byte, kargs []string) (err error) {
	initrd, err := ConfigInitrd(config)
	if err != nil {
		return err
	}
	if err := copyInto(ctx, out, base); err != nil {
		os.Remove(out)
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(out)
		}
	}()
	return embedISO(out, initrd, kargs)
}
