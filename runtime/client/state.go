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
//	| manifest length u32 | manifest | hints length u64
//	| sha256 of all the above [32] | hints
//
// The hints carry their own checksum (plinko.LoadClient verifies it before
// parsing), so the header's sha256 does not cover them again: hashing a
// multi-MiB state once less per save matters in the browser, where SHA-256
// is software.
const (
	stateMagic   = "PLKOCLST"
	stateVersion = 2
	// maxManifestSize bounds a manifest (kept in state and fetched).
	maxManifestSize = 1 << 20
	// stateFixed is the header size without the manifest.
	stateFixed = len(stateMagic) + 4 + 8 + 8 + 32 + 4 + 8
)

func (s *savedState) marshal() []byte {
	b := make([]byte, 0, stateFixed+len(s.Manifest)+sha256.Size+len(s.Hints))
	b = append(b, stateMagic...)
	b = binary.LittleEndian.AppendUint32(b, stateVersion)
	b = binary.LittleEndian.AppendUint64(b, s.Epoch)
	b = binary.LittleEndian.AppendUint64(b, s.Block)
	b = append(b, s.BlockHash[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Manifest)))
	b = append(b, s.Manifest...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s.Hints)))
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	return append(b, s.Hints...)
}

// unmarshalState decodes a saved state and verifies its header. Any
// malformed input is an error wrapping ErrCorruptState; it never panics.
// The hints are verified by plinko.LoadClient (see restore).
func unmarshalState(b []byte) (*savedState, error) {
	fail := func(what string) (*savedState, error) {
		return nil, fmt.Errorf("decoding client state: %s: %w", what, ErrCorruptState)
	}
	if len(b) < stateFixed+sha256.Size {
		return fail("too short")
	}
	if string(b[:len(stateMagic)]) != stateMagic {
		return fail("not a client state (bad magic)")
	}
	p := b[len(stateMagic):]
	if v := binary.LittleEndian.Uint32(p); v != stateVersion {
		return fail(fmt.Sprintf("version %d, want %d", v, stateVersion))
	}
	ml := uint64(binary.LittleEndian.Uint32(p[52:]))
	if ml > maxManifestSize || uint64(stateFixed)+ml+sha256.Size > uint64(len(b)) {
		return fail("manifest length out of range")
	}
	head := b[:stateFixed+int(ml)]
	sum := b[len(head) : len(head)+sha256.Size]
	if got := sha256.Sum256(head); string(got[:]) != string(sum) {
		return fail("sha256 mismatch")
	}
	s := &savedState{}
	s.Epoch = binary.LittleEndian.Uint64(p[4:])
	s.Block = binary.LittleEndian.Uint64(p[12:])
	copy(s.BlockHash[:], p[20:52])
	s.Manifest = append([]byte(nil), p[56:56+ml]...)
	hints := b[len(head)+sha256.Size:]
	if hl := binary.LittleEndian.Uint64(head[len(head)-8:]); hl != uint64(len(hints)) {
		return fail("hints length does not match")
	}
	s.Hints = append([]byte(nil), hints...)
	return s, nil
}
