package sealed

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/plinko-pir/plinko/runtime/client"
)

// Sealed encodings (little-endian). Both start with
//
//	magic "PLKOSEAL" | version u8 | kind u8
//
// A state (kind 1) goes on with
//
//	| key source u8 | kdf u8 | argon2 time u32 | argon2 memory KiB u32
//	| argon2 threads u8 | salt [16] | state id [16]
//	| wrapped data key length u16 | wrapped data key
//	| nonce [24] | XChaCha20-Poly1305(data key, state)
//
// The wrapped data key's associated data is the header up to the state id;
// the state's is everything before its nonce. A journal record (kind 2) is
//
//	| state id [16] | seq u32 | nonce [24] | XChaCha20-Poly1305(data key, record)
//
// under its state's data key, with everything before the nonce as
// associated data. The kind byte keeps a state and a record apart; the id
// and seq bind a record to its state and its place.
const (
	magic       = "PLKOSEAL"
	version     = 1
	kindState   = 1
	kindJournal = 2

	idSize      = 16
	saltSize    = 16
	dataKeySize = chacha20poly1305.KeySize
	nonceSize   = chacha20poly1305.NonceSizeX
	tagSize     = chacha20poly1305.Overhead

	prefixSize   = len(magic) + 2
	statePrefix  = prefixSize + 2 + 4 + 4 + 1 + saltSize + idSize // through the state id
	journalFixed = prefixSize + idSize + 4 + nonceSize

	// maxWrapped bounds a wrapped data key (a nonce, the key and a tag of
	// any AEAD used to wrap it fit easily).
	maxWrapped = 256
)

// kdf values.
const (
	kdfNone     = 0
	kdfArgon2id = 1
)

// Bounds on argon2id parameters read from a header, so that a damaged or
// hostile header cannot make the client allocate gigabytes or spin.
const (
	maxArgonTime    = 64
	maxArgonMemory  = 1 << 20 // KiB: 1 GiB
	maxArgonThreads = 64
)

// Source says which kind of key sealed a state. It is stored in the clear
// so that a failure to open can say which key is needed.
type Source byte

// Key sources.
const (
	SourceKeyring    Source = 1 // a random key in the OS keyring
	SourceKeyFile    Source = 2 // a random key in a file next to the state
	SourcePassphrase Source = 3 // argon2id of a passphrase
	SourceBrowser    Source = 4 // a non-extractable WebCrypto key in IndexedDB
)

func (s Source) String() string {
	switch s {
	case SourceKeyring:
		return "a key in the OS keyring"
	case SourceKeyFile:
		return "a key file"
	case SourcePassphrase:
		return "a passphrase"
	case SourceBrowser:
		return "the browser's stored key"
	}
	return fmt.Sprintf("key source %d", byte(s))
}

// KDF is how a passphrase became the key-encrypting key: argon2id with these
// parameters and salt. The zero KDF means a random key, used as it is.
type KDF struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
	Salt      [saltSize]byte
}

// stateHeader is a sealed state's header.
type stateHeader struct {
	Source  Source
	KDF     KDF
	ID      [idSize]byte
	Wrapped []byte
}

// prefix encodes the header up to the state id: the wrapped data key's
// associated data.
func (h *stateHeader) prefix() []byte {
	b := make([]byte, 0, statePrefix)
	b = append(b, magic...)
	b = append(b, version, kindState, byte(h.Source))
	if h.KDF == (KDF{}) {
		b = append(b, kdfNone)
	} else {
		b = append(b, kdfArgon2id)
	}
	b = binary.LittleEndian.AppendUint32(b, h.KDF.Time)
	b = binary.LittleEndian.AppendUint32(b, h.KDF.MemoryKiB)
	b = append(b, h.KDF.Threads)
	b = append(b, h.KDF.Salt[:]...)
	return append(b, h.ID[:]...)
}

// head encodes the whole header before the nonce.
func (h *stateHeader) head() []byte {
	b := h.prefix()
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.Wrapped)))
	return append(b, h.Wrapped...)
}

// sealState encodes a sealed state; nonce is fresh and random.
func sealState(h *stateHeader, dk, nonce, state []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(dk)
	if err != nil {
		return nil, err
	}
	head := h.head()
	out := make([]byte, 0, len(head)+nonceSize+len(state)+tagSize)
	out = append(append(out, head...), nonce...)
	return aead.Seal(out, nonce, state, head), nil
}

// parsedState is a sealed state split into its parts (nothing opened yet).
type parsedState struct {
	stateHeader
	wrapAAD, aad, nonce, ct []byte
}

// corrupt is the error for anything malformed: the client discards such
// state (and builds fresh hints under a fresh key).
func corrupt(what string, args ...any) error {
	return fmt.Errorf("sealed client state: %s: %w", fmt.Sprintf(what, args...), client.ErrCorruptState)
}

// isSealed reports whether b starts like a sealed blob of this package.
func isSealed(b []byte) bool { return len(b) >= len(magic) && string(b[:len(magic)]) == magic }

// parseState splits a sealed state; malformed input is an error wrapping
// client.ErrCorruptState, never a panic.
func parseState(b []byte) (*parsedState, error) {
	if err := checkPrefix(b, kindState); err != nil {
		return nil, err
	}
	if len(b) < statePrefix+2 {
		return nil, corrupt("header too short")
	}
	p := &parsedState{}
	p.Source = Source(b[prefixSize])
	kdf := b[prefixSize+1]
	q := b[prefixSize+2:]
	p.KDF.Time = binary.LittleEndian.Uint32(q)
	p.KDF.MemoryKiB = binary.LittleEndian.Uint32(q[4:])
	p.KDF.Threads = q[8]
	copy(p.KDF.Salt[:], q[9:9+saltSize])
	copy(p.ID[:], q[9+saltSize:])
	if err := checkKDF(p.Source, kdf, p.KDF); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint16(b[statePrefix:]))
	if n == 0 || n > maxWrapped {
		return nil, corrupt("wrapped key length %d", n)
	}
	headLen := statePrefix + 2 + n
	if len(b) < headLen+nonceSize+tagSize {
		return nil, corrupt("too short")
	}
	p.Wrapped = b[statePrefix+2 : headLen]
	p.wrapAAD = b[:statePrefix]
	p.aad = b[:headLen]
	p.nonce = b[headLen : headLen+nonceSize]
	p.ct = b[headLen+nonceSize:]
	return p, nil
}

// checkKDF accepts argon2id exactly for passphrases, within bounds.
func checkKDF(src Source, kdf byte, k KDF) error {
	switch {
	case src < SourceKeyring || src > SourceBrowser:
		return corrupt("unknown key source %d", byte(src))
	case kdf == kdfNone && src != SourcePassphrase:
		if k != (KDF{}) {
			return corrupt("kdf parameters without a kdf")
		}
		return nil
	case kdf == kdfArgon2id && src == SourcePassphrase:
		if k.Time < 1 || k.Time > maxArgonTime || k.MemoryKiB < 8*uint32(max(k.Threads, 1)) ||
			k.MemoryKiB > maxArgonMemory || k.Threads < 1 || k.Threads > maxArgonThreads {
			return corrupt("argon2id parameters out of range")
		}
		return nil
	}
	return corrupt("kdf %d does not fit %s", kdf, src)
}

func checkPrefix(b []byte, kind byte) error {
	if len(b) < prefixSize || !isSealed(b) {
		return corrupt("not sealed (bad magic)")
	}
	if b[len(magic)] != version {
		return corrupt("version %d, want %d", b[len(magic)], version)
	}
	if b[len(magic)+1] != kind {
		return corrupt("kind %d where %d was due", b[len(magic)+1], kind)
	}
	return nil
}

// journalAAD encodes a record's header before its nonce.
func journalAAD(id [idSize]byte, seq uint32) []byte {
	b := make([]byte, 0, journalFixed)
	b = append(b, magic...)
	b = append(b, version, kindJournal)
	b = append(b, id[:]...)
	return binary.LittleEndian.AppendUint32(b, seq)
}

// sealJournal encodes a sealed journal record.
func sealJournal(id [idSize]byte, seq uint32, dk, nonce, rec []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(dk)
	if err != nil {
		return nil, err
	}
	aad := journalAAD(id, seq)
	out := make([]byte, 0, journalFixed+len(rec)+tagSize)
	out = append(append(out, aad...), nonce...)
	return aead.Seal(out, nonce, rec, aad), nil
}

// parsedRecord is a sealed journal record split into its parts.
type parsedRecord struct {
	id             [idSize]byte
	seq            uint32
	aad, nonce, ct []byte
}

// parseJournal splits a sealed record; malformed input is an error wrapping
// client.ErrCorruptState, never a panic.
func parseJournal(b []byte) (*parsedRecord, error) {
	if err := checkPrefix(b, kindJournal); err != nil {
		return nil, err
	}
	if len(b) < journalFixed+tagSize {
		return nil, corrupt("journal record too short")
	}
	r := &parsedRecord{}
	copy(r.id[:], b[prefixSize:])
	r.seq = binary.LittleEndian.Uint32(b[prefixSize+idSize:])
	r.aad = b[:prefixSize+idSize+4]
	r.nonce = b[prefixSize+idSize+4 : journalFixed]
	r.ct = b[journalFixed:]
	return r, nil
}

// open decrypts ct under dk; a failure means tampering or damage.
func open(dk, nonce, ct, aad []byte, what string) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(dk)
	if err != nil {
		return nil, corrupt("%s: %v", what, err)
	}
	pt, err := aead.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, corrupt("%s fails authentication", what)
	}
	return pt, nil
}
