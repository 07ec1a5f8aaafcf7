// Package keyword maps an Ethereum address to table positions so that a
// wallet can find its balance from its address alone: 3-way cuckoo hashing
// over a table of m entries, each `tag (8 bytes) || balance (uint64 gwei)`,
// both little-endian. See README.md for the design note.
//
// The package is pure (no I/O, no go-ethereum) so that the WebAssembly client
// uses the same code as db-gen and the updater.
package keyword

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

const (
	// Scheme names this construction in manifests; a client refuses others.
	Scheme = "cuckoo3-sha256-v1"
	// Ways is the number of candidate positions per address; a lookup
	// always queries all of them, found or not.
	Ways = 3
	// EntrySize is the size of one table entry: tag || balance.
	EntrySize = 16
	// SeedSize is the size of the public table seed.
	SeedSize = 32
	// DefaultLoad is the load factor db-gen sizes tables for. 3-way cuckoo
	// hashing fails near 0.918; 0.85 leaves room for about 8% new accounts
	// before the table needs a new snapshot with a bigger size.
	DefaultLoad = 0.85
	// MinTableSize keeps tiny tables (tests, fresh devnets) workable.
	MinTableSize = 3 * 64
	// maxSearch bounds the breadth-first eviction search of one insert.
	maxSearch = 1 << 13
)

var (
	// ErrTableFull means an insert found no eviction path within its bound:
	// the table needs a new snapshot with a bigger size.
	ErrTableFull = errors.New("keyword: table too full to insert; build a new snapshot with a bigger table")
	// ErrTagExists means the tag is already in the table: either the address
	// is already present or another address shares its 64-bit tag.
	ErrTagExists = errors.New("keyword: tag already present in table")
	// ErrTagCollision means two different addresses of one build share a tag;
	// db-gen retries with another seed.
	ErrTagCollision = errors.New("keyword: two addresses share a tag; choose another seed")
	// ErrDuplicateAddress means an address was given twice to Build.
	ErrDuplicateAddress = errors.New("keyword: duplicate address")
)

// Params are the public keyword-table parameters published in the manifest.
type Params struct {
	Seed      [SeedSize]byte
	TableSize uint64 // m: a multiple of Ways, at least MinTableSize
}

// Validate reports whether the parameters describe a usable table.
func (p Params) Validate() error {
	if p.TableSize < MinTableSize || p.TableSize%Ways != 0 {
		return fmt.Errorf("keyword: table size %d must be a multiple of %d and at least %d", p.TableSize, Ways, MinTableSize)
	}
	if p.TableSize > math.MaxUint64/EntrySize {
		return fmt.Errorf("keyword: table size %d too large", p.TableSize)
	}
	return nil
}

// SeedHex returns the seed as lower-case hex without prefix (manifest form).
func (p Params) SeedHex() string { return hex.EncodeToString(p.Seed[:]) }

// ParseSeed decodes a 32-byte seed from hex (with or without 0x).
func ParseSeed(s string) ([SeedSize]byte, error) {
	var seed [SeedSize]byte
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != SeedSize {
		return seed, fmt.Errorf("keyword: seed must be %d bytes of hex", SeedSize)
	}
	copy(seed[:], b)
	return seed, nil
}

// TableSizeFor returns the table size for the given number of accounts at
// the given load factor (0 < load < 0.92): ceil(accounts/load) rounded up to a
// multiple of Ways, never below MinTableSize.
func TableSizeFor(accounts uint64, load float64) (uint64, error) {
	if !(load > 0 && load < 0.92) {
		return 0, fmt.Errorf("keyword: load factor %v out of (0, 0.92)", load)
	}
	m := uint64(math.Ceil(float64(accounts) / load))
	if m < MinTableSize {
		m = MinTableSize
	}
	m += (Ways - m%Ways) % Ways
	return m, nil
}

// Tag is the 8-byte keyed hash of an address: the first 8 bytes of
// SHA-256("plinko-keyword-v1" || seed || address), little-endian, with 0
// (the empty marker) mapped to 1.
func Tag(seed [SeedSize]byte, addr [20]byte) uint64 {
	var buf [17 + SeedSize + 20]byte
	copy(buf[:], "plinko-keyword-v1")
	copy(buf[17:], seed[:])
	copy(buf[17+SeedSize:], addr[:])
	sum := sha256.Sum256(buf[:])
	t := binary.LittleEndian.Uint64(sum[:8])
	if t == 0 {
		t = 1
	}
	return t
}

// Positions returns the Ways candidate positions of a tag. The table is split
// into Ways equal parts and position i lies in part i, so the positions are
// always distinct. They depend on the tag only, so entries can be moved
// without knowing their addresses.
func (p Params) Positions(tag uint64) [Ways]uint64 {
	part := p.TableSize / Ways
	var pos [Ways]uint64
	for i := range pos {
		h := mix(tag + uint64(i+1)*0x9e3779b97f4a7c15)
		hi, _ := bits.Mul64(h, part) // unbiased-enough reduction into [0, part)
		pos[i] = uint64(i)*part + hi
	}
	return pos
}

// Locate returns an address's tag and its candidate positions.
func (p Params) Locate(addr [20]byte) (uint64, [Ways]uint64) {
	t := Tag(p.Seed, addr)
	return t, p.Positions(t)
}

// mix is the splitmix64 finalizer: a bijection that spreads every tag bit.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// EncodeEntry lays out one entry.
func EncodeEntry(tag, balance uint64) [EntrySize]byte {
	var e [EntrySize]byte
	binary.LittleEndian.PutUint64(e[:8], tag)
	binary.LittleEndian.PutUint64(e[8:], balance)
	return e
}

// DecodeEntry splits one entry (at least EntrySize bytes) into tag and balance.
func DecodeEntry(e []byte) (tag, balance uint64) {
	return binary.LittleEndian.Uint64(e[:8]), binary.LittleEndian.Uint64(e[8:16])
}

// Match finds the balance of tag among the entries read at its Ways
// positions. found is false when no entry carries the tag (the address holds
// no stored balance, which reads as 0).
func Match(tag uint64, entries [Ways][]byte) (balance uint64, found bool) {
	for _, e := range entries {
		if len(e) < EntrySize {
			continue
		}
		if t, b := DecodeEntry(e); t == tag {
			return b, true
		}
	}
	return 0, false
}
