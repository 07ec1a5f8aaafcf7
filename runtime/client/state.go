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

	id [32]byte // stateID, set by marshal and unmarshalState
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
	s.id = stateID(sum[:], s.Hints)
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
	s := &savedState{id: stateID(sum, b[len(head)+sha256.Size:])}
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

// stateID names a saved state for the journal records that follow it: the
// header's sha256 (manifest, epoch, block) with the hints' own sha256
// trailer, so no multi-MiB hashing is needed to compute it.
func stateID(headSum, hints []byte) [32]byte {
	h := sha256.New()
	h.Write(headSum)
	if len(hints) >= sha256.Size {
		h.Write(hints[len(hints)-sha256.Size:])
	}
	return [32]byte(h.Sum(nil))
}

// journalRecord is one entry of a JournalStore: what changed after the
// state named Base (the Seq-th record after it), the position the hints
// reached, and the plinko journal record (plinko.Client.TakeJournal).
type journalRecord struct {
	Base      [32]byte
	Seq       uint32
	Epoch     uint64
	Block     uint64
	BlockHash [32]byte
	Plinko    []byte
}

// Journal record encoding, little-endian:
//
//	magic "PLKOCLJR" | version u32 | base [32] | seq u32 | epoch u64 | block u64
//	| block hash [32] | plinko record length u32 | plinko record | sha256 of all before [32]
const (
	journalMagic   = "PLKOCLJR"
	journalVersion = 1
	journalFixed   = len(journalMagic) + 4 + 32 + 4 + 8 + 8 + 32 + 4
)

func (r *journalRecord) marshal() []byte {
	b := make([]byte, 0, journalFixed+len(r.Plinko)+sha256.Size)
	b = append(b, journalMagic...)
	b = binary.LittleEndian.AppendUint32(b, journalVersion)
	b = append(b, r.Base[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.Seq)
	b = binary.LittleEndian.AppendUint64(b, r.Epoch)
	b = binary.LittleEndian.AppendUint64(b, r.Block)
	b = append(b, r.BlockHash[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Plinko)))
	b = append(b, r.Plinko...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// unmarshalJournalRecord decodes and verifies one record; any malformed
// input is an error wrapping ErrCorruptState, never a panic.
func unmarshalJournalRecord(b []byte) (*journalRecord, error) {
	fail := func(what string) (*journalRecord, error) {
		return nil, fmt.Errorf("decoding journal record: %s: %w", what, ErrCorruptState)
	}
	if len(b) < journalFixed+sha256.Size {
		return fail("too short")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		return fail("sha256 mismatch")
	}
	if string(body[:len(journalMagic)]) != journalMagic {
		return fail("bad magic")
	}
	p := body[len(journalMagic):]
	if v := binary.LittleEndian.Uint32(p); v != journalVersion {
		return fail(fmt.Sprintf("version %d, want %d", v, journalVersion))
	}
	r := &journalRecord{}
	copy(r.Base[:], p[4:36])
	r.Seq = binary.LittleEndian.Uint32(p[36:])
	r.Epoch = binary.LittleEndian.Uint64(p[40:])
	r.Block = binary.LittleEndian.Uint64(p[48:])
	copy(r.BlockHash[:], p[56:88])
	if n := binary.LittleEndian.Uint32(p[88:]); uint64(n) != uint64(len(p)-92) {
		return fail("plinko record length does not match")
	}
	r.Plinko = append([]byte(nil), p[92:]...)
	return r, nil
}
