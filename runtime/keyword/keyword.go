// Package keyword maps an Ethereum account to table positions so that a
// wallet can find its balance from its address alone: 3-way cuckoo hashing
// over a table of m entries, each `tag (12 bytes) || balance (96-bit wei)`,
// both little-endian, keyed by the account trie key keccak256(address). See
// README.md for the design note.
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

	"github.com/holiman/uint256"
	"golang.org/x/crypto/sha3"
)

const (
	// Scheme names this construction in manifests; a client refuses others.
	// v2: tags of the trie key, 96-bit tags and exact wei (v1 was address
	// tags of 64 bits and gwei).
	Scheme = "cuckoo3-sha256-v2"
	// Ways is the number of candidate positions per address; a lookup
	// always queries all of them, found or not.
	Ways = 3
	// TagSize and BalanceSize split an entry: tag || balance.
	TagSize     = 12
	BalanceSize = 12
	// BalanceBits is the widest balance an entry holds, in wei: 2^96 wei is
	// about 7.9e10 ETH, 600 times all ETH that exists.
	BalanceBits = 8 * BalanceSize
	// EntrySize is the size of one table entry: tag || balance.
	EntrySize = TagSize + BalanceSize
	// SeedSize is the size of the public table seed.
	SeedSize = 32
	// KeySize is the size of an account trie key.
	KeySize = 32
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
	// ErrTagExists means the tag is already in the table: either the account
	// is already present or another account shares its 96-bit tag.
	ErrTagExists = errors.New("keyword: tag already present in table")
	// ErrTagCollision means two different accounts of one build share a tag;
	// db-gen retries with another seed.
	ErrTagCollision = errors.New("keyword: two addresses share a tag; choose another seed")
	// ErrDuplicateAddress means an account (trie key) was given twice to Build.
	ErrDuplicateAddress = errors.New("keyword: duplicate account")
	// ErrBalanceTooLarge means a balance does not fit the entry's
	// BalanceBits; it is refused, never truncated.
	ErrBalanceTooLarge = fmt.Errorf("keyword: balance does not fit %d bits of wei", BalanceBits)
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

// Key is an account trie key: keccak256(address), the order in which the
// state trie (and debug_accountRange) lists accounts.
type Key [KeySize]byte

// KeyOf returns the trie key of an address.
func KeyOf(addr [20]byte) Key {
	var k Key
	h := sha3.NewLegacyKeccak256()
	h.Write(addr[:])
	h.Sum(k[:0])
	return k
}

// Tag is the 96-bit keyed hash that identifies an account in its entry;
// all zero marks an empty entry and is never produced.
type Tag [TagSize]byte

// IsZero reports whether t is the empty marker.
func (t Tag) IsZero() bool { return t == Tag{} }

// TagOf is the first 12 bytes of SHA-256("plinko-keyword-v2" || seed ||
// trie key), with all zero (the empty marker) mapped to 1.
func TagOf(seed [SeedSize]byte, key Key) Tag {
	var buf [17 + SeedSize + KeySize]byte
	copy(buf[:], "plinko-keyword-v2")
	copy(buf[17:], seed[:])
	copy(buf[17+SeedSize:], key[:])
	sum := sha256.Sum256(buf[:])
	var t Tag
	copy(t[:], sum[:TagSize])
	if t.IsZero() {
		t[0] = 1
	}
	return t
}

// Positions returns the Ways candidate positions of a tag. The table is split
// into Ways equal parts and position i lies in part i, so the positions are
// always distinct. They depend on the tag only (its low 64 bits), so entries
// can be moved without knowing their accounts.
func (p Params) Positions(tag Tag) [Ways]uint64 {
	part := p.TableSize / Ways
	lo := binary.LittleEndian.Uint64(tag[:8])
	var pos [Ways]uint64
	for i := range pos {
		h := mix(lo + uint64(i+1)*0x9e3779b97f4a7c15)
		hi, _ := bits.Mul64(h, part) // unbiased-enough reduction into [0, part)
		pos[i] = uint64(i)*part + hi
	}
	return pos
}

// Locate returns an address's tag and its candidate positions.
func (p Params) Locate(addr [20]byte) (Tag, [Ways]uint64) {
	return p.LocateKey(KeyOf(addr))
}

// LocateKey returns a trie key's tag and its candidate positions.
func (p Params) LocateKey(key Key) (Tag, [Ways]uint64) {
	t := TagOf(p.Seed, key)
	return t, p.Positions(t)
}

// mix is the splitmix64 finalizer: a bijection that spreads every tag bit.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// FitsBalance reports whether wei fits an entry.
func FitsBalance(wei *uint256.Int) bool { return wei.BitLen() <= BalanceBits }

// putBalance writes the low 96 bits of wei, little-endian.
func putBalance(dst []byte, wei *uint256.Int) {
	binary.LittleEndian.PutUint64(dst[:8], wei[0])
	binary.LittleEndian.PutUint32(dst[8:12], uint32(wei[1]))
}

// balanceOf reads a 96-bit little-endian balance.
func balanceOf(src []byte) uint256.Int {
	return uint256.Int{binary.LittleEndian.Uint64(src[:8]), uint64(binary.LittleEndian.Uint32(src[8:12])), 0, 0}
}

// EncodeEntry lays out one entry; a balance wider than BalanceBits is
// ErrBalanceTooLarge.
func EncodeEntry(tag Tag, wei *uint256.Int) ([EntrySize]byte, error) {
	var e [EntrySize]byte
	if !FitsBalance(wei) {
		return e, fmt.Errorf("%w: %s wei", ErrBalanceTooLarge, wei.Dec())
	}
	copy(e[:TagSize], tag[:])
	putBalance(e[TagSize:], wei)
	return e, nil
}

// DecodeEntry splits one entry (at least EntrySize bytes) into tag and
// balance in wei.
func DecodeEntry(e []byte) (Tag, uint256.Int) {
	return Tag(e[:TagSize]), balanceOf(e[TagSize:EntrySize])
}

// Match finds the balance of tag among the entries read at its Ways
// positions. found is false when no entry carries the tag: the account has
// no entry (it held nothing when the table was built), which reads as 0.
func Match(tag Tag, entries [Ways][]byte) (wei uint256.Int, found bool) {
	for _, e := range entries {
		if len(e) < EntrySize {
			continue
		}
		if t, b := DecodeEntry(e); t == tag && !tag.IsZero() {
			return b, true
		}
	}
	return uint256.Int{}, false
}
