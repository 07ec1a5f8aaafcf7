package plinko

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// iprf is the invertible PRF of the Plinko paper (Section 4):
// F(a, j) = S_a(P_a(j)), where P_a is a small-domain PRP on [domain] and
// S_a is a pseudorandom multinomial sampler throwing the domain's balls
// into 2W bins along a binary tree, each node splitting its balls with an
// exact Binomial(n, 1/2) sample derandomised by the AES PRF of the node.
//
// P_a is an alternating Feistel network with feistelRounds rounds (as in
// NIST FF1, radix 2) on ceil(log2 domain) bits, cycle-walking into
// [domain]; round r's function is word z of AES-CTR stream (tagPRP, r, a).
// Forward: P then walk down the tree by ball position. Inverse of bin v:
// walk down by the bits of v to the bin's contiguous ball range, then P^-1
// of each ball.
type iprf struct {
	prf          *prf
	tagP, tagS   byte
	domain       uint32
	u, v         uint // Feistel half widths: high u bits, low v bits
	maskU, maskV uint32
	levels       int // tree depth: log2(2W)
	w            uint32
	root         []uint32 // per block: 1 + left count of the root split (0: unknown)
	// Reused table storage (320 KiB each): bulk for prepare, inv for
	// preimages. A prepared filler is valid until the next prepare.
	bulk, inv *feistelTables
}

const feistelRounds = 10

func newIPRF(p Params, pr *prf, backup bool, domain uint32) *iprf {
	k := uint(max(2, bits.Len32(domain-1)))
	f := &iprf{prf: pr, tagP: tagPRPReg, tagS: tagSampReg, domain: domain,
		u: k / 2, v: k - k/2, levels: p.LogW + 1, w: uint32(p.W), root: make([]uint32, p.C)}
	if backup {
		f.tagP, f.tagS = tagPRPBak, tagSampBak
	}
	f.maskU, f.maskV = 1<<f.u-1, 1<<f.v-1
	return f
}

// rf is Feistel round r's function at z (one AES block per call).
func (f *iprf) rf(a uint32, r int, z uint32) uint32 {
	lo, hi := f.prf.block(f.tagP, byte(r), 0, a, uint64(z/4))
	w := lo
	if z%4 >= 2 {
		w = hi
	}
	return uint32(w >> (32 * (z % 2)))
}

func (f *iprf) permOnce(a, x uint32) uint32 {
	l, r := x>>f.v, x&f.maskV
	for i := 0; i < feistelRounds; i++ {
		if i%2 == 0 {
			l ^= f.rf(a, i, r) & f.maskU
		} else {
			r ^= f.rf(a, i, l) & f.maskV
		}
	}
	return l<<f.v | r
}

func (f *iprf) invOnce(a, y uint32) uint32 {
	l, r := y>>f.v, y&f.maskV
	for i := feistelRounds - 1; i >= 0; i-- {
		if i%2 == 0 {
			l ^= f.rf(a, i, r) & f.maskU
		} else {
			r ^= f.rf(a, i, l) & f.maskV
		}
	}
	return l<<f.v | r
}

// perm and permInv cycle-walk: the cycle through x returns to [domain].
func (f *iprf) perm(a, x uint32) uint32 {
	y := f.permOnce(a, x)
	for y >= f.domain {
		y = f.permOnce(a, y)
	}
	return y
}

func (f *iprf) permInv(a, y uint32) uint32 {
	x := f.invOnce(a, y)
	for x >= f.domain {
		x = f.invOnce(a, x)
	}
	return x
}

// split returns the left count of node t at level l holding n balls.
func (f *iprf) split(a uint32, l int, t uint32, n uint32) uint32 {
	lo, hi := f.prf.block(f.tagS, byte(l), 0, a, uint64(t))
	return f.splitWith(a, l, t, n, lo, hi)
}

func (f *iprf) splitWith(a uint32, l int, t uint32, n uint32, lo, hi uint64) uint32 {
	return binomialHalf(n, lo, hi, func(it uint16) (uint64, uint64) {
		return f.prf.block(f.tagS, byte(l), it, a, uint64(t))
	})
}

func (f *iprf) rootSplit(a uint32) uint32 {
	if int(a) < len(f.root) && f.root[a] != 0 {
		return f.root[a] - 1
	}
	s := f.split(a, 0, 0, f.domain)
	if int(a) < len(f.root) {
		f.root[a] = s + 1
	}
	return s
}

// walk descends from level `from` (node t, ball range [start, start+n))
// to the bin holding ball y.
func (f *iprf) walk(a uint32, from int, t, start, n, y uint32) uint32 {
	for l := from; l < f.levels; l++ {
		left := f.split(a, l, t, n)
		if y-start < left {
			n, t = left, 2*t
		} else {
			start, n, t = start+left, n-left, 2*t+1
		}
	}
	return t
}

func (f *iprf) eval(a, j uint32) uint32 {
	y := f.perm(a, j)
	left := f.rootSplit(a)
	if y < left {
		return f.walk(a, 1, 0, 0, left, y)
	}
	return f.walk(a, 1, 1, left, f.domain-left, y)
}

func (f *iprf) half(a, j uint32, upper bool) (uint32, bool) {
	y := f.perm(a, j)
	left := f.rootSplit(a)
	if (y >= left) != upper {
		return 0, false
	}
	if !upper {
		return f.walk(a, 1, 0, 0, left, y), true
	}
	return f.walk(a, 1, 1, left, f.domain-left, y) - f.w, true
}

// ballRange returns the contiguous ball positions of bin v.
func (f *iprf) ballRange(a, v uint32) (start, n uint32) {
	n = f.domain
	t := uint32(0)
	for l := 0; l < f.levels; l++ {
		var left uint32
		if l == 0 {
			left = f.rootSplit(a)
		} else {
			left = f.split(a, l, t, n)
		}
		if v>>(f.levels-1-l)&1 == 0 {
			n, t = left, 2*t
		} else {
			start, n, t = start+left, n-left, 2*t+1
		}
	}
	return start, n
}

func (f *iprf) preimages(a uint32, vs []uint32, yield func(j, v uint32) bool) error {
	var tab *feistelTables
	for _, v := range vs {
		start, n := f.ballRange(a, v)
		if tab == nil && n > 0 && f.tablesCheaper(len(vs)*int(n)) {
			t, err := f.tables(a, f.inv)
			if err != nil {
				return err
			}
			tab, f.inv = t, t
		}
		for y := start; y < start+n; y++ {
			var j uint32
			if tab != nil {
				j = tab.permInv(y)
			} else {
				j = f.permInv(a, y)
			}
			if !yield(j, v) {
				return nil
			}
		}
	}
	return nil
}

// tablesCheaper: inverting `count` balls one AES call per round costs about
// count*rounds*20 ns; materialising the round tables costs about 1 ns a word.
func (f *iprf) tablesCheaper(count int) bool {
	return count*feistelRounds*20 > (1<<f.u+1<<f.v)*feistelRounds/2+4000
}

// feistelTables holds every round function of one block's PRP as
// fixed-size arrays indexed by masked values, so the compiler drops bounds
// checks; only the first 2^u or 2^v entries are used.
type feistelTables struct {
	domain uint32
	v      uint
	maskV  uint32
	maskH  uint32 // index mask for the arrays
	tab    [feistelRounds]*[1 << maxHalf]uint16
}

// maxHalf bounds the Feistel half width: domains up to 2^24 (Lambda*W
// <= 512 * 2^15).
const maxHalf = 12

func (f *iprf) tables(a uint32, t *feistelTables) (*feistelTables, error) {
	if t == nil {
		t = &feistelTables{}
	}
	t.domain, t.v, t.maskV, t.maskH = f.domain, f.v, f.maskV, 1<<maxHalf-1
	for r := range feistelRounds {
		size, mask := 1<<f.v, f.maskU
		if r%2 == 1 {
			size, mask = 1<<f.u, f.maskV
		}
		buf := make([]byte, 4*max(size, 4))
		if err := f.prf.fill(f.tagP, byte(r), 0, a, 0, buf); err != nil {
			return nil, err
		}
		tab := t.tab[r]
		if tab == nil {
			tab = new([1 << maxHalf]uint16)
		}
		for i := 0; i < size; i++ {
			tab[i] = uint16(binary.LittleEndian.Uint32(buf[4*i:]) & mask)
		}
		t.tab[r] = tab
	}
	return t, nil
}

func (t *feistelTables) permOnce(x uint32) uint32 {
	v, m := t.v, t.maskH
	l, r := x>>v, x&t.maskV
	l ^= uint32(t.tab[0][r&m])
	r ^= uint32(t.tab[1][l&m])
	l ^= uint32(t.tab[2][r&m])
	r ^= uint32(t.tab[3][l&m])
	l ^= uint32(t.tab[4][r&m])
	r ^= uint32(t.tab[5][l&m])
	l ^= uint32(t.tab[6][r&m])
	r ^= uint32(t.tab[7][l&m])
	l ^= uint32(t.tab[8][r&m])
	r ^= uint32(t.tab[9][l&m])
	return l<<v | r
}

func (t *feistelTables) invOnce(y uint32) uint32 {
	v, m := t.v, t.maskH
	l, r := y>>v, y&t.maskV
	r ^= uint32(t.tab[9][l&m])
	l ^= uint32(t.tab[8][r&m])
	r ^= uint32(t.tab[7][l&m])
	l ^= uint32(t.tab[6][r&m])
	r ^= uint32(t.tab[5][l&m])
	l ^= uint32(t.tab[4][r&m])
	r ^= uint32(t.tab[3][l&m])
	l ^= uint32(t.tab[2][r&m])
	r ^= uint32(t.tab[1][l&m])
	l ^= uint32(t.tab[0][r&m])
	return l<<v | r
}

func (t *feistelTables) perm(x uint32) uint32 {
	y := t.permOnce(x)
	for y >= t.domain {
		y = t.permOnce(y)
	}
	return y
}

func (t *feistelTables) permInv(y uint32) uint32 {
	x := t.invOnce(y)
	for x >= t.domain {
		x = t.invOnce(x)
	}
	return x
}

// prepare samples block a's whole tree (one keystream request per level)
// and tabulates ball -> bin, so that fill is a table PRP plus a lookup.
func (f *iprf) prepare(a uint32) (filler, error) {
	tab, err := f.tables(a, f.bulk)
	if err != nil {
		return nil, err
	}
	f.bulk = tab
	counts := []uint32{f.domain}
	var buf []byte
	for l := 0; l < f.levels; l++ {
		buf = append(buf[:0], make([]byte, 16*len(counts))...)
		if err := f.prf.fill(f.tagS, byte(l), 0, a, 0, buf); err != nil {
			return nil, err
		}
		next := make([]uint32, 2*len(counts))
		for t, n := range counts {
			lo := binary.LittleEndian.Uint64(buf[16*t:])
			hi := binary.LittleEndian.Uint64(buf[16*t+8:])
			left := f.splitWith(a, l, uint32(t), n, lo, hi)
			next[2*t], next[2*t+1] = left, n-left
		}
		counts = next
	}
	return newBinIndex(tab, counts), nil
}

// iprfFiller maps ball -> bin without a D-entry table (which would not fit
// in cache): coarse[y/64] is the bin of ball 64*(y/64), and bit y of starts
// is set when ball y opens a new bin, so bin(y) = coarse + popcount of the
// starts in (64*(y/64), y]. Blocks with an empty bin fall back to a full
// table (regular hints: probability about 2W*e^-64 per block).
type iprfFiller struct {
	tab    *feistelTables
	coarse []uint16
	starts []uint64
	binOf  []uint16
}

func newBinIndex(tab *feistelTables, counts []uint32) *iprfFiller {
	g := &iprfFiller{tab: tab}
	d := int(tab.domain)
	empty := false
	for _, n := range counts {
		empty = empty || n == 0
	}
	if empty || d < 1<<12 {
		g.binOf = make([]uint16, d)
		pos := 0
		for v, n := range counts {
			s := g.binOf[pos : pos+int(n)]
			for i := range s {
				s[i] = uint16(v)
			}
			pos += int(n)
		}
		return g
	}
	g.coarse = make([]uint16, (d+63)/64)
	g.starts = make([]uint64, (d+63)/64)
	pos := 0
	for v, n := range counts {
		if v > 0 {
			g.starts[pos/64] |= 1 << (pos % 64)
		}
		pos += int(n)
	}
	bin := uint16(0)
	for i := range g.coarse {
		if i > 0 {
			bin += uint16(bits.OnesCount64(g.starts[i-1]) - int(g.starts[i-1]&1))
			bin += uint16(g.starts[i] & 1)
		}
		g.coarse[i] = bin
	}
	return g
}

func (g *iprfFiller) fill(lo uint32, dst []uint16) error {
	if g.binOf != nil {
		for i := range dst {
			dst[i] = g.binOf[g.tab.perm(lo+uint32(i))]
		}
		return nil
	}
	coarse, starts := g.coarse, g.starts
	t := g.tab
	i := 0
	// Four independent walks per iteration keep the table loads overlapped.
	for ; i+4 <= len(dst); i += 4 {
		x := lo + uint32(i)
		y0, y1, y2, y3 := t.permOnce(x), t.permOnce(x+1), t.permOnce(x+2), t.permOnce(x+3)
		for y0 >= t.domain {
			y0 = t.permOnce(y0)
		}
		for y1 >= t.domain {
			y1 = t.permOnce(y1)
		}
		for y2 >= t.domain {
			y2 = t.permOnce(y2)
		}
		for y3 >= t.domain {
			y3 = t.permOnce(y3)
		}
		d := dst[i : i+4 : i+4]
		d[0] = coarse[y0/64] + uint16(bits.OnesCount64(starts[y0/64]&(2<<(y0%64)-1)&^1))
		d[1] = coarse[y1/64] + uint16(bits.OnesCount64(starts[y1/64]&(2<<(y1%64)-1)&^1))
		d[2] = coarse[y2/64] + uint16(bits.OnesCount64(starts[y2/64]&(2<<(y2%64)-1)&^1))
		d[3] = coarse[y3/64] + uint16(bits.OnesCount64(starts[y3/64]&(2<<(y3%64)-1)&^1))
	}
	for ; i < len(dst); i++ {
		y := t.perm(lo + uint32(i))
		dst[i] = coarse[y/64] + uint16(bits.OnesCount64(starts[y/64]&(2<<(y%64)-1)&^1))
	}
	return nil
}

// binomialHalf samples Binomial(n, 1/2) exactly from PRF output: n <= 128
// counts the ones among n pseudorandom bits; larger n uses Hormann's BTRS
// rejection sampler (transformed rejection with squeeze, 1993), an exact
// method whose acceptance test uses log-gamma, drawing a fresh AES block
// (attempt it) per rejected try.
func binomialHalf(n uint32, lo, hi uint64, more func(it uint16) (uint64, uint64)) uint32 {
	switch {
	case n == 0:
		return 0
	case n <= 64:
		return uint32(bits.OnesCount64(lo & lowMask(n)))
	case n <= 128:
		return uint32(bits.OnesCount64(lo) + bits.OnesCount64(hi&lowMask(n-64)))
	}
	nf := float64(n)
	spq := math.Sqrt(nf * 0.25)
	b := 1.15 + 2.53*spq
	a := -0.0873 + 0.0248*b + 0.01*0.5
	c := nf*0.5 + 0.5
	vr := 0.92 - 4.2/b
	var alpha, h, m float64
	setup := false
	for it := 0; it < math.MaxUint16; it++ {
		if it > 0 {
			lo, hi = more(uint16(it))
		}
		u := unit(lo) - 0.5
		v := unit(hi)
		us := 0.5 - math.Abs(u)
		if us == 0 {
			continue
		}
		kf := math.Floor((2*a/us+b)*u + c)
		if kf < 0 || kf > nf {
			continue
		}
		if us >= 0.07 && v <= vr {
			return uint32(kf)
		}
		if !setup {
			alpha = (2.83 + 5.1/b) * spq
			m = math.Floor((nf + 1) * 0.5)
			h = lgamma(m+1) + lgamma(nf-m+1)
			setup = true
		}
		if math.Log(v*alpha/(a/(us*us)+b)) <= h-lgamma(kf+1)-lgamma(nf-kf+1) {
			return uint32(kf)
		}
	}
	return n / 2 // unreachable in practice: 65535 rejections in a row
}

func lowMask(n uint32) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

func unit(x uint64) float64 { return float64(x>>11) * (1.0 / (1 << 53)) }

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}
