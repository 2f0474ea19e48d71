package images

import (
	"bytes"
	"fmt"
	"io"

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
	writeNewc(&c, 1, 0o100600, initrdConfigName, config)
	writeNewc(&c, 0, 0, "TRAILER!!!", nil)
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

// writeNewc appends one newc ("070701") entry; every field but the ones
// given is zero so the archive is the same on every build.
func writeNewc(w *bytes.Buffer, ino, mode uint32, name string, data []byte) {
	nlink := uint32(1)
	fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	w.WriteString(name)
	w.WriteByte(0)
	pad4(w)
	w.Write(data)
	pad4(w)
}

func pad4(w *bytes.Buffer) {
	for w.Len()%4 != 0 {
		w.WriteByte(0)
	}
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
	for p := 0; p+110 <= len(data); {
		if string(data[p:p+6]) != "070701" {
			return nil, fmt.Errorf("%w: bad cpio header", ErrNoConfig)
		}
		var f [13]uint32
		for i := range f {
			if _, err := fmt.Sscanf(string(data[p+6+8*i:p+14+8*i]), "%08X", &f[i]); err != nil {
				return nil, fmt.Errorf("%w: bad cpio header", ErrNoConfig)
			}
		}
		size, nameLen := int(f[6]), int(f[11])
		np := p + 110
		if np+nameLen > len(data) || nameLen < 1 {
			return nil, fmt.Errorf("%w: truncated cpio", ErrNoConfig)
		}
		name := string(data[np : np+nameLen-1])
		dp := (np + nameLen + 3) &^ 3
		if dp+size > len(data) {
			return nil, fmt.Errorf("%w: truncated cpio", ErrNoConfig)
		}
		if name == "TRAILER!!!" {
			break
		}
		if name == initrdConfigName {
			return data[dp : dp+size], nil
		}
		p = (dp + size + 3) &^ 3
	}
	return nil, ErrNoConfig
}
