package plinko

import (
	"encoding/binary"
	"math"
)

// srPRP is the Sometimes-Recurse shuffle (Morris and Rogaway, EUROCRYPT
// 2014) over the swap-or-not shuffle (Hoang, Morris and Rogaway, CRYPTO
// 2012) on [domain): a small-domain PRP that stays secure when the
// adversary sees every point (q = domain), which no Feistel bound reaches
// (PRP.md has the argument and the numbers). It is an alternative to the
// iPRF's Feistel, measured but not wired in: at the iPRF's domains it
// costs tens of times more (PRP.md).
//
// Level l works on [n_l), n_0 = domain, n_{l+1} = floor(n_l/2): r_l rounds
// of swap-or-not on Z_{n_l}; a value that lands in [n_{l+1}, n_l) is
// final, a smaller one recurses into level l+1 (the level n = 1 ends every
// walk). Round i of level l, with key K in Z_{n_l} and round bit function
// B: x -> x' = K - x mod n_l; if B(max(x, x')) = 1 then x = x'. Each round
// is an involution, so the inverse runs a level's rounds backwards.
//
// Keys and bits come from the stream (tagSR*, sub = l, iter 0, block a):
// round i of level l occupies srStride(n_l) bytes at i*srStride(n_l): the
// first 8 bytes (little-endian) mod n_l are K, bytes 16.. are the bitmap
// (bit x of B is bit x%64 of little-endian word x/64). The mod bias of K
// is below n_l/2^64.
type srPRP struct {
	prf    *prf
	tag    byte
	domain uint32
	levels []srLevelSpec
}

type srLevelSpec struct {
	n      uint32 // this level's domain
	rounds int
	words  int // uint64 words per round in the stream: 2 + bitmap
}

// srSecurity: the rounds make the statistical distance of the whole
// permutation of one block (every point seen) from a uniform one at most
// 2^-srSecurity, by srBoundLog2 summed over the levels.
const srSecurity = 64

func newSR(pr *prf, tag byte, domain uint32, sec float64) *srPRP {
	s := &srPRP{prf: pr, tag: tag, domain: domain}
	nl := 0
	for n := domain; n >= 1; n /= 2 {
		nl++
	}
	// Each level gets an equal share of the budget (levels with n = 1
	// have no rounds and no distance).
	perLevel := sec + math.Log2(float64(max(1, nl-1)))
	for n := domain; n >= 1; n /= 2 {
		r := 0
		if n >= 2 {
			r = srRounds(n, perLevel)
		}
		s.levels = append(s.levels, srLevelSpec{n: n, rounds: r, words: 2 + 2*int((n+127)/128)})
		if n == 1 {
			break
		}
	}
	return s
}

// srBoundLog2 is log2 of the Hoang-Morris-Rogaway non-adaptive bound for
// r rounds of swap-or-not on N points with q points seen,
//
//	2 N^{3/2} / (r+2) * ((q+N) / (2N))^{r/2+1},
//
// with q = ceil(N/2), the points a Sometimes-Recurse level fixes (PRP.md:
// the constant 2 is twice what the paper's CCA bound implies for nCPA).
func srBoundLog2(n uint32, r int) float64 {
	N := float64(n)
	q := float64(n - n/2)
	return 1 + 1.5*math.Log2(N) - math.Log2(float64(r)+2) + (float64(r)/2+1)*math.Log2((q+N)/(2*N))
}

// srRounds is the least r with srBoundLog2(n, r) <= -sec.
func srRounds(n uint32, sec float64) int {
	r := 1
	for srBoundLog2(n, r) > -sec {
		r++
	}
	return r
}

// srStride is the stream bytes of one round at level domain n.
func srStride(n uint32) int { return 16 + 16*int((n+127)/128) }

// totalRounds is the sum of the levels' rounds (a walk through every
// level).
func (s *srPRP) totalRounds() int {
	t := 0
	for _, l := range s.levels {
		t += l.rounds
	}
	return t
}

// srBlock is one block's tables: the round keys and bitmaps of every level.
type srBlock struct {
	lv []srLevel
}

type srLevel struct {
	n, half uint32
	keys    []uint32
	raw     []uint64 // the level's stream as words: round i at i*words
	words   int
}

// tables derives block a's keys and bitmaps, one keystream request per
// level.
func (s *srPRP) tables(a uint32) (*srBlock, error) {
	t := &srBlock{lv: make([]srLevel, len(s.levels))}
	for li, sp := range s.levels {
		l := &t.lv[li]
		l.n, l.half, l.words = sp.n, sp.n/2, sp.words
		if sp.rounds == 0 {
			continue
		}
		buf := make([]byte, 8*sp.words*sp.rounds)
		if err := s.prf.fill(s.tag, byte(li), 0, a, 0, buf); err != nil {
			return nil, err
		}
		l.raw = make([]uint64, len(buf)/8)
		for i := range l.raw {
			l.raw[i] = binary.LittleEndian.Uint64(buf[8*i:])
		}
		l.keys = make([]uint32, sp.rounds)
		for i := range l.keys {
			l.keys[i] = uint32(l.raw[i*sp.words] % uint64(sp.n))
		}
	}
	return t, nil
}

// srRound applies one swap-or-not round (key k, bitmap bm) to x on [n),
// without branches (the swap is a coin flip: a branch mispredicts half
// the time).
func srRound(x, k, n uint32, bm []uint64) uint32 {
	d := k - x // |k - x| < 2^31: the sign bit says k < x
	xp := d + n&uint32(int32(d)>>31)
	hi := max(x, xp)
	m := -uint32(bm[hi>>6] >> (hi & 63) & 1)
	return x ^ (x^xp)&m
}

func (t *srBlock) perm(x uint32) uint32 {
	for li := range t.lv {
		l := &t.lv[li]
		for i, k := range l.keys {
			x = srRound(x, k, l.n, l.raw[i*l.words+2:])
		}
		if x >= l.half {
			return x
		}
	}
	return x
}

func (t *srBlock) inv(y uint32) uint32 {
	li := 0
	for y < t.lv[li].half {
		li++
	}
	for ; li >= 0; li-- {
		l := &t.lv[li]
		for i := len(l.keys) - 1; i >= 0; i-- {
			y = srRound(y, l.keys[i], l.n, l.raw[i*l.words+2:])
		}
	}
	return y
}

// invertAll sets dst[y] = P^-1(y) for every y in [domain): the shuffle of
// the whole deck, round by round, as conditional swaps of the pairs
// {p, K-p}. len(dst) must be the domain.
func (t *srBlock) invertAll(dst []uint32) {
	for p := range dst {
		dst[p] = uint32(p)
	}
	for li := range t.lv {
		l := &t.lv[li]
		n := l.n
		arr := dst[:n]
		for i, k := range l.keys {
			bm := l.raw[i*l.words+2 : i*l.words+l.words]
			// Pairs p < p' with p + p' = k (p' = k - p) or k + n.
			swapPairs(arr, bm, 0, (k+1)/2, k)
			swapPairs(arr, bm, k+1, (k+n+1)/2, k+n)
		}
	}
}

// swapPairs swaps arr[p] and arr[s-p] for p in [lo, hi) where bit s-p of
// bm is set (s-p is the larger of the pair). The q = s-p side runs down
// through qs, so that both sides index their own slice.
func swapPairs(arr []uint32, bm []uint64, lo, hi, s uint32) {
	if lo >= hi {
		return
	}
	ps := arr[lo:hi]
	qs := arr[s-hi+1 : s-lo+1 : s-lo+1] // qs[i] is position s-hi+1+i
	qs = qs[:len(ps)]
	last := len(ps) - 1
	for i := range ps {
		q := s - lo - uint32(i)
		m := -uint32(bm[q>>6] >> (q & 63) & 1)
		a, b := ps[i], qs[last-i]
		d := (a ^ b) & m
		ps[i], qs[last-i] = a^d, b^d
	}
}

// The single-point path without tables: every round costs two AES blocks
// (the key's and the bit's), as a query would pay for blocks whose tables
// are not kept.

func (s *srPRP) roundAES(a uint32, li, i int, n, x uint32) uint32 {
	base := uint64(i) * uint64(srStride(n)) / 16 // the round's first AES block
	lo, _ := s.prf.block(s.tag, byte(li), 0, a, base)
	k := uint32(lo % uint64(n))
	xp := k - x
	if k < x {
		xp += n
	}
	h := max(x, xp)
	blo, bhi := s.prf.block(s.tag, byte(li), 0, a, base+1+uint64(h/128))
	w := blo
	if h%128 >= 64 {
		w = bhi
	}
	if w>>(h%64)&1 != 0 {
		return xp
	}
	return x
}

func (s *srPRP) permAES(a, x uint32) uint32 {
	for li, sp := range s.levels {
		for i := range sp.rounds {
			x = s.roundAES(a, li, i, sp.n, x)
		}
		if x >= sp.n/2 {
			return x
		}
	}
	return x
}

func (s *srPRP) invAES(a, y uint32) uint32 {
	li := 0
	for y < s.levels[li].n/2 {
		li++
	}
	for ; li >= 0; li-- {
		sp := s.levels[li]
		for i := sp.rounds - 1; i >= 0; i-- {
			y = s.roundAES(a, li, i, sp.n, y)
		}
	}
	return y
}
