package keyword

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/holiman/uint256"
)

// Table is a keyword table: TableSize entries of EntrySize bytes, the
// database itself. It is not safe for concurrent use.
type Table struct {
	p       Params
	entries []byte

	// scratch reused by insert's breadth-first search.
	nodes   []searchNode
	visited map[uint64]struct{}
}

type searchNode struct {
	pos    uint64
	parent int // index into nodes, -1 for a root
}

// NewTable returns an empty table.
func NewTable(p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Table{p: p, entries: make([]byte, p.TableSize*EntrySize)}, nil
}

// TableFromBytes wraps existing entries (not copied) as a table.
func TableFromBytes(p Params, entries []byte) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if uint64(len(entries)) != p.TableSize*EntrySize {
		return nil, fmt.Errorf("keyword: table has %d bytes, want %d entries of %d", len(entries), p.TableSize, EntrySize)
	}
	return &Table{p: p, entries: entries}, nil
}

// Params returns the table's parameters.
func (t *Table) Params() Params { return t.p }

// Bytes returns the entries (shared, not copied).
func (t *Table) Bytes() []byte { return t.entries }

// Entry returns the entry at pos (shared, not copied).
func (t *Table) Entry(pos uint64) []byte { return t.entries[pos*EntrySize : (pos+1)*EntrySize] }

func (t *Table) tagAt(pos uint64) Tag {
	return Tag(t.entries[pos*EntrySize : pos*EntrySize+TagSize])
}

// Occupied counts the non-empty entries (a full scan).
func (t *Table) Occupied() uint64 {
	var n uint64
	for pos := uint64(0); pos < t.p.TableSize; pos++ {
		if !t.tagAt(pos).IsZero() {
			n++
		}
	}
	return n
}

// Find returns the position holding tag, if any.
func (t *Table) Find(tag Tag) (uint64, bool) {
	for _, pos := range t.p.Positions(tag) {
		if t.tagAt(pos) == tag {
			return pos, true
		}
	}
	return 0, false
}

// Balance returns the balance in wei stored at pos.
func (t *Table) Balance(pos uint64) uint256.Int {
	return balanceOf(t.entries[pos*EntrySize+TagSize:])
}

// SetBalance overwrites the balance stored at pos, keeping its tag; a
// balance wider than BalanceBits is ErrBalanceTooLarge and changes nothing.
func (t *Table) SetBalance(pos uint64, wei *uint256.Int) error {
	if !FitsBalance(wei) {
		return fmt.Errorf("%w: %s wei", ErrBalanceTooLarge, wei.Dec())
	}
	putBalance(t.entries[pos*EntrySize+TagSize:], wei)
	return nil
}

// Insert places a new tag with its balance and returns every position whose
// content changed (the new entry's and those of the entries it moved), in the
// order they were written: changed[0] was empty before, and each changed[i]
// (i >= 1) held before what changed[i-1] holds now, so a caller can recover
// the previous contents (the updater's xor records) without a copy. Placement is deterministic: the first empty
// candidate position in order 0, 1, 2; otherwise the shortest eviction path
// found by a breadth-first search that visits candidates in position order.
// On error the table is unchanged.
func (t *Table) Insert(tag Tag, wei *uint256.Int) ([]uint64, error) {
	if tag.IsZero() {
		return nil, fmt.Errorf("keyword: tag 0 marks an empty entry")
	}
	cand := t.p.Positions(tag)
	for _, pos := range cand {
		if t.tagAt(pos) == tag {
			return nil, ErrTagExists
		}
	}
	entry, err := EncodeEntry(tag, wei)
	if err != nil {
		return nil, err
	}
	for _, pos := range cand {
		if t.tagAt(pos).IsZero() {
			copy(t.Entry(pos), entry[:])
			return []uint64{pos}, nil
		}
	}
	if t.visited == nil {
		t.visited = make(map[uint64]struct{})
	}
	clear(t.visited)
	t.nodes = t.nodes[:0]
	for _, pos := range cand {
		t.nodes = append(t.nodes, searchNode{pos: pos, parent: -1})
		t.visited[pos] = struct{}{}
	}
	for head := 0; head < len(t.nodes) && len(t.nodes) < maxSearch; head++ {
		node := t.nodes[head]
		for _, alt := range t.p.Positions(t.tagAt(node.pos)) {
			if alt == node.pos {
				continue
			}
			if t.tagAt(alt).IsZero() {
				return t.shift(head, alt, entry), nil
			}
			if _, seen := t.visited[alt]; !seen {
				t.visited[alt] = struct{}{}
				t.nodes = append(t.nodes, searchNode{pos: alt, parent: head})
			}
		}
	}
	return nil, ErrTableFull
}

// shift moves every entry along the path ending at nodes[last] one step
// towards the empty position free, then writes entry at the path's root.
func (t *Table) shift(last int, free uint64, entry [EntrySize]byte) []uint64 {
	changed := []uint64{free}
	dst := free
	for i := last; i >= 0; i = t.nodes[i].parent {
		src := t.nodes[i].pos
		copy(t.Entry(dst), t.Entry(src))
		changed = append(changed, src)
		dst = src
	}
	copy(t.Entry(dst), entry[:])
	return changed
}

// Account is one account trie key with its balance in wei.
type Account struct {
	Key     Key
	Balance uint256.Int
}

// Build places accounts into a new table. Accounts with a zero balance are
// not stored (a missing account reads as 0); a balance wider than
// BalanceBits is ErrBalanceTooLarge. Placement order is fixed: by tag
// ascending, then Insert's rule, so the same accounts and parameters always
// give the same table whatever order they came in.
func Build(p Params, accounts []Account) (*Table, error) {
	t, err := NewTable(p)
	if err != nil {
		return nil, err
	}
	type tagged struct {
		tag Tag
		a   *Account
	}
	items := make([]tagged, 0, len(accounts))
	for i := range accounts {
		a := &accounts[i]
		if a.Balance.IsZero() {
			continue
		}
		if !FitsBalance(&a.Balance) {
			return nil, fmt.Errorf("%w: account with trie key %x holds %s wei", ErrBalanceTooLarge, a.Key, a.Balance.Dec())
		}
		items = append(items, tagged{TagOf(p.Seed, a.Key), a})
	}
	slices.SortFunc(items, func(a, b tagged) int {
		if c := bytes.Compare(a.tag[:], b.tag[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.a.Key[:], b.a.Key[:])
	})
	for i, it := range items {
		if i > 0 && items[i-1].tag == it.tag {
			if items[i-1].a.Key == it.a.Key {
				return nil, fmt.Errorf("%w: trie key %x", ErrDuplicateAddress, it.a.Key)
			}
			return nil, ErrTagCollision
		}
		if _, err := t.Insert(it.tag, &it.a.Balance); err != nil {
			return nil, fmt.Errorf("keyword: placing account %d of %d: %w", i+1, len(items), err)
		}
	}
	return t, nil
}
