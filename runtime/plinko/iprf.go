package plinko

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"sync"
)

// iprf is the invertible PRF of the Plinko paper (Section 4):
// F(a, j) = S_a(P_a(j)), where P_a is a small-domain PRP on [domain] and
// S_a is a pseudorandom multinomial sampler throwing the domain's balls
// into 2W bins along a binary tree, each node splitting its balls with an
// exact Binomial(n, 1/2) sample derandomised by the AES PRF of the node.
//
// P_a is an alternating Feistel network (as in NIST FF1, radix 2) on
// ceil(log2 domain) bits, cycle-walking into [domain], with regularRounds
// rounds for the regular hints and backupRounds for the backup hints,
// whose domain (q, 4096 by default) is far below NIST's 10^6 (what is and
// is not proven about it at these domain sizes, why the backups get more
// rounds, and the measured cost of the provable alternative in
// swapornot.go, is in PRP.md). Round r's function at z is 32-bit word
// r*stride+z of block a's PRP stream (stride = 2^max(u,v)), so one
// keystream request yields every round table of a block. Node t of tree
// level l draws its randomness from block 2^l-1+t (heap order) of the
// sampler stream of attempt 0 (later attempts of a rejected binomial use
// the stream of attempt i).
//
// Forward: P, then walk down the tree by ball position. Inverse of bin v:
// walk down by the bits of v to the bin's contiguous ball range, then P^-1
// of each ball. Per block the client keeps (in memory, derived from the key,
// not in the saved state) the round tables, the top cacheLevels levels of
// the tree and, for the lower half, the maxDeep levels below them, when
// they fit in cacheBudget (about 47 MiB at n = 2^23, both instances); then
// an evaluation is a few table lookups (plus binomials below the kept
// levels, if any).
//
// Hint generation (prepareMembers, invert) runs the other way round: a
// block's members are exactly the balls of its lower W bins, in order, so
// it inverts only those balls, eight at a time with the round tables
// packed for registers, and knows each ball's bin from the walk.
type iprf struct {
	prf          *prf
	tagP, tagS   byte
	domain       uint32
	u, v         uint // Feistel half widths: high u bits, low v bits
	rounds       int  // regularRounds or backupRounds
	maskU, maskV uint32
	stride       uint32
	levels       int // tree depth: log2(2W)
	w            uint32
	cacheLevels  int
	deepLevels   int           // levels below cacheLevels kept for the lower half
	deepLen      int           // per block: deepRecord uint16s per lower-half cached node
	cache        []*blockCache // nil when over budget
	bulk         *packedRounds // hint generation's tables, reused per block
	// tabs holds the cached blocks' round tables in one allocation (block
	// a at a*tabStride, round r at roundOff[r] within it), so that a row
	// reaches a table entry with one load instead of first loading the
	// block's slice headers (another cache miss per round and block).
	tabs      []uint16
	tabStride int
	roundOff  [maxRounds]int
	// rootLefts[a] is block a's number of member balls (its cached
	// starts' middle entry), in a small array that stays in cache: a row
	// tests every block's membership and would otherwise miss on each.
	rootLefts []uint32
}

const (
	// regularRounds and backupRounds are the Feistel round counts of the
	// two instances, multiples of roundGroup (the bulk inverse's unrolled
	// unit). The backups' 2^12 domain gets twice the rounds: no bound
	// covers either count, but Patarin's generic full-codebook attacks on
	// an r-round random Feistel with n-bit halves cost about 2^((r-4)n),
	// for the backups' 6-bit halves 2^36 at 10 rounds and 2^96 at 20, for
	// about +0.5% HintInit at n = 2^23 (PRP.md, section 5).
	regularRounds = 10
	backupRounds  = 20
	maxRounds     = backupRounds
	roundGroup    = 10
	cacheBudget   = 64 << 20 // bytes of derived per-block tables per iPRF
	maxCacheLevel = 11
	// maxDeep levels below the cached ones keep, for the lower half of
	// the tree only (the regular hints' members, the only balls a regular
	// query or update walks), each node's left count, so that at n = 2^23
	// a walk needs no binomial: query about 0.28 -> 0.21 ms for 16 MiB more
	// memory. HintInit fills them all for free; after LoadClient a walk
	// keeps the counts it computes, so a loaded client starts at the old
	// speed and speeds up as its records fill (building them all at load
	// would cost 0.33 s, 2.3 s in WebAssembly, before the first lookup).
	maxDeep = 3
	// deepRecord: the 1+2+4 left counts below one cached node (heap
	// order) and a bit mask of those set share 16 bytes, so a walk reads
	// them with one cache miss.
	deepRecord = 8
)

// The bulk inverse unrolls exactly roundGroup = 10 rounds, and both round
// counts must be whole groups (a compile error otherwise: a negative
// constant does not convert to uint).
const _ = uint(roundGroup-10) + uint(10-roundGroup) +
	uint(-(regularRounds % roundGroup)) + uint(-(backupRounds % roundGroup))

// recordFull is the last slot of a deep record whose counts are all set
// (bit i: slot i holds its count).
func (f *iprf) recordFull() uint16 { return 1<<(1<<f.deepLevels-1) - 1 }

// blockCache is what one block's evaluations reuse.
type blockCache struct {
	tab [][]uint16 // round r's table (len f.rounds), within f.tabs
	// starts[t] is the first ball of node t of tree level cacheLevels
	// (len 2^cacheLevels + 1). Nodes are nearly balanced, so the node of a
	// ball is found from a proportional guess in a step or two.
	starts []uint32
	// deep holds the left counts of the lower-half nodes of the deepLevels
	// levels below cacheLevels: for node t of level cacheLevels+d, at
	// deepRecord*(t>>d) + 2^d-1 + t mod 2^d (the record of its ancestor at
	// level cacheLevels, whose last slot says which counts are set).
	deep []uint16
}

func newIPRF(p Params, pr *prf, backup bool, domain uint32) *iprf {
	k := uint(max(2, bits.Len32(domain-1)))
	f := &iprf{prf: pr, tagP: tagPRPReg, tagS: tagSampReg, domain: domain,
		u: k / 2, v: k - k/2, rounds: regularRounds, levels: p.LogW + 1, w: uint32(p.W)}
	if backup {
		f.tagP, f.tagS, f.rounds = tagPRPBak, tagSampBak, backupRounds
	}
	f.maskU, f.maskV = 1<<f.u-1, 1<<f.v-1
	f.stride = 1 << max(f.u, f.v)
	// Cache down to nodes of about 128 balls: below that a split is a
	// popcount of one AES block.
	f.cacheLevels = max(1, min(f.levels, maxCacheLevel, bits.Len32(domain)-7))
	f.deepLevels = min(maxDeep, f.levels-f.cacheLevels)
	if f.deepLevels > 0 {
		f.deepLen = deepRecord << (f.cacheLevels - 1)
	}
	per := f.rounds/2*2*(1<<f.u+1<<f.v) + 4*(1<<f.cacheLevels) + 2*f.deepLen + 64
	if p.C*per <= cacheBudget {
		f.cache = make([]*blockCache, p.C)
	}
	for r := range f.rounds {
		f.roundOff[r] = f.tabStride
		if r%2 == 0 {
			f.tabStride += 1 << f.v
		} else {
			f.tabStride += 1 << f.u
		}
	}
	return f
}

// blockCacheFor returns block a's cache, building it on first use (one
// keystream request for the round tables, one for the cached tree levels),
// or nil when caching is off or the keystream failed (the uncached path
// computes the same values with single AES calls).
func (f *iprf) blockCacheFor(a uint32) *blockCache {
	if f.cache == nil || int(a) >= len(f.cache) {
		return nil
	}
	if bc := f.cache[a]; bc != nil {
		return bc
	}
	raw, err := f.roundWords(a)
	if err != nil {
		return nil
	}
	ts, err := f.sampleTree(a, f.cacheLevels, false)
	if err != nil {
		return nil
	}
	bc := f.newBlockCache(a, raw, ts)
	f.cache[a] = bc
	return bc
}

// newBlockCache builds block a's cache from its round words and its
// sampled tree.
func (f *iprf) newBlockCache(a uint32, raw []byte, ts treeSample) *blockCache {
	if f.tabs == nil {
		f.tabs = make([]uint16, len(f.cache)*f.tabStride)
		f.rootLefts = make([]uint32, len(f.cache))
	}
	bc := &blockCache{tab: make([][]uint16, f.rounds), starts: prefixStarts(ts.cached), deep: ts.deep}
	if bc.deep == nil && f.deepLevels > 0 {
		bc.deep = make([]uint16, f.deepLen) // filled as walks need it
	}
	f.rootLefts[a] = bc.starts[len(bc.starts)/2]
	for r := range f.rounds {
		size, mask := 1<<f.v, f.maskU
		if r%2 == 1 {
			size, mask = 1<<f.u, f.maskV
		}
		off := int(a)*f.tabStride + f.roundOff[r]
		t := f.tabs[off : off+size : off+size]
		for i := range t {
			t[i] = uint16(binary.LittleEndian.Uint32(raw[4*(uint32(r)*f.stride+uint32(i)):]) & mask)
		}
		bc.tab[r] = t
	}
	return bc
}

// roundWords fetches every round table of block a in one request.
func (f *iprf) roundWords(a uint32) ([]byte, error) {
	raw := make([]byte, 4*f.rounds*int(f.stride))
	if err := f.prf.fill(f.tagP, 0, 0, a, 0, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// treeSample is what sampleTree returns.
type treeSample struct {
	counts []uint32 // ball counts of the nodes below the last level
	cached []uint32 // ball counts of the nodes of level cacheLevels
	deep   []uint16 // see blockCache.deep; nil unless sampled that deep
}

// sampleTree samples the top depth levels of block a's tree in one
// keystream request (heap order: node t of level l draws block 2^l-1+t).
// With lower, the levels at and below cacheLevels are sampled only in the
// lower half of the tree (the hints' members), and the counts of the upper
// half are left zero.
func (f *iprf) sampleTree(a uint32, depth int, lower bool) (treeSample, error) {
	var ts treeSample
	nodes := 1<<depth - 1
	if lower && depth > f.cacheLevels {
		nodes = 1<<(depth-1) - 1 + 1<<(depth-2) // up to the last level's lower half
	}
	buf := make([]byte, 16*nodes)
	if err := f.prf.fill(f.tagS, 0, 0, a, 0, buf); err != nil {
		return ts, err
	}
	if depth >= f.cacheLevels+f.deepLevels && f.deepLevels > 0 {
		ts.deep = make([]uint16, f.deepLen)
	}
	counts := make([]uint32, 1, 1<<depth)
	counts[0] = f.domain
	next := make([]uint32, 0, 1<<depth)
	for l := 0; l < depth; l++ {
		if l == f.cacheLevels {
			ts.cached = slices.Clone(counts)
		}
		width := len(counts)
		if lower && l >= f.cacheLevels {
			width /= 2
		}
		next = next[:2*len(counts)]
		clear(next)
		d := l - f.cacheLevels
		for t, n := range counts[:width] {
			h := 1<<l - 1 + t
			lo := binary.LittleEndian.Uint64(buf[16*h:])
			hi := binary.LittleEndian.Uint64(buf[16*h+8:])
			s := f.splitWith(a, l, uint32(t), n, lo, hi)
			next[2*t], next[2*t+1] = s, n-s
			if ts.deep != nil && d >= 0 && d < f.deepLevels && t < 1<<(l-1) {
				if s > math.MaxUint16 {
					ts.deep = nil
				} else {
					ts.deep[deepRecord*(t>>d)+1<<d-1+t&(1<<d-1)] = uint16(s)
				}
			}
		}
		counts, next = next, counts
	}
	if depth == f.cacheLevels {
		ts.cached = counts
	}
	for i := deepRecord - 1; ts.deep != nil && i < len(ts.deep); i += deepRecord {
		ts.deep[i] = f.recordFull()
	}
	ts.counts = counts
	return ts, nil
}

func prefixStarts(counts []uint32) []uint32 {
	st := make([]uint32, len(counts)+1)
	for i, n := range counts {
		st[i+1] = st[i] + n
	}
	return st
}

// locate finds the cached-level node holding ball y.
func (f *iprf) locate(bc *blockCache, y uint32) (t, start, n uint32) {
	st := bc.starts
	nodes := uint32(len(st) - 1)
	t = uint32(uint64(y) * uint64(nodes) / uint64(f.domain))
	for t > 0 && st[t] > y {
		t--
	}
	for t+1 < nodes && st[t+1] <= y {
		t++
	}
	return t, st[t], st[t+1] - st[t]
}

// rf is Feistel round r's function at z, one AES block per call.
func (f *iprf) rf(a uint32, r int, z uint32) uint32 {
	idx := uint32(r)*f.stride + z
	lo, hi := f.prf.block(f.tagP, 0, 0, a, uint64(idx/4))
	w := lo
	if idx%4 >= 2 {
		w = hi
	}
	return uint32(w >> (32 * (idx % 2)))
}

// permOnce and invOnce are one pass of the Feistel and its inverse
// (rounds come in pairs: 2k xors F_2k(r) into l, 2k+1 F_2k+1(l) into r).
func (f *iprf) permOnce(a, x uint32, bc *blockCache) uint32 {
	l, r := x>>f.v, x&f.maskV
	if bc != nil {
		tab := bc.tab
		for i := 0; i+1 < len(tab); i += 2 {
			l ^= uint32(tab[i][r])
			r ^= uint32(tab[i+1][l])
		}
		return l<<f.v | r
	}
	for i := 0; i < f.rounds; i += 2 {
		l ^= f.rf(a, i, r) & f.maskU
		r ^= f.rf(a, i+1, l) & f.maskV
	}
	return l<<f.v | r
}

func (f *iprf) invOnce(a, y uint32, bc *blockCache) uint32 {
	l, r := y>>f.v, y&f.maskV
	if bc != nil {
		tab := bc.tab
		for i := len(tab) - 2; i >= 0; i -= 2 {
			r ^= uint32(tab[i+1][l])
			l ^= uint32(tab[i][r])
		}
		return l<<f.v | r
	}
	for i := f.rounds - 2; i >= 0; i -= 2 {
		r ^= f.rf(a, i+1, l) & f.maskV
		l ^= f.rf(a, i, r) & f.maskU
	}
	return l<<f.v | r
}

// perm and permInv cycle-walk: the cycle through x returns to [domain].
func (f *iprf) perm(a, x uint32, bc *blockCache) uint32 {
	y := f.permOnce(a, x, bc)
	for y >= f.domain {
		y = f.permOnce(a, y, bc)
	}
	return y
}

func (f *iprf) permInv(a, y uint32, bc *blockCache) uint32 {
	x := f.invOnce(a, y, bc)
	for x >= f.domain {
		x = f.invOnce(a, x, bc)
	}
	return x
}

// split returns the left count of node t at level l holding n balls.
func (f *iprf) split(a uint32, l int, t uint32, n uint32) uint32 {
	lo, hi := f.prf.block(f.tagS, 0, 0, a, uint64(1<<l-1+t))
	return f.splitWith(a, l, t, n, lo, hi)
}

func (f *iprf) splitWith(a uint32, l int, t uint32, n uint32, lo, hi uint64) uint32 {
	return binomialHalf(n, lo, hi, func(it uint16) (uint64, uint64) {
		return f.prf.block(f.tagS, 0, it, a, uint64(1<<l-1+t))
	})
}

// leftCount is split, from the block's deep records when they hold the
// node; a count computed here is kept there for the next walk.
func (f *iprf) leftCount(a uint32, bc *blockCache, l int, t, n uint32) uint32 {
	d := l - f.cacheLevels
	if bc == nil || bc.deep == nil || d < 0 || d >= f.deepLevels || t >= 1<<(l-1) {
		return f.split(a, l, t, n)
	}
	rec := bc.deep[deepRecord*int(t>>d):][:deepRecord]
	slot := 1<<d - 1 + int(t&(1<<d-1))
	if rec[deepRecord-1]>>slot&1 != 0 {
		return uint32(rec[slot])
	}
	s := f.split(a, l, t, n)
	if s <= math.MaxUint16 {
		rec[slot] = uint16(s)
		rec[deepRecord-1] |= 1 << slot
	}
	return s
}

// fillRecord computes the whole deep record of lower-half cached node
// root: the left counts of its subtree's top deepLevels levels.
func (f *iprf) fillRecord(a uint32, bc *blockCache, root uint32, rec []uint16) {
	var ns, next [1 << maxDeep]uint32
	ns[0] = bc.starts[root+1] - bc.starts[root]
	for d := range f.deepLevels {
		for k := range uint32(1) << d {
			s := f.leftCount(a, bc, f.cacheLevels+d, root<<d+k, ns[k])
			next[2*k], next[2*k+1] = s, ns[k]-s
		}
		ns = next
	}
}

// fillDeep fills every deep record now (as HintInit leaves them).
func (f *iprf) fillDeep() {
	for a, bc := range f.cache {
		if bc == nil || bc.deep == nil {
			continue
		}
		for root := 0; root < len(bc.deep)/deepRecord; root++ {
			f.fillRecord(uint32(a), bc, uint32(root), bc.deep[deepRecord*root:][:deepRecord])
		}
	}
}

// walk descends from level `from` (node t, ball range [start, start+n))
// to the bin holding ball y.
func (f *iprf) walk(a uint32, bc *blockCache, from int, t, start, n, y uint32) uint32 {
	for l := from; l < f.levels; l++ {
		t, start, n = f.step(a, bc, l, t, start, n, y)
	}
	return t
}

// step moves ball y from node t of level l (balls [start, start+n)) to
// its child.
func (f *iprf) step(a uint32, bc *blockCache, l int, t, start, n, y uint32) (uint32, uint32, uint32) {
	left := f.leftCount(a, bc, l, t, n)
	if y-start < left {
		return 2 * t, start, left
	}
	return 2*t + 1, start + left, n - left
}

func (f *iprf) eval(a, j uint32) uint32 {
	bc := f.blockCacheFor(a)
	return f.bin(a, f.perm(a, j, bc), bc)
}

// bin walks ball y down to its bin.
func (f *iprf) bin(a, y uint32, bc *blockCache) uint32 {
	if bc == nil {
		return f.walk(a, nil, 0, 0, 0, f.domain, y)
	}
	t, start, n := f.locate(bc, y)
	return f.walk(a, bc, f.cacheLevels, t, start, n, y)
}

// rootLeft is the number of balls in the lower half of the bins.
func (f *iprf) rootLeft(a uint32, bc *blockCache) uint32 {
	if bc != nil {
		return bc.starts[len(bc.starts)/2]
	}
	return f.split(a, 0, 0, f.domain)
}

func (f *iprf) half(a, j uint32, upper bool) (uint32, bool) {
	bc := f.blockCacheFor(a)
	y := f.perm(a, j, bc)
	if (y >= f.rootLeft(a, bc)) != upper {
		return 0, false
	}
	return f.bin(a, y, bc) & (f.w - 1), true
}

// row evaluates hint j in every block at once (offs[a], ok[a] as half
// would return them): the PRPs of rowLanes blocks are interleaved so that
// their table lookups, which miss the cache, overlap.
// rowLanes is how many blocks' lookups are in flight at once (32 measured
// faster than 16).
const rowLanes = 32

func (f *iprf) row(j uint32, upper bool, offs []uint32, ok []bool) {
	c := len(offs)
	var l, r [rowLanes]uint32
	var bcs [rowLanes]*blockCache
	for a0 := 0; a0 < c; a0 += rowLanes {
		n := min(rowLanes, c-a0)
		cached := true
		for i := 0; i < n; i++ {
			bcs[i] = f.blockCacheFor(uint32(a0 + i))
			cached = cached && bcs[i] != nil
			l[i], r[i] = j>>f.v, j&f.maskV
		}
		if !cached || n < rowLanes {
			for i := 0; i < n; i++ {
				offs[a0+i], ok[a0+i] = f.half(uint32(a0+i), j, upper)
			}
			continue
		}
		tabs := f.tabs[a0*f.tabStride:]
		for round := 0; round < f.rounds; round += 2 {
			even, odd := tabs[f.roundOff[round]:], tabs[f.roundOff[round+1]:]
			for i := range rowLanes {
				l[i] ^= uint32(even[i*f.tabStride+int(r[i])])
			}
			for i := range rowLanes {
				r[i] ^= uint32(odd[i*f.tabStride+int(l[i])])
			}
		}
		// Locate every lane's cached tree node first, then walk the levels
		// below lane by lane within a level: the loads of different lanes
		// (cached nodes, deep counts) are independent and overlap.
		var ys, ts, ss, ns [rowLanes]uint32
		for i := range rowLanes {
			a := uint32(a0 + i)
			y := l[i]<<f.v | r[i]
			for y >= f.domain {
				y = f.permOnce(a, y, bcs[i])
			}
			ys[i] = y
			ok[a0+i] = (y >= f.rootLefts[a]) == upper
			if ok[a0+i] {
				ts[i], ss[i], ns[i] = f.locate(bcs[i], y)
			}
		}
		for lv := f.cacheLevels; lv < f.levels; lv++ {
			for i := range rowLanes {
				if ok[a0+i] {
					ts[i], ss[i], ns[i] = f.step(uint32(a0+i), bcs[i], lv, ts[i], ss[i], ns[i], ys[i])
				}
			}
		}
		for i := range rowLanes {
			offs[a0+i] = 0
			if ok[a0+i] {
				offs[a0+i] = ts[i] & (f.w - 1)
			}
		}
	}
}

// ballRange returns the contiguous ball positions of bin v.
func (f *iprf) ballRange(a, v uint32, bc *blockCache) (start, n uint32) {
	n = f.domain
	t := uint32(0)
	from := 0
	if bc != nil {
		from = f.cacheLevels
		t = v >> (f.levels - from)
		start, n = bc.starts[t], bc.starts[t+1]-bc.starts[t]
	}
	for l := from; l < f.levels; l++ {
		left := f.leftCount(a, bc, l, t, n)
		if v>>(f.levels-1-l)&1 == 0 {
			n, t = left, 2*t
		} else {
			start, n, t = start+left, n-left, 2*t+1
		}
	}
	return start, n
}

func (f *iprf) preimages(a uint32, vs []uint32, yield func(j, v uint32) bool) error {
	bc := f.blockCacheFor(a)
	for _, v := range vs {
		start, n := f.ballRange(a, v, bc)
		for y := start; y < start+n; y++ {
			if !yield(f.permInv(a, y, bc), v) {
				return nil
			}
		}
	}
	return nil
}

// packedRounds is the bulk form of one block's PRP, laid out so that a
// Feistel state is one register, s = l<<20 | r (u, v <= maxHalf = 12),
// and every table index is a shift or a constant mask: no bounds checks,
// and eight evaluations fit in registers at once. Group g[k] holds rounds
// roundGroup*k .. roundGroup*(k+1)-1 (one group for the regular hints, two
// for the backups). The groups are separate allocations: a group pointer
// loaded from g is opaque to the compiler, which then reaches every table
// at a constant offset from it instead of keeping (and spilling) one
// pointer per table.
type packedRounds struct {
	g []*packedGroup
}

// packedGroup is roundGroup consecutive rounds: its round 2k xors
// even[k][r]<<20 into s, round 2k+1 xors odd[k][l]; only the first 2^v
// (even) or 2^u (odd) entries of each table are used.
type packedGroup struct {
	even [roundGroup / 2][1 << maxHalf]uint32
	odd  [roundGroup / 2][1 << maxHalf]uint16
}

// maxHalf bounds the Feistel half width: domains up to 2^24 (Lambda*W
// <= 512 * 2^15).
const (
	maxHalf  = 12
	halfMask = 1<<maxHalf - 1
)

func (f *iprf) packTables(raw []byte) *packedRounds {
	t := f.bulk
	if t == nil {
		t = &packedRounds{g: make([]*packedGroup, f.rounds/roundGroup)}
		for k := range t.g {
			t.g[k] = new(packedGroup)
		}
		f.bulk = t
	}
	for r := range f.rounds {
		word := func(i int) uint32 { return binary.LittleEndian.Uint32(raw[4*(uint32(r)*f.stride+uint32(i)):]) }
		g, k := t.g[r/roundGroup], r%roundGroup/2
		if r%2 == 0 {
			for i := range 1 << f.v {
				g.even[k][i] = (word(i) & f.maskU) << 20
			}
		} else {
			for i := range 1 << f.u {
				g.odd[k][i] = uint16(word(i) & f.maskV)
			}
		}
	}
	return t
}

// invPacked runs every round backwards on one packed state.
func (t *packedRounds) invPacked(s uint32) uint32 {
	for k := len(t.g) - 1; k >= 0; k-- {
		s = t.g[k].invPacked(s)
	}
	return s
}

// invPacked runs the group's rounds backwards on one packed state.
func (t *packedGroup) invPacked(s uint32) uint32 {
	s ^= uint32(t.odd[4][s>>20])
	s ^= t.even[4][s&halfMask]
	s ^= uint32(t.odd[3][s>>20])
	s ^= t.even[3][s&halfMask]
	s ^= uint32(t.odd[2][s>>20])
	s ^= t.even[2][s&halfMask]
	s ^= uint32(t.odd[1][s>>20])
	s ^= t.even[1][s&halfMask]
	s ^= uint32(t.odd[0][s>>20])
	return s ^ t.even[0][s&halfMask]
}

// oddRound4 and evenRound4 apply one round to four lanes (inlined).
func oddRound4(t *[1 << maxHalf]uint16, a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	return a ^ uint32(t[a>>20]), b ^ uint32(t[b>>20]), c ^ uint32(t[c>>20]), d ^ uint32(t[d>>20])
}

func evenRound4(t *[1 << maxHalf]uint32, a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	return a ^ t[a&halfMask], b ^ t[b&halfMask], c ^ t[c&halfMask], d ^ t[d&halfMask]
}

// prepare samples block a's whole tree and fetches its round tables (one
// keystream request each). The filler inverts the PRP in bulk and walks
// the balls in order, so that no ball -> bin search is needed. It is valid
// until the next prepare or prepareMembers.
func (f *iprf) prepare(a uint32) (filler, error) { return f.prepareBulk(a, false) }

// prepareMembers is prepare for hint generation: only the lower W bins
// (the members of the block) are sampled below the cached levels, which
// saves about a third of the binomials; the block's cache is filled on
// the way.
func (f *iprf) prepareMembers(a uint32) (*iprfFiller, error) { return f.prepareBulk(a, true) }

func (f *iprf) prepareBulk(a uint32, lower bool) (*iprfFiller, error) {
	raw, err := f.roundWords(a)
	if err != nil {
		return nil, err
	}
	ts, err := f.sampleTree(a, f.levels, lower)
	if err != nil {
		return nil, err
	}
	if f.cache != nil && int(a) < len(f.cache) && f.cache[a] == nil {
		f.cache[a] = f.newBlockCache(a, raw, ts)
	}
	counts := ts.counts
	if lower {
		counts = counts[:f.w]
	}
	return &iprfFiller{tab: f.packTables(raw), domain: f.domain, v: f.v, maskV: f.maskV,
		starts: prefixStarts(counts), pow2: f.domain == 1<<(f.u+f.v)}, nil
}

// iprfFiller is one block's bulk inverse: bin v holds the balls
// [starts[v], starts[v+1]) and ball y belongs to hint P^-1(y).
type iprfFiller struct {
	tab    *packedRounds
	domain uint32
	v      uint
	maskV  uint32
	starts []uint32 // len 2W+1 (W+1 from prepareMembers)
	pow2   bool     // domain is 2^(u+v): no cycle-walking
}

// invert sets js[i] = P^-1(lo+i), eight lanes at a time so that the
// dependent table loads of different balls overlap: the last round group
// from the balls (consecutive states), then every lower group in place.
func (g *iprfFiller) invert(lo uint32, js []uint32) {
	t, v, mv := g.tab.g[len(g.tab.g)-1], g.v&31, g.maskV
	i := 0
	for ; i+8 <= len(js); i += 8 {
		y := lo + uint32(i)
		if y&mv+7 > mv { // the eight balls do not share their high half
			for k := range uint32(8) {
				js[i+int(k)] = t.invPacked((y+k)>>v<<20 | (y+k)&mv)
			}
			continue
		}
		// Eight consecutive balls with the same high half pack to
		// consecutive states.
		a := (y>>v)<<20 | y&mv
		b, c, d, e, f, g, h := a+1, a+2, a+3, a+4, a+5, a+6, a+7
		// Unrolled: constant table offsets, no loop counter to spill.
		a, b, c, d = oddRound4(&t.odd[4], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[4], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[4], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[4], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[3], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[3], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[3], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[3], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[2], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[2], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[2], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[2], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[1], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[1], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[1], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[1], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[0], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[0], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[0], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[0], e, f, g, h)
		o := js[i : i+8 : i+8]
		o[0], o[1], o[2], o[3] = a, b, c, d
		o[4], o[5], o[6], o[7] = e, f, g, h
	}
	for ; i < len(js); i++ {
		y := lo + uint32(i)
		js[i] = t.invPacked((y>>v)<<20 | y&mv)
	}
	for k := len(g.tab.g) - 2; k >= 0; k-- {
		g.tab.g[k].invInPlace(js)
	}
	for i, s := range js {
		js[i] = (s>>20)<<v | s&halfMask
	}
	if g.pow2 {
		return
	}
	// Cycle-walk the values that left the domain.
	for i, x := range js {
		for x >= g.domain {
			s := g.tab.invPacked((x>>v)<<20 | x&mv)
			x = (s>>20)<<v | s&halfMask
		}
		js[i] = x
	}
}

// invInPlace runs the group's rounds backwards on every packed state of
// js, eight lanes at a time (as invert, from states in memory).
func (t *packedGroup) invInPlace(js []uint32) {
	i := 0
	for ; i+8 <= len(js); i += 8 {
		o := js[i : i+8 : i+8]
		a, b, c, d := o[0], o[1], o[2], o[3]
		e, f, g, h := o[4], o[5], o[6], o[7]
		a, b, c, d = oddRound4(&t.odd[4], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[4], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[4], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[4], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[3], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[3], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[3], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[3], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[2], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[2], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[2], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[2], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[1], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[1], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[1], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[1], e, f, g, h)
		a, b, c, d = oddRound4(&t.odd[0], a, b, c, d)
		e, f, g, h = oddRound4(&t.odd[0], e, f, g, h)
		a, b, c, d = evenRound4(&t.even[0], a, b, c, d)
		e, f, g, h = evenRound4(&t.even[0], e, f, g, h)
		o[0], o[1], o[2], o[3] = a, b, c, d
		o[4], o[5], o[6], o[7] = e, f, g, h
	}
	for ; i < len(js); i++ {
		js[i] = t.invPacked(js[i])
	}
}

// fill scatters every ball's bin to its hint: one inversion per hint and
// no ball -> bin search. Concurrent calls are safe (their own scratch).
func (g *iprfFiller) fill(lo uint32, dst []uint16) error {
	all := dst
	if lo != 0 || len(dst) != int(g.domain) {
		all = make([]uint16, g.domain)
	}
	js := make([]uint32, min(g.domain, 1024))
	v := uint32(0)
	for y0 := uint32(0); y0 < g.domain; y0 += uint32(len(js)) {
		run := js[:min(uint32(len(js)), g.domain-y0)]
		g.invert(y0, run)
		for i, j := range run {
			for g.starts[v+1] <= y0+uint32(i) {
				v++
			}
			all[j] = uint16(v)
		}
	}
	if lo != 0 || len(dst) != int(g.domain) {
		copy(dst, all[lo:])
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
	// F must be the same on every platform and toolchain that may load a
	// saved state: the float64() conversions round each product, which Go
	// may otherwise fuse with the following addition (FMA, e.g. on arm64);
	// floatDigest (in the state) catches math.Log/Lgamma differences.
	nf := float64(n)
	spq := math.Sqrt(nf * 0.25)
	b := 1.15 + float64(2.53*spq)
	a := -0.0873 + float64(0.0248*b) + 0.01*0.5
	c := float64(nf*0.5) + 0.5
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
		kf := math.Floor(float64((2*a/us+b)*u) + c)
		if kf < 0 || kf > nf {
			continue
		}
		if us >= 0.07 && v <= vr {
			return uint32(kf)
		}
		if !setup {
			alpha = (2.83 + 5.1/b) * spq
			m = math.Floor((nf + 1) * 0.5)
			h = logFact(m) + logFact(nf-m)
			setup = true
		}
		if math.Log(v*alpha/(a/(us*us)+b)) <= h-logFact(kf)-logFact(nf-kf) {
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

// logFact(k) = log(k!) = lgamma(k+1); small k from a table of the same
// math.Lgamma values, so results are bit-identical either way.
func logFact(k float64) float64 {
	if k >= 0 && k < logFactSize {
		logFactOnce.Do(func() {
			for i := range logFactTab {
				logFactTab[i], _ = math.Lgamma(float64(i) + 1)
			}
		})
		return logFactTab[int(k)]
	}
	v, _ := math.Lgamma(k + 1)
	return v
}

const logFactSize = 1 << 12

var (
	logFactOnce sync.Once
	logFactTab  [logFactSize]float64
)
