package images

import (
	"bytes"
	"fmt"
	"io"

	"github.com/cavaliergopher/cpio"

	"github.com/ulikunitz/xz"
)

// initrdConfigName is where the live initramfs looks for the embedded
// config once the archive is unpacked over it.
const initrdConfigName = "config.ign"

// ConfigInitrd returns the config initrd FCOS's live boot reads: an xz
// stream with a CRC32 check (the kernel's xz decoder rejects CRC64) holding
// a newc cpio archive with config.ign, mode 0100600, uid/gid 0, mtime 0.
// The same bytes serve the ISO embed area and the PXE extra initrd.
func ConfigInitrd(config []byte) ([]byte, error) {
	var c bytes.Buffer
	cw := cpio.NewWriter(&c)
	// Every header field but these stays zero (mtime included), so the
	// archive is the same on every build.
	hdr := &cpio.Header{Name: initrdConfigName, Mode: cpio.TypeReg | 0o600, Size: int64(len(config)), Links: 1}
	if err := cw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("cpio: %w", err)
	}
	if _, err := cw.Write(config); err != nil {
		return nil, fmt.Errorf("cpio: %w", err)
	}
	if err := cw.Close(); err != nil {
		return nil, fmt.Errorf("cpio: %w", err)
	}
	var out bytes.Buffer
	w, err := xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}.NewWriter(&out)
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if _, err := w.Write(c.Bytes()); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return out.Bytes(), nil
}

// readConfigInitrd extracts config.ign from a config initrd (xz newc cpio,
// possibly followed by zero padding as in the ISO embed area).
func readConfigInitrd(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	// An xz stream ends with the footer magic "YZ", so trimming the area's
	// zero padding leaves exactly the stream.
	raw = bytes.TrimRight(raw, "\x00")
	xr, err := xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoConfig, err)
	}
	data, err := io.ReadAll(io.LimitReader(xr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoConfig, err)
	}
	cr := cpio.NewReader(bytes.NewReader(data))
	for {
		hdr, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoConfig, err)
		}
		if hdr.Name == initrdConfigName {
			return io.ReadAll(cr)
		}
	}
	return nil, ErrNoConfig
}
