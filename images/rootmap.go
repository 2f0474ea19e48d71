package images

import "slices"

// rootMap says which qcow2 clusters (64 KiB) of a base disk's root area,
// [lo, hi), hold data. A qcow2 image places every cluster before writing
// any, so its writer reads the disk twice: once to find the clusters with
// data, once to copy them. When another disk target of the build reads
// the whole root area anyway (raw.xz, say), it notes the clusters on the
// way, and the qcow2 target then scans only its own head: the base's
// root area is read once for both. Memory is one bit per 64 KiB of disk.
type rootMap struct {
	lo, hi int64
	bits   []uint64 // by cluster index in the disk
	// complete is set once a pass has read every byte of [lo, hi) that
	// is not a hole; until then the map is not used.
	complete bool
}

func newRootMap(lo, hi int64) *rootMap {
	return &rootMap{lo: lo, hi: hi, bits: make([]uint64, ((hi+qcowCluster-1)/qcowCluster+63)/64)}
}

// mark notes the clusters of [lo, hi) that b, read at off, shows to hold
// data. A cluster's bit is set when any of its bytes is non-zero, so
// reads need not be aligned to clusters.
func (m *rootMap) mark(off int64, b []byte) {
	start, end := max(off, m.lo), min(off+int64(len(b)), m.hi)
	for p := start; p < end; {
		c := p / qcowCluster
		q := min((c+1)*qcowCluster, end)
		if m.bits[c/64]&(1<<(c%64)) == 0 && !isZero(b[p-off:q-off]) {
			m.bits[c/64] |= 1 << (c % 64)
		}
		p = q
	}
}

// first is the index of the first cluster lying wholly in [lo, hi): the
// map says all there is to know about it and every cluster after it.
func (m *rootMap) first() int64 { return (m.lo + qcowCluster - 1) / qcowCluster }

// fill copies the map's clusters from first() on into bitmap and returns
// how many hold data.
func (m *rootMap) fill(bitmap []uint64) int64 {
	var n int64
	for c := m.first(); c < int64(len(m.bits))*64; c++ {
		if m.bits[c/64]&(1<<(c%64)) != 0 {
			bitmap[c/64] |= 1 << (c % 64)
			n++
		}
	}
	return n
}

// mappingSource is a source whose reads are noted in a rootMap and
// hashed by a baseTap (either may be nil).
type mappingSource struct {
	source
	m   *rootMap
	tap *baseTap
}

func (s mappingSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.source.ReadAt(p, off)
	if s.m != nil {
		s.m.mark(off, p[:n])
	}
	if s.tap != nil {
		s.tap.data(off, p[:n])
	}
	return n, err
}

// scansBase reports whether a target's writer finds the data of the
// disk by reading all of it before writing (qcow2).
func scansBase(t Target) bool {
	fi, _, err := parseFormat(t.Format)
	return err == nil && fi.Name == FormatQcow2
}

// mapsBase reports whether a target's writer reads the whole disk front
// to back in one pass, so that it can note the root area's clusters: a
// compressed disk that is not qcow2.
func mapsBase(t Target) bool {
	fi, comp, err := parseFormat(t.Format)
	return err == nil && fi.Base == DiskBase && fi.Name != FormatQcow2 && comp != CompressNone
}

// writeOrder is the order the targets are written in: as given, except
// that qcow2 targets come after a target that reads the whole disk
// anyway, so they can use its map (rootMap). The manifest lists the
// artifacts by name, so the order shows only in progress events.
func (b *builder) writeOrder() []Target {
	order := slices.Clone(b.req.Targets)
	if !slices.ContainsFunc(order, mapsBase) || !slices.ContainsFunc(order, scansBase) {
		return order
	}
	slices.SortStableFunc(order, func(x, y Target) int {
		switch sx, sy := scansBase(x), scansBase(y); {
		case sx == sy:
			return 0
		case sx:
			return 1
		}
		return -1
	})
	return order
}
