package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf16"
)

// gptPart is one GPT partition entry.
type gptPart struct {
	Index int // 1-based, as go-diskfs and the kernel number partitions
	Name  string
	Start int64 // bytes
	Size  int64 // bytes
}

// readGPT reads the primary GPT of a 512-byte-sector disk. It is used for
// reading outputs back (qcow2, vhd) where go-diskfs cannot open the file.
func readGPT(r io.ReaderAt) ([]gptPart, error) {
	hdr := make([]byte, 92)
	if _, err := r.ReadAt(hdr, 512); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotGPT, err)
	}
	if !bytes.Equal(hdr[:8], []byte("EFI PART")) {
		return nil, ErrNotGPT
	}
	le := binary.LittleEndian
	lba := int64(le.Uint64(hdr[0x48:]))
	n := int(le.Uint32(hdr[0x50:]))
	esz := int(le.Uint32(hdr[0x54:]))
	if n > 1024 || esz < 128 || esz > 4096 {
		return nil, fmt.Errorf("%w: %d entries of %d bytes", ErrNotGPT, n, esz)
	}
	tbl := make([]byte, n*esz)
	if _, err := r.ReadAt(tbl, lba*512); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotGPT, err)
	}
	var parts []gptPart
	for i := 0; i < n; i++ {
		e := tbl[i*esz : (i+1)*esz]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		u := make([]uint16, 36)
		for j := range u {
			u[j] = le.Uint16(e[0x38+2*j:])
		}
		for len(u) > 0 && u[len(u)-1] == 0 {
			u = u[:len(u)-1]
		}
		first, last := int64(le.Uint64(e[0x20:])), int64(le.Uint64(e[0x28:]))
		parts = append(parts, gptPart{Index: i + 1, Name: string(utf16.Decode(u)), Start: first * 512, Size: (last - first + 1) * 512})
	}
	return parts, nil
}

// findBoot returns the partition labelled boot.
func findBoot(r io.ReaderAt) (gptPart, error) {
	parts, err := readGPT(r)
	if err != nil {
		return gptPart{}, err
	}
	for _, p := range parts {
		if p.Name == "boot" {
			return p, nil
		}
	}
	return gptPart{}, ErrNoBootPartition
}
