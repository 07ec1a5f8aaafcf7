package plinko

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// offsetFunc is the per-block function F(a, j) in [0, 2W) for hints j in
// [0, domain). Bit LogW of F says on which side of the hint's block set
// block a lies (0: inside); the low LogW bits are the hint's offset in
// block a. Regular and backup hints use separate instances (separate
// streams), so for a fixed j the values across blocks are independent.
type offsetFunc interface {
	// eval returns F(a, j).
	eval(a, j uint32) uint32
	// half returns F(a, j) mod W when F(a, j) lies in the requested half
	// (upper = bit LogW set); otherwise ok is false. Cheaper than eval
	// for the iPRF, which can stop after the first split.
	half(a, j uint32, upper bool) (off uint32, ok bool)
	// row evaluates half(a, j, upper) for every block a = 0..len(offs)-1.
	row(j uint32, upper bool, offs []uint32, ok []bool)
	// preimages calls yield(j, v) for every j with F(a, j) = v for some v
	// in vs, until yield returns false.
	preimages(a uint32, vs []uint32, yield func(j, v uint32) bool) error
	// prepare readies bulk evaluation of block a for hint generation.
	prepare(a uint32) (filler, error)
}

// filler evaluates one block in bulk: dst[i] = F(a, lo+i) in its low
// LogW+1 bits (higher bits are garbage and must be masked). Safe for
// concurrent calls on disjoint ranges.
type filler interface {
	fill(lo uint32, dst []uint16) error
}

func newOffsetFunc(kind OffsetKind, p Params, pr *prf, backup bool) (offsetFunc, error) {
	domain := uint32(p.Regular())
	if backup {
		domain = uint32(p.Q)
	}
	switch kind {
	case OffsetAESScan:
		tag := byte(tagScanReg)
		if backup {
			tag = tagScanBak
		}
		return &aesScan{prf: pr, tag: tag, domain: domain, mask: uint32(2*p.W - 1)}, nil
	case OffsetIPRF:
		return newIPRF(p, pr, backup, domain), nil
	}
	return nil, fmt.Errorf("plinko: unknown offset function %d", kind)
}

// aesScan: F(a, j) = 16-bit word j of the AES-CTR stream of block a, mod
// 2W. Evaluation is one AES block; inversion scans the block's stream.
type aesScan struct {
	prf    *prf
	tag    byte
	domain uint32
	mask   uint32
}

func (s *aesScan) eval(a, j uint32) uint32 {
	lo, hi := s.prf.block(s.tag, 0, 0, a, uint64(j/8))
	k := j % 8
	w := lo
	if k >= 4 {
		w, k = hi, k-4
	}
	return uint32(w>>(16*k)) & s.mask
}

func (s *aesScan) half(a, j uint32, upper bool) (uint32, bool) {
	v := s.eval(a, j)
	w := (s.mask + 1) / 2
	return v & (w - 1), (v >= w) == upper
}

func (s *aesScan) row(j uint32, upper bool, offs []uint32, ok []bool) {
	for a := range offs {
		offs[a], ok[a] = s.half(uint32(a), j, upper)
	}
}

// scanChunk is the number of words per keystream request when inverting.
const scanChunk = 1 << 16

func (s *aesScan) preimages(a uint32, vs []uint32, yield func(j, v uint32) bool) error {
	want := make([]uint64, (s.mask+64)/64)
	for _, v := range vs {
		want[v/64] |= 1 << (v % 64)
	}
	buf := make([]uint16, min(scanChunk, s.domain))
	for lo := uint32(0); lo < s.domain; lo += uint32(len(buf)) {
		n := min(uint32(len(buf)), s.domain-lo)
		if err := s.fillWords(a, lo, buf[:n]); err != nil {
			return err
		}
		for i, w := range buf[:n] {
			v := uint32(w) & s.mask
			if want[v/64]>>(v%64)&1 != 0 {
				if !yield(lo+uint32(i), v) {
					return nil
				}
			}
		}
	}
	return nil
}

func (s *aesScan) fillWords(a, lo uint32, dst []uint16) error {
	// Start at the AES block holding word lo; words are 8 per block.
	skip := int(lo % 8)
	start := uint64(lo-uint32(skip)) * 2
	need := (skip + len(dst)) * 2
	if skip == 0 && isLittleEndian {
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)*2)
		return s.prf.fill(s.tag, 0, 0, a, start, b)
	}
	b := make([]byte, need)
	if err := s.prf.fill(s.tag, 0, 0, a, start, b); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint16(b[2*(skip+i):])
	}
	return nil
}

func (s *aesScan) prepare(a uint32) (filler, error) { return aesFiller{s, a}, nil }

type aesFiller struct {
	s *aesScan
	a uint32
}

func (f aesFiller) fill(lo uint32, dst []uint16) error { return f.s.fillWords(f.a, lo, dst) }

var isLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
