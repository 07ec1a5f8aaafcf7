package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
)

// Delta file format (all integers little-endian):
//
//	magic        4  "PKDL"
//	version      4  uint32 = FormatVersion
//	chain id     8  EIP-155 chain id
//	epoch        8  the epoch this delta produces (previous epoch + 1)
//	block number 8  block whose state the database holds after applying
//	block hash   32
//	parent hash  32 that block's parent
//	state root   32 that block's state root
//	entry size   4  uint32
//	record count 8  at most MaxDeltaRecords
//	records         count * (index uint64, xor [entry size]byte), indices
//	                strictly ascending, xor never all zero
//	sha256       32 of every byte before it
const (
	deltaMagic      = "PKDL"
	deltaHeaderSize = 4 + 4 + 8 + 8 + 8 + 32 + 32 + 32 + 4 + 8
	// MaxDeltaRecords bounds one delta (a reorg delta merges several blocks).
	MaxDeltaRecords = 1 << 24
	// MaxEntrySize bounds the entry size a decoder accepts.
	MaxEntrySize = 1 << 10
)

// Delta moves a database from epoch-1 to epoch: entry Index is xored with XOR.
type Delta struct {
	ChainID     uint64
	Epoch       uint64
	BlockNumber uint64
	BlockHash   Hash
	ParentHash  Hash
	StateRoot   Hash
	EntrySize   int
	Records     []Record
}

// Record is one changed entry.
type Record struct {
	Index uint64
	XOR   []byte // EntrySize bytes
}

// MarshalBinary encodes the delta with its sha256 trailer. Records must be
// strictly ascending by index with non-zero xors of EntrySize bytes.
func (d *Delta) MarshalBinary() ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	buf := make([]byte, deltaHeaderSize, deltaHeaderSize+len(d.Records)*(8+d.EntrySize)+sha256.Size)
	copy(buf, deltaMagic)
	binary.LittleEndian.PutUint32(buf[4:], FormatVersion)
	binary.LittleEndian.PutUint64(buf[8:], d.ChainID)
	binary.LittleEndian.PutUint64(buf[16:], d.Epoch)
	binary.LittleEndian.PutUint64(buf[24:], d.BlockNumber)
	copy(buf[32:], d.BlockHash[:])
	copy(buf[64:], d.ParentHash[:])
	copy(buf[96:], d.StateRoot[:])
	binary.LittleEndian.PutUint32(buf[128:], uint32(d.EntrySize))
	binary.LittleEndian.PutUint64(buf[132:], uint64(len(d.Records)))
	for _, r := range d.Records {
		buf = binary.LittleEndian.AppendUint64(buf, r.Index)
		buf = append(buf, r.XOR...)
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...), nil
}

func (d *Delta) check() error {
	if d.EntrySize <= 0 || d.EntrySize > MaxEntrySize {
		return fmt.Errorf("dataset: delta entry size %d out of range", d.EntrySize)
	}
	if len(d.Records) > MaxDeltaRecords {
		return fmt.Errorf("dataset: delta has %d records, more than %d", len(d.Records), MaxDeltaRecords)
	}
	if d.Epoch == 0 {
		return fmt.Errorf("dataset: delta epoch 0")
	}
	if d.ChainID == 0 {
		return fmt.Errorf("dataset: delta names no chain id")
	}
	for i, r := range d.Records {
		if len(r.XOR) != d.EntrySize {
			return fmt.Errorf("dataset: delta record %d has %d bytes, want %d", i, len(r.XOR), d.EntrySize)
		}
		if i > 0 && d.Records[i-1].Index >= r.Index {
			return fmt.Errorf("dataset: delta records not strictly ascending at %d", i)
		}
		if allZero(r.XOR) {
			return fmt.Errorf("dataset: delta record %d xors nothing", i)
		}
	}
	return nil
}

// DecodeDelta parses and verifies a delta file. Truncated, extended or
// altered data is refused with ErrCorrupt.
func DecodeDelta(data []byte) (*Delta, error) {
	// Magic and version first: an older delta is shorter than this header.
	if len(data) < 8 || string(data[:4]) != deltaMagic {
		return nil, fmt.Errorf("%w: not a delta file", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != FormatVersion {
		return nil, versionError("delta", uint64(v))
	}
	if len(data) < deltaHeaderSize+sha256.Size {
		return nil, fmt.Errorf("%w: delta has %d bytes, shorter than its header", ErrCorrupt, len(data))
	}
	es := binary.LittleEndian.Uint32(data[128:])
	count := binary.LittleEndian.Uint64(data[132:])
	if es == 0 || es > MaxEntrySize || count > MaxDeltaRecords {
		return nil, fmt.Errorf("%w: delta entry size %d or record count %d out of range", ErrCorrupt, es, count)
	}
	hi, body := bits.Mul64(count, 8+uint64(es))
	if hi != 0 || uint64(len(data)) != deltaHeaderSize+body+sha256.Size {
		return nil, fmt.Errorf("%w: delta has %d bytes, want %d for %d records", ErrCorrupt, len(data), deltaHeaderSize+body+sha256.Size, count)
	}
	end := len(data) - sha256.Size
	if sum := sha256.Sum256(data[:end]); !bytes.Equal(sum[:], data[end:]) {
		return nil, fmt.Errorf("%w: delta sha256 mismatch", ErrCorrupt)
	}
	d := &Delta{
		ChainID:     binary.LittleEndian.Uint64(data[8:]),
		Epoch:       binary.LittleEndian.Uint64(data[16:]),
		BlockNumber: binary.LittleEndian.Uint64(data[24:]),
		EntrySize:   int(es),
		Records:     make([]Record, count),
	}
	copy(d.BlockHash[:], data[32:64])
	copy(d.ParentHash[:], data[64:96])
	copy(d.StateRoot[:], data[96:128])
	xors := bytes.Clone(data[deltaHeaderSize:end])
	off := 0
	for i := range d.Records {
		d.Records[i].Index = binary.LittleEndian.Uint64(xors[off:])
		d.Records[i].XOR = xors[off+8 : off+8+int(es)]
		off += 8 + int(es)
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return d, nil
}

// Apply xors the delta into db (n*EntrySize bytes). It checks every index
// first, so a delta that does not fit changes nothing.
func (d *Delta) Apply(db []byte) error {
	n := uint64(len(db)) / uint64(d.EntrySize)
	if uint64(len(db))%uint64(d.EntrySize) != 0 {
		return fmt.Errorf("dataset: database size %d is not a multiple of entry size %d", len(db), d.EntrySize)
	}
	for _, r := range d.Records {
		if r.Index >= n {
			return fmt.Errorf("dataset: delta epoch %d touches entry %d of %d", d.Epoch, r.Index, n)
		}
	}
	for _, r := range d.Records {
		e := db[r.Index*uint64(d.EntrySize):]
		for j, x := range r.XOR {
			e[j] ^= x
		}
	}
	return nil
}

// ReadDelta loads and verifies a delta file.
func ReadDelta(path string) (*Delta, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading delta: %w", err)
	}
	d, err := DecodeDelta(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
