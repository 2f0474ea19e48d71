package images

import (
	"bufio"
	"context"
	"os"
)

// WriteQcow2 converts the raw disk at raw into a qcow2 v3 image at out
// (64 KiB clusters, zero clusters unallocated). out must not exist and is
// removed on failure.
func WriteQcow2(ctx context.Context, out, raw string, progress func(done, total int64)) (err error) {
	src, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		dst.Close()
		if err != nil {
			os.Remove(out)
		}
	}()
	bw := bufio.NewWriterSize(dst, 1<<20)
	if err := writeQcow2(ctx, bw, src, st.Size(), progress); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return dst.Close()
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
