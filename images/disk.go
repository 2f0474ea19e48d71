package images

import (
	"io"
	"os"
	"path/filepath"
)

// diskLayout is how one disk image format lays out a staged disk (the
// metal image with the config embedded for a platform).
type diskLayout struct {
	// tail is what follows the disk's size bytes in the image: pad zero
	// bytes, then trailer. nil means nothing follows.
	tail func(b *builder, name string, size int64) (pad int64, trailer []byte)
	// stream, when set, writes the whole image to w: a format that is not
	// the disk's bytes followed by a tail. Without it, an uncompressed
	// image is the staged head itself with the rest written around it.
	stream func(b *builder, w io.Writer, src source, size int64, progress func(done, total int64)) error
}

// rawLayout: a raw image is the disk, byte for byte.
var rawLayout = diskLayout{}

// diskWriter is the writer of a disk image format with layout l.
func diskWriter(l diskLayout) func(b *builder, t Target, name string, comp Compression) ([]Artifact, error) {
	return func(b *builder, t Target, name string, comp Compression) ([]Artifact, error) {
		return b.writeDisk(l, t, name, comp)
	}
}

// tailOf is l's tail for an image of a disk of size bytes, or nothing.
func (l diskLayout) tailOf(b *builder, name string, size int64) (int64, []byte) {
	if l.tail == nil {
		return 0, nil
	}
	return l.tail(b, name, size)
}

// writeDisk stages the base disk with the config embedded for t's
// platform and writes it as one image of layout l, compressed with comp.
func (b *builder) writeDisk(l diskLayout, t Target, name string, comp Compression) ([]Artifact, error) {
	out := filepath.Join(b.stage, name)
	prog := b.progress(name, "write")
	if comp == CompressNone && l.stream == nil {
		// The staged head becomes the output: the rest of the disk is
		// written around it, sparsely, and hashed in the same pass.
		d, err := stageDisk(b.ctx, out, b.disk, b.req.Ignition, t.Platform, b.req.SourceDateEpoch)
		if err != nil {
			return nil, err
		}
		defer d.close()
		pad, trailer := l.tailOf(b, name, d.size)
		sum, err := copyHashed(b.ctx, d.head.f, d, d.size, d.split, pad, trailer, prog)
		if err != nil {
			return nil, err
		}
		return []Artifact{{Name: name, Size: d.size + pad + int64(len(trailer)), SHA256: sum}}, nil
	}
	d, err := stageDisk(b.ctx, filepath.Join(b.stage, "."+name+".head"), b.disk, b.req.Ignition, t.Platform, b.req.SourceDateEpoch)
	if err != nil {
		return nil, err
	}
	defer os.Remove(d.head.f.Name())
	defer d.close()
	share := b.share(t.Format, l, comp, out, d)
	var src source = d
	var noted *rootMap
	var tap *baseTap
	if l.stream == nil && (share == nil || !share.ready) {
		// This pass reads every byte of the root area (nothing is
		// copied from another output): note its clusters for qcow2,
		// and hash the base on the way if its digest is wanted.
		if b.wantRootMap && b.rootMap == nil {
			noted = newRootMap(d.split, d.size)
		}
		if b.tap != nil && !b.tap.started {
			tap = b.tap
			tap.start(b.ctx, d.base, d.split, d.size)
		}
		if noted != nil || tap != nil {
			src = mappingSource{source: d, m: noted, tap: tap}
		}
	}
	sum, size, err := streamInto(out, src, d.size, comp, share, func(w io.Writer, src source, size int64) error {
		if l.stream != nil {
			return l.stream(b, w, src, size, prog)
		}
		pad, trailer := l.tailOf(b, name, size)
		if err := streamSparse(b.ctx, w, src, size, prog); err != nil {
			return err
		}
		if err := writeZeros(w, pad); err != nil {
			return err
		}
		if len(trailer) == 0 {
			return nil
		}
		_, err := w.Write(trailer)
		return err
	})
	tap.finish(b, err)
	if err != nil {
		return nil, err
	}
	if share != nil && share.path == out {
		share.finish()
	}
	if noted != nil {
		noted.complete = true
		b.rootMap = noted
	}
	return []Artifact{{Name: name, Size: size, SHA256: sum}}, nil
}

// isGPTDisk recognises a disk image by its GPT header in LBA 1.
func isGPTDisk(head []byte) bool {
	return len(head) >= 520 && string(head[512:520]) == "EFI PART"
}

// isRawDisk recognises a raw disk: a GPT disk that is not a VHD (which is
// one with a footer).
func isRawDisk(head []byte, f *os.File, size int64) bool {
	return isGPTDisk(head) && !hasVHDFooter(f, size)
}

// readRawDisk reads the config of a raw disk.
func readRawDisk(_ string, f *os.File, size int64) ([]byte, string, error) {
	return diskConfig(io.NewSectionReader(f, 0, size))
}
