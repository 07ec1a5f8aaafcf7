package updater

import (
	"bytes"
	"slices"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
)

// txn records the previous content of every entry it changes, so that one
// epoch's changes become xor records and a failed epoch rolls back.
type txn struct {
	t        *keyword.Table
	orig     map[uint64][keyword.EntrySize]byte
	inserted uint64 // new entries (the table's occupancy grows by this)
}

func newTxn(t *keyword.Table) *txn {
	return &txn{t: t, orig: make(map[uint64][keyword.EntrySize]byte)}
}

func (x *txn) remember(pos uint64, was []byte) {
	if _, ok := x.orig[pos]; !ok {
		var e [keyword.EntrySize]byte
		copy(e[:], was)
		x.orig[pos] = e
	}
}

func (x *txn) setBalance(pos uint64, wei *uint256.Int) error {
	x.remember(pos, x.t.Entry(pos))
	return x.t.SetBalance(pos, wei)
}

func (x *txn) xor(pos uint64, v []byte) {
	x.remember(pos, x.t.Entry(pos))
	e := x.t.Entry(pos)
	for i := range e {
		e[i] ^= v[i]
	}
}

// insert adds a new entry; see keyword.Table.Insert for where the moved
// entries' previous contents are.
func (x *txn) insert(tag keyword.Tag, wei *uint256.Int) error {
	changed, err := x.t.Insert(tag, wei)
	if err != nil {
		return err
	}
	x.inserted++
	var empty [keyword.EntrySize]byte
	for i, pos := range changed {
		if i == 0 {
			x.remember(pos, empty[:])
		} else {
			x.remember(pos, x.t.Entry(changed[i-1]))
		}
	}
	return nil
}

// records returns the xor of previous and current content of every changed
// entry, ascending by index, leaving out entries that ended unchanged.
func (x *txn) records() []dataset.Record {
	idx := make([]uint64, 0, len(x.orig))
	for pos := range x.orig {
		idx = append(idx, pos)
	}
	slices.Sort(idx)
	out := make([]dataset.Record, 0, len(idx))
	for _, pos := range idx {
		was := x.orig[pos]
		now := x.t.Entry(pos)
		if bytes.Equal(was[:], now) {
			continue
		}
		v := make([]byte, keyword.EntrySize)
		for i := range v {
			v[i] = was[i] ^ now[i]
		}
		out = append(out, dataset.Record{Index: pos, XOR: v})
	}
	return out
}

// rollback restores every changed entry.
func (x *txn) rollback() {
	for pos, was := range x.orig {
		copy(x.t.Entry(pos), was[:])
	}
	clear(x.orig)
	x.inserted = 0
}
