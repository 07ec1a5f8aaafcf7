package plinko

import (
	"encoding/binary"
	"errors"
)

// ErrTampered: a check query's answer disagrees with the parities the
// client computed from the snapshot, so the server altered at least one
// answer of the batch. Nothing from the batch was kept.
var ErrTampered = errors.New("plinko: an answer disagrees with the snapshot: the server altered it")

// ChecksPerBatch is the number of check queries Batch adds to a lookup.
const ChecksPerBatch = 1

// Check hints catch a lying server. Check hint i is a partition of the
// blocks into two sets with one offset per block, from its own AES-PRF
// stream (tagScanChk): F(a, i) < W puts block a in set l at offset F, else
// in set r at offset F - W. There are Q/3 of them. HintInit computes both sets' parities, deltas
// keep them current, and a check query sends the two sets (in a random
// order) and compares both answers. To the server it is a query like any
// other: a uniform mask and uniform offsets. It consumes no regular or
// backup hint and needs no replacement, and building it costs C AES blocks
// (the iPRF's row costs ten times that). Each check hint is used once.

// initChecks folds block a into the check hints' parities.
func (c *Client) initChecks(a uint32, blk []uint64, vals []uint16) error {
	return c.initSides(c.chk, a, blk, vals[:c.p.checkHints()], c.cl, c.cr)
}

// checkHints is the number of check hints: a lookup (three queries and a
// check) uses them at a third of the rate it uses backups, so both run out
// together; fewer would cost a refresh, more would cost every update
// (each delta scans the check hints of its block).
func (p Params) checkHints() int { return max(1, p.Q/3) }

// checkQuery builds a query from the next check hint.
func (c *Client) checkQuery() *Query {
	p := c.p
	i := uint32(c.checks)
	c.checks++
	c.logCheck(i)
	pd := &pending{gen: c.gen, check: true, hint: i, realSet1: c.rng.Uint64()&1 == 1}
	q := &Query{Epoch: c.epoch, Mask: make([]byte, (p.C+7)/8), Offsets: make([]uint32, p.C), logW: p.LogW, pend: pd}
	w := uint32(p.W)
	for a := 0; a < p.C; a++ {
		v := c.chk.eval(uint32(a), i)
		inL := v < w
		q.Offsets[a] = v & (w - 1)
		if inL == pd.realSet1 {
			q.Mask[a>>3] |= 1 << (a & 7)
		}
	}
	return q
}

// verify compares both answers of every check query with its parities:
// set l is the answer's R1 when realSet1, else R0.
func (c *Client) verify(qs []*Query, as []*Answer) error {
	for i, q := range qs {
		pd := q.pend
		if !pd.check {
			continue
		}
		rl, rr := as[i].R0, as[i].R1
		if pd.realSet1 {
			rl, rr = rr, rl
		}
		l := c.cl[int(pd.hint)*c.words:][:c.words]
		r := c.cr[int(pd.hint)*c.words:][:c.words]
		var diff uint64
		for k := range l {
			diff |= (l[k] ^ binary.LittleEndian.Uint64(rl[8*k:])) | (r[k] ^ binary.LittleEndian.Uint64(rr[8*k:]))
		}
		if diff != 0 {
			return ErrTampered
		}
	}
	return nil
}
