package plinko

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// pending is the client-side half of a query.
type pending struct {
	gen      uint64
	promoted bool   // hint kind
	hint     uint32 // regular or backup id
	target   uint64 // index actually queried (a random one for a decoy)
	want     uint64 // index the caller asked for
	decoy    bool
	check    bool     // a check query (verify.go): hint is the check hint's id
	backup   uint32   // the backup reserved as this query's replacement
	after    *pending // the query of the same batch whose replacement this query's hint is
	realSet1 bool
	done     bool
}

// Query builds one query for index, on its own (Batch builds the queries
// of a lookup together, with a check). If index was answered before (it is
// in the cache), the query is a decoy for a random index, so that repeated
// lookups look like fresh ones; Reconstruct then returns the cached value.
func (c *Client) Query(index uint64) (*Query, error) {
	if err := c.canQuery([]uint64{index}, 0); err != nil {
		return nil, err
	}
	c.open = map[uint32]*pending{}
	defer func() { c.open = nil }()
	return c.query(index)
}

// canQuery checks that n indices and checks more queries can be built.
func (c *Client) canQuery(indices []uint64, checks int) error {
	for _, x := range indices {
		if x >= c.p.N {
			return fmt.Errorf("plinko: index %d outside a database of %d entries", x, c.p.N)
		}
	}
	if !c.ready {
		return ErrNoHints
	}
	// Every query reserves the backup that will replace its hint, so a
	// batch may not ask for more backups than are left.
	if c.next+len(indices)+checks > c.p.Q {
		return ErrNeedRefresh
	}
	if c.checks+checks > c.p.checkHints() {
		return fmt.Errorf("%w: check hints used up", ErrNeedRefresh)
	}
	return nil
}

// query builds one query for index. Its hint is drawn uniformly from every unused hint that covers the target:
// regular ones, promoted ones, and the replacements reserved by earlier
// queries of the batch being built (c.open), exactly the pool the scheme
// would have had if those queries had been answered first.
func (c *Client) query(index uint64) (*Query, error) {
	p := c.p
	pd := &pending{gen: c.gen, target: index, want: index}
	if c.cache[index] != nil {
		pd.decoy = true
		pd.target = c.rq.Uint64N(p.N)
	}
	a, b := uint32(pd.target/uint64(p.W)), uint32(pd.target%uint64(p.W))
	h, ok, err := c.pick(a, b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoHint
	}
	pd.promoted, pd.hint = h.promoted, h.id
	if pd.promoted {
		c.prom[pd.hint].used = true
		pd.after = c.open[pd.hint]
	} else {
		c.consumed[pd.hint] = struct{}{}
	}
	pd.backup = c.reserve(pd.target)
	c.open[pd.backup] = pd
	c.logConsume(pd.promoted, pd.hint, pd.target)

	q := &Query{Epoch: c.epoch, Mask: make([]byte, (p.C+7)/8), Offsets: make([]uint32, p.C), logW: p.LogW, pend: pd}
	pd.realSet1 = c.rng.Uint64()&1 == 1
	wm := uint64(p.W - 1)
	member := make([]bool, p.C)
	if !pd.promoted {
		c.reg.row(pd.hint, false, q.Offsets, member)
	} else {
		pr := c.prom[pd.hint]
		c.bak.row(pd.hint, pr.flip, q.Offsets, member)
		alpha := pr.x / uint64(p.W)
		q.Offsets[alpha], member[alpha] = uint32(pr.x%uint64(p.W)), true
	}
	member[a] = false // the target's block goes to the dummy side
	for i := 0; i < p.C; i++ {
		if !member[i] {
			q.Offsets[i] = uint32(c.rng.Uint64() & wm) // dummy set: fresh random offset
		}
		if member[i] == pd.realSet1 {
			q.Mask[i>>3] |= 1 << (i & 7)
		}
	}
	return q, nil
}

// hintRef names a regular or a promoted hint.
type hintRef struct {
	promoted bool
	id       uint32
}

// pick draws uniformly from every unused hint whose set holds offset b of
// block a. With the iPRF the regular ones are the balls of one bin: a ball
// is drawn uniformly from the bin and the promoted candidates together and
// drawn again while it lands on a used hint (rare: at most Q of the
// Lambda*W regular hints are ever used), which is exactly uniform over the
// unused ones and inverts about one ball instead of the whole bin.
func (c *Client) pick(a, b uint32) (hintRef, bool, error) {
	ip, ok := c.reg.(*iprf)
	if !ok {
		cands, err := c.candidates(a, b)
		if err != nil || len(cands) == 0 {
			return hintRef{}, false, err
		}
		return cands[c.rq.IntN(len(cands))], true, nil
	}
	prom, err := c.promotedCandidates(a, b)
	if err != nil {
		return hintRef{}, false, err
	}
	bc := ip.blockCacheFor(a)
	start, n := ip.ballRange(a, b, bc)
	// Give up the rejection after a while (a bin of used hints) and count.
	for range 64 {
		if int(n)+len(prom) == 0 {
			return hintRef{}, false, nil
		}
		u := c.rq.IntN(int(n) + len(prom))
		if u >= int(n) {
			return prom[u-int(n)], true, nil
		}
		j := ip.permInv(a, start+uint32(u), bc)
		if _, used := c.consumed[j]; !used {
			return hintRef{false, j}, true, nil
		}
	}
	cands, err := c.candidates(a, b)
	if err != nil || len(cands) == 0 {
		return hintRef{}, false, err
	}
	return cands[c.rq.IntN(len(cands))], true, nil
}

// candidates lists every unused hint whose set holds offset b of block a.
func (c *Client) candidates(a, b uint32) ([]hintRef, error) {
	var out []hintRef
	if err := c.reg.preimages(a, []uint32{b}, func(j, _ uint32) bool {
		if _, used := c.consumed[j]; !used {
			out = append(out, hintRef{false, j})
		}
		return true
	}); err != nil {
		return nil, err
	}
	prom, err := c.promotedCandidates(a, b)
	return append(out, prom...), err
}

// promotedCandidates lists the usable promoted hints whose set holds
// offset b of block a.
func (c *Client) promotedCandidates(a, b uint32) ([]hintRef, error) {
	var out []hintRef
	w := uint32(c.p.W)
	x := uint64(a)*uint64(w) + uint64(b)
	usable := func(j uint32) bool {
		pr := c.prom[j]
		return !pr.used && (!pr.owed || c.open[j] != nil)
	}
	// Promoted for x itself: x is the one entry of block a in the set.
	for _, j := range c.promByX[x] {
		if usable(j) {
			out = append(out, hintRef{true, j})
		}
	}
	// Promoted for another block: the backup part holds (a, b) when block
	// a lies on the side the promotion kept.
	if c.next == 0 {
		return out, nil
	}
	if err := c.bak.preimages(a, []uint32{b, b + w}, func(j, v uint32) bool {
		if int(j) >= c.next {
			return true
		}
		pr := c.prom[j]
		if pr.x/uint64(w) != uint64(a) && (v >= w) == pr.flip && usable(j) {
			out = append(out, hintRef{true, j})
		}
		return true
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// reserve assigns the next backup as the replacement of a query for x: its
// set becomes the backup set plus x if the set misses x's block, else the
// complement plus x. Its parity lacks x's value until fill.
func (c *Client) reserve(x uint64) uint32 {
	j := c.next
	c.next++
	a, w := uint32(x/uint64(c.p.W)), uint32(c.p.W)
	flip := c.bak.eval(a, uint32(j)) < w
	if flip {
		copy(c.bl[j*c.words:][:c.words], c.br[j*c.words:][:c.words])
	}
	clear(c.br[j*c.words:][:c.words])
	c.prom = append(c.prom, promoted{x: x, flip: flip, owed: true})
	c.promByX[x] = append(c.promByX[x], uint32(j))
	return uint32(j)
}

// fill completes every reserved replacement for x with x's value d.
func (c *Client) fill(x uint64, d []uint64) {
	for _, j := range c.promByX[x] {
		if pr := &c.prom[j]; pr.owed {
			xorInto(c.bl[int(j)*c.words:][:c.words], d)
			pr.owed = false
		}
	}
}

// Batch is the queries of one lookup, in the order to send them: one per
// index asked for and ChecksPerBatch checks, built and sent in a random
// order so that the server cannot tell which is which.
type Batch struct {
	Queries []*Query
	slot    []int // slot[i]: the position in Queries of the query for index i
}

// Batch builds the queries for indices (at least one) plus the checks.
// Each query draws its hint from the pool the earlier ones left, their
// replacements included, so the batch is reconstructed as a whole
// (ReconstructBatch).
func (c *Client) Batch(indices []uint64) (*Batch, error) {
	if len(indices) == 0 {
		return nil, errors.New("plinko: a batch needs at least one index")
	}
	if err := c.canQuery(indices, ChecksPerBatch); err != nil {
		return nil, err
	}
	n := len(indices) + ChecksPerBatch
	order := c.rq.Perm(n) // order[k]: which request the k-th query serves
	b := &Batch{Queries: make([]*Query, n), slot: make([]int, len(indices))}
	c.open = map[uint32]*pending{}
	defer func() { c.open = nil }()
	for k, r := range order {
		if r >= len(indices) {
			b.Queries[k] = c.checkQuery()
			continue
		}
		q, err := c.query(indices[r])
		if err != nil {
			// The queries built so far are abandoned: their hints stay
			// used, their replacements owed (Owed).
			return nil, err
		}
		b.Queries[k], b.slot[r] = q, k
	}
	return b, nil
}

// ReconstructBatch returns the values of the batch's indices, in the order
// they were asked for. It keeps nothing unless every answer is at the
// hints' epoch and every check matches: on ErrEpochAhead apply the
// missing deltas and call it again; on ErrTampered the batch is spent and
// its replacements owed.
func (c *Client) ReconstructBatch(b *Batch, as []*Answer) ([][]byte, error) {
	if b == nil {
		return nil, errors.New("plinko: ReconstructBatch needs a batch from this client")
	}
	vs, err := c.reconstruct(b.Queries, as)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(b.slot))
	for i, k := range b.slot {
		out[i] = vs[k]
	}
	return out, nil
}

// Reconstruct returns the value of the index q was built for. On
// ErrEpochAhead nothing changes: apply the missing deltas, then retry.
// A query of a batch is reconstructed with the others (ReconstructBatch).
func (c *Client) Reconstruct(q *Query, ans *Answer) ([]byte, error) {
	vs, err := c.reconstruct([]*Query{q}, []*Answer{ans})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// reconstruct is Reconstruct for queries in build order, all or nothing:
// answers are checked first (epochs, sizes, the check hints), and only
// then are replacements filled, values cached and the journal written.
func (c *Client) reconstruct(qs []*Query, as []*Answer) ([][]byte, error) {
	if len(qs) != len(as) {
		return nil, fmt.Errorf("plinko: %d answers for %d queries", len(as), len(qs))
	}
	for i, q := range qs {
		if q == nil || q.pend == nil || as[i] == nil {
			return nil, errors.New("plinko: Reconstruct needs a query from this client and its answer")
		}
		pd, ans := q.pend, as[i]
		if pd.done || pd.gen != c.gen {
			return nil, ErrQueryUsed
		}
		if len(ans.R0) != c.p.EntrySize || len(ans.R1) != c.p.EntrySize {
			return nil, fmt.Errorf("%w: answer parities of %d/%d bytes, want %d", ErrMalformed, len(ans.R0), len(ans.R1), c.p.EntrySize)
		}
	}
	for _, ans := range as {
		if ans.Epoch > c.epoch {
			return nil, fmt.Errorf("%w: answer at epoch %d, hints at %d", ErrEpochAhead, ans.Epoch, c.epoch)
		}
	}
	for _, ans := range as {
		if ans.Epoch < c.epoch {
			return nil, fmt.Errorf("%w: answer at epoch %d, hints at %d", ErrAnswerStale, ans.Epoch, c.epoch)
		}
	}
	// Values first, without changing anything: a hint that is an earlier
	// query's replacement still lacks that query's value.
	ds := make([][]uint64, len(qs))
	byPend := make(map[*pending][]uint64, len(qs))
	for i, q := range qs {
		pd := q.pend
		if pd.check {
			continue
		}
		r := as[i].R0
		if pd.realSet1 {
			r = as[i].R1
		}
		var par []uint64
		if pd.promoted {
			par = c.bl[int(pd.hint)*c.words:][:c.words]
		} else {
			par = c.parity[int(pd.hint)*c.words:][:c.words]
		}
		d := make([]uint64, c.words)
		for k := range d {
			d[k] = par[k] ^ binary.LittleEndian.Uint64(r[8*k:])
		}
		if pd.after != nil && !pd.after.done {
			v, ok := byPend[pd.after]
			if !ok {
				return nil, errors.New("plinko: reconstruct a batch's queries together, in the order Batch built them")
			}
			xorInto(d, v)
		}
		ds[i], byPend[pd] = d, d
	}
	if err := c.verify(qs, as); err != nil {
		for _, q := range qs {
			q.pend.done = true // nothing from a lying batch is kept
		}
		return nil, err
	}
	out := make([][]byte, len(qs))
	for i, q := range qs {
		pd, d := q.pend, ds[i]
		pd.done = true
		if pd.check {
			continue
		}
		c.fill(pd.target, d)
		c.cache[pd.target] = d
		c.logFill(pd.target, true, d)
		v := d
		if pd.decoy {
			v = c.cache[pd.want]
		}
		out[i] = make([]byte, c.p.EntrySize)
		for k, w := range v {
			binary.LittleEndian.PutUint64(out[i][8*k:], w)
		}
	}
	return out, nil
}

// Cached returns the entry at index when an earlier query read it; the
// cache is kept current by ApplyDelta, so a repeated lookup can be
// answered from it with no query at all.
func (c *Client) Cached(index uint64) ([]byte, bool) {
	v, ok := c.cache[index]
	if !ok {
		return nil, false
	}
	out := make([]byte, c.p.EntrySize)
	for k, w := range v {
		binary.LittleEndian.PutUint64(out[8*k:], w)
	}
	return out, true
}

// Owed lists the indices whose replacement hints still lack their value:
// queries that were sent and never reconstructed (a network error, a
// refused answer, a crash after saving). Until a query for the index
// completes them, the pool of hints is not the one the scheme assumes, so
// the caller should query these indices again (Batch) before its next
// lookup. Replacements whose value the client already knows (a cached
// index) are completed here, without a query.
func (c *Client) Owed() []uint64 {
	var out []uint64
	seen := map[uint64]bool{}
	for j := range c.prom {
		pr := c.prom[j]
		if !pr.owed || pr.used || seen[pr.x] {
			continue
		}
		seen[pr.x] = true
		if d := c.cache[pr.x]; d != nil {
			c.fill(pr.x, d)
			c.logFill(pr.x, false, d)
			continue
		}
		out = append(out, pr.x)
	}
	return out
}
