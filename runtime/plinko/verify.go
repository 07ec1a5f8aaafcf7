package plinko

import (
	"errors"
	"fmt"
	"sort"
)

// ErrTampered: a check query's answer disagrees with the value the client
// read from the snapshot, so the server altered at least one answer of the
// batch. Nothing from the batch was kept.
var ErrTampered = errors.New("plinko: an answer disagrees with the snapshot: the server altered it")

// KnownPairs is how many (index, value) pairs HintInit keeps from the
// snapshot it streams, for check queries.
const KnownPairs = 32

// ChecksPerBatch is the number of check queries Batch adds to a lookup.
const ChecksPerBatch = 1

// knownPair is an entry read from the snapshot, kept current by deltas.
type knownPair struct {
	x uint64
	v []uint64
}

// pickKnown draws the known indices (distinct, uniform) before HintInit
// streams the snapshot; captureKnown fills their values block by block.
func (c *Client) pickKnown() {
	n := min(uint64(KnownPairs), c.p.N)
	seen := map[uint64]bool{}
	c.known = c.known[:0]
	for uint64(len(c.known)) < n {
		x := c.rq.Uint64N(c.p.N)
		if !seen[x] {
			seen[x] = true
			c.known = append(c.known, knownPair{x: x, v: make([]uint64, c.words)})
		}
	}
	sort.Slice(c.known, func(i, j int) bool { return c.known[i].x < c.known[j].x })
}

func (c *Client) captureKnown(a uint32, blk []uint64) {
	w := uint64(c.p.W)
	for i := range c.known {
		if k := &c.known[i]; k.x/w == uint64(a) {
			o := int(k.x%w) * c.words
			copy(k.v, blk[o:o+c.words])
		}
	}
}

// verify compares every check query's value with its known pair.
func (c *Client) verify(qs []*Query, ds [][]uint64) error {
	for i, q := range qs {
		if !q.pend.check {
			continue
		}
		want := c.knownValue(q.pend.target)
		if want == nil {
			return fmt.Errorf("plinko: check query for an index that is not a known pair")
		}
		var diff uint64
		for k := range want {
			diff |= want[k] ^ ds[i][k]
		}
		if diff != 0 {
			return ErrTampered
		}
	}
	return nil
}

// Batch is the queries of one lookup, in the order to send them: one per
// index asked for and ChecksPerBatch checks, built and sent in a random
// order so that the server cannot tell which is which.
type Batch struct {
	Queries []*Query
	slot    []int // slot[i]: the position in Queries of the query for index i
}

// Batch builds the queries for indices plus the checks. Each query draws
// its hint from the pool the earlier ones left, their replacements
// included, so the batch is reconstructed as a whole (ReconstructBatch).
func (c *Client) Batch(indices []uint64) (*Batch, error) {
	if err := c.canQuery(indices, ChecksPerBatch); err != nil {
		return nil, err
	}
	n := len(indices) + ChecksPerBatch
	order := c.rq.Perm(n) // order[k]: which request the k-th query serves
	b := &Batch{Queries: make([]*Query, n), slot: make([]int, len(indices))}
	c.open = map[uint32]*pending{}
	defer func() { c.open = nil }()
	for k, r := range order {
		var err error
		if r < len(indices) {
			b.Queries[k], err = c.query(indices[r], false)
			b.slot[r] = k
		} else {
			b.Queries[k], err = c.query(0, true)
		}
		if err != nil {
			// The queries built so far are abandoned: their hints stay
			// used, their replacements owed (Owed).
			return nil, err
		}
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
