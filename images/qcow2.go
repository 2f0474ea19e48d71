package images

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// qcow2 layout constants: version 3, 64 KiB clusters, 16-bit refcounts.
const (
	qcowClusterBits  = 16
	qcowCluster      = 1 << qcowClusterBits
	qcowL2Entries    = qcowCluster / 8
	qcowRefsPerBlock = qcowCluster / 2
	qcowHeaderLen    = 104
	qcowCopied       = uint64(1) << 63
	qcowCompressed   = uint64(1) << 62
	qcowZeroFlag     = uint64(1)
	qcowOffsetMask   = uint64(0x00fffffffffffe00)
)

var qcowMagic = []byte{'Q', 'F', 'I', 0xfb}

// qcowLayout places every cluster of the output before anything is
// written, so the file can be produced front to back (and so streamed
// through a compressor): header, refcount table, refcount blocks, L1, the
// L2 tables that map data, then the data clusters in guest order.
type qcowLayout struct {
	size       int64
	guest      int64    // guest clusters
	bitmap     []uint64 // one bit per guest cluster holding non-zero data
	data       int64    // allocated data clusters
	l1Size     int64
	l2Used     []int64 // L1 indexes that get an L2 table
	refTable   int64   // first cluster of each region
	refBlocks  int64
	l1         int64
	l2         int64
	dataStart  int64
	refTableN  int64 // clusters
	refBlocksN int64
	l1N        int64
	total      int64
}

func (l *qcowLayout) has(c int64) bool { return l.bitmap[c/64]&(1<<(c%64)) != 0 }

// scanQcow finds the non-zero clusters of src, skipping holes with
// SEEK_DATA when src is a file. Memory is one bit per 64 KiB of disk.
// known, when set, already holds the clusters from its first() on: only
// those before are scanned.
func scanQcow(ctx context.Context, src io.ReaderAt, size int64, known *rootMap) (*qcowLayout, error) {
	l := &qcowLayout{size: size, guest: (size + qcowCluster - 1) / qcowCluster}
	l.bitmap = make([]uint64, (l.guest+63)/64)
	scanEnd := size
	if known != nil {
		scanEnd = min(size, known.first()*qcowCluster)
	}
	// The scan reads the whole disk: split it between the cores. Each
	// worker owns whole bitmap words (64 clusters, 4 MiB), so no two
	// write the same word.
	const span = 64 * qcowCluster
	workers := int64(max(1, min(runtime.GOMAXPROCS(0), 4)))
	per := ((scanEnd+workers-1)/workers + span - 1) / span * span
	counts := make([]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := int64(0); i < workers; i++ {
		start, end := i*per, min((i+1)*per, scanEnd)
		if start >= end {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = l.scanRange(ctx, src, start, end)
		}()
	}
	wg.Wait()
	for i := range counts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		l.data += counts[i]
	}
	if known != nil {
		l.data += known.fill(l.bitmap)
	}
	l.l1Size = (l.guest + qcowL2Entries - 1) / qcowL2Entries
	for i := int64(0); i < l.l1Size; i++ {
		for c := i * qcowL2Entries; c < min((i+1)*qcowL2Entries, l.guest); c++ {
			if l.has(c) {
				l.l2Used = append(l.l2Used, i)
				break
			}
		}
	}
	l.l1N = max(1, (l.l1Size*8+qcowCluster-1)/qcowCluster)
	fixed := 1 + l.l1N + int64(len(l.l2Used)) + l.data
	// The refcount structures count themselves: grow until stable.
	l.refTableN, l.refBlocksN = 1, 1
	for {
		total := fixed + l.refTableN + l.refBlocksN
		rb := (total + qcowRefsPerBlock - 1) / qcowRefsPerBlock
		rt := max(1, (rb*8+qcowCluster-1)/qcowCluster)
		if rb == l.refBlocksN && rt == l.refTableN {
			l.total = total
			break
		}
		l.refBlocksN, l.refTableN = rb, rt
	}
	l.refTable = 1
	l.refBlocks = l.refTable + l.refTableN
	l.l1 = l.refBlocks + l.refBlocksN
	l.l2 = l.l1 + l.l1N
	l.dataStart = l.l2 + int64(len(l.l2Used))
	return l, nil
}

// scanRange marks the non-zero clusters of [start, end) and counts them.
func (l *qcowLayout) scanRange(ctx context.Context, src io.ReaderAt, start, end int64) (int64, error) {
	buf := make([]byte, copyChunk)
	holes, _ := src.(source)
	if f, ok := src.(*os.File); ok {
		holes = fileSource{f: f, size: l.size}
	}
	var count int64
	for off := start; off < end; {
		if holes != nil {
			data := holes.dataAt(off)
			if data >= end {
				break
			}
			if data > off {
				off = data &^ (qcowCluster - 1)
			}
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := min(int64(len(buf)), end-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for p := int64(0); p < n; p += qcowCluster {
			c := (off + p) / qcowCluster
			if !isZero(buf[p:min(p+qcowCluster, n)]) && !l.has(c) {
				l.bitmap[c/64] |= 1 << (c % 64)
				count++
			}
		}
		off += n
	}
	return count, nil
}

// writeQcow2 writes src as a qcow2 v3 image to w, front to back. Zero
// clusters are left unallocated; memory stays at a few cluster buffers plus
// the scan bitmap whatever the image size.
func writeQcow2(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, known *rootMap, progress func(done, total int64)) error {
	l, err := scanQcow(ctx, src, size, known)
	if err != nil {
		return err
	}
	be := binary.BigEndian
	cl := make([]byte, qcowCluster)
	put := func() error {
		_, err := w.Write(cl)
		clear(cl)
		return err
	}
	// Header.
	copy(cl, qcowMagic)
	be.PutUint32(cl[4:], 3)
	be.PutUint32(cl[20:], qcowClusterBits)
	be.PutUint64(cl[24:], uint64(size))
	be.PutUint32(cl[36:], uint32(l.l1Size))
	be.PutUint64(cl[40:], uint64(l.l1*qcowCluster))
	be.PutUint64(cl[48:], uint64(l.refTable*qcowCluster))
	be.PutUint32(cl[56:], uint32(l.refTableN))
	be.PutUint32(cl[96:], 4)
	be.PutUint32(cl[100:], qcowHeaderLen)
	if err := put(); err != nil {
		return err
	}
	// Refcount table, then blocks: every used cluster has refcount 1.
	for i := int64(0); i < l.refTableN; i++ {
		for j := int64(0); j < qcowCluster/8; j++ {
			if b := i*(qcowCluster/8) + j; b < l.refBlocksN {
				be.PutUint64(cl[8*j:], uint64((l.refBlocks+b)*qcowCluster))
			}
		}
		if err := put(); err != nil {
			return err
		}
	}
	for b := int64(0); b < l.refBlocksN; b++ {
		for j := int64(0); j < qcowRefsPerBlock; j++ {
			if b*qcowRefsPerBlock+j < l.total {
				be.PutUint16(cl[2*j:], 1)
			}
		}
		if err := put(); err != nil {
			return err
		}
	}
	// L1: one entry per 512 MiB of disk, pointing at its L2 table if any.
	for c := int64(0); c < l.l1N; c++ {
		for i, idx := range l.l2Used {
			if idx*8/qcowCluster == c {
				be.PutUint64(cl[idx*8%qcowCluster:], uint64((l.l2+int64(i))*qcowCluster)|qcowCopied)
			}
		}
		if err := put(); err != nil {
			return err
		}
	}
	// L2 tables: data cluster n of the file is the n-th non-zero cluster.
	rank := int64(0)
	for _, idx := range l.l2Used {
		for j := int64(0); j < qcowL2Entries; j++ {
			c := idx*qcowL2Entries + j
			if c < l.guest && l.has(c) {
				be.PutUint64(cl[8*j:], uint64((l.dataStart+rank)*qcowCluster)|qcowCopied)
				rank++
			}
		}
		if err := put(); err != nil {
			return err
		}
	}
	// Data, read a chunk of clusters at a time: one read per MiB rather than
	// per cluster, skipping chunks that hold no data.
	buf := make([]byte, copyChunk)
	per := int64(copyChunk / qcowCluster)
	for first := int64(0); first < l.guest; first += per {
		last := min(first+per, l.guest)
		any := false
		for c := first; c < last && !any; c++ {
			any = l.has(c)
		}
		if !any {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if progress != nil {
			progress(first*qcowCluster, size)
		}
		off := first * qcowCluster
		n := min(int64(len(buf)), size-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for c := first; c < last; c++ {
			if !l.has(c) {
				continue
			}
			p := (c - first) * qcowCluster
			if p+qcowCluster <= n {
				if _, err := w.Write(buf[p : p+qcowCluster]); err != nil {
					return err
				}
				continue
			}
			// The disk's last cluster is partial: pad it with zeros.
			copy(cl, buf[p:n])
			if err := put(); err != nil {
				return err
			}
		}
	}
	if progress != nil {
		progress(size, size)
	}
	return nil
}

// qcowReader reads a qcow2 v2/v3 image without backing file, encryption or
// compressed clusters: what kiln writes and what qemu-img writes by default.
type qcowReader struct {
	r    io.ReaderAt
	size int64
	l1   []uint64
}

// openQcow2 parses the header and L1 table.
func openQcow2(r io.ReaderAt) (*qcowReader, error) {
	h := make([]byte, 104)
	if _, err := r.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadQcow2, err)
	}
	be := binary.BigEndian
	if string(h[:4]) != string(qcowMagic) {
		return nil, ErrBadQcow2
	}
	if v := be.Uint32(h[4:]); v != 2 && v != 3 {
		return nil, fmt.Errorf("%w: version %d", ErrBadQcow2, v)
	}
	if be.Uint64(h[8:]) != 0 || be.Uint32(h[32:]) != 0 || be.Uint32(h[20:]) != qcowClusterBits {
		return nil, fmt.Errorf("%w: backing file, encryption or cluster size other than 64 KiB", ErrBadQcow2)
	}
	if be.Uint32(h[4:]) == 3 && be.Uint64(h[72:]) != 0 {
		return nil, fmt.Errorf("%w: incompatible features %#x", ErrBadQcow2, be.Uint64(h[72:]))
	}
	q := &qcowReader{r: r, size: int64(be.Uint64(h[24:]))}
	n := be.Uint32(h[36:])
	if n > 1<<24 {
		return nil, fmt.Errorf("%w: L1 of %d entries", ErrBadQcow2, n)
	}
	raw := make([]byte, 8*int(n))
	if _, err := r.ReadAt(raw, int64(be.Uint64(h[40:]))); err != nil {
		return nil, fmt.Errorf("%w: L1: %w", ErrBadQcow2, err)
	}
	q.l1 = make([]uint64, n)
	for i := range q.l1 {
		q.l1[i] = be.Uint64(raw[8*i:])
	}
	return q, nil
}

// Size returns the virtual disk size.
func (q *qcowReader) Size() int64 { return q.size }

// ReadAt reads guest bytes; unallocated clusters read as zeros.
func (q *qcowReader) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	var ent [8]byte
	for done < len(p) {
		pos := off + int64(done)
		if pos >= q.size {
			return done, io.EOF
		}
		c := pos / qcowCluster
		in := pos % qcowCluster
		n := min(int64(len(p)-done), qcowCluster-in, q.size-pos)
		dst := p[done : done+int(n)]
		l1i := c / qcowL2Entries
		var host uint64
		if l1i < int64(len(q.l1)) && q.l1[l1i]&qcowOffsetMask != 0 {
			l2 := int64(q.l1[l1i] & qcowOffsetMask)
			if _, err := q.r.ReadAt(ent[:], l2+(c%qcowL2Entries)*8); err != nil {
				return done, err
			}
			e := binary.BigEndian.Uint64(ent[:])
			if e&qcowCompressed != 0 {
				return done, fmt.Errorf("%w: compressed clusters", ErrBadQcow2)
			}
			if e&qcowZeroFlag == 0 {
				host = e & qcowOffsetMask
			}
		}
		if host == 0 {
			clear(dst)
		} else if _, err := q.r.ReadAt(dst, int64(host)+in); err != nil {
			return done, err
		}
		done += int(n)
	}
	return done, nil
}

// qcow2Layout: a qcow2 image is written front to back by writeQcow2.
var qcow2Layout = diskLayout{stream: func(b *builder, w io.Writer, src source, size int64, progress func(done, total int64)) error {
	m := b.rootMap
	if m != nil && (!m.complete || m.hi != size) {
		m = nil
	}
	return writeQcow2(b.ctx, w, src, size, m, progress)
}}

// isQcow2 recognises a qcow2 image by its magic.
func isQcow2(head []byte, _ *os.File, _ int64) bool { return bytes.HasPrefix(head, qcowMagic) }

// readQcow2Disk reads the config of the disk inside a qcow2 image.
func readQcow2Disk(_ string, f *os.File, _ int64) ([]byte, string, error) {
	q, err := openQcow2(f)
	if err != nil {
		return nil, "", err
	}
	return diskConfig(q)
}
