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
	f, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, _, err = streamInto(out, fileSource{f: f, size: st.Size()}, st.Size(), CompressNone, nil, func(w io.Writer, src source, size int64) error {
		return writeQcow2(ctx, w, src, size, nil, progress)
	})
	if err != nil && !errors.Is(err, fs.ErrExist) {
		os.Remove(out)
	}
	return err
}

// WriteISO copies the live ISO base to out and embeds config (and extra
// kernel arguments) on the way. out must not exist and is removed on failure.
func WriteISO(ctx context.Context, out, base string, config []byte, kargs []string) error {
	_, _, err := writeISO(ctx, out, base, config, kargs, nil)
	return err
}

// writeISO is WriteISO returning the output's sha256 and size. The embed
// and kernel argument areas are computed from the base first, then the
// ISO is copied once with them laid over it, and hashed in the same pass.
func writeISO(ctx context.Context, out, base string, config []byte, kargs []string, progress func(done, total int64)) (string, int64, error) {
	initrd, err := ConfigInitrd(config)
	if err != nil {
		return "", 0, err
	}
	patches, err := isoPatches(base, initrd, kargs)
	if err != nil {
		return "", 0, err
	}
	in, err := os.Open(base)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", 0, err
	}
	dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", 0, err
	}
	defer dst.Close()
	src := patchedSource{source: fileSource{f: in, size: st.Size()}, patches: patches}
	sum, err := copyHashed(ctx, dst, src, st.Size(), 0, 0, nil, progress)
	if err == nil {
		err = dst.Close()
	}
	if err != nil {
		os.Remove(out)
		return "", 0, err
	}
	return sum, st.Size(), nil
}
