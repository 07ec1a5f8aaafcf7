package client

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// savedState is what the Store keeps: the manifest the hints were built
// from, the epoch they are at, and the plinko client (keys, hints, cache).
type savedState struct {
	Manifest  []byte // manifest.json as published (parsed again on load)
	Epoch     uint64
	Block     uint64
	BlockHash [32]byte
	Hints     []byte // plinko.Client.MarshalBinary
}

// State encoding, little-endian:
//
//	magic "PLKOCLST" | version u32 | epoch u64 | block u64 | block hash [32]
//	| manifest length u32 | manifest | hints length u64 | hints | sha256 of all before [32]
const (
	stateMagic   = "PLKOCLST"
	stateVersion = 1
	// maxManifestSize bounds a manifest (kept in state and fetched).
	maxManifestSize = 1 << 20
)

func (s *savedState) marshal() []byte {
	n := len(stateMagic) + 4 + 8 + 8 + 32 + 4 + len(s.Manifest) + 8 + len(s.Hints) + sha256.Size
	b := make([]byte, 0, n)
	b = append(b, stateMagic...)
	b = binary.LittleEndian.AppendUint32(b, stateVersion)
	b = binary.LittleEndian.AppendUint64(b, s.Epoch)
	b = binary.LittleEndian.AppendUint64(b, s.Block)
	b = append(b, s.BlockHash[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Manifest)))
	b = append(b, s.Manifest...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s.Hints)))
	b = append(b, s.Hints...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// unmarshalState decodes and verifies a saved state. Any malformed input is
// an error wrapping ErrCorruptState; it never panics.
func unmarshalState(b []byte) (*savedState, error) {
	fail := func(what string) (*savedState, error) {
		return nil, fmt.Errorf("decoding client state: %s: %w", what, ErrCorruptState)
	}
	const fixed = len(stateMagic) + 4 + 8 + 8 + 32 + 4
	if len(b) < fixed+8+sha256.Size {
		return fail("too short")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		return fail("sha256 mismatch")
	}
	if string(body[:len(stateMagic)]) != stateMagic {
		return fail("not a client state (bad magic)")
	}
	p := body[len(stateMagic):]
	if v := binary.LittleEndian.Uint32(p); v != stateVersion {
		return fail(fmt.Sprintf("version %d, want %d", v, stateVersion))
	}
	s := &savedState{}
	s.Epoch = binary.LittleEndian.Uint64(p[4:])
	s.Block = binary.LittleEndian.Uint64(p[12:])
	copy(s.BlockHash[:], p[20:52])
	ml := uint64(binary.LittleEndian.Uint32(p[52:]))
	p = p[56:]
	if ml > maxManifestSize || ml+8 > uint64(len(p)) {
		return fail("manifest length out of range")
	}
	s.Manifest = append([]byte(nil), p[:ml]...)
	p = p[ml:]
	hl := binary.LittleEndian.Uint64(p)
	p = p[8:]
	if hl != uint64(len(p)) {
		return fail("hints length does not match")
	}
	s.Hints = append([]byte(nil), p...)
	return s, nil
}
