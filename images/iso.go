package images

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// isoBlock is the ISO 9660 logical block size; file locations count in it.
const isoBlock = 2048

// ignInfo is coreos/igninfo.json: where the config archive goes.
type ignInfo struct {
	File   string `json:"file"`
	Offset int64  `json:"offset,omitempty"`
	Length int64  `json:"length,omitempty"`
}

// kargsInfo is coreos/kargs.json: the kernel argument areas.
type kargsInfo struct {
	Default string      `json:"default"`
	Files   []kargsFile `json:"files"`
	Size    int         `json:"size"`
}

type kargsFile struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Pad    string `json:"pad,omitempty"`
	End    string `json:"end,omitempty"`
}

// isoArea is a byte range of the ISO file.
type isoArea struct {
	Off, Len int64
}

// isoLayout is what an in-place embed needs from a live ISO.
type isoLayout struct {
	Ignition isoArea
	Kargs    *kargsInfo
	// KargsAt holds each kargs file's area start, in Files order.
	KargsAt []int64
}

// readISOLayout reads coreos/igninfo.json and coreos/kargs.json and turns
// the file names they mention into byte offsets in the ISO.
func readISOLayout(isoPath string) (*isoLayout, error) {
	d, err := diskfs.Open(isoPath, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, fmt.Errorf("open ISO: %w", err)
	}
	defer d.Close()
	fsys, err := d.GetFilesystem(0)
	if err != nil {
		return nil, fmt.Errorf("read ISO 9660: %w", err)
	}
	locate := func(name string) (isoArea, error) {
		st, err := fsys.Stat(strings.TrimPrefix(name, "/"))
		if err != nil {
			return isoArea{}, fmt.Errorf("%w: %s: %w", ErrNoEmbedArea, name, err)
		}
		t, ok := st.Sys().(*iso9660.StatT)
		if !ok {
			return isoArea{}, fmt.Errorf("%w: no location for %s", ErrNoEmbedArea, name)
		}
		return isoArea{Off: int64(t.Location) * isoBlock, Len: st.Size()}, nil
	}
	l := &isoLayout{}
	raw, err := fsys.ReadFile("coreos/igninfo.json")
	if err != nil {
		return nil, fmt.Errorf("%w: coreos/igninfo.json: %w", ErrNoEmbedArea, err)
	}
	var ii ignInfo
	if err := json.Unmarshal(raw, &ii); err != nil || ii.File == "" {
		return nil, fmt.Errorf("%w: coreos/igninfo.json: %v", ErrNoEmbedArea, err)
	}
	a, err := locate(ii.File)
	if err != nil {
		return nil, err
	}
	if ii.Length > 0 {
		if ii.Offset+ii.Length > a.Len {
			return nil, fmt.Errorf("%w: igninfo area beyond %s", ErrNoEmbedArea, ii.File)
		}
		a = isoArea{Off: a.Off + ii.Offset, Len: ii.Length}
	}
	l.Ignition = a
	if _, err := fsys.Stat("coreos/kargs.json"); err != nil {
		return l, nil // an ISO without kargs areas takes no extra kernel arguments
	}
	raw, err = fsys.ReadFile("coreos/kargs.json")
	if err != nil {
		return nil, err
	}
	var ki kargsInfo
	if err := json.Unmarshal(raw, &ki); err != nil {
		return nil, fmt.Errorf("%w: coreos/kargs.json: %w", ErrBadKargsArea, err)
	}
	for _, f := range ki.Files {
		a, err := locate(f.Path)
		if err != nil {
			return nil, err
		}
		if f.Offset+int64(ki.Size)+int64(len(f.End)) > a.Len {
			return nil, fmt.Errorf("%w: %s area beyond the file", ErrBadKargsArea, f.Path)
		}
		l.KargsAt = append(l.KargsAt, a.Off+f.Offset)
	}
	l.Kargs = &ki
	return l, nil
}

// openEmbedArea reads the ISO's layout and the contents of its embed
// area; the caller closes f.
func openEmbedArea(isoPath string) (*isoLayout, *os.File, []byte, error) {
	l, err := readISOLayout(isoPath)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := os.Open(isoPath)
	if err != nil {
		return nil, nil, nil, err
	}
	area := make([]byte, l.Ignition.Len)
	if _, err := f.ReadAt(area, l.Ignition.Off); err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return l, f, area, nil
}

// isoPatches computes what an embed changes in the live ISO at isoPath:
// the config initrd over the embed area, and the kernel arguments
// appended in every kargs area. The ISO's directory records and every
// other byte stay as they were.
func isoPatches(isoPath string, initrd []byte, extraKargs []string) ([]patch, error) {
	l, f, area, err := openEmbedArea(isoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if int64(len(initrd)) > l.Ignition.Len {
		return nil, fmt.Errorf("%w: config archive of %d bytes, embed area of %d", ErrConfigTooLarge, len(initrd), l.Ignition.Len)
	}
	// An area already in use means the base was customised before; refuse
	// rather than stack two configs' worth of intent.
	if !isZero(area) {
		return nil, ErrConfigExists
	}
	var patches []patch
	if len(extraKargs) > 0 {
		if l.Kargs == nil {
			return nil, fmt.Errorf("%w: no coreos/kargs.json for kernel arguments", ErrNoEmbedArea)
		}
		for i, kf := range l.Kargs.Files {
			buf := make([]byte, l.Kargs.Size+len(kf.End))
			if _, err := f.ReadAt(buf, l.KargsAt[i]); err != nil {
				return nil, err
			}
			pad := kf.Pad
			if pad == "" {
				pad = "#"
			}
			want := l.Kargs.Default + strings.Repeat(pad[:1], l.Kargs.Size-len(l.Kargs.Default))
			if string(buf[:l.Kargs.Size]) != want || string(buf[l.Kargs.Size:]) != kf.End {
				return nil, fmt.Errorf("%w: %s", ErrBadKargsArea, kf.Path)
			}
			args := l.Kargs.Default + " " + strings.Join(extraKargs, " ")
			if len(args) > l.Kargs.Size {
				return nil, fmt.Errorf("%w: %d bytes, room for %d", ErrKargsTooLong, len(args), l.Kargs.Size)
			}
			patches = append(patches, patch{off: l.KargsAt[i], data: []byte(args + strings.Repeat(pad[:1], l.Kargs.Size-len(args)))})
		}
	}
	copy(area, initrd)
	return append(patches, patch{off: l.Ignition.Off, data: area}), nil
}

// readISOConfig returns the config embedded in an ISO.
func readISOConfig(isoPath string) ([]byte, error) {
	_, f, area, err := openEmbedArea(isoPath)
	if err != nil {
		return nil, err
	}
	f.Close()
	if isZero(area) {
		return nil, ErrNoConfig
	}
	return readConfigInitrd(bytes.NewReader(area))
}

// isoWriter writes the live ISO with the live config embedded.
func isoWriter(b *builder, _ Target, name string, _ Compression) ([]Artifact, error) {
	sum, size, err := writeISO(b.ctx, filepath.Join(b.stage, name), b.req.BaseISO, b.req.liveConfig(), b.req.KernelArgs, b.progress(name, "write"))
	if err != nil {
		return nil, err
	}
	return []Artifact{{Name: name, Size: size, SHA256: sum}}, nil
}

// isISO recognises an ISO 9660 image by its primary volume descriptor.
func isISO(head []byte, _ *os.File, _ int64) bool {
	return len(head) >= 0x8006 && string(head[0x8001:0x8006]) == "CD001"
}

// readISO reads the config embedded in a live ISO.
func readISO(path string, _ *os.File, _ int64) ([]byte, string, error) {
	cfg, err := readISOConfig(path)
	return cfg, "", err
}
